/**
 * A small pool of SMTP client connections to one downstream host, on
 * nodemailer's low-level SMTPConnection: the message is already finished
 * bytes, so none of nodemailer's MIME machinery (MailMessage, MimeNode,
 * header normalisation) runs per message.
 *
 * Bounds: at most `maxConnections` connections are open and at most that many
 * transactions are in flight; further senders wait in arrival order. A
 * connection is reused for the next message, said goodbye to (QUIT) after
 * MESSAGES_PER_CONNECTION messages or when it has been idle for a while, and
 * dropped on any error, timeout or close. After a refused envelope or message
 * (a 4xx/5xx reply, the session itself fine) the session is reset (RSET) and
 * kept, as nodemailer's own pool does.
 *
 * A message whose reused connection fails without a reply (most likely the
 * server closed it while it sat idle) is sent once more, on a fresh
 * connection, within the same call; nodemailer's pool requeued it the same
 * way. Had the server taken it in full just before the cut, it arrives twice:
 * the same at-least-once a deferral would give.
 *
 * On the wire: SMTPConnection turns Nagle off itself (setNoDelay), pipelines
 * MAIL/RCPT/DATA in one write when the server offers PIPELINING, and writes a
 * Buffer message in one piece (a file in the caller's read size).
 *
 * SECURITY: the server's replies are data, handed back untouched. Addresses go
 * through nodemailer's envelope checks (no CR, LF, "<" or ">").
 * Crash state: none; a transaction cut short was not accepted by the server.
 */
import type { Readable } from "node:stream";
import type { NodemailerError } from "nodemailer/lib/errors.js";
import SMTPConnection, { type SMTPConnectionOptions, type SMTPConnectionSendInfo } from "nodemailer/lib/smtp-connection/index.js";

/** a connection is recycled after this many messages, to spread memory and server-side session state */
export const MESSAGES_PER_CONNECTION = 1000;

/** an idle connection says QUIT after this long (capped at half the socket timeout, which would otherwise cut it without a word) */
const IDLE_QUIT_MS = 60_000;

/** how long a QUIT may wait for the server's 221 before the socket is simply closed */
const QUIT_GRACE_MS = 2_000;

export interface SmtpPoolOptions {
  /** most connections open, and most transactions in flight, at once */
  maxConnections: number;
  /** host, port, EHLO name, TLS and timeouts of every connection */
  connection: SMTPConnectionOptions & { host: string; port: number };
}

export interface SmtpEnvelope {
  /** "" = null sender */
  from: string;
  to: string[];
}

/** the message bytes, or a way to open them (called once per transaction, so a retry reads the file again) */
export type MessageSource = Buffer | (() => Readable);

export interface SmtpPool {
  /** resolves with the server's verdicts (accepted and rejected recipients, final reply); rejects with nodemailer's error */
  send(envelope: SmtpEnvelope, message: MessageSource): Promise<SMTPConnectionSendInfo>;
  /** new and waiting senders fail; idle connections say QUIT; busy ones do when their transaction ends */
  close(): Promise<void>;
}

interface Session {
  conn: SMTPConnection;
  /** transactions started on this connection */
  messages: number;
  /** resolved once the connection is gone, for whatever reason */
  ended: Promise<void>;
  idleTimer?: NodeJS.Timeout;
  idleSince: number;
}

export function createSmtpPool(options: SmtpPoolOptions): SmtpPool {
  const socketTimeout = options.connection.socketTimeout ?? IDLE_QUIT_MS * 2;
  const idleQuitMs = Math.min(IDLE_QUIT_MS, Math.floor(socketTimeout / 2));
  /** most recently used last: the next message takes the warmest connection */
  const idle: Session[] = [];
  /** senders waiting for a slot, in arrival order */
  const waiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  /** slots held: a slot is held from the start of a send until its connection is idle again, or gone */
  let busy = 0;
  let closed = false;

  function acquireSlot(): Promise<void> | undefined {
    if (busy < options.maxConnections) {
      busy++;
      return undefined;
    }
    return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  }

  /** hands the slot to the first waiter, or frees it */
  function releaseSlot(): void {
    const next = waiters.shift();
    if (next) next.resolve();
    else busy--;
  }

  async function send(envelope: SmtpEnvelope, message: MessageSource): Promise<SMTPConnectionSendInfo> {
    if (closed) throw poolClosed();
    const wait = acquireSlot();
    if (wait) await wait;
    let retried = false;
    for (;;) {
      let session: Session;
      try {
        // a retry goes over a new connection: the other idle ones may be as stale as the first
        session = (retried ? undefined : takeIdle()) ?? (await connect());
      } catch (error) {
        releaseSlot();
        throw error;
      }
      const reused = session.messages > 0;
      let info: SMTPConnectionSendInfo;
      try {
        info = await transact(session, envelope, message);
      } catch (error) {
        const err = error as NodemailerError;
        if (isRefusal(err) && !session.conn.destroyed) {
          // one round trip, so that the next message finds this connection idle
          await resetThenCheckin(session);
          throw err;
        }
        drop(session);
        if (reused && !retried && !closed && isStale(err)) {
          retried = true;
          continue;
        }
        releaseSlot();
        throw err;
      }
      checkin(session);
      return info;
    }
  }

  function takeIdle(): Session | undefined {
    return closed ? undefined : idle.pop();
  }

  function connect(): Promise<Session> {
    if (closed) return Promise.reject(poolClosed());
    const conn = new SMTPConnection(options.connection);
    let markEnded!: () => void;
    const session: Session = { conn, messages: 0, ended: new Promise((r) => (markEnded = r)), idleSince: 0 };
    return new Promise((resolve, reject) => {
      let settled = false;
      let lastError: Error | undefined;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        conn.close();
        reject(error);
      };
      // stays for the connection's life: SMTPConnection emits 'error' on an idle connection too
      conn.on("error", (error: Error) => {
        lastError = error;
        fail(error);
      });
      conn.once("end", () => {
        forgetIdle(session);
        markEnded();
        fail(lastError ?? Object.assign(new Error("Connection closed"), { code: "ECONNECTION" }));
      });
      conn.connect((error) => {
        if (error) return fail(error);
        if (settled) return;
        settled = true;
        resolve(session);
      });
    });
  }

  function transact(session: Session, envelope: SmtpEnvelope, message: MessageSource): Promise<SMTPConnectionSendInfo> {
    session.messages++;
    const body = Buffer.isBuffer(message) ? message : message();
    return new Promise((resolve, reject) => {
      session.conn.send(envelope, body, (error, info) => {
        if (!error) return resolve(info);
        // a file stream the connection gave up on before reading it would keep its descriptor
        if (!Buffer.isBuffer(body)) body.destroy();
        reject(error);
      });
    });
  }

  /** back to the idle list (and the slot to the next sender), or QUIT when it has done its share */
  function checkin(session: Session): void {
    if (session.conn.destroyed) {
      releaseSlot();
      return;
    }
    if (closed || session.messages >= MESSAGES_PER_CONNECTION) {
      // the slot is freed once it is gone, so a successor never runs beside it
      void quit(session).then(releaseSlot);
      return;
    }
    session.idleSince = Date.now();
    if (session.idleTimer) session.idleTimer.refresh();
    else session.idleTimer = setTimeout(() => onIdleTimer(session), idleQuitMs).unref();
    idle.push(session);
    releaseSlot();
  }

  function onIdleTimer(session: Session): void {
    const i = idle.indexOf(session);
    if (i < 0) return; // busy now: the timer is re-armed when it is idle again
    const left = session.idleSince + idleQuitMs - Date.now();
    if (left > 0) {
      session.idleTimer = setTimeout(() => onIdleTimer(session), left).unref();
      return;
    }
    idle.splice(i, 1);
    void quit(session);
  }

  /** resolves once the session is idle again or gone (never rejects) */
  function resetThenCheckin(session: Session): Promise<void> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (ok: boolean) => {
        if (done) return;
        done = true;
        session.conn.removeListener("end", onEnd);
        if (ok) checkin(session);
        else {
          drop(session);
          releaseSlot();
        }
        resolve();
      };
      // a connection lost during RSET never calls back: its end settles it
      const onEnd = () => finish(false);
      session.conn.once("end", onEnd);
      session.conn.reset((error) => finish(!error));
    });
  }

  /** resolves once the server has answered QUIT and the socket is closed (or the grace ran out) */
  function quit(session: Session): Promise<void> {
    forgetIdle(session);
    const socket = session.conn._socket;
    const closedSocket = socket && !socket.destroyed ? new Promise<void>((resolve) => socket.once("close", () => resolve())) : undefined;
    if (!session.conn.destroyed) {
      session.conn.quit();
      const force = setTimeout(() => {
        session.conn.close();
        if (socket) socket.destroy();
      }, QUIT_GRACE_MS).unref();
      void Promise.all([session.ended, closedSocket]).then(() => clearTimeout(force));
    }
    return Promise.all([session.ended, closedSocket]).then(() => undefined);
  }

  function drop(session: Session): void {
    forgetIdle(session);
    session.conn.close();
  }

  function forgetIdle(session: Session): void {
    const i = idle.indexOf(session);
    if (i >= 0) idle.splice(i, 1);
    clearTimeout(session.idleTimer);
  }

  return {
    send,
    async close() {
      closed = true;
      for (const w of waiters.splice(0)) w.reject(poolClosed());
      await Promise.all(idle.splice(0).map(quit));
    },
  };
}

/** the server refused this envelope or message; the session itself is fine and can be reset */
function isRefusal(err: NodemailerError): boolean {
  return (err.code === "EENVELOPE" || err.code === "EMESSAGE") && err.responseCode !== 421;
}

/** what a connection the server had already closed looks like: no reply, or "421 closing" */
function isStale(err: NodemailerError): boolean {
  return err.responseCode === 421 || (err.responseCode === undefined && (err.code === "ECONNECTION" || err.code === "ESOCKET"));
}

function poolClosed(): Error {
  return Object.assign(new Error("Connection pool was closed"), { code: "ECONNECTION" });
}
