/**
 * SPF results kept across messages (src/authenticate/mailauth-run.ts): per
 * client address, MAIL FROM and HELO, only until the first DNS answer the
 * evaluation read expires (a changed record is honoured as soon as the
 * resolver's cache would have asked again), never a temperror.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthenticator } from "../../src/authenticate/authenticator.ts";
import { createDnsResolver } from "../../src/authenticate/dns-resolver.ts";
import type { AuthVerdict } from "../../src/authenticate/auth-types.ts";
import { authenticationSchema } from "../../src/config/schema.ts";
import { plainMessage } from "../helpers/auth-fixtures.ts";
import { startDnsServer, type DnsServer } from "../helpers/dns-server.ts";

let dns: DnsServer;
const IP = "192.0.2.10";
const OTHER_IP = "192.0.2.11";

beforeAll(async () => {
  dns = await startDnsServer({
    "changing.example": { TXT: ["v=spf1 include:_spf.esp.example -all"] },
    "_spf.esp.example": { TXT: ["v=spf1 ip4:192.0.2.10 -all"] },
    "flaky.example": "servfail",
  });
});
afterAll(() => dns?.close());

function gateway() {
  let clock = Date.parse("2026-12-06T00:00:00Z");
  const now = () => clock;
  const config = authenticationSchema.parse({ enabled: true, dns: { servers: [dns.address], timeoutMs: 150, tries: 1, cacheSeconds: 300, negativeSeconds: 60 } });
  const resolver = createDnsResolver(config.dns, now);
  const authenticator = createAuthenticator({ config, hostname: "mumuka.test", resolve: resolver.resolve, expiry: resolver.expiry, now });
  return {
    later(seconds: number) {
      clock += seconds * 1000;
    },
    spf: async (mailFrom: string, ip = IP): Promise<AuthVerdict["spf"]["result"]> => {
      const raw = Buffer.from(plainMessage(`Alice <${mailFrom}>`));
      const v = await authenticator.verify({ mailFrom, clientAddress: ip, clientHelo: "mail.sender.example" }, () => raw, async () => raw.toString("latin1").split("\r\n\r\n")[0]!);
      return v.spf.result;
    },
  };
}

describe("SPF results across messages", () => {
  it("a changed record (in an include) counts once the answers the result was read from expire", async () => {
    const gw = gateway();
    expect(await gw.spf("alice@changing.example")).toBe("pass");
    dns.zone["_spf.esp.example"] = { TXT: ["v=spf1 ip4:198.51.100.0/24 -all"] };
    try {
      gw.later(200);
      // within the TTL of what it read: the same answer the resolver's cache gives
      expect(await gw.spf("bob@changing.example")).toBe("pass");
      gw.later(101);
      expect(await gw.spf("alice@changing.example")).toBe("fail");
    } finally {
      dns.zone["_spf.esp.example"] = { TXT: ["v=spf1 ip4:192.0.2.10 -all"] };
    }
  });

  it("another client address is evaluated on its own", async () => {
    const gw = gateway();
    expect(await gw.spf("alice@changing.example")).toBe("pass");
    expect(await gw.spf("alice@changing.example", OTHER_IP)).toBe("fail");
    expect(await gw.spf("alice@changing.example")).toBe("pass");
  });

  it("a temperror is never kept: the next message asks again", async () => {
    const gw = gateway();
    expect(await gw.spf("alice@flaky.example")).toBe("temperror");
    dns.zone["flaky.example"] = { TXT: ["v=spf1 ip4:192.0.2.10 -all"] };
    try {
      expect(await gw.spf("alice@flaky.example")).toBe("pass");
    } finally {
      dns.zone["flaky.example"] = "servfail";
    }
  });
});
