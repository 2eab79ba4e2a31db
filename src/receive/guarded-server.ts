/**
 * mumuka's SMTP server: smtp-server with four changes made where smtp-server
 * has no option or hook for them. Each overrides a small method of
 * `SMTPServer` / `SMTPConnection`, replicating it where it must; the tests in
 * tests/receive/ exercise each one over a socket, so a library change that
 * breaks one is noticed (STYLE.md 15).
 *
 * 1. The greeting comes at once. smtp-server waits a fixed 100 ms before its
 *    220 ("early talker" detection, a spam trap for the open Internet).
 *    mumuka's only clients are the configured Internet-zone MTA(s), and an MTA
 *    such as Postfix often opens one connection per message, so the pause
 *    would cap a session at under 10 messages a second.
 * 2. Connection slots are taken before the greeting (connection-slots.ts):
 *    per-client limit, and slots reserved for the upstream MTA. A refused
 *    connection gets 421 and never counts.
 * 3. A session must complete a message within smtp.transactionTimeoutMs of
 *    its greeting or of its previous message. The idle timeout
 *    (socketTimeoutMs) is reset by every byte, so a client trickling one byte
 *    a second would otherwise hold its slot forever (Postfix bounds the same
 *    with smtpd_timeout per record). The data rate floor is checked by the
 *    receiver, which sees the DATA stream; both cut through the guard.
 * 4. Each MAIL FROM / RCPT TO path is read from the raw command bytes
 *    (envelope-address.ts) before smtp-server decodes it lossily and drops a
 *    source route; the facts ride on the parsed address to onMailFrom /
 *    onRcptTo. A path with a routing trick or bad bytes that smtp-server
 *    would answer with its generic 501 is handed on too, so that onRcptTo
 *    gives the specific refusal.
 *
 * SECURITY: the early-talker check is lost; the client allow-list (onConnect)
 * still runs before the greeting, and smtp-server still refuses pipelined
 * commands that arrive before the greeting is sent. Raw command bytes are only
 * scanned here (envelope-address.ts), never logged.
 * Crash state: none of its own; slots and timers live with the connections.
 */
import type { Socket } from "node:net";
import { SMTPServer, type SMTPServerAddress, type SMTPServerOptions, type SMTPServerSession } from "smtp-server";
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js";
import type { ConnectionSlots } from "./connection-slots.ts";
import { pathFacts, rawPath, type PathFacts } from "./envelope-address.ts";
import { replies, type SmtpReply } from "./replies.ts";

export type CutReason = "busy" | "client-limit" | "timeout" | "slow" | "errors";

export interface GuardOptions {
  slots: ConnectionSlots;
  /** from the greeting, or from the end of the previous message, to the end of the next one (ms) */
  transactionTimeoutMs: number;
  /** a connection refused (busy, client-limit) or cut (timeout, slow); conn is smtp-server's session id */
  onCut(reason: CutReason, conn: { id: string; client: string }): void;
}

/** What the receiver may ask of the connection behind a session. */
export interface SessionGuard {
  /** the message is in and its reply is being decided: the deadline waits for us, not for the client */
  deciding(): void;
  /** a message's reply is decided: the next message gets a full deadline */
  transactionDone(): void;
  /** sends the reply (a 421) and drops the connection, without waiting for the client to close */
  cut(reply: SmtpReply, reason: CutReason): void;
}

const guards = new WeakMap<SMTPServerSession, SessionGuard>();
/** the guard of a live session (undefined for sessions that never got a slot) */
export const guardOf = (session: SMTPServerSession): SessionGuard | undefined => guards.get(session);

const FACTS = Symbol("mumuka.pathFacts");
const MALFORMED = Symbol("mumuka.malformed");
/** the raw-byte facts of a parsed MAIL FROM / RCPT TO path (undefined if the hook did not run) */
export const factsOf = (address: SMTPServerAddress): PathFacts | undefined => (address as ParsedAddress)[FACTS];
/**
 * true for a path smtp-server found malformed but handed on so its specific problem can be named:
 * when no rule names one (say, an allowed "%" in an otherwise broken address) it must still be refused
 */
export const isMalformed = (address: SMTPServerAddress): boolean => (address as ParsedAddress)[MALFORMED] === true;

type ParsedAddress = SMTPServerAddress & { [FACTS]?: PathFacts; [MALFORMED]?: true };
type ParsedPath = false | ParsedAddress;

interface ConnectionInternals {
  _server: GuardedSMTPServer;
  _socket: Socket;
  _closing: boolean;
  _closed: boolean;
  id: string;
  name: string;
  remoteAddress: string;
  session: SMTPServerSession;
  _setListeners(callback: () => void): void;
  _parseAddressCommand(name: string, command: Buffer): ParsedPath;
  connectionReady(): void;
  send(code: number, message: string, context?: unknown): void;
  init(): void;
  on(event: string, listener: (arg: unknown) => void): void;
}

const Base = SMTPConnection as unknown as new (server: SMTPServer, socket: unknown, options: unknown) => ConnectionInternals;

class GuardedConnection extends Base {
  override init(): void {
    this._setListeners(() => {
      const options = this._server.guardOptions;
      const verdict = options.slots.take(this.id, this.remoteAddress);
      if (verdict !== "ok") {
        const reason = verdict === "full" ? "busy" : "client-limit";
        options.onCut(reason, { id: this.id, client: this.remoteAddress });
        const reply = verdict === "full" ? replies.tooManyClients : replies.tooManyFromClient;
        return this.drop(reply);
      }
      guards.set(this.session, this.guard(options));
      this.connectionReady();
    });
  }

  private guard(options: GuardOptions): SessionGuard {
    let timer: NodeJS.Timeout | undefined;
    let waitingForUs = false;
    const over = () => this._closing || this._closed;
    const cut = (reply: SmtpReply, reason: CutReason) => {
      clearTimeout(timer);
      if (over()) return;
      options.onCut(reason, { id: this.id, client: this.remoteAddress });
      this.drop(reply);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (!waitingForUs) cut(replies.transactionTimeout, "timeout"); // else transactionDone() arms it again
      }, options.transactionTimeoutMs);
      timer.unref();
    };
    this._socket.once("close", () => clearTimeout(timer));
    arm();
    return {
      deciding: () => {
        waitingForUs = true;
      },
      transactionDone: () => {
        waitingForUs = false;
        if (!over()) arm();
      },
      cut,
    };
  }

  /**
   * Sends a 421 (smtp-server then ends the socket) and destroys the socket once the reply is out,
   * without waiting for the client's FIN: a hostile client never sends one, and smtp-server would
   * keep the descriptor until its half-close timer.
   */
  private drop(reply: SmtpReply): void {
    const socket = this._socket;
    this.send(reply.code, reply.message, false);
    if (socket.writableFinished) socket.destroy();
    else socket.once("finish", () => socket.destroy());
  }

  override _parseAddressCommand(name: string, command: Buffer): ParsedPath {
    const parsed = super._parseAddressCommand(name, command);
    const path = Buffer.isBuffer(command) ? rawPath(command) : undefined;
    if (!path) return parsed;
    const facts = pathFacts(path);
    if (parsed) {
      parsed[FACTS] = facts;
      return parsed;
    }
    // smtp-server found it malformed; if the reason may be one we name, let onMailFrom/onRcptTo say so
    // (a sender only for bytes that are not UTF-8: routing in a sender is not refused, see address-rules.ts)
    const recipient = /^rcpt/i.test(name);
    const named = !facts.validUtf8 || (recipient && (facts.sourceRoute || /[%!@]/.test(facts.localPart.normalize("NFKC"))));
    if (!named) return parsed;
    return { address: path.toString("utf8").replace(/[\u0000-\u001f\u007f]/g, " "), args: false, [FACTS]: facts, [MALFORMED]: true };
  }
}

export class GuardedSMTPServer extends SMTPServer {
  readonly guardOptions: GuardOptions;

  constructor(options: SMTPServerOptions, guardOptions: GuardOptions) {
    super(options);
    this.guardOptions = guardOptions;
  }

  override connect(socket: never, socketOptions: never): void {
    const self = this as unknown as {
      connections: Set<unknown>;
      _onError(err: unknown): void;
      _onClientConnect(data: unknown): void;
    };
    const connection = new GuardedConnection(this, socket, socketOptions);
    self.connections.add(connection);
    connection.on("error", (err) => self._onError(err));
    connection.on("connect", (data) => self._onClientConnect(data));
    connection.init();
  }
}
