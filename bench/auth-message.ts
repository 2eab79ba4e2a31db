/**
 * The signed message and the DNS of the sender-authentication benchmarks (bench/run.ts --auth,
 * bench/auth-alone.ts): a 2048-bit RSA key made for the run, published with an SPF record for the
 * envelope's example.com (127.0.0.0/8) and DMARC records (p=none) by a DNS server on loopback
 * (tests/helpers/dns-server.ts), and the message signed by its From domain (relaxed/relaxed), so
 * that a verification passes SPF, DKIM and DMARC.
 */
import { makeKey, sign } from "../tests/helpers/auth-fixtures.ts";
import { startDnsServer, type DnsServer } from "../tests/helpers/dns-server.ts";

/** the plain single-part message of about `size` bytes, in 76-character lines, From example.com */
export function plainSignedBase(size: number): string {
  return `From: Bench <bench@example.com>\r\nTo: staff@city.example.lg.jp\r\nSubject: bench\r\nMessage-ID: <bench@example.com>\r\n\r\n${"x".repeat(76).concat("\r\n").repeat(Math.max(1, Math.floor(size / 78)))}`;
}

/** `base` (CRLF) signed by `signingDomain` (example.com, or example.co.jp for the Postfix comparison's message), and the DNS that vouches for it */
export async function startAuthDns(base: string, signingDomain: "example.com" | "example.co.jp"): Promise<{ dns: DnsServer; message: string }> {
  const key = makeKey(2048);
  const dns = await startDnsServer({
    "example.com": { TXT: ["v=spf1 ip4:127.0.0.0/8 -all"] },
    "bench._domainkey.example.com": { TXT: [key.record] },
    "_dmarc.example.com": { TXT: ["v=DMARC1; p=none"] },
    // the Postfix comparison's message is From yamada@example.co.jp: DMARC passes aligned by DKIM, SPF for the envelope's example.com
    "bench._domainkey.example.co.jp": { TXT: [key.record] },
    "_dmarc.example.co.jp": { TXT: ["v=DMARC1; p=none"] },
  });
  return { dns, message: await sign(base, [{ domain: signingDomain, selector: "bench", key }]) };
}
