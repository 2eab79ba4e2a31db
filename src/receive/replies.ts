/**
 * Every SMTP refusal mumuka sends while receiving, in one table so the codes
 * can be reviewed in one place (RFC 5321 reply codes, RFC 3463 enhanced codes,
 * Postfix's choices where RFC 5321 leaves one).
 *
 * The texts never echo sender-controlled bytes other than an address that
 * smtp-server has already parsed (and smtp-server strips control characters
 * from every reply line).
 */

export interface SmtpReply {
  code: number;
  message: string;
}

export const replies = {
  /** onConnect: the client's address is outside smtp.clients */
  clientDenied: { code: 554, message: "5.7.1 Client host rejected: access denied" },
  /** RCPT TO a domain that is not in smtp.recipientDomains: no open relay */
  relayDenied: (rcpt: string): SmtpReply => ({ code: 554, message: `5.7.1 <${rcpt}>: Relay access denied` }),
  badRecipient: { code: 501, message: "5.1.3 Bad recipient address syntax" },
  /** smtp.verifyRecipients: the LGWAN-side server refused the address (as Postfix's reject_unverified_recipient) */
  unknownRecipient: (rcpt: string): SmtpReply => ({ code: 550, message: `5.1.1 <${rcpt}>: Recipient address rejected: unknown in the LGWAN zone` }),
  /** smtp.verifyRecipients: the LGWAN-side server could not be asked; the client retries, nothing is bounced */
  unverifiedRecipient: (rcpt: string): SmtpReply => ({ code: 450, message: `4.1.1 <${rcpt}>: Recipient address rejected: cannot be verified now, try again later` }),
  badSender: { code: 501, message: "5.1.7 Bad sender address syntax" },
  /**
   * Sender-specified routing in a recipient's local part (see envelope-address.ts). 550 5.7.1 as
   * for any policy refusal; one text per trick so the sending side's logs say which one it was.
   */
  percentHack: (rcpt: string): SmtpReply => ({ code: 550, message: `5.7.1 <${rcpt}>: Recipient address rejected: "%" routing (percent hack) in the local part is not accepted` }),
  bangPath: (rcpt: string): SmtpReply => ({ code: 550, message: `5.7.1 <${rcpt}>: Recipient address rejected: "!" routing (bang path) in the local part is not accepted` }),
  quotedAt: (rcpt: string): SmtpReply => ({ code: 550, message: `5.7.1 <${rcpt}>: Recipient address rejected: an "@" inside the local part (quoted or escaped) is not accepted` }),
  sourceRoute: (rcpt: string): SmtpReply => ({ code: 550, message: `5.7.1 <${rcpt}>: Recipient address rejected: source routes ("@relay:") are not accepted` }),
  /** bytes that are not UTF-8 in a path: smtp-server would have decoded them to U+FFFD, a different address */
  senderNotUtf8: { code: 501, message: "5.1.7 Bad sender address syntax: not valid UTF-8" },
  recipientNotUtf8: { code: 501, message: "5.1.3 Bad recipient address syntax: not valid UTF-8" },
  /** RFC 6531 3.4: a non-ASCII address needs the SMTPUTF8 parameter on MAIL FROM */
  senderNeedsSmtputf8: { code: 553, message: "5.6.7 Non-ASCII sender address not permitted without SMTPUTF8" },
  recipientNeedsSmtputf8: { code: 553, message: "5.6.7 Non-ASCII recipient address not permitted without SMTPUTF8" },
  /** RFC 5321 4.5.3.1.10: 452 lets the client send the rest in another transaction */
  tooManyRecipients: { code: 452, message: "4.5.3 Error: too many recipients" },
  tooLarge: (limit: number): SmtpReply => ({ code: 552, message: `5.3.4 Error: message exceeds fixed maximum message size ${limit}` }),
  /** the spool could not take the message: the client keeps it and retries */
  spoolError: { code: 451, message: "4.3.0 Error: queue file write error" },
  diskFull: { code: 452, message: "4.3.1 Error: insufficient system storage" },
  shuttingDown: { code: 421, message: "4.3.2 Service shutting down, try again later" },
  /** every slot open to this client is taken (smtp.maxConnections less the reserved ones) */
  tooManyClients: { code: 421, message: "4.3.2 Too many connected clients, try again in a moment" },
  /** smtp.maxConnectionsPerClient: Postfix answers the same (smtpd_client_connection_count_limit) */
  tooManyFromClient: { code: 421, message: "4.7.0 Error: too many connections from your address" },
  /** smtp.transactionTimeoutMs: no message completed in time (a trickling or stalled client) */
  transactionTimeout: { code: 421, message: "4.4.2 Error: transaction time limit exceeded, closing connection" },
  /** a session whose addresses keep being refused (as Postfix's smtpd_hard_error_limit): each refusal is an audit event */
  tooManyRefusals: { code: 421, message: "4.7.0 Error: too many refused addresses, closing connection" },
  /** smtp.minDataBytesPerSecond: message data arrives slower than the configured floor */
  dataTooSlow: { code: 421, message: "4.4.2 Error: message data too slow, closing connection" },
  queued: (id: string) => `2.0.0 Ok: queued as ${id}`,
} as const;

/** An Error smtp-server turns into the reply. */
export function replyError(reply: SmtpReply): Error & { responseCode: number } {
  return Object.assign(new Error(reply.message), { responseCode: reply.code });
}
