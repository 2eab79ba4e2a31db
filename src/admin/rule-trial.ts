/**
 * "Try a message" of the console's rules page: the same steps as
 * `mumuka rules test` (analyze → rules decide → render with the decision's
 * overrides), returning what the page shows. Nothing is spooled or delivered.
 *
 * SECURITY: the pasted message (up to 10 MiB) is as hostile as any received
 * one, so it is sanitized where received ones are: in a sanitizer worker
 * thread (V8 heap limit, the configured limits and time budget, terminated
 * and replaced if it overruns), never on the gateway's main thread. Trials
 * get a pool of their own with ONE worker, started at the first trial: a
 * trial never takes one of the relay's workers (a running job cannot be
 * pre-empted, so a priority in a shared pool would still let two 30-second
 * trials stop the relay), and at most one core goes to trials. At most
 * MAX_TRIALS are admitted at once (one runs, one waits); another is refused
 * at once with RuleTrialBusyError ("busy, try again"), so the console cannot
 * queue work without bound. The result is shown through `html```; the
 * output (one text/plain part, bounded by the limits) is decoded with
 * mailparser to show the text as staff would read it.
 * Crash state: none (nothing is written).
 */
import { readFileSync } from "node:fs";
import { simpleParser } from "mailparser";
import { dmarcHoldReason, withDmarcPolicy } from "../authenticate/auth-policy.ts";
import type { AuthenticationConfig, Config } from "../config/schema.ts";
import type { Envelope, RuleDecision, RulesEngine } from "../rules/rules-types.ts";
import { renderOptionsFromConfig } from "../sanitize/index.ts";
import type { RenderOptions } from "../sanitize/sanitize-types.ts";
import { createSanitizePool, HELD_LIMITS, limitReason, type SanitizePool } from "../sanitize-pool/index.ts";
import type { RuleTrial } from "./admin-types.ts";

/** one trial runs in the trial worker and one waits for it: enough for operators taking turns, bounded for a flood */
export const MAX_TRIALS = 2;

export class RuleTrialBusyError extends Error {
  override name = "RuleTrialBusyError";
  readonly code = "EBUSY";
  constructor() {
    super(`ほかの試行を処理中です。少し待ってからもう一度お試しください / busy with other trials (${MAX_TRIALS} at a time); try again in a moment`);
  }
}

export type RuleTrialFn = ((raw: Buffer, envelope: Envelope) => Promise<RuleTrial>) & {
  /** terminates the trial worker (gateway shutdown) */
  close(): Promise<void>;
};

export function createRuleTrial(deps: {
  rules: { current(): RulesEngine };
  sanitize: Config["sanitize"];
  hostname: string;
  now?: () => Date;
  /** the notice template's text; default: read once from sanitize.noticeTemplate, as the gateway and `rules test` use it */
  noticeTemplate?: string;
  /** the pool trials run in; default: a pool of one worker of their own, started at the first trial */
  pool?: Pick<SanitizePool, "run" | "close">;
  /** what a DMARC failure does on its own (authentication.dmarcReject/dmarcQuarantine), for a trial with an assumed verdict */
  dmarcPolicy?: Pick<AuthenticationConfig, "dmarcReject" | "dmarcQuarantine">;
}): RuleTrialFn {
  const template = deps.noticeTemplate ?? (deps.sanitize.noticeTemplate ? readFileSync(deps.sanitize.noticeTemplate, "utf8") : undefined);
  let pool = deps.pool;
  /** the pool this trial started itself (closed by close(); a given pool belongs to its giver) */
  let own: SanitizePool | undefined;
  let running = 0;

  const trial = async (raw: Buffer, envelope: Envelope): Promise<RuleTrial> => {
    if (running >= MAX_TRIALS) throw new RuleTrialBusyError();
    running++;
    try {
      pool ??= own = createSanitizePool({ size: 1 });
      const now = deps.now?.() ?? new Date();
      const limits = deps.sanitize.limits;
      const outcome = await pool.run<RuleDecision>({ bytes: raw, limits }, (facts) => {
        const filled: Envelope = {
          ...envelope,
          mailFrom: envelope.mailFrom || facts.from[0]?.address || "",
          rcptTo: envelope.rcptTo.length ? envelope.rcptTo : [...facts.to, ...facts.cc].map((a) => a.address).filter(Boolean),
        };
        const ruled = deps.rules.current().decide(facts, filled, now);
        // as the gateway: with a verdict (assumed by the operator), a DMARC failure under p=reject/quarantine may hold
        const decision = envelope.auth && deps.dmarcPolicy ? withDmarcPolicy(ruled, dmarcHoldReason(envelope.auth, deps.dmarcPolicy)) : ruled;
        const options: RenderOptions = {
          ...renderOptionsFromConfig(deps.sanitize, { auditId: "rules-test", now, hostname: deps.hostname }, template),
          ...decision.render,
          rulesApplied: decision.rulesApplied,
        };
        if (decision.action !== "deliver") options.withheld = { reason: decision.reason ?? decision.action };
        return { render: options, context: decision };
      });
      // a dead, out-of-memory or killed worker: the page says why (the gateway would hold such a message)
      if (outcome.kind !== "rendered") throw new Error(outcome.kind === "failed" ? outcome.reason : "the sanitizer stopped");
      let decision = outcome.context;
      // the gateway holds a message that ran out of time (HELD_LIMITS); the text shows what a release would deliver
      const held = outcome.report.limitsHit.filter((l) => HELD_LIMITS.includes(l));
      if (held.length && decision.action === "deliver") decision = { ...decision, action: "hold", reason: limitReason(held, limits) };
      const parsed = await simpleParser(outcome.message, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
      const subject = parsed.subject ?? "";
      return { facts: outcome.facts, decision, text: `Subject: ${subject}\n\n${(parsed.text ?? "").replace(/\r\n/g, "\n")}` };
    } finally {
      running--;
    }
  };
  return Object.assign(trial, {
    async close() {
      await own?.close();
    },
  });
}
