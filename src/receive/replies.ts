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
  /** RFC 5321 4.5.3.1.10: 452 lets the client send the rest in another transaction */
  tooManyRecipients: { code: 452, message: "4.5.3 Error: too many recipients" },
  tooLarge: (limit: number): SmtpReply => ({ code: 552, message: `5.3.4 Error: message exceeds fixed maximum message size ${limit}` }),
  /** the spool could not take the message: the client keeps it and retries */
  spoolError: { code: 451, message: "4.3.0 Error: queue file write error" },
  diskFull: { code: 452, message: "4.3.1 Error: insufficient system storage" },
  shuttingDown: { code: 421, message: "4.3.2 Service shutting down, try again later" },
  queued: (id: string) => `2.0.0 Ok: queued as ${id}`,
} as const;

/** An Error smtp-server turns into the reply. */
export function replyError(reply: SmtpReply): Error & { responseCode: number } {
  return Object.assign(new Error(reply.message), { responseCode: reply.code });
}
