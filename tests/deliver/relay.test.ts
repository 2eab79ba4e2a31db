import { readdir, readFile, writeFile } from "node:fs/promises";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { originalsSchema } from "../../src/config/schema.ts";
import { openOriginals } from "../../src/originals/index.ts";
import { openQueueAdmin } from "../../src/spool/queue-admin.ts";
import { startDownstream, type Downstream } from "../helpers/relay-downstream.ts";
import { startTestGateway, type TestGateway } from "../helpers/relay-gateway.ts";
import { freePort } from "../helpers/relay-process.ts";
import { plainMessage, recordingSink, sendRaw, tempDir, waitFor } from "../helpers/relay-helpers.ts";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function downstream(): Promise<Downstream> {
  const d = await startDownstream();
  cleanup.push(() => d.stop());
  return d;
}

async function gateway(opts: Parameters<typeof startTestGateway>[0]): Promise<TestGateway> {
  const g = await startTestGateway(opts);
  cleanup.push(() => g.gateway.close());
  return g;
}

const htmlWithAttachment = [
  "From: =?UTF-8?B?5aSW6YOo?= <sender@example.com>",
  "To: staff@city.example.lg.jp",
  "Subject: invoice",
  "Message-ID: <inv1@example.com>",
  "MIME-Version: 1.0",
  'Content-Type: multipart/mixed; boundary="b1"',
  "",
  "--b1",
  "Content-Type: text/html; charset=utf-8",
  "",
  '<html><body><p>Please see <a href="https://evil.example/pay">the invoice</a></p><script>alert(1)</script></body></html>',
  "--b1",
  'Content-Type: application/octet-stream; name="invoice.exe"',
  "Content-Transfer-Encoding: base64",
  'Content-Disposition: attachment; filename="invoice.exe"',
  "",
  Buffer.from("MZ\x90\x00 evil payload").toString("base64"),
  "--b1--",
  "",
].join("\r\n");

const spoolEmpty = async (dataDir: string) => {
  // done/: finished, its record leaves once the audit sink has its final events
  for (const state of ["incoming", "active", "deferred", "held", "done"]) {
    if ((await readdir(`${dataDir}/spool/${state}`)).length) return false;
  }
  return true;
};

describe("relaying", () => {
  it("delivers the sanitized message, not the original, with the original envelope", async () => {
    const down = await downstream();
    const g = await gateway({ delivery: { port: down.port } });
    const reply = await sendRaw({ port: g.port, from: "sender@example.com", to: ["staff@city.example.lg.jp", "boss@city.example.lg.jp"], raw: htmlWithAttachment });
    const id = /queued as (\S+)/.exec(reply.response)![1]!;
    await waitFor(() => down.received.length === 1, 15000, "downstream delivery");
    const got = down.received[0]!;
    expect(got.mailFrom).toBe("sender@example.com");
    expect(got.rcptTo).toEqual(["staff@city.example.lg.jp", "boss@city.example.lg.jp"]);
    const raw = got.raw.toString("latin1");
    const split = raw.indexOf("\r\n\r\n");
    const head = raw.slice(0, split);
    const body = Buffer.from(raw.slice(split + 4), "base64").toString("utf8");
    expect(head).toMatch(/^Content-Type: text\/plain/im);
    expect(head).toMatch(/^Content-Transfer-Encoding: base64/im);
    expect(raw).not.toMatch(/multipart/i);
    expect(head).toContain(`X-Mumuka-Id: ${id}`);
    expect(body).toContain("Please see the invoice");
    expect(body).not.toMatch(/<script|alert\(1\)|evil payload|https:\/\/evil/);
    await waitFor(() => g.audit.of("delivered", id).length === 1, 5000, "delivered event");
    const sanitized = g.audit.of("sanitized", id)[0]!.data as { report: { output: { sha256: string }; attachments: unknown[] } };
    expect(sanitized.report.attachments.length).toBe(1);
    const { createHash } = await import("node:crypto");
    expect(createHash("sha256").update(got.raw).digest("hex")).toBe(sanitized.report.output.sha256);
    await waitFor(() => spoolEmpty(g.dataDir), 5000, "empty spool");
    // delivered at the first attempt: no output or meta file is left behind (none was needed)
    expect(await readdir(`${g.dataDir}/spool/out`)).toEqual([]);
    expect(await readdir(`${g.dataDir}/spool/meta`)).toEqual([]);
    // the raw original is retained (its spool record, retired), and comes back exactly as received
    const day = `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}`;
    expect(await readdir(`${g.dataDir}/originals/${day}`)).toEqual([`${id}.rec`]);
    const store = openOriginals({ config: originalsSchema.parse({}), dataDir: g.dataDir, audit: recordingSink() });
    const chunks: Buffer[] = [];
    for await (const chunk of (await store.get(id, "cli:test")) as AsyncIterable<Buffer>) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString("latin1")).toBe(htmlWithAttachment);
  });

  it("honours per-recipient replies: delivers to some, bounces a 5xx with a DSN, retries a 4xx", async () => {
    const down = await downstream();
    const dsnSink = await downstream();
    down.rcptReplies.set("gone@city.example.lg.jp", { code: 550, message: "5.1.1 no such user" });
    down.rcptReplies.set("busy@city.example.lg.jp", { code: 450, message: "4.2.1 try later" });
    const g = await gateway({ delivery: { port: down.port, dsnRelay: { host: "127.0.0.1", port: dsnSink.port } } });
    const rcpts = ["ok@city.example.lg.jp", "gone@city.example.lg.jp", "busy@city.example.lg.jp"];
    const reply = await sendRaw({ port: g.port, from: "sender@example.com", to: rcpts, raw: plainMessage("partial") });
    const id = /queued as (\S+)/.exec(reply.response)![1]!;
    await waitFor(() => down.received.length === 1, 15000, "first delivery");
    expect(down.received[0]!.rcptTo).toEqual(["ok@city.example.lg.jp"]);
    await waitFor(() => dsnSink.received.length === 1, 10000, "DSN");
    const dsn = dsnSink.received[0]!;
    expect(dsn.mailFrom).toBe("");
    expect(dsn.rcptTo).toEqual(["sender@example.com"]);
    expect(dsn.raw.toString()).toMatch(/multipart\/report; report-type=delivery-status/);
    expect(dsn.raw.toString()).toMatch(/Final-Recipient: rfc822; gone@city\.example\.lg\.jp\r\nOriginal-Recipient: [^\r]*\r\nAction: failed\r\nStatus: 5\.1\.1/);
    expect(dsn.raw.toString()).not.toMatch(/busy@/);
    await waitFor(() => g.audit.of("deferred", id).length >= 1, 5000, "deferred");
    down.rcptReplies.delete("busy@city.example.lg.jp");
    await waitFor(() => down.received.length === 2, 15000, "retry of the deferred recipient");
    expect(down.received[1]!.rcptTo).toEqual(["busy@city.example.lg.jp"]);
    // the retry sends the very same bytes
    expect(down.received[1]!.raw.equals(down.received[0]!.raw)).toBe(true);
    expect(dsnSink.received.length).toBe(1);
    await waitFor(() => spoolEmpty(g.dataDir), 5000, "empty spool");
    // the output and meta written for the retry are removed with the message
    await waitFor(async () => (await readdir(`${g.dataDir}/spool/out`)).length === 0, 5000, "out/ empty");
    expect(await readdir(`${g.dataDir}/spool/meta`)).toEqual([]);
  });

  it("keeps messages while the downstream server is down and delivers them when it is back", async () => {
    const down = await downstream();
    await down.stop();
    const g = await gateway({ delivery: { port: down.port } });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await sendRaw({ port: g.port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage(`down ${i}`) });
      ids.push(/queued as (\S+)/.exec(r.response)![1]!);
    }
    await waitFor(() => g.audit.of("deferred").length >= 5, 10000, "deferrals");
    expect((await readdir(`${g.dataDir}/spool/deferred`)).sort()).toEqual([...ids].sort());
    await down.start();
    await waitFor(() => down.received.length === 5, 20000, "delivery after the downstream came back");
    await waitFor(() => spoolEmpty(g.dataDir), 5000, "empty spool");
  });

  it("fails over to the next host when the first is unreachable", async () => {
    const down = await downstream();
    const g = await gateway({ delivery: { port: await freePort(), failover: [{ host: "127.0.0.1", port: down.port }] } });
    const r = await sendRaw({ port: g.port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage("failover") });
    const id = /queued as (\S+)/.exec(r.response)![1]!;
    await waitFor(() => down.received.length === 1, 15000, "delivery via the failover host");
    const attempts = g.audit.of("delivery-attempt", id).map((e) => e.data as { ok: boolean });
    expect(attempts.map((a) => a.ok)).toEqual([false, true]);
  });

  it("holds a bounced message when no DSN relay is configured, and delivers it once released", async () => {
    const down = await downstream();
    down.rcptReplies.set("staff@city.example.lg.jp", { code: 550, message: "5.1.1 unknown" });
    const g = await gateway({ delivery: { port: down.port } });
    const r = await sendRaw({ port: g.port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage("hold me") });
    const id = /queued as (\S+)/.exec(r.response)![1]!;
    await waitFor(() => g.audit.of("held", id).length === 1, 15000, "held");
    const adminAudit = recordingSink();
    const admin = openQueueAdmin(g.dataDir, adminAudit);
    const entry = await admin.get(id);
    expect(entry).toMatchObject({ state: "held" });
    expect(entry!.holdReason).toMatch(/no DSN relay/);
    down.rcptReplies.clear();
    await admin.release(id, "cli:test");
    expect(adminAudit.of("released", id)[0]).toMatchObject({ actor: "cli:test" });
    await waitFor(() => down.received.length === 1, 15000, "delivery after release");
    await waitFor(() => spoolEmpty(g.dataDir), 5000, "empty spool");
  });

  it("serves a held message's original from the queue, and keeps it when an administrator deletes the message", async () => {
    const down = await downstream();
    down.rcptReplies.set("staff@city.example.lg.jp", { code: 550, message: "5.1.1 unknown" });
    const g = await gateway({ delivery: { port: down.port } });
    const raw = plainMessage("delete me");
    const r = await sendRaw({ port: g.port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw });
    const id = /queued as (\S+)/.exec(r.response)![1]!;
    await waitFor(() => g.audit.of("held", id).length === 1, 15000, "held");
    const store = openOriginals({ config: originalsSchema.parse({}), dataDir: g.dataDir, audit: recordingSink() });
    const original = async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of (await store.get(id, "cli:test")) as AsyncIterable<Buffer>) chunks.push(chunk);
      return Buffer.concat(chunks).toString("utf8");
    };
    expect(await original()).toBe(raw);
    await openQueueAdmin(g.dataDir, recordingSink(), store).delete(id, "cli:test");
    expect(await readdir(`${g.dataDir}/spool/held`)).toEqual([]);
    expect(await original()).toBe(raw);
  });

  it("an administrator can hold a deferred message and retry it, while the gateway runs", async () => {
    const down = await downstream();
    await down.stop();
    const g = await gateway({ delivery: { port: down.port, retryFirstSeconds: 300, retryMaxSeconds: 600 } });
    const r = await sendRaw({ port: g.port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage("admin") });
    const id = /queued as (\S+)/.exec(r.response)![1]!;
    await waitFor(() => g.audit.of("deferred", id).length === 1, 10000, "deferred");
    const admin = openQueueAdmin(g.dataDir, recordingSink());
    expect((await admin.list({ state: "deferred" })).map((e) => e.id)).toEqual([id]);
    await admin.hold(id, "cli:test", "checking");
    expect(await admin.get(id)).toMatchObject({ state: "held", holdReason: "held by cli:test: checking" });
    await down.start();
    await admin.retry(id, "cli:test");
    // without the retry, the next attempt would be 5 minutes away
    await waitFor(() => down.received.length === 1, 10000, "delivery after retry");
  });

  it("expires a message after maxQueueDays and holds it when there is no DSN relay", async () => {
    const down = await downstream();
    await down.stop();
    // 0.00002 days ≈ 1.7 s
    const g = await gateway({ delivery: { port: down.port, maxQueueDays: 0.00002 } });
    const r = await sendRaw({ port: g.port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage("expire") });
    const id = /queued as (\S+)/.exec(r.response)![1]!;
    await waitFor(() => g.audit.of("expired", id).length === 1, 15000, "expired");
    await waitFor(() => g.audit.of("held", id).length === 1, 5000, "held");
  });

  it("holds a message a rule holds, tells the recipients without its text, and delivers it in full once released", async () => {
    const down = await downstream();
    const dir = await tempDir("mumuka-rules-");
    await writeFile(
      `${dir}/rules.yaml`,
      'rules:\n  - name: hold-invoices\n    when: { subject: { contains: invoice } }\n    then:\n      hold: { reason: suspected phishing, notify_recipients: true }\n',
    );
    const g = await gateway({ delivery: { port: down.port }, rules: { file: `${dir}/rules.yaml`, watch: false } });
    const r = await sendRaw({ port: g.port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage("invoice 42", "SECRET-BODY-TEXT\r\n") });
    const id = /queued as (\S+)/.exec(r.response)![1]!;
    await waitFor(() => g.audit.of("held", id).length === 1, 15000, "held by the rule");
    await waitFor(() => down.received.length === 1, 10000, "the hold notice");
    const decode = (raw: Buffer) => {
      const text = raw.toString("latin1");
      const split = text.indexOf("\r\n\r\n");
      return Buffer.from(text.slice(split + 4), "base64").toString("utf8");
    };
    expect(decode(down.received[0]!.raw)).not.toContain("SECRET-BODY-TEXT");
    expect(g.audit.of("delivered", id)).toEqual([]);
    const admin = openQueueAdmin(g.dataDir, recordingSink());
    expect((await admin.get(id))?.holdReason).toMatch(/suspected phishing/);
    await admin.release(id, "cli:test");
    await waitFor(() => down.received.length === 2, 15000, "delivery after release");
    expect(decode(down.received[1]!.raw)).toContain("SECRET-BODY-TEXT");
  });

  it("keeps at most a bounded number of messages in flight when the downstream server hangs; the rest wait on disk", async () => {
    // a downstream that accepts connections and never says a word
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    cleanup.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    });
    const port = (silent.address() as net.AddressInfo).port;
    // concurrency 2 → at most 2 × 2 + 2 sanitizer slots = 6 messages in active/
    const g = await gateway({ delivery: { port, concurrency: 2, connectTimeoutMs: 3000 } });
    let maxActive = 0;
    const sampler = setInterval(() => {
      void readdir(`${g.dataDir}/spool/active`).then((n) => (maxActive = Math.max(maxActive, n.length)), () => {});
    }, 20);
    cleanup.push(async () => clearInterval(sampler));
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => sendRaw({ port: g.port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage(`hang ${i}`) })),
    );
    await waitFor(() => g.audit.of("deferred").length >= 10, 20000, "deferrals after greeting timeouts");
    clearInterval(sampler);
    expect(maxActive).toBeGreaterThan(0);
    expect(maxActive).toBeLessThanOrEqual(6);
    const onDisk = async () => (await readdir(`${g.dataDir}/spool/incoming`)).length + (await readdir(`${g.dataDir}/spool/active`)).length + (await readdir(`${g.dataDir}/spool/deferred`)).length;
    expect(await onDisk()).toBe(30);
  });

  it("writes sanitized messages atomically as .eml files in directory mode", async () => {
    const g = await gateway({ delivery: { mode: "directory" } });
    const r = await sendRaw({ port: g.port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: htmlWithAttachment });
    const id = /queued as (\S+)/.exec(r.response)![1]!;
    const outbox = `${g.dataDir}/outbox`;
    await waitFor(async () => (await readdir(outbox).catch((): string[] => [])).includes(`${id}.eml`), 10000, ".eml");
    const names = await readdir(outbox);
    expect(names.sort()).toEqual([`${id}.envelope.json`, `${id}.eml`].sort());
    // written at the first attempt, from the bytes in memory (no output file exists yet then)
    expect(g.audit.of("delivery-attempt", id).map((e) => e.data.ok)).toEqual([true]);
    expect(g.audit.of("deferred", id)).toEqual([]);
    // the trail keeps the text as staff received it (the console's message detail shows it)
    const text = String(g.audit.of("sanitized", id)[0]?.data.text);
    expect(text).toContain("Please see");
    expect(text).toContain("invoice.exe");
    expect(text).not.toContain("<script>");
  });
});
