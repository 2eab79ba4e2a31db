import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { spawnSync } from "node:child_process";
import net from "node:net";
import nodemailer from "nodemailer";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "../../src/config/load.ts";
import { createReceiver, type Receiver } from "../../src/receive/smtp-receiver.ts";
import { createDirSyncer, type DirSyncer } from "../../src/spool/durable.ts";
import { readRecordInfo } from "../../src/spool/record.ts";
import { openSpool, type Spool } from "../../src/spool/spool.ts";
import { plainMessage, recordingSink, sendRaw, silentLogger, tempDir, type RecordingSink } from "../helpers/relay-helpers.ts";

interface Running {
  receiver: Receiver;
  port: number;
  spool: Spool;
  audit: RecordingSink;
  queued: string[];
}

const running: Receiver[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
});

async function start(smtp: Record<string, unknown> = {}, syncer?: DirSyncer): Promise<Running> {
  const config = parseConfig({
    smtp: { host: "127.0.0.1", port: 0, clients: ["127.0.0.1/32"], recipientDomains: ["city.example.lg.jp"], ...smtp },
  });
  const spool = await openSpool(await tempDir(), syncer);
  const audit = recordingSink();
  const queued: string[] = [];
  const receiver = createReceiver({
    smtp: config.smtp,
    hostname: "mumuka.test",
    spool,
    audit,
    logger: silentLogger(),
    onQueued: (id) => queued.push(id),
  });
  const address = await receiver.listen();
  running.push(receiver);
  return { receiver, port: address.port, spool, audit, queued };
}

/** a raw SMTP dialogue: sends each line after the previous reply, returns every reply */
async function dialogue(port: number, lines: string[], localAddress?: string): Promise<string[]> {
  const socket = net.connect({ port, host: "127.0.0.1", ...(localAddress ? { localAddress } : {}) });
  const replies: string[] = [];
  let buffer = "";
  let wake: (() => void) | undefined;
  socket.on("data", (d) => {
    buffer += d.toString("latin1");
    wake?.();
  });
  const closed = new Promise<void>((r) => socket.on("close", () => r()));
  const next = async () => {
    for (;;) {
      const m = /^(\d{3}) [^\r\n]*\r\n/m.exec(buffer);
      if (m) {
        const end = m.index + m[0].length;
        replies.push(buffer.slice(0, end).trim());
        buffer = buffer.slice(end);
        return;
      }
      await Promise.race([new Promise<void>((r) => (wake = r)), closed]);
      if (socket.destroyed && !/^\d{3} /m.test(buffer)) throw new Error(`connection closed; replies: ${replies.join(" | ")}`);
    }
  };
  await next();
  for (const line of lines) {
    socket.write(line);
    if (line.endsWith("\r\n.\r\n") || !line.startsWith("DATA-BODY")) await next();
  }
  socket.end();
  return replies;
}

describe("receiving", () => {
  it("answers 250 with the queue id only once the message is in the spool, and records it", async () => {
    const r = await start();
    const reply = await sendRaw({ port: r.port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage("hello") });
    const id = /queued as (\S+)/.exec(reply.response)?.[1];
    expect(id).toBeDefined();
    expect(r.queued).toEqual([id]);
    const info = await readRecordInfo(r.spool.recordPath("incoming", id!));
    expect(info.envelope.mailFrom).toBe("sender@example.com");
    expect(info.envelope.rcptTo).toEqual(["staff@city.example.lg.jp"]);
    const [event] = r.audit.of("received", id);
    expect(event?.data).toMatchObject({ subject: "hello", mailFrom: "sender@example.com", sha256: info.sha256, size: info.messageLength });
  });

  it("holds the 250 while the spool directory's fsync has not completed", async () => {
    // The promise: "250" means on disk. A directory fsync that blocks must block the reply.
    const order: string[] = [];
    let release!: () => void;
    let requested!: () => void;
    const fsyncRequested = new Promise<void>((r) => (requested = r));
    const gate = new Promise<void>((r) => (release = r));
    const r = await start({}, createDirSyncer(async (dir) => {
      if (!dir.endsWith("incoming")) return;
      order.push("fsync started");
      requested();
      await gate;
      order.push("fsync done");
    }));
    const reply = sendRaw({ port: r.port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage("durable") }).then((x) => {
      order.push("250");
      return x;
    });
    await fsyncRequested;
    // give a wrong implementation every chance to answer early: many turns of the event loop,
    // each one polling the socket, while the fsync is held
    for (let i = 0; i < 200; i += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(["fsync started"]);
    release();
    expect((await reply).response).toMatch(/^250 /);
    expect(order).toEqual(["fsync started", "fsync done", "250"]);
  });

  it("refuses a client outside smtp.clients before any transaction", async () => {
    const r = await start();
    await expect(
      sendRaw({ port: r.port, localAddress: "127.0.0.2", from: "a@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage("x") }),
    ).rejects.toMatchObject({ responseCode: 554 });
    expect(await r.spool.list("incoming")).toEqual([]);
  });

  it("refuses recipients in foreign domains (no open relay) and accepts the local ones", async () => {
    const r = await start();
    const replies = await dialogue(r.port, [
      "EHLO client.example\r\n",
      "MAIL FROM:<a@example.com>\r\n",
      "RCPT TO:<victim@elsewhere.example>\r\n",
      "RCPT TO:<staff@city.example.lg.jp>\r\n",
      "QUIT\r\n",
    ]);
    expect(replies[3]).toMatch(/^554 5\.7\.1 <victim@elsewhere\.example>: Relay access denied/);
    expect(replies[4]).toMatch(/^250/);
  });

  it("refuses recipients beyond smtp.maxRecipients with 452", async () => {
    const r = await start({ maxRecipients: 2 });
    const replies = await dialogue(r.port, [
      "EHLO client.example\r\n",
      "MAIL FROM:<a@example.com>\r\n",
      "RCPT TO:<a@city.example.lg.jp>\r\n",
      "RCPT TO:<b@city.example.lg.jp>\r\n",
      "RCPT TO:<c@city.example.lg.jp>\r\n",
      "QUIT\r\n",
    ]);
    expect(replies[5]).toMatch(/^452 4\.5\.3/);
  });

  it("advertises SIZE, 8BITMIME, SMTPUTF8 and PIPELINING, and no STARTTLS without a certificate", async () => {
    const r = await start({ maxMessageBytes: 10_000 });
    const replies = await dialogue(r.port, ["EHLO client.example\r\n", "QUIT\r\n"]);
    expect(replies[1]).toMatch(/SIZE 10000/);
    expect(replies[1]).toMatch(/8BITMIME/);
    expect(replies[1]).toMatch(/SMTPUTF8/);
    expect(replies[1]).toMatch(/PIPELINING/);
    expect(replies[1]).not.toMatch(/STARTTLS/);
  });

  it("believes XFORWARD/XCLIENT from nobody by default: not offered, refused if sent, even from an allowed client", async () => {
    const r = await start({});
    const replies = await dialogue(r.port, ["EHLO client.example\r\n", "XFORWARD ADDR=192.0.2.10 HELO=mail.good.example\r\n", "XCLIENT ADDR=192.0.2.10\r\n", "QUIT\r\n"]);
    expect(replies[1]).not.toMatch(/XFORWARD|XCLIENT/);
    expect(replies[2]).toMatch(/^5\d\d/);
    expect(replies[3]).toMatch(/^5\d\d/);
    // listed in smtp.forwarders, the same client is offered both
    const listed = await start({ forwarders: ["127.0.0.1/32"] });
    const offered = await dialogue(listed.port, ["EHLO client.example\r\n", "QUIT\r\n"]);
    expect(offered[1]).toMatch(/XFORWARD/);
    expect(offered[1]).toMatch(/XCLIENT/);
  });

  it("refuses a message declared too large via SIZE", async () => {
    const r = await start({ maxMessageBytes: 10_000 });
    const replies = await dialogue(r.port, ["EHLO client.example\r\n", "MAIL FROM:<a@example.com> SIZE=20000\r\n", "QUIT\r\n"]);
    expect(replies[2]).toMatch(/^552/);
  });

  it("refuses a message that turns out too large, and keeps nothing of it", async () => {
    const r = await start({ maxMessageBytes: 10_000 });
    await expect(
      sendRaw({ port: r.port, from: "a@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage("big", ("x".repeat(78) + "\r\n").repeat(300)) }),
    ).rejects.toMatchObject({ responseCode: 552 });
    expect(await readdir(r.spool.dir("incoming"))).toEqual([]);
    expect(r.audit.of("received")).toEqual([]);
  });

  it("answers 4xx, never 250, when the spool cannot be written", async () => {
    const r = await start();
    // root ignores permission bits: put a file where the incoming directory should be
    await rm(r.spool.dir("incoming"), { recursive: true });
    await writeFile(r.spool.dir("incoming"), "not a directory");
    await expect(
      sendRaw({ port: r.port, from: "a@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage("lost?") }),
    ).rejects.toMatchObject({ responseCode: 451 });
    expect(r.queued).toEqual([]);
    await rm(r.spool.dir("incoming"));
    await mkdir(r.spool.dir("incoming"));
    const ok = await sendRaw({ port: r.port, from: "a@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage("retried") });
    expect(ok.response).toMatch(/^250 /);
  });

  it("greets at once (no early-talker pause that would cap a connection-per-message MTA)", async () => {
    const r = await start();
    // smtp-server's built-in pause is a 100 ms setTimeout before the 220. With setTimeout frozen,
    // the greeting still arrives only if nothing in its path waits on a timer (a hang fails).
    vi.useFakeTimers({ toFake: ["setTimeout"] });
    try {
      const replies = await dialogue(r.port, ["QUIT\r\n"]);
      expect(replies[0]).toMatch(/^220 /);
    } finally {
      vi.useRealTimers();
    }
  }, 10_000);

  it("offers STARTTLS when a certificate and key are configured, and receives over TLS", async () => {
    const dir = await tempDir("mumuka-tls-");
    const made = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=mumuka.test", "-keyout", `${dir}/key.pem`, "-out", `${dir}/cert.pem`], { stdio: "ignore" });
    if (made.status !== 0) throw new Error("openssl could not make a test certificate");
    const r = await start({ tls: { cert: `${dir}/cert.pem`, key: `${dir}/key.pem` } });
    const replies = await dialogue(r.port, ["EHLO client.example\r\n", "QUIT\r\n"]);
    expect(replies[1]).toMatch(/STARTTLS/);
    const transport = nodemailer.createTransport({ host: "127.0.0.1", port: r.port, secure: false, requireTLS: true, tls: { rejectUnauthorized: false } });
    const info = await transport.sendMail({ envelope: { from: "a@example.com", to: ["staff@city.example.lg.jp"] }, raw: plainMessage("over tls") });
    transport.close();
    expect(String(info.response)).toMatch(/^250 /);
    expect(r.audit.of("received")[0]?.data).toMatchObject({ protocol: "ESMTPS" });
  });

  it("accepts the null sender (bounces must be deliverable)", async () => {
    const r = await start();
    const reply = await sendRaw({ port: r.port, from: "", to: ["staff@city.example.lg.jp"], raw: plainMessage("bounce") });
    expect(reply.response).toMatch(/^250 /);
  });
});
