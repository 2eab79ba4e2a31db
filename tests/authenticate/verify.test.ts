/**
 * Sender authentication on real signed messages, against a DNS server on
 * loopback: every SPF result word, DKIM pass / broken body / expired /
 * several signatures / key lookup failures, DMARC alignment (relaxed and
 * strict) and the subdomain policy, ARC chains valid and broken.
 */
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthenticator, type AuthEnvelope } from "../../src/authenticate/authenticator.ts";
import { createDnsResolver } from "../../src/authenticate/dns-resolver.ts";
import type { AuthVerdict } from "../../src/authenticate/auth-types.ts";
import { authenticationSchema } from "../../src/config/schema.ts";
import { arcSeal, makeKey, plainMessage, sign, type Signer, type TestKey } from "../helpers/auth-fixtures.ts";
import { startDnsServer, type DnsServer } from "../helpers/dns-server.ts";

let dns: DnsServer;
let key: TestKey;
let otherKey: TestKey;
const GOOD_IP = "192.0.2.10";
const OTHER_IP = "203.0.113.99";

beforeAll(async () => {
  key = makeKey();
  otherKey = makeKey();
  dns = await startDnsServer({
    "good.example": { TXT: ["v=spf1 ip4:192.0.2.10 -all"] },
    "sel._domainkey.good.example": { TXT: [key.record] },
    "_dmarc.good.example": { TXT: ["v=DMARC1; p=reject"] },
    "soft.example": { TXT: ["v=spf1 ip4:192.0.2.10 ~all"] },
    "neutral.example": { TXT: ["v=spf1 ?all"] },
    "none.example": { A: ["192.0.2.200"] },
    "temp.example": "servfail",
    "slow.example": "drop",
    "perm.example": { TXT: ["v=spf1 ip4:192.0.2.10 bogus-term -all"] },
    "voids.example": { TXT: ["v=spf1 a:v1.voids.example a:v2.voids.example a:v3.voids.example -all"] },
    "esp.example": { TXT: ["v=spf1 ip4:198.51.100.0/24 -all"] },
    // eleven DNS-querying terms: one more than RFC 7208 4.6.4 allows
    "toomany.example": { TXT: [`v=spf1 ${Array.from({ length: 11 }, (_, i) => `include:i${i}.toomany.example`).join(" ")} -all`] },
    ...Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`i${i}.toomany.example`, { TXT: ["v=spf1 ip4:198.18.0.1 ?all"] }])),
    "esp._domainkey.esp.example": { TXT: [otherKey.record] },
    "strict.example": { TXT: ["v=spf1 ip4:192.0.2.10 -all"] },
    "sel._domainkey.strict.example": { TXT: [key.record] },
    "_dmarc.strict.example": { TXT: ["v=DMARC1; p=quarantine; adkim=s; aspf=s"] },
    "mail.strict.example": { TXT: ["v=spf1 -all"] },
    "_dmarc.sp.example": { TXT: ["v=DMARC1; p=none; sp=reject"] },
    "sp.example": { TXT: ["v=spf1 -all"] },
    "sub.sp.example": { TXT: ["v=spf1 -all"] },
    "broken-key.example": { TXT: ["v=spf1 -all"] },
    "sel._domainkey.broken-key.example": "servfail",
    "forwarder.example": { TXT: ["v=spf1 ip4:198.51.100.7 -all"] },
    "arc._domainkey.forwarder.example": { TXT: [otherKey.record] },
  });
});
afterAll(() => dns?.close());

function authenticator(overrides: object = {}) {
  const config = authenticationSchema.parse({ enabled: true, dns: { servers: [dns.address], timeoutMs: 150, tries: 1 }, ...overrides });
  const resolver = createDnsResolver(config.dns);
  return createAuthenticator({ config, hostname: "mumuka.test", resolve: resolver.resolve });
}

async function verify(raw: string, envelope: Partial<AuthEnvelope> & { ip?: string; helo?: string } = {}, overrides: object = {}): Promise<AuthVerdict> {
  const env: AuthEnvelope = {
    mailFrom: envelope.mailFrom ?? "",
    clientAddress: envelope.ip ?? GOOD_IP,
    clientHelo: envelope.helo ?? "mail.sender.example",
    ...(envelope.forwarded ? { forwarded: envelope.forwarded } : {}),
  };
  return authenticator(overrides).verify(
    env,
    () => Readable.from([Buffer.from(raw)]),
    async () => raw.split("\r\n\r\n")[0]!,
  );
}

const good: () => Signer = () => ({ domain: "good.example", selector: "sel", key });

describe("SPF: every result word", () => {
  it.each([
    ["pass", "alice@good.example", GOOD_IP],
    ["fail", "alice@good.example", OTHER_IP],
    ["softfail", "alice@soft.example", OTHER_IP],
    ["neutral", "alice@neutral.example", OTHER_IP],
    ["none", "alice@none.example", OTHER_IP],
    ["temperror", "alice@temp.example", OTHER_IP],
    ["temperror", "alice@slow.example", OTHER_IP],
    ["permerror", "alice@perm.example", OTHER_IP],
    ["permerror", "alice@voids.example", OTHER_IP],
  ] as const)("%s for MAIL FROM %s from %s", async (result, mailFrom, ip) => {
    const v = await verify(plainMessage(`A <${mailFrom}>`), { mailFrom, ip });
    expect(v.spf.result).toBe(result);
    expect(v.spf.domain).toBe(mailFrom.split("@")[1]);
  });

  it("stops at the RFC's 10 DNS-querying terms: permerror, and no eleventh lookup", async () => {
    const v = await verify(plainMessage("A <a@toomany.example>"), { mailFrom: "a@toomany.example", ip: OTHER_IP });
    expect(v.spf.result).toBe("permerror");
    expect(dns.queries.some((q) => q.name === "i10.toomany.example")).toBe(false);
  });

  it("honours a lower configured limit (authentication.maxSpfLookups)", async () => {
    const before = dns.queries.filter((q) => q.name === "i3.toomany.example").length;
    const v = await verify(plainMessage("A <a@toomany.example>"), { mailFrom: "a@toomany.example", ip: OTHER_IP }, { maxSpfLookups: 3 });
    expect(v.spf.result).toBe("permerror");
    expect(dns.queries.filter((q) => q.name === "i3.toomany.example").length).toBe(before);
  });

  it("checks the HELO identity for the null sender", async () => {
    const v = await verify(plainMessage("Postmaster <postmaster@good.example>"), { mailFrom: "", ip: GOOD_IP, helo: "good.example" });
    expect(v.spf.result).toBe("pass");
  });

  it("a DNS failure is temperror everywhere, never a pass", async () => {
    const v = await verify(plainMessage("A <a@slow.example>"), { mailFrom: "a@slow.example", ip: GOOD_IP });
    expect(v.spf.result).toBe("temperror");
    expect(v.dmarc.result).not.toBe("pass");
  });
});

describe("DKIM", () => {
  it("a valid signature passes and aligns with the From domain", async () => {
    const raw = await sign(plainMessage("Alice <alice@good.example>"), [good()]);
    const v = await verify(raw, { mailFrom: "alice@good.example", ip: OTHER_IP });
    expect(v.dkim).toEqual([expect.objectContaining({ result: "pass", domain: "good.example", selector: "sel", aligned: true })]);
    expect(v.dkim[0]!.b).toMatch(/^[A-Za-z0-9+/]{8}$/);
    // SPF fails (wrong IP) but the aligned DKIM signature carries DMARC
    expect(v.spf.result).toBe("fail");
    expect(v.dmarc).toEqual({ result: "pass", domain: "good.example", policy: "reject", alignedDomain: "good.example" });
  });

  it("one changed body byte breaks the signature: dkim=fail", async () => {
    const raw = await sign(plainMessage("Alice <alice@good.example>", { body: "Pay invoice 1000 yen." }), [good()]);
    const v = await verify(raw.replace("1000 yen", "9000 yen"), { mailFrom: "alice@good.example", ip: OTHER_IP });
    expect(v.dkim[0]!.result).toBe("fail");
    expect(v.dmarc.result).toBe("fail");
  });

  it("an expired signature does not pass", async () => {
    const raw = await sign(plainMessage("Alice <alice@good.example>"), [good()], {
      signTime: new Date(Date.now() - 10 * 86_400_000),
      expires: new Date(Date.now() - 86_400_000),
    });
    const v = await verify(raw, { mailFrom: "alice@good.example", ip: OTHER_IP });
    expect(v.dkim).toHaveLength(1);
    // RFC 6376 6.1.1: PERMFAIL (signature expired), which RFC 8601 2.7.1 reports as neutral (could not be processed)
    expect(v.dkim[0]!.result).toBe("neutral");
    expect(v.dmarc.result).toBe("fail");
  });

  it("every signature is verified: the author's aligned one and a provider's unaligned one", async () => {
    const raw = await sign(plainMessage("Alice <alice@good.example>"), [good(), { domain: "esp.example", selector: "esp", key: otherKey }]);
    const v = await verify(raw, { mailFrom: "bounce@esp.example", ip: "198.51.100.5" });
    expect(v.dkim.map((s) => [s.domain, s.result, s.aligned])).toEqual([
      ["good.example", "pass", true],
      ["esp.example", "pass", false],
    ]);
    expect(v.spf).toEqual({ result: "pass", domain: "esp.example" });
    expect(v.dmarc.result).toBe("pass");
    expect(v.dmarc.alignedDomain).toBe("good.example");
  });

  it("a key lookup that fails is temperror, not a pass", async () => {
    const raw = await sign(plainMessage("A <a@broken-key.example>"), [{ domain: "broken-key.example", selector: "sel", key }]);
    const v = await verify(raw, { mailFrom: "a@broken-key.example", ip: OTHER_IP });
    expect(v.dkim[0]!.result).toBe("temperror");
  });

  it("an unsigned message has no DKIM results", async () => {
    const v = await verify(plainMessage("A <a@none.example>"), { mailFrom: "a@none.example", ip: OTHER_IP });
    expect(v.dkim).toEqual([]);
    expect(v.dmarc.result).toBe("none");
  });
});

describe("DMARC alignment and policy", () => {
  it("relaxed: a signature by the organizational domain aligns with a subdomain From", async () => {
    const raw = await sign(plainMessage("A <a@mail.good.example>"), [good()]);
    const v = await verify(raw, { mailFrom: "a@mail.good.example", ip: OTHER_IP });
    expect(v.dmarc).toMatchObject({ result: "pass", domain: "mail.good.example", alignedDomain: "good.example" });
  });

  it("strict (adkim=s): the same signature does not align, DMARC fails under p=quarantine", async () => {
    const raw = await sign(plainMessage("A <a@mail.strict.example>"), [{ domain: "strict.example", selector: "sel", key }]);
    const v = await verify(raw, { mailFrom: "a@mail.strict.example", ip: OTHER_IP });
    expect(v.dkim[0]).toMatchObject({ result: "pass", aligned: false });
    expect(v.dmarc).toMatchObject({ result: "fail", domain: "mail.strict.example", policy: "quarantine", alignedDomain: "" });
  });

  it("strict SPF alignment: SPF for the exact From domain aligns", async () => {
    const v = await verify(plainMessage("A <a@strict.example>"), { mailFrom: "a@strict.example", ip: GOOD_IP });
    expect(v.dmarc).toMatchObject({ result: "pass", alignedDomain: "strict.example" });
  });

  it("the subdomain policy (sp=reject) applies to a subdomain, p=none to the domain itself", async () => {
    const sub = await verify(plainMessage("A <a@sub.sp.example>"), { mailFrom: "a@sub.sp.example", ip: OTHER_IP });
    expect(sub.dmarc).toMatchObject({ result: "fail", domain: "sub.sp.example", policy: "reject" });
    const top = await verify(plainMessage("A <a@sp.example>"), { mailFrom: "a@sp.example", ip: OTHER_IP });
    expect(top.dmarc).toMatchObject({ result: "fail", domain: "sp.example", policy: "none" });
  });

  it("a look-alike From (SPF passes for another domain, nothing aligned) fails DMARC under p=reject", async () => {
    const v = await verify(plainMessage("Good Bank <support@good.example>"), { mailFrom: "x@esp.example", ip: "198.51.100.5" });
    expect(v.spf.result).toBe("pass");
    expect(v.dmarc).toMatchObject({ result: "fail", policy: "reject", alignedDomain: "" });
  });
});

describe("ARC", () => {
  const forwarder = (): Signer => ({ domain: "forwarder.example", selector: "arc", key: otherKey });
  const forwarderClient = { mailFrom: "list@forwarder.example", ip: "198.51.100.7", helo: "mx.forwarder.example" };

  async function forwarded(): Promise<string> {
    const original = await sign(plainMessage("Alice <alice@good.example>", { body: "Meeting at 10." }), [good()]);
    // the forwarder authenticates the original as it arrived, then changes the body (a list footer) and seals
    const sealed = await arcSeal(original, forwarder(), createDnsResolver({ servers: [dns.address], timeoutMs: 150, tries: 1, cacheSeconds: 60, negativeSeconds: 60, cacheEntries: 100 }).resolve, {
      ip: GOOD_IP,
      helo: "mail.good.example",
      sender: "alice@good.example",
    });
    return sealed.replace("Meeting at 10.", "Meeting at 10.\r\n-- \r\nlist footer");
  }

  it("a valid chain passes even though the forwarder broke the author's signature", async () => {
    // sealed after the footer: seal the modified message (the AMS covers what we receive)
    const original = await sign(plainMessage("Alice <alice@good.example>", { body: "Meeting at 10." }), [good()]);
    const modified = original.replace("Meeting at 10.", "Meeting at 10.\r\n-- \r\nlist footer");
    const sealed = await arcSeal(modified, forwarder(), createDnsResolver({ servers: [dns.address], timeoutMs: 150, tries: 1, cacheSeconds: 60, negativeSeconds: 60, cacheEntries: 100 }).resolve, {
      ip: GOOD_IP,
      helo: "mail.good.example",
      sender: "alice@good.example",
    });
    const v = await verify(sealed, forwarderClient);
    expect(v.arc).toEqual({ result: "pass", instance: 1 });
    expect(v.dkim[0]!.result).toBe("fail");
    expect(v.dmarc.result).toBe("fail");
  });

  it("a chain whose sealed message was changed afterwards fails", async () => {
    const v = await verify(await forwarded(), forwarderClient);
    expect(v.arc).toEqual({ result: "fail", instance: 1 });
  });

  it("no chain: arc=none", async () => {
    const v = await verify(plainMessage("A <a@good.example>"), { mailFrom: "a@good.example" });
    expect(v.arc).toEqual({ result: "none", instance: 0 });
  });
});

describe("the real client", () => {
  it("uses the XFORWARD client, not the TCP peer, for SPF", async () => {
    const v = await verify(plainMessage("A <a@good.example>"), {
      mailFrom: "a@good.example",
      ip: "127.0.0.1",
      forwarded: { source: "xforward", address: GOOD_IP, helo: "mail.good.example" },
    });
    expect(v.client).toEqual({ address: GOOD_IP, helo: "mail.good.example", source: "xforward" });
    expect(v.spf.result).toBe("pass");
  });

  it("believes the topmost Received line only when its by-host is trusted", async () => {
    const received = `Received: from mail.good.example (mail.good.example [${GOOD_IP}]) by mx.city.example.lg.jp (Postfix) with ESMTP id 4ABC; Sat, 05 Dec 2026 10:00:01 +0900`;
    const raw = plainMessage("A <a@good.example>", { extraHeaders: [] }).replace(/^/, `${received}\r\n`);
    const trusted = await verify(raw, { mailFrom: "a@good.example", ip: "127.0.0.1" }, { trustedReceivedBy: ["mx.city.example.lg.jp"] });
    expect(trusted.client).toMatchObject({ address: GOOD_IP, source: "received" });
    expect(trusted.spf.result).toBe("pass");
    const untrusted = await verify(raw, { mailFrom: "a@good.example", ip: "127.0.0.1" }, { trustedReceivedBy: ["mx.elsewhere.example"] });
    expect(untrusted.client).toMatchObject({ address: "127.0.0.1", source: "peer" });
    expect(untrusted.spf.result).toBe("fail");
  });
});

describe("bounds", () => {
  it("the whole verification is bounded: past timeoutMs the verdict is temperror", async () => {
    const v = await verify(plainMessage("A <a@slow.example>"), { mailFrom: "a@slow.example" }, { timeoutMs: 20, dns: { servers: [dns.address], timeoutMs: 2_000, tries: 1 } });
    expect(v.spf.result).toBe("temperror");
    expect(v.dmarc.result).toBe("temperror");
  });

  it("a hostile message (no header/body separator, binary junk) gives a verdict, not an exception", async () => {
    const junk = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)).toString("latin1");
    const v = await verify(`From: <<<@@@>>>\r\nDKIM-Signature: v=1; a=rsa-sha256; d=\u00ff; s=;\r\n${junk}`, { mailFrom: "x@good.example", ip: OTHER_IP });
    expect(v.spf.result).toBe("fail");
    expect(["none", "permerror", "fail", "temperror", "neutral", "policy"]).toContain(v.dmarc.result);
  });
});
