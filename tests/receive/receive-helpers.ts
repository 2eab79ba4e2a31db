/**
 * Helpers of the receive tests: a receiver on a loopback port with a real
 * spool and a recording audit sink, and a raw SMTP client that sends exact
 * bytes (8-bit addresses, trickled data) and reads each reply.
 */
import net from "node:net";
import { parseConfig } from "../../src/config/load.ts";
import { createReceiver, type Receiver } from "../../src/receive/smtp-receiver.ts";
import { openSpool, type Spool } from "../../src/spool/spool.ts";
import { recordingSink, silentLogger, tempDir, type RecordingSink } from "../helpers/relay-helpers.ts";

export interface Running {
  receiver: Receiver;
  port: number;
  spool: Spool;
  audit: RecordingSink;
  queued: string[];
  /** reasons counted in mumuka_smtp_refused_total, in order */
  refusals: string[];
}

export async function startReceiver(running: Receiver[], smtp: Record<string, unknown> = {}): Promise<Running> {
  const config = parseConfig({
    smtp: { host: "127.0.0.1", port: 0, clients: ["127.0.0.0/8"], recipientDomains: ["city.example.lg.jp"], ...smtp },
  });
  const spool = await openSpool(await tempDir());
  const audit = recordingSink();
  const queued: string[] = [];
  const refusals: string[] = [];
  const receiver = createReceiver({
    smtp: config.smtp,
    hostname: "mumuka.test",
    spool,
    audit,
    logger: silentLogger(),
    metrics: { refused: { inc: ({ reason }: { reason: string }) => void refusals.push(reason) } } as never,
    onQueued: (id) => queued.push(id),
  });
  const address = await receiver.listen();
  running.push(receiver);
  return { receiver, port: address.port, spool, audit, queued, refusals };
}

export interface RawSession {
  /** the 220 greeting (or the refusal sent instead of it) */
  greeting: string;
  /** sends a line (CRLF added unless present) and resolves with the next complete reply */
  command(line: string | Buffer): Promise<string>;
  /** writes bytes without waiting for a reply */
  write(data: string | Buffer): void;
  /** the next complete reply */
  reply(): Promise<string>;
  /** every reply so far, and what was left unparsed */
  readonly replies: string[];
  readonly closed: Promise<void>;
  isClosed(): boolean;
  end(): void;
}

const open = new Set<RawSession>();
/** ends every raw session still open (call in afterEach: a failed test must not leave the receiver's close waiting) */
export function endSessions(): void {
  for (const s of open) s.end();
  open.clear();
}

/** Opens a raw SMTP session from `localAddress` (127.0.0.x) and waits for the first reply. */
export async function rawSession(port: number, localAddress = "127.0.0.1"): Promise<RawSession> {
  const socket = net.connect({ port, host: "127.0.0.1", localAddress });
  socket.on("error", () => {});
  const replies: string[] = [];
  let buffer = "";
  let taken = 0; // replies handed out by reply()
  let wake: (() => void) | undefined;
  let closedFlag = false;
  // replies are parsed as they arrive, so the last one before a close is seen even if nobody waited for it
  socket.on("data", (d) => {
    buffer += d.toString("utf8");
    for (let m = /^(\d{3}) [^\r\n]*\r\n/m.exec(buffer); m; m = /^(\d{3}) [^\r\n]*\r\n/m.exec(buffer)) {
      const end = m.index + m[0].length;
      replies.push(buffer.slice(0, end).trim());
      buffer = buffer.slice(end);
    }
    wake?.();
  });
  const closed = new Promise<void>((r) =>
    socket.on("close", () => {
      closedFlag = true;
      wake?.();
      r();
    }),
  );
  const reply = async (): Promise<string> => {
    for (;;) {
      if (taken < replies.length) return replies[taken++]!;
      if (closedFlag) throw new Error(`connection closed; replies: ${replies.join(" | ")}`);
      await new Promise<void>((r) => (wake = r));
    }
  };
  const greeting = await reply();
  const write = (data: string | Buffer) => void socket.write(data);
  const session: RawSession = {
    greeting,
    replies,
    closed,
    isClosed: () => closedFlag,
    write,
    reply,
    command(line) {
      const crlf = typeof line === "string" ? (line.endsWith("\r\n") ? line : `${line}\r\n`) : line;
      write(crlf);
      return reply();
    },
    end: () => void socket.destroy(),
  };
  open.add(session);
  void closed.then(() => open.delete(session));
  return session;
}

/** A session that has said EHLO and MAIL FROM (with optional parameters). */
export async function inTransaction(port: number, from = "a@example.com", params = ""): Promise<RawSession> {
  const s = await rawSession(port);
  await s.command("EHLO client.example");
  const mail = await s.command(`MAIL FROM:<${from}>${params ? ` ${params}` : ""}`);
  if (!mail.startsWith("250")) throw new Error(`MAIL FROM refused: ${mail}`);
  return s;
}
