/**
 * smtp.verifyRecipients: mumuka asks the LGWAN-side server about each
 * recipient before answering RCPT, against a real SMTP server on loopback.
 * Unknown addresses are refused in the dialogue (no bounce later), a server
 * that cannot be asked gives 450 (never 250, never 550), answers are cached
 * and shared between sessions asking at once.
 */
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.ts";
import { createRecipientVerifier, probeRecipient } from "../../src/receive/recipient-verify.ts";
import { createReceiver, type Receiver } from "../../src/receive/smtp-receiver.ts";
import { openSpool } from "../../src/spool/spool.ts";
import { startDownstream, type Downstream } from "../helpers/relay-downstream.ts";
import { plainMessage, recordingSink, sendRaw, silentLogger, tempDir } from "../helpers/relay-helpers.ts";
import { freePort } from "../helpers/relay-process.ts";

const DOMAIN = "city.example.lg.jp";
const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

async function lgwan(): Promise<Downstream> {
  const down = await startDownstream();
  stops.push(() => down.stop());
  down.rcptReplies.set(`nobody@${DOMAIN}`, { code: 550, message: "5.1.1 User unknown" });
  down.rcptReplies.set(`busy@${DOMAIN}`, { code: 451, message: "4.3.0 try later" });
  return down;
}

const target = (port: number, more: Array<{ host: string; port: number }> = []) => ({
  hosts: [{ host: "127.0.0.1", port }, ...more],
  helo: "mumuka.test",
  timeoutMs: 5000,
  cacheSeconds: 3600,
  unknownCacheSeconds: 600,
});

describe("a recipient probe", () => {
  it("reads the RCPT answer of a real server without sending a message", async () => {
    const down = await lgwan();
    expect(await probeRecipient({ host: "127.0.0.1", port: down.port }, `staff@${DOMAIN}`, "mumuka.test", 5000)).toEqual({ code: 250 });
    expect(await probeRecipient({ host: "127.0.0.1", port: down.port }, `nobody@${DOMAIN}`, "mumuka.test", 5000)).toEqual({ code: 550 });
    expect(down.received).toEqual([]);
    expect(down.commands.some((c) => /^DATA/i.test(c))).toBe(false);
  });

  it("refuses to write an address or name carrying a line break", async () => {
    const r = await probeRecipient({ host: "127.0.0.1", port: 9 }, "a@b\r\nRSET", "x", 1000);
    expect(r.error).toContain("line break");
  });
});

describe("the verifier", () => {
  it("says exists, unknown, or unverifiable (a 4xx, an unreachable server), trying failover hosts in turn", async () => {
    const down = await lgwan();
    const dead = await freePort();
    const v = createRecipientVerifier(target(dead, [{ host: "127.0.0.1", port: down.port }]));
    expect(await v.verify(`staff@${DOMAIN}`)).toBe("exists");
    expect(await v.verify(`nobody@${DOMAIN}`)).toBe("unknown");
    expect(await v.verify(`busy@${DOMAIN}`)).toBe("unverifiable");
    expect(await createRecipientVerifier(target(dead)).verify(`staff@${DOMAIN}`)).toBe("unverifiable");
  });

  it("remembers answers (not the unverifiable ones), case-insensitively, until they expire; shares a probe in progress", async () => {
    let clock = 0;
    const asked: string[] = [];
    const answers = new Map([["staff@x", 250], ["nobody@x", 550], ["busy@x", 451]]);
    const v = createRecipientVerifier(target(1), {
      now: () => clock,
      probe: async (_h, address) => {
        asked.push(address);
        await new Promise((r) => setImmediate(r));
        return { code: answers.get(address.toLowerCase()) ?? 250 };
      },
    });
    const [a, b] = await Promise.all([v.verify("staff@x"), v.verify("STAFF@x")]);
    expect([a, b]).toEqual(["exists", "exists"]);
    expect(asked).toEqual(["staff@x"]);
    await v.verify("nobody@x");
    await v.verify("busy@x");
    await v.verify("busy@x");
    expect(asked).toEqual(["staff@x", "nobody@x", "busy@x", "busy@x"]);
    clock += 599_000;
    await v.verify("nobody@x");
    await v.verify("staff@x");
    expect(asked.length).toBe(4);
    clock += 2_000; // the unknown answer (600 s) has expired, the known one (3600 s) has not
    await v.verify("nobody@x");
    await v.verify("staff@x");
    expect(asked).toEqual(["staff@x", "nobody@x", "busy@x", "busy@x", "nobody@x"]);
  });
});

describe("RCPT with smtp.verifyRecipients", () => {
  async function gateway(downPort: number): Promise<{ port: number; queued: string[] }> {
    const config = parseConfig({
      smtp: { host: "127.0.0.1", port: 0, clients: ["127.0.0.1/32"], recipientDomains: [DOMAIN], verifyRecipients: { enabled: true, timeoutMs: 3000 } },
      delivery: { host: "127.0.0.1", port: downPort },
    });
    const queued: string[] = [];
    const receiver: Receiver = createReceiver({
      smtp: config.smtp,
      hostname: "mumuka.test",
      spool: await openSpool(await tempDir()),
      audit: recordingSink(),
      logger: silentLogger(),
      onQueued: (id) => queued.push(id),
      verifier: createRecipientVerifier(target(downPort)),
    });
    const address = await receiver.listen();
    stops.push(() => receiver.close());
    return { port: address.port, queued };
  }

  it("refuses an address the LGWAN-side server does not know with 550 5.1.1, and queues the known one", async () => {
    const down = await lgwan();
    const g = await gateway(down.port);
    const reply = await sendRaw({ port: g.port, from: "a@example.com", to: [`nobody@${DOMAIN}`, `staff@${DOMAIN}`], raw: plainMessage("hello") });
    expect(reply.rejected).toEqual([`nobody@${DOMAIN}`]);
    expect(reply.accepted).toEqual([`staff@${DOMAIN}`]);
    expect(g.queued).toHaveLength(1);
  });

  it("answers 450 (try later), not 250, when the LGWAN-side server cannot be asked", async () => {
    const g = await gateway(await freePort());
    const err = await sendRaw({ port: g.port, from: "a@example.com", to: [`staff@${DOMAIN}`], raw: plainMessage("hello") }).catch((e: unknown) => e);
    expect(err).toMatchObject({ responseCode: 450 });
    expect(String((err as Error).message)).toContain("4.1.1");
    expect(g.queued).toEqual([]);
  });

  it("is refused by the configuration without SMTP delivery", () => {
    expect(() => parseConfig({ smtp: { verifyRecipients: { enabled: true } } })).toThrow(/verifyRecipients\.enabled.*delivery is not SMTP/s);
  });
});
