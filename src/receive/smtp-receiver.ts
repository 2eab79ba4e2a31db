/**
 * The receiving side of the relay: an SMTP server (smtp-server) that accepts
 * mail only from the configured client networks and only for the configured
 * recipient domains, streams each message into the spool, and answers 250
 * only once the spool says the message is durable.
 *
 * SECURITY: everything here is untrusted input from the network: the client's
 * commands, envelope and message bytes. Bounded by SIZE, recipient count,
 * connection slots (total, per client, reserved for the upstream MTA), the
 * idle timeout, a per-message deadline and a data rate floor; the message is
 * never held whole in memory (chunks go to the spool file with
 * back-pressure). Recipients whose local part routes elsewhere (%, !, a
 * quoted @, a source route) and addresses that are not UTF-8 (or non-ASCII
 * without SMTPUTF8) are refused and recorded.
 * Crash state: a message whose 250 was not sent may leave a temp file, which
 * the spool's recovery removes; the client retries it (it never got a 250).
 */
import { readFileSync } from "node:fs";
import { isIP, type AddressInfo } from "node:net";
import type { SMTPServerDataStream, SMTPServerOptions, SMTPServerSession } from "smtp-server";
import type { AuditSink } from "../audit/audit-types.ts";
import type { Config } from "../config/schema.ts";
import { newAuditId } from "../lib/ids.ts";
import type { Logger } from "../lib/logger.ts";
import type { Metrics } from "../lib/metrics.ts";
import type { Spool } from "../spool/spool.ts";
import type { RecordInfo, SpoolEnvelope } from "../spool/record.ts";
import { createAddressRules } from "./address-rules.ts";
import { clientAllowList, recipientDomainMatcher } from "./client-policy.ts";
import { createConnectionSlots } from "./connection-slots.ts";
import { watchDataRate } from "./data-rate.ts";
import { guardOf, GuardedSMTPServer, type SessionGuard } from "./guarded-server.ts";
import { createHeaderPeek } from "./header-peek.ts";
import type { RecipientVerifier } from "./recipient-verify.ts";
import { replies, replyError } from "./replies.ts";

export interface ReceiverDeps {
  smtp: Config["smtp"];
  hostname: string;
  spool: Pick<Spool, "create">;
  audit: AuditSink;
  logger: Logger;
  metrics?: Pick<Metrics, "refused">;
  /** smtp.verifyRecipients: asks the LGWAN-side server about each recipient before the RCPT reply */
  verifier?: RecipientVerifier;
  /** called after the 250 is decided: the message is durable in incoming/ (info: its framing, to spare a re-read) */
  onQueued(id: string, info?: RecordInfo): void;
}

export interface Receiver {
  listen(): Promise<AddressInfo>;
  /** stops accepting connections, lets sessions finish (bounded), resolves when all are closed */
  close(): Promise<void>;
}

/** on shutdown, sessions get this long to finish their transaction before being cut (ms) */
const CLOSE_GRACE_MS = 10_000;

export function createReceiver(deps: ReceiverDeps): Receiver {
  const { smtp, logger, audit } = deps;
  const clientAllowed = clientAllowList(smtp.clients);
  // XFORWARD/XCLIENT (the original client, for sender authentication) only from these; other peers never see them
  const forwarderAllowed = clientAllowList(smtp.forwarders, "smtp.forwarders");
  const disabled = smtp.tls ? ["AUTH"] : ["AUTH", "STARTTLS"];
  const domainOk = recipientDomainMatcher(smtp.recipientDomains);
  const slots = createConnectionSlots({
    maxConnections: smtp.maxConnections,
    maxConnectionsPerClient: smtp.maxConnectionsPerClient,
    reservedConnections: smtp.reservedClients.length ? smtp.reservedConnections : 0,
    isReserved: clientAllowList(smtp.reservedClients, "smtp.reservedClients"),
  });
  const refused = (reason: string) => deps.metrics?.refused.inc({ reason });
  let closing = false;
  const rules = createAddressRules({ smtp, hostname: deps.hostname, audit, logger, refused });

  const options: SMTPServerOptions = {
    name: deps.hostname,
    banner: "mumuka ESMTP",
    size: smtp.maxMessageBytes,
    // connection slots (total, per client, reserved) are taken by GuardedSMTPServer, see connection-slots.ts
    socketTimeout: smtp.socketTimeoutMs,
    closeTimeout: CLOSE_GRACE_MS,
    authOptional: true,
    disabledCommands: disabled,
    useXForward: true,
    useXClient: true,
    // the reverse lookup would cost a DNS round trip per connection and only adds a name we do not trust
    disableReverseLookup: true,
    logger: false,
    onConnect(session, callback) {
      if (closing) return callback(replyError(replies.shuttingDown));
      if (!clientAllowed(session.remoteAddress)) {
        slots.release(session.id); // a refused host must not hold a slot while its socket lingers
        refused("client");
        logger.info({ conn: session.id, client: session.remoteAddress }, "client refused: not in smtp.clients");
        return callback(replyError(replies.clientDenied));
      }
      // smtp-server's documented per-session override of disabledCommands
      if (!forwarderAllowed(session.remoteAddress)) (session as { disabledCommands?: string[] }).disabledCommands = [...disabled, "XFORWARD", "XCLIENT"];
      callback();
    },
    onClose(session) {
      slots.release(session.id);
    },
    onMailFrom(address, session, callback) {
      if (rules.refuseSender(address, session, callback)) return;
      callback();
    },
    onRcptTo(address, session, callback) {
      if (session.envelope.rcptTo.length >= smtp.maxRecipients) {
        refused("recipients");
        return callback(replyError(replies.tooManyRecipients));
      }
      // RFC 5321 4.5.1: the domainless postmaster must be accepted; it is spooled as smtp.postmaster
      if (rules.isPostmaster(address)) return callback();
      if (rules.refuseRecipient(address, session, callback)) return;
      const verdict = domainOk(address.address);
      if (verdict === "syntax") return callback(replyError(replies.badRecipient));
      if (verdict === "denied") {
        refused("relay");
        logger.info({ conn: session.id, client: session.remoteAddress }, "recipient refused: relay access denied");
        callback(replyError(replies.relayDenied(address.address)));
        return rules.countRefusal(session);
      }
      if (!deps.verifier) return callback();
      deps.verifier.verify(address.address).then(
        (verdict) => {
          if (verdict === "exists") return callback();
          refused(verdict === "unknown" ? "unknown-recipient" : "unverified-recipient");
          logger.info({ conn: session.id, client: session.remoteAddress, verdict }, "recipient refused: not confirmed by the LGWAN-side server");
          callback(replyError(verdict === "unknown" ? replies.unknownRecipient(address.address) : replies.unverifiedRecipient(address.address)));
          rules.countRefusal(session);
        },
        () => {
          callback(replyError(replies.unverifiedRecipient(address.address)));
          rules.countRefusal(session);
        },
      );
    },
    onData(stream, session, callback) {
      const guard = guardOf(session);
      receiveData(stream, session, guard).then(
        (id) => {
          guard?.transactionDone();
          callback(null, replies.queued(id));
        },
        (error: Error) => {
          guard?.transactionDone();
          callback(error);
        },
      );
    },
  };
  if (smtp.tls) {
    options.key = readFileSync(smtp.tls.key);
    options.cert = readFileSync(smtp.tls.cert);
  }
  const server = new GuardedSMTPServer(options, {
    slots,
    transactionTimeoutMs: smtp.transactionTimeoutMs,
    onCut(reason, conn) {
      refused(reason);
      logger.info({ conn: conn.id, client: conn.client, reason }, reason === "busy" || reason === "client-limit" ? "connection refused: no slot" : "connection cut");
    },
  });
  server.on("error", (error) => logger.warn({ err: error }, "smtp server error"));

  async function receiveData(stream: SMTPServerDataStream, session: SMTPServerSession, guard: SessionGuard | undefined): Promise<string> {
    const receivedAt = new Date();
    const id = newAuditId(receivedAt);
    const log = logger.child({ queueId: id, conn: session.id });
    const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
    const envelope: SpoolEnvelope = {
      v: 1,
      id,
      receivedAt: receivedAt.toISOString(),
      mailFrom,
      rcptTo: rules.recipientsOf(session),
      // XFORWARD/XCLIENT replace remoteAddress: the peer itself is kept as ADDR:DEFAULT
      clientAddress: String(session.xForward?.get("ADDR:DEFAULT") || session.xClient?.get("ADDR:DEFAULT") || session.remoteAddress),
      clientHelo: session.hostNameAppearsAs || "",
      protocol: session.transmissionType || "ESMTP",
      smtputf8: Boolean((session.envelope.mailFrom && session.envelope.mailFrom.args && (session.envelope.mailFrom.args as Record<string, unknown>).SMTPUTF8) ?? false),
    };
    const forwarded = forwardedClient(session);
    if (forwarded) envelope.forwarded = forwarded;
    const peek = createHeaderPeek();
    let writer: Awaited<ReturnType<typeof deps.spool.create>> | undefined;
    let failure: unknown;
    try {
      writer = await deps.spool.create(envelope);
    } catch (error) {
      failure = error;
    }
    const rate =
      guard && smtp.minDataBytesPerSecond > 0
        ? watchDataRate({ windowMs: smtp.socketTimeoutMs, minBytesPerSecond: smtp.minDataBytesPerSecond, onTooSlow: () => guard.cut(replies.dataTooSlow, "slow") })
        : undefined;
    // Read the whole DATA stream even after a failure: the reply can only be sent once it ended.
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        rate?.received(chunk.length);
        if (failure || stream.sizeExceeded) continue;
        peek.push(chunk);
        rate?.waiting(true);
        try {
          await writer!.write(chunk);
        } catch (error) {
          failure = error;
        } finally {
          rate?.waiting(false);
        }
      }
    } catch (error) {
      // the client went away, or was cut, before the end of the message: nothing was promised, nothing is kept
      await writer?.abort();
      log.info("message data ended early: connection closed or cut");
      throw error;
    } finally {
      rate?.stop();
    }
    guard?.deciding();
    if (stream.sizeExceeded) {
      await writer?.abort();
      refused("size");
      log.info({ bytes: stream.byteLength }, "message refused: too large");
      throw replyError(replies.tooLarge(smtp.maxMessageBytes));
    }
    let committed: { size: number; sha256: string; info: RecordInfo } | undefined;
    if (!failure) {
      try {
        committed = await writer!.commit();
      } catch (error) {
        failure = error;
      }
    }
    if (failure || !committed) {
      await writer?.abort();
      refused("tempfail");
      const code = (failure as NodeJS.ErrnoException | undefined)?.code;
      log.error({ err: failure }, "spool write failed: message refused with 4xx");
      throw replyError(code === "ENOSPC" || code === "EDQUOT" ? replies.diskFull : replies.spoolError);
    }
    const headers = peek.result();
    audit.record({
      type: "received",
      auditId: id,
      actor: "gateway",
      data: {
        clientAddress: envelope.clientAddress,
        clientHelo: envelope.clientHelo,
        protocol: envelope.protocol,
        mailFrom: envelope.mailFrom,
        rcptTo: envelope.rcptTo,
        headerFrom: headers.from,
        subject: headers.subject,
        messageId: headers.messageId,
        size: committed.size,
        sha256: committed.sha256,
      },
    });
    log.info({ size: committed.size, rcpts: envelope.rcptTo.length }, "queued");
    deps.onQueued(id, committed.info);
    return id;
  }

  return {
    listen() {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(smtp.port, smtp.host, () => {
          server.off("error", reject);
          resolve(server.server.address() as AddressInfo);
        });
      });
    },
    close() {
      closing = true;
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** the original client the Internet-zone MTA passed with XFORWARD or XCLIENT (ADDR given), checked to be an IP address and a plain HELO name */
function forwardedClient(session: SMTPServerSession): SpoolEnvelope["forwarded"] | undefined {
  for (const [source, map] of [["xforward", session.xForward], ["xclient", session.xClient]] as const) {
    if (!map?.has("ADDR:DEFAULT")) continue;
    const address = String(map.get("ADDR") ?? "").replace(/^IPV6:/i, "");
    if (!isIP(address)) continue;
    const helo = String(map.get("HELO") || "");
    return { source, address, helo: /^[\x21-\x7e]{1,255}$/.test(helo) ? helo : "" };
  }
  return undefined;
}
