/**
 * The sanitize step of one message's pass (Postfix's cleanup, in spirit): the
 * raw record goes through the sanitizer worker pool, the rules decide between
 * analysis and rendering, and the outcome is either the sanitized bytes to
 * deliver (in memory, not on disk yet) or an end of the pass: held by a rule
 * (with a notice to the recipients when the rule asks), rejected by a rule
 * (with a DSN when it asks), held because the sanitizer could not finish, or
 * corrupt (the bytes are not those hashed at receipt).
 *
 * SECURITY: message bytes are only read inside the workers; the rules engine
 * sees the facts the analyzer extracted. The text staff received is kept in
 * the audit trail, capped (STAFF_TEXT_MAX_CHARS).
 * Crash state: nothing is written here except by the settle/bounce steps; a
 * crash means the message is sanitized again from its record (a new
 * "sanitized" event).
 */
import type { AuditSink } from "../audit/audit-types.ts";
// the policy functions and types only: the index would bring mailauth into the main isolate with authentication off
import { dmarcHoldReason, withDmarcPolicy } from "../authenticate/auth-policy.ts";
import type { AuthStage } from "../authenticate/auth-stage.ts";
import type { AuthVerdict } from "../authenticate/auth-types.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../lib/logger.ts";
import type { Metrics } from "../lib/metrics.ts";
import { rulesEnvelope } from "../rules/rules-envelope.ts";
import type { RuleDecision, RuleRenderOverrides, RulesEngine } from "../rules/rules-types.ts";
import { listMatches } from "../rules/rules-types.ts";
import type { RenderOptions, Trace } from "../sanitize/sanitize-types.ts";
import { HELD_LIMITS, type SanitizePool } from "../sanitize-pool/index.ts";
import type { RecordInfo, SpoolEnvelope } from "../spool/record.ts";
import type { DeliveryMeta, Spool } from "../spool/spool.ts";
import type { DsnRecipient } from "./dsn.ts";
import type { Bounce } from "./bounce.ts";
import type { FinalEvent, Removal, Settled, Settler } from "./settle.ts";

export interface SanitizeStageDeps {
  spool: Pick<Spool, "recordPath">;
  pool: Pick<SanitizePool, "run">;
  limits: Config["sanitize"]["limits"];
  rules: { current(): RulesEngine };
  /** the render options of one message, before rule overrides */
  renderOptions(auditId: string, now: Date): RenderOptions;
  settle: Settler;
  bounce: Pick<Bounce, "sendDsn" | "sendHoldNotice">;
  audit: Pick<AuditSink, "record">;
  metrics?: Pick<Metrics, "messages" | "attachmentsRemoved" | "linksDisarmed">;
  /** sender authentication of the original (absent: off); its verdict goes to the rules, the renderer and the trail as data */
  authenticate?: { stage: AuthStage; policy: Pick<Config["authentication"], "dmarcReject" | "dmarcQuarantine"> };
}

/** a Settled state, or the sanitized message to deliver (not on disk yet) */
export type SanitizeStage = (id: string, info: RecordInfo, meta: DeliveryMeta, log: Logger, removal: Removal) => Promise<Settled | Buffer>;

export function createSanitizeStage(deps: SanitizeStageDeps): SanitizeStage {
  const { spool, audit, settle } = deps;
  return async function sanitizeStage(id, info, meta, log, removal) {
    const env = info.envelope;
    // before the sanitizer, on the original bytes: needs DNS, so not in the pure core
    const auth = deps.authenticate ? await deps.authenticate.stage(spool.recordPath("active", id), info, log) : undefined;
    const dmarcHold = deps.authenticate ? dmarcHoldReason(auth, deps.authenticate.policy) : undefined;
    const ruleEnvelope = rulesEnvelope(env, auth);
    // with XFORWARD/XCLIENT the trace names the original client and its HELO, as Postfix's smtpd does (the peer is in the trail)
    const client = env.forwarded ? { clientAddress: env.forwarded.address, clientHelo: env.forwarded.helo } : { clientAddress: env.clientAddress, clientHelo: env.clientHelo };
    const trace: Trace = { ...client, protocol: env.protocol };
    const renderOptions = (auditId: string, now: Date) => ({ ...deps.renderOptions(auditId, now), ...(auth ? { authentication: auth } : {}) });
    // the time of arrival, not of this pass: sanitizing the same record again (after a crash
    // before delivery was recorded, or a release) gives the same bytes under the same rules
    const at = new Date(env.receivedAt);
    const engine = deps.rules.current();
    // no rules file: the decision is always "deliver, no overrides", so the worker may render at once
    const eager = engine.version === "" && !dmarcHold ? withOverrides(renderOptions(id, at), { subjectTags: [] }, [], trace) : undefined;
    const outcome = await deps.pool.run<RuleDecision | undefined>(
      {
        file: spool.recordPath("active", id),
        offset: info.messageOffset,
        length: info.messageLength,
        limits: deps.limits,
        // held on a time-out (HELD_LIMITS says why); an administrator's release delivers what could be done, the limit named
        failOnLimits: meta.released ? [] : HELD_LIMITS,
      },
      (facts) => {
        if (facts.sha256 !== info.sha256) return { stop: true, context: undefined };
        const decision = withDmarcPolicy(engine.decide(facts, ruleEnvelope, at), dmarcHold);
        if (decision.action === "hold" && decision.notifyRecipients && !meta.released) {
          // a notice-only message for the recipients: says the mail is held, carries none of its text
          const withheld = { reason: decision.reason ?? decision.rulesApplied.join(", ") };
          return { render: { ...withOverrides(renderOptions(id, at), decision.render, decision.rulesApplied, trace), withheld }, context: decision };
        }
        if (decision.action !== "deliver" && !meta.released) return { stop: true, context: decision };
        return { render: eager ?? withOverrides(renderOptions(id, at), decision.render, decision.rulesApplied, trace), context: decision };
      },
      eager,
    );
    if (outcome.kind === "failed") {
      if (outcome.facts) {
        // analysed, but ended on a limit that means "held": the trail says what was found and why it stops here
        audit.record({
          type: "sanitized",
          auditId: id,
          actor: "gateway",
          data: { facts: outcome.facts, limitsHit: outcome.limitsHit ?? [], action: "hold", reason: outcome.reason, ...(auth ? { auth } : {}) },
        });
      }
      return settle.hold(id, meta, outcome.reason, log);
    }
    if (outcome.kind === "stopped") {
      const decision = outcome.context;
      if (!decision) return settle.toCorrupt(id, "message bytes do not match the hash recorded at receipt", log);
      audit.record({
        type: "sanitized",
        auditId: id,
        actor: "gateway",
        data: { facts: outcome.facts, rulesApplied: decision.rulesApplied, ...listMatches(decision), action: decision.action, reason: decision.reason, ...(auth ? { auth } : {}) },
      });
      if (decision.action === "hold" && dmarcHold && decision.reason === dmarcHold) return settle.hold(id, meta, `authentication: ${dmarcHold}`, log);
      if (decision.action === "hold") return settle.hold(id, meta, `rule: ${decision.reason ?? decision.rulesApplied.join(", ")}`, log);
      // reject: the message ends here, with a DSN when the rule asks for one
      const reason = `rejected by rule: ${decision.reason ?? decision.rulesApplied.join(", ")}`;
      const rejected: FinalEvent = { type: "rejected", actor: "gateway", data: { reason, rulesApplied: decision.rulesApplied, ...listMatches(decision) } };
      audit.record({ ...rejected, auditId: id });
      const finals: FinalEvent[] = [rejected];
      deps.metrics?.messages.inc({ outcome: "rejected" });
      if (decision.dsn && env.mailFrom !== "") {
        const recipients: DsnRecipient[] = env.rcptTo.map((rcpt) => ({ rcpt, action: "failed", reply: `550 5.7.1 ${reason}` }));
        const sent = await deps.bounce.sendDsn(id, env, recipients, "", log, finals);
        if (!sent.ok) return settle.hold(id, { ...meta, pending: [] }, `rejected by rule, but the DSN could not be sent: ${sent.error}`, log);
      }
      // sanitized in this pass, stopped before rendering: there is no output file
      await settle.finish(id, { ...removal, noOut: true }, log, finals);
      log.info({ reason }, "rejected by rule");
      return "done";
    }
    const decision = outcome.context;
    if (decision && decision.action === "hold" && !meta.released) {
      audit.record({
        type: "sanitized",
        auditId: id,
        actor: "gateway",
        data: { report: outcome.report, rulesApplied: decision.rulesApplied, ...listMatches(decision), action: "hold", reason: decision.reason, notice: true, ...(auth ? { auth } : {}), ...staffText(outcome.text) },
      });
      await deps.bounce.sendHoldNotice(id, env, outcome.message, log);
      return settle.hold(id, meta, `rule: ${decision.reason ?? decision.rulesApplied.join(", ")}`, log);
    }
    const report = outcome.report;
    deps.metrics?.attachmentsRemoved.inc(report.attachments.length);
    deps.metrics?.linksDisarmed.inc(report.links.disarmed);
    audit.record({
      type: "sanitized",
      auditId: id,
      actor: "gateway",
      data: { report, rulesApplied: outcome.context?.rulesApplied ?? [], ...listMatches(outcome.context), released: meta.released === true, ...(auth ? { auth } : {}), ...staffText(outcome.text) },
    });
    return outcome.message;
  };
}

function withOverrides(base: RenderOptions, overrides: RuleRenderOverrides, rulesApplied: string[], trace: Trace): RenderOptions {
  const { subjectTags, ...presentation } = overrides;
  const defined = Object.fromEntries(Object.entries(presentation).filter(([, v]) => v !== undefined));
  return { ...base, ...defined, subjectTags: [...base.subjectTags, ...subjectTags], rulesApplied, trace };
}

/**
 * The text staff received, for the audit trail (the console's message detail):
 * capped so that one long message cannot bloat the log or the hashing on this
 * thread; 32,000 characters hold the notice and ordinary mail whole.
 */
const STAFF_TEXT_MAX_CHARS = 32_000;

function staffText(text: string | undefined): { text?: string; textTruncated?: true } {
  if (text === undefined) return {};
  return text.length > STAFF_TEXT_MAX_CHARS ? { text: text.slice(0, STAFF_TEXT_MAX_CHARS), textTruncated: true } : { text };
}
