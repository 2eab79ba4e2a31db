/**
 * Fixtures for the sender-authentication tests: real RSA keys generated in the
 * test, their DKIM key records, messages signed with them (mailauth's signer),
 * and ARC sets added by a simulated forwarding hop. Nothing is read from or
 * sent to the Internet; the DNS answers come from tests/helpers/dns-server.ts.
 */
import { generateKeyPairSync } from "node:crypto";
import { authenticate, dkimSign } from "mailauth";

export interface TestKey {
  privateKey: string;
  /** the TXT record to publish at <selector>._domainkey.<domain> */
  record: string;
}

export function makeKey(bits = 1024): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: bits });
  const der = publicKey.export({ type: "spki", format: "der" });
  return { privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), record: `v=DKIM1; k=rsa; p=${der.toString("base64")}` };
}

export function plainMessage(from: string, opts: { subject?: string; body?: string; to?: string; extraHeaders?: string[] } = {}): string {
  return [
    `From: ${from}`,
    `To: ${opts.to ?? "staff@city.example.lg.jp"}`,
    `Subject: ${opts.subject ?? "Test"}`,
    "Date: Sat, 05 Dec 2026 10:00:00 +0900",
    `Message-ID: <${Math.random().toString(36).slice(2)}@test.example>`,
    ...(opts.extraHeaders ?? []),
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    opts.body ?? "Hello from the sender.",
    "",
  ].join("\r\n");
}

export interface Signer {
  domain: string;
  selector: string;
  key: TestKey;
}

/** Signs `message` with every signer (one DKIM-Signature each, newest on top). */
export async function sign(message: string, signers: Signer[], opts: { signTime?: Date; expires?: Date } = {}): Promise<string> {
  const result = await dkimSign(message, {
    canonicalization: "relaxed/relaxed",
    ...(opts.signTime ? { signTime: opts.signTime } : {}),
    ...(opts.expires ? { expires: opts.expires } : {}),
    signatureData: signers.map((s) => ({ signingDomain: s.domain, selector: s.selector, privateKey: s.key.privateKey, algorithm: "rsa-sha256" })),
  } as Parameters<typeof dkimSign>[1]);
  if (result.errors.length) throw new Error(`signing failed: ${JSON.stringify(result.errors)}`);
  return result.signatures + message;
}

/**
 * What a forwarding hop (a mailing list, a forwarder) adds: its own
 * authentication of the message and an ARC set sealed with its key.
 */
export async function arcSeal(message: string, hop: Signer, resolver: (name: string, type: string) => Promise<unknown>, client: { ip: string; helo: string; sender: string }): Promise<string> {
  const { headers } = await authenticate(message, {
    ...client,
    mta: `mx.${hop.domain}`,
    resolver: resolver as never,
    disableBimi: true,
    seal: { signingDomain: hop.domain, selector: hop.selector, privateKey: hop.key.privateKey },
  });
  // only the ARC set goes on (the hop's own Authentication-Results/Received-SPF are not what we test)
  const arcLines = headers
    .split(/\r\n(?![ \t])/)
    .filter((h) => /^ARC-/i.test(h))
    .map((h) => `${h}\r\n`)
    .join("");
  if (!arcLines) throw new Error("no ARC set was created");
  return arcLines + message;
}
