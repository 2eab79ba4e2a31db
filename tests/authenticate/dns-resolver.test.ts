/**
 * The resolver of sender authentication: configured servers, a cache that
 * answers repeated questions without a query until the entry expires,
 * negative answers cached too, failures (SERVFAIL, time-out) never cached and
 * reported with their code (mailauth turns them into temperror), and a
 * bounded number of entries. Time comes from an injected clock.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDnsResolver, type DnsOptions } from "../../src/authenticate/dns-resolver.ts";
import { startDnsServer, type DnsServer } from "../helpers/dns-server.ts";

let dns: DnsServer;
beforeAll(async () => {
  dns = await startDnsServer({
    "a.example": { TXT: ["v=spf1 -all"], A: ["192.0.2.1"] },
    "b.example": { TXT: ["one"] },
    "c.example": { TXT: ["two"] },
    "fail.example": "servfail",
    "slow.example": "drop",
  });
});
afterAll(() => dns?.close());

function resolver(over: Partial<DnsOptions> = {}) {
  let now = 1_000_000;
  const r = createDnsResolver({ servers: [dns.address], timeoutMs: 100, tries: 1, cacheSeconds: 300, negativeSeconds: 60, cacheEntries: 100, ...over }, () => now);
  return { ...r, advance: (seconds: number) => (now += seconds * 1000) };
}

const asked = (name: string, type: string) => dns.queries.filter((q) => q.name === name && q.type === type).length;

describe("the authentication resolver", () => {
  it("answers TXT and A as dns.promises.resolve does", async () => {
    const r = resolver();
    expect(await r.resolve("a.example", "TXT")).toEqual([["v=spf1 -all"]]);
    expect(await r.resolve("A.Example.", "A")).toEqual(["192.0.2.1"]);
  });

  it("answers from the cache until the entry expires", async () => {
    const r = resolver({ cacheSeconds: 300 });
    const before = asked("b.example", "TXT");
    await r.resolve("b.example", "TXT");
    await r.resolve("b.example", "TXT");
    expect(asked("b.example", "TXT")).toBe(before + 1);
    r.advance(301);
    await r.resolve("b.example", "TXT");
    expect(asked("b.example", "TXT")).toBe(before + 2);
  });

  it("caches 'no such name' for negativeSeconds, with its code", async () => {
    const r = resolver({ negativeSeconds: 60 });
    const before = asked("missing.example", "TXT");
    await expect(r.resolve("missing.example", "TXT")).rejects.toMatchObject({ code: "ENOTFOUND" });
    await expect(r.resolve("missing.example", "TXT")).rejects.toMatchObject({ code: "ENOTFOUND" });
    expect(asked("missing.example", "TXT")).toBe(before + 1);
    r.advance(61);
    await expect(r.resolve("missing.example", "TXT")).rejects.toMatchObject({ code: "ENOTFOUND" });
    expect(asked("missing.example", "TXT")).toBe(before + 2);
  });

  it("never caches a server failure or a time-out: the next message asks again", async () => {
    const r = resolver();
    const before = asked("fail.example", "TXT");
    await expect(r.resolve("fail.example", "TXT")).rejects.toMatchObject({ code: "ESERVFAIL" });
    await expect(r.resolve("fail.example", "TXT")).rejects.toMatchObject({ code: "ESERVFAIL" });
    expect(asked("fail.example", "TXT")).toBe(before + 2);
    await expect(r.resolve("slow.example", "TXT")).rejects.toMatchObject({ code: "ETIMEOUT" });
    expect(r.size()).toBe(0);
  });

  it("keeps at most cacheEntries entries, the oldest going first", async () => {
    const r = resolver({ cacheEntries: 2 });
    await r.resolve("a.example", "TXT");
    await r.resolve("b.example", "TXT");
    await r.resolve("c.example", "TXT");
    expect(r.size()).toBe(2);
    const before = asked("a.example", "TXT");
    await r.resolve("a.example", "TXT");
    expect(asked("a.example", "TXT")).toBe(before + 1);
  });

  it("refuses a name longer than DNS allows, and an unknown record type, without a query", async () => {
    const r = resolver();
    const count = dns.queries.length;
    await expect(r.resolve(`${"a".repeat(250)}.example`, "TXT")).rejects.toMatchObject({ code: "ENOTFOUND" });
    await expect(r.resolve("a.example", "ANY")).rejects.toMatchObject({ code: "ENOTFOUND" });
    expect(dns.queries.length).toBe(count);
  });

  it("asks once for concurrent identical questions", async () => {
    const r = resolver();
    const before = asked("c.example", "TXT");
    await Promise.all([r.resolve("c.example", "TXT"), r.resolve("c.example", "TXT"), r.resolve("c.example", "TXT")]);
    expect(asked("c.example", "TXT")).toBe(before + 1);
  });
});
