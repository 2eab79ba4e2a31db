/**
 * "Try a message" of the console's rules page: the same steps as
 * `mumuka rules test` (analyze → rules decide → render with the decision's
 * overrides), returning what the page shows. Nothing is spooled or delivered.
 *
 * SECURITY: the pasted message is as hostile as any received one: it goes
 * through the sanitizer core with the configured limits and time budget
 * (limits.maxTimeMs), in the console's process; the result is shown
 * through `html```. The output (one text/plain part, bounded by the limits) is
 * decoded with mailparser to show the text as staff would read it.
 */
import { readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { simpleParser } from "mailparser";
import type { Config } from "../config/schema.ts";
import type { Envelope, RulesEngine } from "../rules/rules-types.ts";
import type { RuleTrial } from "./admin-types.ts";

export function createRuleTrial(deps: {
  rules: { current(): RulesEngine };
  sanitize: Config["sanitize"];
  hostname: string;
  now?: () => Date;
  /** the notice template's text; default: read once from sanitize.noticeTemplate, as the gateway and `rules test` use it */
  noticeTemplate?: string;
}): (raw: Buffer, envelope: Envelope) => Promise<RuleTrial> {
  const template = deps.noticeTemplate ?? (deps.sanitize.noticeTemplate ? readFileSync(deps.sanitize.noticeTemplate, "utf8") : undefined);
  return async (raw, envelope) => {
    const core = await import("../sanitize/index.ts");
    const now = deps.now?.() ?? new Date();
    // the gateway's time budget too: this runs in the serving process, and a pasted message is as hostile as a received one
    const analyzed = await core.analyze(Readable.from([raw]), deps.sanitize.limits, AbortSignal.timeout(deps.sanitize.limits.maxTimeMs));
    const facts = analyzed.facts;
    const filled: Envelope = {
      ...envelope,
      mailFrom: envelope.mailFrom || facts.from[0]?.address || "",
      rcptTo: envelope.rcptTo.length ? envelope.rcptTo : [...facts.to, ...facts.cc].map((a) => a.address).filter(Boolean),
    };
    const decision = deps.rules.current().decide(facts, filled, now);
    const options = {
      ...core.renderOptionsFromConfig(deps.sanitize, { auditId: "rules-test", now, hostname: deps.hostname }, template),
      ...decision.render,
      rulesApplied: decision.rulesApplied,
    };
    if (decision.action !== "deliver") options.withheld = { reason: decision.reason ?? decision.action };
    const result = await core.render(analyzed, options);
    const parsed = await simpleParser(result.message, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
    const subject = parsed.subject ?? "";
    return { facts, decision, text: `Subject: ${subject}\n\n${(parsed.text ?? "").replace(/\r\n/g, "\n")}` };
  };
}
