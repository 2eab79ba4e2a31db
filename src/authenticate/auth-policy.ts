/**
 * What a DMARC failure does on its own, before or without any rule: the
 * sender domain asked receivers to reject (p=reject) or quarantine
 * (p=quarantine) mail that fails; mumuka holds it with the reason by default
 * (authentication.dmarcReject / dmarcQuarantine), never drops it silently, and
 * an operator may choose to deliver it (with the notice's warning) instead.
 *
 * Only ever makes handling stricter: a rule's hold or reject stands as it is.
 * Pure; no I/O.
 */
import type { AuthenticationConfig } from "../config/schema.ts";
import type { RuleDecision } from "../rules/rules-types.ts";
import type { AuthVerdict } from "./auth-types.ts";

/** the reason a message is held by the DMARC policy, or undefined when the policy lets it through */
export function dmarcHoldReason(verdict: AuthVerdict | undefined, config: Pick<AuthenticationConfig, "dmarcReject" | "dmarcQuarantine">): string | undefined {
  if (!verdict || verdict.dmarc.result !== "fail") return undefined;
  const policy = verdict.dmarc.policy;
  const action = policy === "reject" ? config.dmarcReject : policy === "quarantine" ? config.dmarcQuarantine : "deliver";
  if (action !== "hold") return undefined;
  return `DMARC fail (p=${policy}) for header.from=${verdict.dmarc.domain || "(none)"}`;
}

/** the rules' decision, made stricter by the DMARC policy */
export function withDmarcPolicy(decision: RuleDecision, holdReason: string | undefined): RuleDecision {
  if (!holdReason || decision.action !== "deliver") return decision;
  return { ...decision, action: "hold", reason: holdReason, notifyRecipients: false };
}
