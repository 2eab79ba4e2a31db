/**
 * The contract of the rules engine, shared by the relay (which asks for a
 * decision between analysis and rendering), the CLI and the console.
 *
 * A decision can only make handling stricter or change presentation: its
 * `render` slice is limited to presentation fields of RenderOptions, so no rule
 * can let HTML, an attachment or a raw header through.
 */
import type { MessageFacts, RenderOptions } from "../sanitize/sanitize-types.ts";

export interface Envelope {
  mailFrom: string;
  rcptTo: string[];
  clientAddress: string;
  clientHelo: string;
}

/** The presentation fields a rule may change. */
export type RuleRenderOverrides = Partial<Pick<RenderOptions, "links" | "language" | "noticeTemplate" | "inlineText" | "extractText">> & {
  /** appended in rule order, e.g. ["[外部]"] */
  subjectTags: string[];
};

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
}

export interface RulesEngine {
  /** SHA-256 of the rules file's bytes ("" when there is no rules file) */
  readonly version: string;
  decide(facts: MessageFacts, envelope: Envelope, now: Date): RuleDecision;
}
