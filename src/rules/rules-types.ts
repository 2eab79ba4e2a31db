/**
 * The contract of the rules engine, shared by the relay (which asks for a
 * decision between analysis and rendering), the CLI and the console.
 *
 * A decision can only make handling stricter or change presentation: its
 * `render` slice is limited to presentation fields of RenderOptions, so no rule
 * can let HTML, an attachment or a raw header through.
 */
import type { AuthVerdict } from "../authenticate/auth-types.ts";
import type { MessageFacts, RenderOptions } from "../sanitize/sanitize-types.ts";

export interface Envelope {
  mailFrom: string;
  rcptTo: string[];
  /**
   * the original client (`client_ip`): the one the Internet-zone MTA named with XFORWARD/XCLIENT,
   * or the trusted Received hop authentication found, else the TCP peer ("" when unknown)
   */
  clientAddress: string;
  clientHelo: string;
  /** the TCP peer (`peer_ip`: the Internet-zone MTA in front of mumuka); absent: the same as clientAddress */
  peerAddress?: string;
  /** sender authentication of the original (rules' `auth:` condition); absent when it is off */
  auth?: AuthVerdict;
}

/** The presentation fields a rule may change. */
export type RuleRenderOverrides = Partial<Pick<RenderOptions, "links" | "language" | "noticeTemplate" | "inlineText" | "extractText">> & {
  /** appended in rule order, e.g. ["[外部]"] */
  subjectTags: string[];
};

/**
 * One list entry that made a rule match (attachment_sha256, link_domain,
 * sender_domain): recorded in the audit trail so an administrator sees which
 * hash or domain, written where, stopped a message.
 */
export interface RuleListMatch {
  /** the rule's name */
  rule: string;
  condition: "attachment_sha256" | "link_domain" | "sender_domain";
  /** the entry as normalised (lower-case hash, ASCII domain) */
  entry: string;
  /** where the entry is written: "lists/bad-hashes.txt:12", or the rules file and line for an inline entry */
  source: string;
  /** what in the message matched it: the link host, the sender domain, the attachment's file name */
  seen: string;
}

export interface RuleDecision {
  action: "deliver" | "hold" | "reject";
  /** why, for hold and reject (shown to administrators, recorded in the audit trail) */
  reason?: string;
  /** hold: also deliver a notice-only message telling the recipients their mail is held */
  notifyRecipients: boolean;
  /** reject: send a delivery status notification to the sender */
  dsn: boolean;
  render: RuleRenderOverrides;
  /** names of the rules that matched, in order */
  rulesApplied: string[];
  /** list entries behind the matching rules (absent when no list condition matched) */
  matches?: RuleListMatch[];
}

export interface RulesEngine {
  /** SHA-256 of the rules file's bytes ("" when there is no rules file) */
  readonly version: string;
  decide(facts: MessageFacts, envelope: Envelope, now: Date): RuleDecision;
}

/** `{ matches }` for an audit event's data when list entries made rules match, else nothing (the event stays as before). */
export function listMatches(decision: RuleDecision | undefined): { matches?: RuleListMatch[] } {
  return decision?.matches?.length ? { matches: decision.matches } : {};
}
