/**
 * The receiver's rules for envelope addresses, beyond "which domains"
 * (client-policy.ts): bytes that are not UTF-8, UTF-8 without SMTPUTF8, and
 * recipients whose local part routes elsewhere are refused (judged by
 * envelope-address.ts), each refusal counted, logged and recorded in the
 * audit trail; the domainless postmaster is accepted and spooled under
 * smtp.postmaster.
 *
 * SECURITY: the addresses are client input. They reach the audit trail as
 * data (JSON strings) and replies only as smtp-server parsed them (it strips
 * control characters from every reply line); logs get the reason, never the
 * address. A session is cut after MAX_ADDRESS_REFUSALS refusals, which bounds
 * the audit events one connection can cause.
 */
import type { SMTPServerAddress, SMTPServerSession } from "smtp-server";
import type { AuditSink } from "../audit/audit-types.ts";
import type { Config } from "../config/schema.ts";
import { newAuditId } from "../lib/ids.ts";
import type { Logger } from "../lib/logger.ts";
import { postmasterAddress } from "./client-policy.ts";
import { judgeRecipient, judgeSender, pathFacts, type AddressProblem } from "./envelope-address.ts";
import { factsOf, guardOf, isMalformed } from "./guarded-server.ts";
import { replies, replyError, type SmtpReply } from "./replies.ts";

/**
 * A session is cut after this many refused addresses, as Postfix's smtpd_hard_error_limit (20):
 * each refusal is an audit event, so one connection cannot flood the audit trail. The upstream
 * MTA refuses such addresses itself and never comes near it.
 */
const MAX_ADDRESS_REFUSALS = 20;

type Callback = (err?: Error | null) => void;

export interface AddressRules {
  /** answers a refused sender through `callback` and returns true; false: the sender passes these rules */
  refuseSender(address: SMTPServerAddress, session: SMTPServerSession, callback: Callback): boolean;
  /** the same for a recipient (the domain check is the caller's) */
  refuseRecipient(address: SMTPServerAddress, session: SMTPServerSession, callback: Callback): boolean;
  /** the domainless postmaster, which is accepted without a domain check */
  isPostmaster(address: SMTPServerAddress): boolean;
  /** a recipient refused elsewhere (relay denied, unknown or unverifiable downstream) counts toward the session's limit */
  countRefusal(session: SMTPServerSession): void;
  /** the recipients as spooled: the domainless postmaster rewritten, repeats folded case-insensitively */
  recipientsOf(session: SMTPServerSession): string[];
}

export function createAddressRules(deps: {
  smtp: Config["smtp"];
  hostname: string;
  audit: AuditSink;
  logger: Logger;
  refused(reason: string): void;
}): AddressRules {
  const { smtp, audit, logger } = deps;
  const postmaster = postmasterAddress(smtp.postmaster, smtp.recipientDomains, deps.hostname);
  const allowed = new Set(smtp.allowLocalPartCharacters);
  const refusals = new WeakMap<SMTPServerSession, number>();

  /** SMTPUTF8 on this transaction's MAIL FROM (RFC 6531: it covers the RCPTs too) */
  const smtputf8 = (session: SMTPServerSession): boolean => {
    const args = session.envelope.mailFrom ? (session.envelope.mailFrom.args as Record<string, unknown> | false) : false;
    return Boolean(session.envelope.smtpUtf8 || (args && args.SMTPUTF8));
  };
  /**
   * The raw-byte facts from GuardedSMTPServer's hook; should a library change stop the hook, the
   * parsed text is judged instead, where bytes that were not UTF-8 show as U+FFFD (tests on source
   * routes and quoted "@" fail loudly then, as only the raw bytes show those)
   */
  const factsFor = (address: SMTPServerAddress) => {
    const hooked = factsOf(address);
    if (hooked) return hooked;
    const facts = pathFacts(Buffer.from(address.address, "utf8"));
    return address.address.includes("\uFFFD") ? { ...facts, validUtf8: false } : facts;
  };

  /**
   * A refused address is a story of its own in the audit trail: a "rejected" event with a sender
   * and a fresh audit id makes it a searchable message summary.
   */
  function refuse(session: SMTPServerSession, problem: AddressProblem, reply: SmtpReply, sender: string, rcpt: string | undefined, callback: Callback): true {
    deps.refused(problem);
    const auditId = newAuditId(new Date());
    logger.info({ conn: session.id, client: session.remoteAddress, auditId, reason: problem }, rcpt === undefined ? "sender refused" : "recipient refused");
    audit.record({
      type: "rejected",
      auditId,
      actor: "gateway",
      data: {
        stage: "smtp",
        reason: problem,
        reply: `${reply.code} ${reply.message}`,
        mailFrom: sender,
        rcptTo: rcpt === undefined ? [] : [rcpt],
        clientAddress: session.remoteAddress,
        clientHelo: session.hostNameAppearsAs || "",
      },
    });
    callback(replyError(reply)); // smtp-server sends the refusal before this returns
    countRefusal(session);
    return true;
  }

  /** every refused address of a session counts, whatever refused it (as Postfix's smtpd_hard_error_limit) */
  function countRefusal(session: SMTPServerSession): void {
    const count = (refusals.get(session) ?? 0) + 1;
    refusals.set(session, count);
    if (count >= MAX_ADDRESS_REFUSALS) guardOf(session)?.cut(replies.tooManyRefusals, "errors");
  }

  return {
    countRefusal,
    refuseSender(address, session, callback) {
      const problem = judgeSender(factsFor(address), smtputf8(session));
      if (problem === "invalid-utf8") return refuse(session, problem, replies.senderNotUtf8, address.address, undefined, callback);
      if (problem === "needs-smtputf8") return refuse(session, problem, replies.senderNeedsSmtputf8, address.address, undefined, callback);
      if (isMalformed(address)) {
        callback(replyError(replies.badSender));
        return true;
      }
      return false;
    },
    refuseRecipient(address, session, callback) {
      const problem = judgeRecipient(factsFor(address), smtputf8(session), allowed);
      const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
      if (problem) return refuse(session, problem, recipientReply(problem, address.address), sender, address.address, callback);
      if (isMalformed(address)) {
        callback(replyError(replies.badRecipient));
        return true;
      }
      return false;
    },
    // RFC 5321 4.5.1: "postmaster" is case-insensitive; smtp-server lets the domainless one through
    isPostmaster: (address) => address.address.toLowerCase() === "postmaster",
    recipientsOf(session) {
      const byKey = new Map<string, string>();
      for (const r of session.envelope.rcptTo) {
        const address = r.address.toLowerCase() === "postmaster" ? postmaster : r.address;
        if (!byKey.has(address.toLowerCase())) byKey.set(address.toLowerCase(), address);
      }
      return [...byKey.values()];
    },
  };
}

function recipientReply(problem: AddressProblem, rcpt: string): SmtpReply {
  switch (problem) {
    case "invalid-utf8":
      return replies.recipientNotUtf8;
    case "needs-smtputf8":
      return replies.recipientNeedsSmtputf8;
    case "source-route":
      return replies.sourceRoute(rcpt);
    case "percent-hack":
      return replies.percentHack(rcpt);
    case "bang-path":
      return replies.bangPath(rcpt);
    case "quoted-at":
      return replies.quotedAt(rcpt);
  }
}
