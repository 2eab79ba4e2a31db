/**
 * DKIM public keys kept across messages (src/authenticate/mailauth-run.ts):
 * a key record is parsed once and serves later messages, but only while DNS
 * gives the same record (a rotated key is used as soon as the resolver's
 * answer changes), and a failed lookup is never remembered: it is temperror
 * for that message and the next one asks again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthenticator } from "../../src/authenticate/authenticator.ts";
import { createDnsResolver } from "../../src/authenticate/dns-resolver.ts";
import { createKeyCache } from "../../src/authenticate/mailauth-run.ts";
import type { AuthVerdict } from "../../src/authenticate/auth-types.ts";
import { authenticationSchema } from "../../src/config/schema.ts";
import { makeKey, plainMessage, sign, type TestKey } from "../helpers/auth-fixtures.ts";
import { startDnsServer, type DnsServer } from "../helpers/dns-server.ts";

let dns: DnsServer;
let keyA: TestKey;
let keyB: TestKey;
const IP = "192.0.2.10";

beforeAll(async () => {
  keyA = makeKey();
  keyB = makeKey();
  dns = await startDnsServer({
    "rotate.example": { TXT: ["v=spf1 ip4:192.0.2.10 -all"] },
    "sel._domainkey.rotate.example": { TXT: [keyA.record] },
    "_dmarc.rotate.example": { TXT: ["v=DMARC1; p=reject"] },
    "flaky.example": { TXT: ["v=spf1 ip4:192.0.2.10 -all"] },
    "sel._domainkey.flaky.example": "servfail",
    "_dmarc.flaky.example": { TXT: ["v=DMARC1; p=reject"] },
  });
});
afterAll(() => dns?.close());

/** one authenticator (one key cache) for many messages, with a clock the test moves */
function gateway() {
  let clock = Date.parse("2026-12-06T00:00:00Z");
  const config = authenticationSchema.parse({ enabled: true, dns: { servers: [dns.address], timeoutMs: 150, tries: 1, cacheSeconds: 300 } });
  const resolver = createDnsResolver(config.dns, () => clock);
  const authenticator = createAuthenticator({ config, hostname: "mumuka.test", resolve: resolver.resolve });
  return {
    later(seconds: number) {
      clock += seconds * 1000;
    },
    async verify(raw: string): Promise<AuthVerdict> {
      const bytes = Buffer.from(raw);
      return authenticator.verify({ mailFrom: `alice@${/@([a-z.]+)>/.exec(raw)![1]}`, clientAddress: IP, clientHelo: "mail.sender.example" }, () => bytes, async () => raw.split("\r\n\r\n")[0]!);
    },
  };
}

const signed = (domain: string, key: TestKey, subject: string) => sign(plainMessage(`Alice <alice@${domain}>`, { subject }), [{ domain, selector: "sel", key }]);

describe("DKIM keys across messages", () => {
  it("a key record serves message after message; a rotated key is used once DNS gives the new record", async () => {
    const gw = gateway();
    for (const subject of ["one", "two", "three"]) expect((await gw.verify(await signed("rotate.example", keyA, subject))).dkim[0]!.result).toBe("pass");

    dns.zone["sel._domainkey.rotate.example"] = { TXT: [keyB.record] };
    // the resolver still holds the old record (within cacheSeconds): the old key, as before this cache existed
    expect((await gw.verify(await signed("rotate.example", keyB, "new key, old record"))).dkim[0]!.result).toBe("fail");
    gw.later(301);
    const rotated = await gw.verify(await signed("rotate.example", keyB, "new key, new record"));
    expect(rotated.dkim[0]!.result).toBe("pass");
    expect(rotated.dmarc.result).toBe("pass");
    // and the old key no longer verifies: nothing of it was kept by name
    expect((await gw.verify(await signed("rotate.example", keyA, "old key, new record"))).dkim[0]!.result).toBe("fail");
    dns.zone["sel._domainkey.rotate.example"] = { TXT: [keyA.record] };
  });

  it("a failed key lookup is temperror, never a pass, and is not remembered: the next message asks again", async () => {
    const gw = gateway();
    const first = await gw.verify(await signed("flaky.example", keyA, "during the outage"));
    expect(first.dkim[0]!.result).toBe("temperror");

    dns.zone["sel._domainkey.flaky.example"] = { TXT: [keyA.record] };
    const after = await gw.verify(await signed("flaky.example", keyA, "after the outage"));
    expect(after.dkim[0]!.result).toBe("pass");
  });
});

describe("the key cache", () => {
  const answers: Record<string, string> = {};
  const resolve = async (name: string) => {
    const rr = answers[name];
    if (!rr) throw Object.assign(new Error("ENOTFOUND"), { code: "ENOTFOUND" });
    return [[rr]];
  };

  it("parses a record once for every message that uses it, and again when the record differs", async () => {
    answers["a._domainkey.x.example"] = keyA.record;
    answers["b._domainkey.x.example"] = keyB.record;
    const cache = createKeyCache(resolve);
    const first = await cache.forMessage().get("DKIM", "a._domainkey.x.example", undefined, { strict: true, hashAlgo: "sha256" });
    const second = await cache.forMessage().get("DKIM", "a._domainkey.x.example", undefined, { strict: true, hashAlgo: "sha256" });
    expect(second.publicKey).toBe(first.publicKey);
    const other = await cache.forMessage().get("DKIM", "b._domainkey.x.example", undefined, { strict: true, hashAlgo: "sha256" });
    expect(other.publicKey).not.toBe(first.publicKey);
  });

  it("keeps at most the entries it was given (least recently used first out)", async () => {
    answers["a._domainkey.x.example"] = keyA.record;
    answers["b._domainkey.x.example"] = keyB.record;
    answers["c._domainkey.x.example"] = makeKey().record;
    const cache = createKeyCache(resolve, 2);
    const get = (s: string) => cache.forMessage().get("DKIM", `${s}._domainkey.x.example`, undefined, { strict: true, hashAlgo: "sha256" });
    const a = await get("a");
    await get("b");
    expect((await get("a")).publicKey).toBe(a.publicKey);
    await get("c");
    expect(cache.size()).toBe(2);
    // b was the least recently used: gone; a stayed
    expect((await get("a")).publicKey).toBe(a.publicKey);
  });

  it("a record mailauth refuses is refused for every message, with mailauth's code", async () => {
    answers["bad._domainkey.x.example"] = "v=DKIM1; k=rsa; p=";
    const cache = createKeyCache(resolve);
    for (let i = 0; i < 2; i++) await expect(cache.forMessage().get("DKIM", "bad._domainkey.x.example", undefined, { strict: true })).rejects.toMatchObject({ code: "EINVALIDVAL" });
  });
});
