/**
 * The real SMTP side of the fixed-rate sender (bench/pace.ts): `sessions`
 * connections to 127.0.0.1:port, opened before the clock starts and kept
 * open, each carrying one transaction at a time (nodemailer's SMTPConnection,
 * which pipelines MAIL/RCPT/DATA when the server offers PIPELINING). For each
 * message the wall-clock time (Date.now(), the clock the gateway stamps its
 * audit events with) at which its final reply arrived is kept beside the reply.
 *
 * Untrusted input: none (loopback, our own gateway or relay). State after a
 * crash: none; the connections die with the process.
 */
import SMTPConnection from "nodemailer/lib/smtp-connection/index.js";
import { runPaced, type Sent } from "./pace.ts";

export interface PacedOptions {
  port: number;
  rate: number;
  sessions: number;
  count: number;
  /** the bytes of message i (CRLF line ends) */
  message(i: number): Buffer;
  from: string;
  to: string;
}

export interface PacedResult {
  sent: Sent[];
  /** Date.now() when message i's final reply arrived (absent when it failed) */
  repliedAt: (number | undefined)[];
}

interface Session {
  conn: SMTPConnection;
  /** the last SMTP commands and replies on this session (nodemailer's debug log), printed when a send fails */
  transcript: string[];
}

/** transcripts printed at most this many times a run */
const TRANSCRIPTS = 2;
let transcriptsShown = 0;

function open(port: number, transcript: string[]): Promise<SMTPConnection> {
  const keep = (_data: unknown, message: string) => {
    // commands and replies only: not the message itself, which nodemailer's debug log quotes
    if (!/^([0-9]{3}[ -]|[A-Z]{4}\b|\.$)/.test(message)) return;
    transcript.push(`${new Date().toISOString()} ${message.slice(0, 200)}`);
    if (transcript.length > 30) transcript.shift();
  };
  const logger = { info: keep, debug: keep, warn: keep, error: keep, trace() {}, fatal() {}, level() {} };
  const conn = new SMTPConnection({ host: "127.0.0.1", port, secure: false, ignoreTLS: true, name: "bench.example.com", socketTimeout: 120_000, logger: logger as never, debug: true });
  return new Promise((resolve, reject) => {
    conn.once("error", reject);
    conn.connect((error) => {
      if (error) return reject(error);
      conn.off("error", reject);
      // an error on an idle connection must not crash the run: the next send on it reconnects
      conn.on("error", () => {});
      resolve(conn);
    });
  });
}

/** sends `count` messages at `rate` per second over `sessions` open connections (see bench/pace.ts) */
export async function sendPaced(options: PacedOptions): Promise<PacedResult> {
  const sessions: Session[] = [];
  for (let s = 0; s < options.sessions; s++) {
    const transcript: string[] = [];
    sessions.push({ conn: await open(options.port, transcript), transcript });
  }
  const repliedAt: (number | undefined)[] = new Array(options.count);
  try {
    const sent = await runPaced(options.rate, options.count, {
      now: () => performance.now(),
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      sessions,
      async send(session, i) {
        // a connection that failed is replaced: one error must not fail every later message on it
        if (session.conn.destroyed) session.conn = await open(options.port, session.transcript);
        const body = options.message(i);
        // a new envelope each time: SMTPConnection keeps the object and writes its verdicts into it
        // (accepted, rejected), so one shared by the sessions is reset by one while another reads it
        const envelope = { from: options.from, to: [options.to] };
        return new Promise<string>((resolve, reject) => {
          session.conn.send(envelope, body, (error, info) => {
            if (error) {
              if (transcriptsShown++ < TRANSCRIPTS) process.stderr.write(`bench: message ${i} failed (${error.message}); its session's last lines:\n${session.transcript.join("\n")}\n`);
              // a refusal leaves the transaction half-open: a fresh connection for the next message
              session.conn.close();
              return reject(error);
            }
            repliedAt[i] = Date.now();
            resolve(String(info.response ?? ""));
          });
        });
      },
    });
    return { sent, repliedAt };
  } finally {
    for (const s of sessions) s.conn.quit();
  }
}
