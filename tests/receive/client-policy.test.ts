import { describe, expect, it } from "vitest";
import { clientAllowList, PolicyConfigError, recipientDomainMatcher } from "../../src/receive/client-policy.ts";

describe("the client allow-list", () => {
  it("admits addresses inside the configured networks only, IPv4-mapped IPv6 included", () => {
    const allowed = clientAllowList(["192.0.2.0/24", "2001:db8::/32", "127.0.0.1"]);
    expect(allowed("192.0.2.77")).toBe(true);
    expect(allowed("::ffff:192.0.2.77")).toBe(true);
    expect(allowed("192.0.3.1")).toBe(false);
    expect(allowed("2001:db8::25")).toBe(true);
    expect(allowed("2001:db9::25")).toBe(false);
    expect(allowed("127.0.0.1")).toBe(true);
    expect(allowed("127.0.0.2")).toBe(false);
    expect(allowed("not an address")).toBe(false);
  });

  it("names the bad entry of a malformed configuration", () => {
    expect(() => clientAllowList(["192.0.2.0/33"])).toThrow(PolicyConfigError);
    expect(() => clientAllowList(["mx.example.com"])).toThrow(/smtp\.clients: not an IP network: mx\.example\.com/);
  });
});

describe("recipient domains", () => {
  it("accepts exactly the configured domains, case-insensitively, without implied subdomains", () => {
    const ok = recipientDomainMatcher(["City.Example.LG.JP"]);
    expect(ok("staff@city.example.lg.jp")).toBe("ok");
    expect(ok("staff@CITY.example.lg.jp")).toBe("ok");
    expect(ok("staff@sub.city.example.lg.jp")).toBe("denied");
    expect(ok("staff@city.example.lg.jp.evil.example")).toBe("denied");
    expect(ok("\"a@city.example.lg.jp\"@evil.example")).toBe("denied");
    expect(ok("nodomain")).toBe("syntax");
  });

  it("accepts any domain with *", () => {
    expect(recipientDomainMatcher(["*"])("x@anything.example")).toBe("ok");
  });
});
