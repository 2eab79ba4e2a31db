/**
 * The SMTP deliverer against a real SMTP server on loopback: what the server
 * sees (connections, simultaneous sessions, envelopes, bytes) and the verdict
 * per recipient the gateway records.
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { deliverySchema } from "../../src/config/schema.ts";
import type { Deliverer, DeliveryJob } from "../../src/deliver/delivery-types.ts";
import { createSmtpDeliverer } from "../../src/deliver/smtp-delivery.ts";
import { MESSAGES_PER_CONNECTION } from "../../src/deliver/smtp-pool.ts";
import { startDownstream, type Downstream, type DownstreamOptions } from "../helpers/relay-downstream.ts";
import { tempDir, waitFor } from "../helpers/relay-helpers.ts";
import { freePort } from "../helpers/relay-process.ts";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function startServer(options: DownstreamOptions = {}): Promise<Downstream> {
  const server = await startDownstream(options);
  cleanup.push(() => server.stop());
  return server;
}

function deliverer(port: number, overrides: object = {}): Deliverer {
  const delivery = deliverySchema.parse({ mode: "smtp", host: "127.0.0.1", port, connectTimeoutMs: 2000, ...overrides });
  const d = createSmtpDeliverer(delivery, "mumuka.test");
  cleanup.push(() => d.close());
  return d;
}

const message = (subject: string, body = "hello\r\n") => Buffer.from(`From: a@example.com\r\nTo: staff@city.example.lg.jp\r\nSubject: ${subject}\r\n\r\n${body}`);

const job = (subject: string, rcptTo = ["staff@city.example.lg.jp"], body?: string): DeliveryJob => ({
  queueId: subject,
  mailFrom: "sender@example.com",
  rcptTo,
  file: "/nonexistent/spool/out/file.eml",
  message: message(subject, body),
});

describe("the SMTP deliverer", () => {
  it("sends one message after another over a single connection", async () => {
    const server = await startServer();
    const d = deliverer(server.port);
    for (let i = 0; i < 20; i++) {
      const result = await d.deliver(job(`reuse ${i}`));
      expect(result.recipients.map((r) => r.status)).toEqual(["accepted"]);
    }
    expect(server.received.map((r) => r.raw.toString())).toEqual(Array.from({ length: 20 }, (_, i) => message(`reuse ${i}`).toString()));
    expect(server.connections).toBe(1);
    expect(server.commands[0]).toBe("EHLO mumuka.test");
  });

  it("never has more than `concurrency` sessions open, however many deliveries wait", async () => {
    const server = await startServer({ dataDelayMs: 30 });
    const d = deliverer(server.port, { concurrency: 3 });
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => d.deliver(job(`bound ${i}`))));
    expect(results.every((r) => r.recipients[0]!.status === "accepted")).toBe(true);
    expect(server.received.length).toBe(30);
    expect(server.maxOpen).toBe(3);
    expect(server.connections).toBe(3);
  });

  it(`opens a fresh connection after ${MESSAGES_PER_CONNECTION} messages`, async () => {
    const server = await startServer();
    const d = deliverer(server.port, { concurrency: 1 });
    for (let i = 0; i < MESSAGES_PER_CONNECTION + 1; i++) await d.deliver(job(`recycle ${i}`));
    expect(server.received.length).toBe(MESSAGES_PER_CONNECTION + 1);
    expect(server.connections).toBe(2);
    expect(server.commands.filter((c) => c === "QUIT")).toEqual(["QUIT"]);
  });

  it("defers a message whose connection is cut mid-transaction, and delivers the next one on a fresh connection", async () => {
    const server = await startServer({ dropOn: "CUT-ME" });
    const d = deliverer(server.port);
    expect((await d.deliver(job("before"))).recipients[0]!.status).toBe("accepted");
    const cut = await d.deliver(job("cut", ["staff@city.example.lg.jp", "boss@city.example.lg.jp"], "CUT-ME\r\n"));
    expect(cut.recipients.map((r) => r.status)).toEqual(["deferred", "deferred"]);
    expect(cut.attempts).toEqual([{ host: `127.0.0.1:${server.port}`, reply: expect.stringMatching(/ECONNECTION|ESOCKET/), ok: false }]);
    const connectionsBefore = server.connections;
    const after = await d.deliver(job("after"));
    expect(after.recipients[0]).toMatchObject({ status: "accepted", reply: expect.stringMatching(/^250 /) });
    expect(server.connections).toBe(connectionsBefore + 1);
    expect(server.received.map((r) => r.raw.toString().match(/Subject: (\w+)/)![1])).toEqual(["before", "after"]);
  });

  it("delivers after the server closed the idle connection", async () => {
    const server = await startServer({ socketTimeout: 200 });
    const d = deliverer(server.port);
    expect((await d.deliver(job("first"))).recipients[0]!.status).toBe("accepted");
    await waitFor(() => server.open === 0, 5000, "the server closing the idle connection");
    const second = await d.deliver(job("second"));
    expect(second.recipients[0]!.status).toBe("accepted");
    expect(second.attempts.map((a) => a.ok)).toEqual([true]);
    expect(server.received.length).toBe(2);
  });

  it("gives each recipient its own verdict: accepted, rejected on 5xx, deferred on 4xx", async () => {
    const server = await startServer();
    server.rcptReplies.set("gone@city.example.lg.jp", { code: 550, message: "5.1.1 no such user" });
    server.rcptReplies.set("busy@city.example.lg.jp", { code: 450, message: "4.2.1 try later" });
    const d = deliverer(server.port);
    const result = await d.deliver(job("partial", ["ok@city.example.lg.jp", "gone@city.example.lg.jp", "busy@city.example.lg.jp"]));
    expect(result.recipients).toEqual([
      { rcpt: "ok@city.example.lg.jp", status: "accepted", reply: expect.stringMatching(/^250 .*queued downstream/), host: `127.0.0.1:${server.port}` },
      { rcpt: "gone@city.example.lg.jp", status: "rejected", reply: "550 5.1.1 no such user", code: 550, host: `127.0.0.1:${server.port}` },
      { rcpt: "busy@city.example.lg.jp", status: "deferred", reply: "450 4.2.1 try later", code: 450, host: `127.0.0.1:${server.port}` },
    ]);
    expect(result.attempts.map((a) => a.ok)).toEqual([true]);
    expect(server.received.map((r) => r.rcptTo)).toEqual([["ok@city.example.lg.jp"]]);
  });

  it("rejects every recipient the server refuses, and keeps the connection for the next message", async () => {
    const server = await startServer();
    server.rcptReplies.set("gone@city.example.lg.jp", { code: 550, message: "5.1.1 no such user" });
    server.rcptReplies.set("moved@city.example.lg.jp", { code: 551, message: "5.1.6 moved" });
    const d = deliverer(server.port);
    const refused = await d.deliver(job("refused", ["gone@city.example.lg.jp", "moved@city.example.lg.jp"]));
    expect(refused.recipients.map((r) => [r.status, r.code])).toEqual([
      ["rejected", 550],
      ["rejected", 551],
    ]);
    expect(refused.attempts.map((a) => a.ok)).toEqual([false]);
    const next = await d.deliver(job("next"));
    expect(next.recipients[0]!.status).toBe("accepted");
    expect(server.received.map((r) => r.rcptTo)).toEqual([["staff@city.example.lg.jp"]]);
    expect(server.connections).toBe(1);
  });

  it("fails over to the next host for the recipients still deferred", async () => {
    const first = await startServer();
    const second = await startServer();
    first.rcptReplies.set("busy@city.example.lg.jp", { code: 451, message: "4.3.0 try later" });
    const d = deliverer(first.port, { failover: [{ host: "127.0.0.1", port: second.port }] });
    const result = await d.deliver(job("failover", ["ok@city.example.lg.jp", "busy@city.example.lg.jp"]));
    expect(result.recipients.map((r) => [r.rcpt, r.status, r.host])).toEqual([
      ["ok@city.example.lg.jp", "accepted", `127.0.0.1:${first.port}`],
      ["busy@city.example.lg.jp", "accepted", `127.0.0.1:${second.port}`],
    ]);
    expect(first.received.map((r) => r.rcptTo)).toEqual([["ok@city.example.lg.jp"]]);
    expect(second.received.map((r) => r.rcptTo)).toEqual([["busy@city.example.lg.jp"]]);
  });

  it("fails over when the first host is unreachable, and records both attempts", async () => {
    const server = await startServer();
    const dead = await freePort();
    const d = deliverer(dead, { failover: [{ host: "127.0.0.1", port: server.port }] });
    const result = await d.deliver(job("unreachable"));
    expect(result.recipients.map((r) => r.status)).toEqual(["accepted"]);
    expect(result.attempts).toEqual([
      { host: `127.0.0.1:${dead}`, reply: expect.stringMatching(/ECONNREFUSED/), ok: false },
      { host: `127.0.0.1:${server.port}`, reply: expect.stringMatching(/^250 /), ok: true },
    ]);
  });

  it("defers every recipient when no host answers", async () => {
    const d = deliverer(await freePort());
    const result = await d.deliver(job("nobody", ["a@city.example.lg.jp", "b@city.example.lg.jp"]));
    expect(result.recipients.map((r) => r.status)).toEqual(["deferred", "deferred"]);
    expect(result.attempts.map((a) => a.ok)).toEqual([false]);
  });

  it("streams the spool file when the bytes are not in memory, byte for byte", async () => {
    const server = await startServer();
    const d = deliverer(server.port);
    const dir = await tempDir("mumuka-smtp-");
    const file = path.join(dir, "out.eml");
    // ~1.5 MB, with lines a transparent-dot bug would eat
    const line = ".dotted line that must survive dot-stuffing " + "x".repeat(60) + "\r\n";
    const bytes = Buffer.concat([message("big", ""), Buffer.from(line.repeat(14_000))]);
    await writeFile(file, bytes);
    const result = await d.deliver({ queueId: "big", mailFrom: "", rcptTo: ["staff@city.example.lg.jp"], file });
    expect(result.recipients[0]!.status).toBe("accepted");
    expect(server.received[0]!.mailFrom).toBe("");
    expect(server.received[0]!.raw.equals(bytes)).toBe(true);
  });

  it("defers when the spool file cannot be read, and the next message still goes through", async () => {
    const server = await startServer();
    const d = deliverer(server.port);
    const missing = await d.deliver({ queueId: "missing", mailFrom: "sender@example.com", rcptTo: ["staff@city.example.lg.jp"], file: "/nonexistent/out.eml" });
    expect(missing.recipients[0]).toMatchObject({ status: "deferred", reply: expect.stringMatching(/ENOENT/) });
    expect((await d.deliver(job("next"))).recipients[0]!.status).toBe("accepted");
    expect(server.received.length).toBe(1);
  });

  it("sends the envelope as nodemailer's sendMail did, and matches the verdicts to the recipients as given", async () => {
    const server = await startServer();
    const d = deliverer(server.port);
    const rcpts = ["Staff@City.Example.LG.JP", "user@jõgeva.ee", "boss@city.example.lg.jp", "boss@city.example.lg.jp"];
    const result = await d.deliver({ ...job("idn", rcpts), mailFrom: "Sender@Example.COM" });
    expect(result.recipients.map((r) => [r.rcpt, r.status])).toEqual(rcpts.map((r) => [r, "accepted"]));
    // domains lower-cased, an IDN domain as its A-label (no SMTPUTF8 needed), a repeated recipient once
    expect(server.commands.filter((c) => /^(MAIL|RCPT)/.test(c))).toEqual([
      "MAIL FROM:<Sender@example.com>",
      "RCPT TO:<Staff@city.example.lg.jp>",
      "RCPT TO:<user@xn--jgeva-dua.ee>",
      "RCPT TO:<boss@city.example.lg.jp>",
    ]);
  });

  it("leaves no connection open once closed, and defers what comes after", async () => {
    const server = await startServer();
    const d = deliverer(server.port, { concurrency: 4 });
    await Promise.all(Array.from({ length: 8 }, (_, i) => d.deliver(job(`close ${i}`))));
    expect(server.open).toBeGreaterThan(0);
    await d.close();
    await waitFor(() => server.open === 0, 3000, "every connection closed");
    const late = await d.deliver(job("late"));
    expect(late.recipients[0]!.status).toBe("deferred");
    expect(server.open).toBe(0);
    expect(server.received.length).toBe(8);
  });
});
