/**
 * The paced sender's SMTP side (bench/paced-sender.ts) against a loopback
 * SMTP server whose replies to RCPT come late, so that the sessions'
 * transactions overlap: every message must arrive whole and get its own 250,
 * whatever the other sessions are doing (an envelope object shared by the
 * sessions once made ~1 % of them fail after a 250 to RCPT, and sent an empty
 * message). Counts and order only, no timing assertion.
 */
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { afterEach, describe, expect, it } from "vitest";
import { sendPaced } from "../../bench/paced-sender.ts";

let server: SMTPServer | undefined;

afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** a server that answers each RCPT after 0–3 ms and keeps what it received, by Subject */
async function startServer(): Promise<{ port: number; received: Map<string, number> }> {
  const received = new Map<string, number>();
  let n = 0;
  server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["AUTH", "STARTTLS"],
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 100,
    onRcptTo(_address, _session, callback) {
      setTimeout(() => callback(), n++ % 4);
    },
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (d: Buffer) => chunks.push(d));
      stream.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const subject = /^Subject: (.*)$/m.exec(text)?.[1]?.trim() ?? "(none)";
        received.set(subject, text.length);
        callback(null, `Ok: queued as Q${subject.replace(/\D/g, "")}`);
      });
    },
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
  return { port: (server.server.address() as AddressInfo).port, received };
}

describe("sendPaced", () => {
  it("delivers every message whole, each with its own 250, over overlapping sessions", async () => {
    const { port, received } = await startServer();
    const count = 300;
    const body = "x".repeat(76).concat("\r\n").repeat(20);
    const { sent, repliedAt } = await sendPaced({
      port,
      rate: 3000,
      sessions: 6,
      count,
      message: (i) => Buffer.from(`Subject: m${i}\r\nFrom: bench@example.com\r\n\r\n${body}`),
      from: "bench@example.com",
      to: "staff@city.example.lg.jp",
    });
    expect(sent.filter((s) => s.error !== undefined).map((s) => `${s.i}: ${s.error}`)).toEqual([]);
    expect(sent.map((s) => s.reply)).toEqual(sent.map((s) => `250 Ok: queued as Q${s.i}`));
    expect(repliedAt.filter((t) => t !== undefined)).toHaveLength(count);
    expect(received.size).toBe(count);
    expect(Math.min(...received.values())).toBeGreaterThan(body.length);
  });
});
