/**
 * Sender authentication through the whole gateway: a client passes the
 * original client with XFORWARD (accepted only from smtp.forwarders), mumuka
 * verifies the original against a DNS server on loopback before sanitizing,
 * and the delivered message carries mumuka's Authentication-Results; a DMARC
 * failure under p=reject is held with the reason; the example rules file
 * holds a DMARC-failing look-alike of a government sender; the verdict is in
 * the audit trail and the Prometheus counters.
 */
import net from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.ts";
import { createMetrics } from "../../src/lib/metrics.ts";
import { startGateway, type Gateway } from "../../src/serve.ts";
import { makeKey, plainMessage, sign, type TestKey } from "../helpers/auth-fixtures.ts";
import { startDnsServer, type DnsServer } from "../helpers/dns-server.ts";
import { startDownstream, type Downstream } from "../helpers/relay-downstream.ts";
import { recordingSink, silentLogger, tempDir, waitFor, type RecordingSink } from "../helpers/relay-helpers.ts";

let dns: DnsServer;
let key: TestKey;
let down: Downstream;
let gateway: Gateway;
let audit: RecordingSink;
let metrics: ReturnType<typeof createMetrics>;

beforeAll(async () => {
  key = makeKey();
  dns = await startDnsServer({
    "good.example": { TXT: ["v=spf1 ip4:192.0.2.10 -all"] },
    "sel._domainkey.good.example": { TXT: [key.record] },
    "_dmarc.good.example": { TXT: ["v=DMARC1; p=reject"] },
    "city.example.lg.jp": { TXT: ["v=spf1 ip4:192.0.2.50 -all"] },
    "_dmarc.city.example.lg.jp": { TXT: ["v=DMARC1; p=none"] },
  });
  down = await startDownstream();
  audit = recordingSink();
  metrics = createMetrics();
  const config = parseConfig({
    dataDir: await tempDir("mumuka-auth-"),
    smtp: { host: "127.0.0.1", port: 0, hostname: "mumuka.test", clients: ["127.0.0.0/8"], forwarders: ["127.0.0.1/32"], recipientDomains: ["city.example.lg.jp"] },
    delivery: { mode: "smtp", host: "127.0.0.1", port: down.port, retryFirstSeconds: 1, retryMaxSeconds: 2, connectTimeoutMs: 2000 },
    rules: { file: path.join(import.meta.dirname, "../../config/rules.example.yaml"), watch: false },
    authentication: { enabled: true, dns: { servers: [dns.address], timeoutMs: 500, tries: 1 } },
  });
  gateway = await startGateway(config, { logger: silentLogger(), audit, metrics });
});

afterAll(async () => {
  await gateway?.close();
  await down?.stop();
  await dns?.close();
});

/** One SMTP transaction over a raw socket: every reply, in order. */
async function smtp(o: { localAddress?: string; xforward?: string; xclient?: string; from: string; to: string; raw: string }): Promise<string[]> {
  const socket = net.connect({ host: "127.0.0.1", port: gateway.address.port, ...(o.localAddress ? { localAddress: o.localAddress } : {}) });
  const replies: string[] = [];
  let buffer = "";
  let waiting: ((line: string) => void) | undefined;
  const pending: string[] = [];
  socket.on("data", (chunk) => {
    buffer += chunk.toString("latin1");
    let at: number;
    while ((at = buffer.indexOf("\r\n")) >= 0) {
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      if (/^\d{3}-/.test(line)) continue;
      if (waiting) {
        const w = waiting;
        waiting = undefined;
        w(line);
      } else pending.push(line);
    }
  });
  const reply = () => new Promise<string>((resolve) => (pending.length ? resolve(pending.shift()!) : (waiting = resolve)));
  const send = async (line: string) => {
    socket.write(`${line}\r\n`);
    const r = await reply();
    replies.push(r);
    return r;
  };
  await reply();
  await send("EHLO mx.city.example.lg.jp");
  if (o.xforward) await send(`XFORWARD ${o.xforward}`);
  // XCLIENT starts the session over with a new greeting: EHLO again
  if (o.xclient && /^220/.test(await send(`XCLIENT ${o.xclient}`))) await send("EHLO mx.city.example.lg.jp");
  await send(`MAIL FROM:<${o.from}>`);
  await send(`RCPT TO:<${o.to}>`);
  await send("DATA");
  const data = o.raw.replace(/\r\n\./g, "\r\n..");
  await send(`${data}${data.endsWith("\r\n") ? "" : "\r\n"}.`);
  await send("QUIT");
  socket.destroy();
  return replies;
}

const queuedId = (replies: string[]) => /queued as (\S+)/.exec(replies.find((r) => r.startsWith("250 ") && /queued/.test(r)) ?? "")?.[1];

function delivered(id: string): string {
  const got = down.received.find((m) => m.raw.toString("latin1").includes(`X-Mumuka-Id: ${id}`));
  return got ? got.raw.toString("latin1") : "";
}

function header(raw: string, name: string): string {
  const head = raw.slice(0, raw.indexOf("\r\n\r\n"));
  return (
    head
      .split(/\r\n(?![ \t])/)
      .find((f) => f.toLowerCase().startsWith(`${name.toLowerCase()}:`))
      ?.replace(/\r\n[ \t]+/g, " ") ?? ""
  );
}

describe("sender authentication in the relay", () => {
  it("verifies against the client given by XFORWARD from an allowed forwarder, and says so in Authentication-Results", async () => {
    const raw = await sign(plainMessage("Alice <alice@good.example>", { body: "Hello." }), [{ domain: "good.example", selector: "sel", key }]);
    const replies = await smtp({ xforward: "NAME=mail.good.example ADDR=192.0.2.10 HELO=mail.good.example PROTO=ESMTP", from: "alice@good.example", to: "staff@city.example.lg.jp", raw });
    expect(replies[1]).toMatch(/^250/);
    const id = queuedId(replies)!;
    const out = await waitFor(() => delivered(id), 15000, "delivery");
    expect(header(out, "Authentication-Results")).toMatch(
      /^Authentication-Results: mumuka\.test; spf=pass \(client-ip=192\.0\.2\.10\) smtp\.mailfrom=good\.example smtp\.helo=mail\.good\.example; dkim=pass header\.d=good\.example header\.s=sel header\.b=\S{8}; dmarc=pass policy\.dmarc=reject header\.from=good\.example; arc=none$/,
    );
    // the trace names the original client, as Postfix's smtpd does with XFORWARD; the peer stays in the trail
    expect(header(out, "Received")).toMatch(/^Received: from mail\.good\.example \(192\.0\.2\.10\) by mumuka\.test/);
    expect(header(out, "X-Mumuka-Auth")).toBe("X-Mumuka-Auth: spf=pass; dkim=pass; dmarc=pass; arc=none; from-domain=good.example; aligned=good.example; client=xforward");
    // the trail keeps the verdict with the sanitized event (searchable), and the peer stays the peer
    const sanitized = audit.of("sanitized", id)[0]!.data as { auth: { spf: { result: string }; dmarc: { result: string }; client: { source: string } } };
    expect(sanitized.auth).toMatchObject({ spf: { result: "pass" }, dmarc: { result: "pass" }, client: { source: "xforward" } });
    expect((audit.of("received", id)[0]!.data as { clientAddress: string }).clientAddress).toBe("127.0.0.1");
    const counters = await metrics.registry.getSingleMetricAsString("mumuka_auth_results_total");
    expect(counters).toMatch(/mumuka_auth_results_total\{method="dmarc",result="pass"\} [1-9]/);
  });

  it("refuses XFORWARD from a client outside smtp.forwarders; SPF then sees that peer, and a DMARC failure under p=reject is held with the reason", async () => {
    const raw = plainMessage("Alice <alice@good.example>", { body: "Transfer money." });
    const replies = await smtp({ localAddress: "127.0.0.2", xforward: "ADDR=192.0.2.10 HELO=mail.good.example", from: "alice@good.example", to: "staff@city.example.lg.jp", raw });
    expect(replies[1]).toMatch(/^5\d\d/);
    const id = queuedId(replies)!;
    const held = await waitFor(() => audit.of("held", id)[0], 15000, "held");
    expect(JSON.stringify(held.data)).toContain("authentication: DMARC fail (p=reject) for header.from=good.example");
    const sanitized = audit.of("sanitized", id)[0]!.data as { auth: { spf: { result: string }; client: { address: string; source: string } } };
    expect(sanitized.auth.client).toMatchObject({ address: "127.0.0.2", source: "peer" });
    expect(sanitized.auth.spf.result).toBe("fail");
    expect(delivered(id)).toBe("");
  });

  it("verifies a large message (streamed from the spool, not read whole) the same way", async () => {
    const body = "A long report line of text, repeated to make the message larger than one mebibyte.\r\n".repeat(14_000);
    const raw = await sign(plainMessage("Alice <alice@good.example>", { body }), [{ domain: "good.example", selector: "sel", key }]);
    expect(raw.length).toBeGreaterThan(1024 * 1024);
    const replies = await smtp({ xforward: "ADDR=192.0.2.10 HELO=mail.good.example", from: "alice@good.example", to: "staff@city.example.lg.jp", raw });
    const id = queuedId(replies)!;
    const out = await waitFor(() => delivered(id), 30000, "delivery");
    expect(header(out, "X-Mumuka-Auth")).toMatch(/^X-Mumuka-Auth: spf=pass; dkim=pass; dmarc=pass;/);
  });

  it("takes the client from XCLIENT as well", async () => {
    const raw = plainMessage("Alice <alice@good.example>", { body: "Hello again." });
    const replies = await smtp({ xclient: "ADDR=192.0.2.10 HELO=mail.good.example NAME=mail.good.example", from: "alice@good.example", to: "staff@city.example.lg.jp", raw });
    expect(replies[1]).toMatch(/^220/);
    const id = queuedId(replies)!;
    const out = await waitFor(() => delivered(id), 15000, "delivery");
    expect(header(out, "Authentication-Results")).toContain("spf=pass (client-ip=192.0.2.10) smtp.mailfrom=good.example");
    expect(header(out, "X-Mumuka-Auth")).toContain("client=xclient");
  });

  it("the example rule holds a DMARC-failing look-alike of a government sender (p=none: the policy alone would deliver)", async () => {
    const raw = plainMessage("総務課 <soumu@city.example.lg.jp>", { body: "至急ご確認ください。" });
    const replies = await smtp({ xforward: "ADDR=203.0.113.66 HELO=bulk.example", from: "soumu@city.example.lg.jp", to: "staff@city.example.lg.jp", raw });
    const id = queuedId(replies)!;
    const held = await waitFor(() => audit.of("held", id)[0], 15000, "held");
    expect(JSON.stringify(held.data)).toContain("government sender fails DMARC");
    const sanitized = audit.of("sanitized", id)[0]!.data as { rulesApplied: string[]; auth: { dmarc: { result: string; policy: string } } };
    expect(sanitized.auth.dmarc).toMatchObject({ result: "fail", policy: "none" });
    expect(sanitized.rulesApplied).toContain("government-lookalike-dmarc-fail");
  });
});
