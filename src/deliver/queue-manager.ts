/**
 * The queue manager (Postfix's qmgr): moves each spooled message through
 * incoming → active → (sanitize) → deliver → done | deferred | held, and
 * nothing else. Every step is an audit event; every state is a directory.
 *
 * - incoming/: picked up at once when the receiver reports it, and by a
 *   periodic rescan (an administrator's retry/release puts messages there).
 * - active/: at most `maxActive` messages at a time, so a slow or dead
 *   downstream server cannot make memory grow: the rest wait on disk.
 * - deferred/: one in-memory timer entry per message (id + due time), rebuilt
 *   from meta files at start.
 * - held/: never touched by the gateway; an administrator decides.
 *
 * The first attempt sends the sanitized bytes straight from memory (their
 * hash is in the "sanitized" audit event). A message that outlives that pass
 * (deferred, held, failed recipients) has them spooled (out/ID.eml, fsynced)
 * before its new state is, so every retry sends the same bytes and the
 * audited hash is the delivered hash. A crash before that point finds no
 * output: the message is sanitized again from its raw record (a new
 * "sanitized" event) and delivered (at-least-once). Most messages are thus
 * delivered with no output file at all: no write, fsync, rename or unlink.
 *
 * SECURITY: handles the envelope (sender-controlled addresses) and the
 * downstream server's replies as data only. Message bytes are only read by the
 * sanitizer workers.
 * Crash state: whatever was in active/ goes back to incoming/ at the next
 * start (recover()); a message may then be delivered twice (at-least-once),
 * never lost.
 */
import { unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import type { AuditSink } from "../audit/audit-types.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../lib/logger.ts";
import type { OriginalStore } from "../originals/index.ts";
import type { Metrics } from "../lib/metrics.ts";
import type { Envelope, RuleDecision, RuleRenderOverrides, RulesEngine } from "../rules/rules-types.ts";
import { listMatches } from "../rules/rules-types.ts";
import type { RenderOptions, Trace } from "../sanitize/sanitize-types.ts";
import { CorruptRecordError, readRecordInfo, type RecordInfo, type SpoolEnvelope } from "../spool/record.ts";
import { tempName } from "../spool/durable.ts";
import { freshMeta, type DeliveryMeta, type FailedRecipient, type RemoveOptions, type Spool } from "../spool/spool.ts";
import type { QueueState } from "../spool/queue-types.ts";
import type { Deliverer, DeliveryResult } from "./delivery-types.ts";
import { buildDsn, type DsnRecipient } from "./dsn.ts";
import { isExpired, nextAttemptAt } from "./retry-schedule.ts";
import type { SanitizePool } from "./sanitize-pool.ts";

/** how often incoming/ is rescanned for messages put there by an administrator (ms) */
const RESCAN_MS = 2_000;
/** granularity of deferred-message timers (ms); retries are scheduled in seconds */
const TICK_MS = 500;

export interface DsnSender {
  send(to: string, message: Buffer): Promise<void>;
}

export interface QueueManagerDeps {
  spool: Spool;
  delivery: Config["delivery"];
  limits: Config["sanitize"]["limits"];
  hostname: string;
  pool: SanitizePool;
  deliverer: Deliverer;
  /** absent: failed and expired messages are held instead of bounced */
  dsn?: DsnSender;
  rules: { current(): RulesEngine };
  /** the render options of one message, before rule overrides */
  renderOptions(auditId: string, now: Date): RenderOptions;
  audit: AuditSink;
  logger: Logger;
  metrics?: Metrics;
  now?: () => Date;
  /** keeps each raw original once the spool is done with it (absent: records are just removed) */
  originals?: Pick<OriginalStore, "retire">;
}

export interface QueueManager {
  /** recovers the spool after a crash and starts working */
  start(): Promise<void>;
  /** a message just landed in incoming/; `fresh`: its framing as just written by the receiver */
  enqueue(id: string, fresh?: RecordInfo): void;
  /** stops taking new work and resolves when the messages in flight are settled */
  close(): Promise<void>;
  /** resolves when nothing is queued in memory or in flight (tests, benchmarks) */
  idle(): Promise<void>;
}

type Settled = "done" | "deferred" | "held" | "corrupt" | "gone";
/** what spool.remove() may skip: files this pass knows were never written */
type Removal = Omit<RemoveOptions, "noRecord">;

export function createQueueManager(deps: QueueManagerDeps): QueueManager {
  const { spool, delivery, audit, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const maxActive = delivery.concurrency * 2 + deps.pool.size;
  const ready: string[] = [];
  const known = new Set<string>();
  const due = new Map<string, number>();
  /** framing of messages the receiver just wrote: no meta, no output yet, no need to read them back */
  const freshInfo = new Map<string, RecordInfo>();
  let active = 0;
  let closing = false;
  let rescanTimer: NodeJS.Timeout | undefined;
  let tickTimer: NodeJS.Timeout | undefined;
  const inFlight = new Set<Promise<unknown>>();
  let idleWaiters: (() => void)[] = [];

  function enqueue(id: string, fresh?: RecordInfo): void {
    if (closing || known.has(id)) return;
    if (fresh && fresh.envelope.id === id) freshInfo.set(id, fresh);
    known.add(id);
    due.delete(id);
    ready.push(id);
    pump();
  }

  function pump(): void {
    while (!closing && active < maxActive && ready.length > 0) {
      start(ready.shift()!, "incoming");
    }
    updateDepth();
  }

  /** processes one message, with the in-flight bookkeeping in one place */
  function start(id: string, from: "incoming" | "deferred"): void {
    active++;
    const p = processFrom(id, from)
      .catch((error: unknown) => {
        logger.error({ queueId: id, err: error }, "queue manager error; message left in place");
        return "gone" as Settled;
      })
      .finally(() => {
        active--;
        known.delete(id);
        freshInfo.delete(id);
        inFlight.delete(p);
        pump();
        checkIdle();
      });
    inFlight.add(p);
  }

  function checkIdle(): void {
    if (active === 0 && ready.length === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  function updateDepth(): void {
    deps.metrics?.queueDepth.set({ state: "incoming" }, ready.length);
    deps.metrics?.queueDepth.set({ state: "active" }, active);
    deps.metrics?.queueDepth.set({ state: "deferred" }, due.size);
  }

  async function rescan(): Promise<void> {
    try {
      for (const id of await spool.list("incoming")) enqueue(id);
    } catch (error) {
      logger.error({ err: error }, "cannot scan incoming/");
    }
  }

  function tick(): void {
    const t = now().getTime();
    for (const [id, at] of due) {
      if (closing) break;
      if (at > t || known.has(id)) continue;
      if (active >= maxActive) break;
      due.delete(id);
      known.add(id);
      start(id, "deferred");
    }
    updateDepth();
  }

  /** One pass of one message: claim it, sanitize if not yet, deliver, settle. */
  async function processFrom(id: string, from: QueueState): Promise<Settled> {
    // not durable: a crash leaves it in active/, which recovery treats like incoming/
    if (!(await spool.move(id, from, "active", false))) return "gone";
    const log = logger.child({ queueId: id });
    const file = spool.recordPath("active", id);
    const fresh = from === "incoming" ? freshInfo.get(id) : undefined;
    let info: RecordInfo;
    if (fresh) info = fresh;
    else {
      try {
        info = await readRecordInfo(file);
      } catch (error) {
        if (error instanceof CorruptRecordError) return toCorrupt(id, error.message, log);
        throw error;
      }
    }
    const meta = (fresh ? undefined : await spool.readMeta(id)) ?? freshMeta(info.envelope);

    let message: Buffer | undefined;
    // a fresh message has no meta file unless this pass writes one (and a pass that does never removes)
    const removal: Removal = fresh ? { noMeta: true } : {};
    if (fresh || !(await spool.hasOut(id))) {
      const sanitized = await sanitizeStage(id, info, meta, log, removal);
      if (typeof sanitized === "string") return sanitized;
      message = sanitized;
    }
    return deliverStage(id, info.envelope, meta, log, removal, message);
  }

  /** a Settled state, or the sanitized message to deliver (not on disk yet) */
  async function sanitizeStage(
    id: string,
    info: RecordInfo,
    meta: DeliveryMeta,
    log: Logger,
    removal: Removal,
  ): Promise<Settled | Buffer> {
    const env = info.envelope;
    const ruleEnvelope: Envelope = { mailFrom: env.mailFrom, rcptTo: env.rcptTo, clientAddress: env.clientAddress, clientHelo: env.clientHelo };
    const trace: Trace = { clientAddress: env.clientAddress, clientHelo: env.clientHelo, protocol: env.protocol };
    // the time of arrival, not of this pass: sanitizing the same record again (after a crash
    // before delivery was recorded, or a release) gives the same bytes under the same rules
    const at = new Date(env.receivedAt);
    const engine = deps.rules.current();
    // no rules file: the decision is always "deliver, no overrides", so the worker may render at once
    const eager = engine.version === "" ? withOverrides(deps.renderOptions(id, at), { subjectTags: [] }, [], trace) : undefined;
    const outcome = await deps.pool.run<RuleDecision | undefined>(
      {
        file: spool.recordPath("active", id),
        offset: info.messageOffset,
        length: info.messageLength,
        limits: deps.limits,
      },
      (facts) => {
        if (facts.sha256 !== info.sha256) return { stop: true, context: undefined };
        const decision = engine.decide(facts, ruleEnvelope, at);
        if (decision.action === "hold" && decision.notifyRecipients && !meta.released) {
          // a notice-only message for the recipients: says the mail is held, carries none of its text
          const withheld = { reason: decision.reason ?? decision.rulesApplied.join(", ") };
          return { render: { ...withOverrides(deps.renderOptions(id, at), decision.render, decision.rulesApplied, trace), withheld }, context: decision };
        }
        if (decision.action !== "deliver" && !meta.released) return { stop: true, context: decision };
        return { render: eager ?? withOverrides(deps.renderOptions(id, at), decision.render, decision.rulesApplied, trace), context: decision };
      },
      eager,
    );
    if (outcome.kind === "failed") {
      return hold(id, meta, outcome.reason, log);
    }
    if (outcome.kind === "stopped") {
      const decision = outcome.context;
      if (!decision) return toCorrupt(id, "message bytes do not match the hash recorded at receipt", log);
      audit.record({
        type: "sanitized",
        auditId: id,
        actor: "gateway",
        data: { facts: outcome.facts, rulesApplied: decision.rulesApplied, ...listMatches(decision), action: decision.action, reason: decision.reason },
      });
      if (decision.action === "hold") return hold(id, meta, `rule: ${decision.reason ?? decision.rulesApplied.join(", ")}`, log);
      // reject: the message ends here, with a DSN when the rule asks for one
      const reason = `rejected by rule: ${decision.reason ?? decision.rulesApplied.join(", ")}`;
      audit.record({ type: "rejected", auditId: id, actor: "gateway", data: { reason, rulesApplied: decision.rulesApplied, ...listMatches(decision) } });
      deps.metrics?.messages.inc({ outcome: "rejected" });
      if (decision.dsn && env.mailFrom !== "") {
        const recipients: DsnRecipient[] = env.rcptTo.map((rcpt) => ({ rcpt, action: "failed", reply: `550 5.7.1 ${reason}` }));
        const sent = await sendDsn(id, env, recipients, "", log);
        if (!sent.ok) return hold(id, { ...meta, pending: [] }, `rejected by rule, but the DSN could not be sent: ${sent.error}`, log);
      }
      // sanitized in this pass, stopped before rendering: there is no output file
      await finishMessage(id, { ...removal, noOut: true }, log);
      log.info({ reason }, "rejected by rule");
      return "done";
    }
    const decision = outcome.context;
    if (decision && decision.action === "hold" && !meta.released) {
      audit.record({
        type: "sanitized",
        auditId: id,
        actor: "gateway",
        data: { report: outcome.report, rulesApplied: decision.rulesApplied, ...listMatches(decision), action: "hold", reason: decision.reason, notice: true, ...staffText(outcome.text) },
      });
      await sendHoldNotice(id, env, outcome.message, log);
      return hold(id, meta, `rule: ${decision.reason ?? decision.rulesApplied.join(", ")}`, log);
    }
    const report = outcome.report;
    deps.metrics?.attachmentsRemoved.inc(report.attachments.length);
    deps.metrics?.linksDisarmed.inc(report.links.disarmed);
    audit.record({
      type: "sanitized",
      auditId: id,
      actor: "gateway",
      data: { report, rulesApplied: outcome.context?.rulesApplied ?? [], ...listMatches(outcome.context), released: meta.released === true, ...staffText(outcome.text) },
    });
    return outcome.message;
  }

  /** `message`: the sanitized bytes of a message sanitized in this pass (no out/ID.eml yet) */
  async function deliverStage(
    id: string,
    env: SpoolEnvelope,
    meta: DeliveryMeta,
    log: Logger,
    removal: Removal,
    message?: Buffer,
  ): Promise<Settled> {
    if (meta.pending.length > 0) {
      const startedAt = now();
      let result: DeliveryResult;
      try {
        result = await deps.deliverer.deliver({
          queueId: id,
          mailFrom: env.mailFrom,
          rcptTo: meta.pending,
          file: spool.outPath(id),
          ...(message ? { message } : {}),
        });
      } catch (error) {
        const reply = `delivery error: ${(error as Error).message}`;
        result = { recipients: meta.pending.map((rcpt) => ({ rcpt, status: "deferred", reply })), attempts: [{ host: "-", reply, ok: false }] };
      }
      meta.attempts++;
      for (const a of result.attempts) {
        audit.record({ type: "delivery-attempt", auditId: id, actor: "gateway", data: { host: a.host, reply: a.reply, ok: a.ok } });
      }
      const accepted = result.recipients.filter((r) => r.status === "accepted");
      const rejected = result.recipients.filter((r) => r.status === "rejected");
      const deferred = result.recipients.filter((r) => r.status === "deferred");
      deps.metrics?.deliveryAttempts.inc({ result: deferred.length ? "deferred" : rejected.length ? "rejected" : "ok" }, 1);
      if (accepted.length) {
        meta.delivered.push(...accepted.map((r) => r.rcpt));
        audit.record({
          type: "delivered",
          auditId: id,
          actor: "gateway",
          data: { rcptTo: accepted.map((r) => r.rcpt), host: accepted[0]!.host, reply: accepted[0]!.reply },
        });
        deps.metrics?.deliveryLatency.observe((startedAt.getTime() - Date.parse(env.receivedAt)) / 1000);
      }
      const at = now().toISOString();
      for (const r of rejected) meta.failed.push({ rcpt: r.rcpt, reply: r.reply, ...(r.code !== undefined ? { code: r.code } : {}), at });
      if (rejected.length) {
        audit.record({
          type: "bounced",
          auditId: id,
          actor: "gateway",
          data: { recipients: rejected.map((r) => ({ rcpt: r.rcpt, reply: r.reply, host: r.host })) },
        });
      }
      meta.pending = deferred.map((r) => r.rcpt);
      if (deferred.length) meta.lastError = deferred[0]!.reply;
      else if (rejected.length) meta.lastError = rejected[0]!.reply;
    }

    if (meta.pending.length > 0 && isExpired(meta.queuedAt, delivery, now())) {
      const reason = `expired: not delivered within ${delivery.maxQueueDays} days; last error: ${meta.lastError ?? "none"}`;
      const at = now().toISOString();
      for (const rcpt of meta.pending) meta.failed.push({ rcpt, reply: `4.4.7 ${reason}`, at });
      audit.record({ type: "expired", auditId: id, actor: "gateway", data: { rcptTo: meta.pending, reason } });
      deps.metrics?.messages.inc({ outcome: "expired" });
      meta.pending = [];
    }

    // the message outlives this pass (a retry, a hold, a DSN quoting its headers): its bytes go to disk first
    if (message && (meta.pending.length > 0 || meta.failed.length > 0)) {
      await spool.writeOut(id, message);
      message = undefined;
    }

    // recipients that failed for good and have not been told about yet
    const untold = meta.failed.filter((f) => !(meta.dsnSentFor ?? []).includes(f.rcpt));
    if (untold.length) {
      const settled = await notifyFailures(id, env, meta, untold, log);
      if (settled) return settled;
    }

    if (meta.pending.length === 0) {
      await finishMessage(id, message ? { ...removal, noOut: true } : removal, log);
      deps.metrics?.messages.inc({ outcome: meta.failed.length ? "bounced" : "delivered" });
      log.info({ delivered: meta.delivered.length, failed: meta.failed.length }, "done");
      return "done";
    }
    // deferred: durable meta first, then the state change
    const next = nextAttemptAt(meta.attempts, delivery, now());
    meta.nextAttemptAt = next.toISOString();
    await spool.writeMeta(id, meta);
    await spool.move(id, "active", "deferred");
    due.set(id, next.getTime());
    audit.record({
      type: "deferred",
      auditId: id,
      actor: "gateway",
      data: { rcptTo: meta.pending, attempts: meta.attempts, nextAttemptAt: meta.nextAttemptAt, reason: meta.lastError },
    });
    log.info({ attempts: meta.attempts, next: meta.nextAttemptAt }, "deferred");
    return "deferred";
  }

  /**
   * The message is done (delivered, bounced, rejected): its record leaves the spool, into the
   * originals store when originals are kept (a rename), then its meta and output go.
   */
  async function finishMessage(id: string, removal: Removal, log: Logger): Promise<void> {
    let retired = false;
    if (deps.originals) {
      try {
        retired = await deps.originals.retire(id, spool.recordPath("active", id));
      } catch (error) {
        // retention must not stop mail: the message is done all the same, the failure is loud in the log
        log.error({ err: error }, "the raw original could not be kept");
      }
    }
    await spool.remove(id, "active", { ...removal, noRecord: retired });
  }

  /** DSN for recipients that failed for good; without a DSN relay (or for the null sender) the message is held. */
  async function notifyFailures(id: string, env: SpoolEnvelope, meta: DeliveryMeta, failed: FailedRecipient[], log: Logger): Promise<Settled | undefined> {
    const list = failed.map((f) => f.rcpt).join(", ");
    if (!deps.dsn) return hold(id, meta, `delivery failed for ${list}; no DSN relay configured`, log);
    if (env.mailFrom === "") return hold(id, meta, `delivery failed for ${list}; the sender is the null sender (no DSN for a bounce)`, log);
    let headers = "";
    try {
      const { readFile } = await import("node:fs/promises");
      const out = await readFile(spool.outPath(id));
      const end = out.indexOf("\r\n\r\n");
      headers = out.subarray(0, end >= 0 ? end : Math.min(out.length, 8192)).toString("utf8");
    } catch {
      // no sanitized output (e.g. rejected before rendering): the DSN goes without headers
    }
    const recipients: DsnRecipient[] = failed.map((f) => ({ rcpt: f.rcpt, action: "failed", reply: f.reply }));
    const sent = await sendDsn(id, env, recipients, headers, log);
    if (!sent.ok) return hold(id, meta, `delivery failed for ${list}; the DSN could not be sent: ${sent.error}`, log);
    meta.dsnSentFor = [...(meta.dsnSentFor ?? []), ...failed.map((f) => f.rcpt)];
    if (meta.pending.length > 0) await spool.writeMeta(id, meta);
    return undefined;
  }

  async function sendDsn(id: string, env: SpoolEnvelope, recipients: DsnRecipient[], headers: string, log: Logger): Promise<{ ok: true } | { ok: false; error: string }> {
    const message = buildDsn({
      queueId: id,
      to: env.mailFrom,
      from: delivery.dsnFrom.includes("@") ? delivery.dsnFrom : `${delivery.dsnFrom}@${deps.hostname}`,
      reportingMta: deps.hostname,
      arrivalDate: new Date(env.receivedAt),
      now: now(),
      recipients,
      headers,
    });
    try {
      await deps.dsn!.send(env.mailFrom, message);
      audit.record({ type: "dsn-sent", auditId: id, actor: "gateway", data: { to: env.mailFrom, rcptTo: recipients.map((r) => r.rcpt) } });
      log.info({ rcpts: recipients.length }, "DSN sent");
      return { ok: true };
    } catch (error) {
      const e = error as Error & { response?: string };
      log.warn({ err: e }, "DSN could not be sent");
      return { ok: false, error: e.response ?? e.message };
    }
  }

  /**
   * Best effort, one attempt: the held message itself is safe in held/ whatever happens here.
   * Recorded as delivery attempts marked `notice`, never as "delivered" (the message is not).
   */
  async function sendHoldNotice(id: string, env: SpoolEnvelope, message: Buffer, log: Logger): Promise<void> {
    const file = tempName(path.dirname(spool.outPath(id)), `notice-${id}`);
    try {
      await writeFile(file, message, { flag: "wx", mode: 0o640 });
      const result = await deps.deliverer.deliver({ queueId: id, mailFrom: env.mailFrom, rcptTo: env.rcptTo, file });
      for (const a of result.attempts) {
        audit.record({ type: "delivery-attempt", auditId: id, actor: "gateway", data: { host: a.host, reply: a.reply, ok: a.ok, notice: true } });
      }
      const accepted = result.recipients.filter((r) => r.status === "accepted").length;
      log.info({ accepted, rcpts: env.rcptTo.length }, "hold notice sent to the recipients");
    } catch (error) {
      log.warn({ err: error }, "hold notice could not be sent");
    } finally {
      await unlink(file).catch(() => {});
    }
  }

  async function hold(id: string, meta: DeliveryMeta, reason: string, log: Logger): Promise<Settled> {
    meta.holdReason = reason;
    delete meta.nextAttemptAt;
    await spool.writeMeta(id, meta);
    await spool.move(id, "active", "held");
    audit.record({ type: "held", auditId: id, actor: "gateway", data: { reason, rcptTo: meta.pending, failed: meta.failed } });
    deps.metrics?.messages.inc({ outcome: "held" });
    log.warn({ reason }, "held");
    return "held";
  }

  async function toCorrupt(id: string, reason: string, log: Logger): Promise<Settled> {
    await spool.move(id, "active", "corrupt");
    audit.record({ type: "held", auditId: id, actor: "gateway", data: { reason: `corrupt spool file: ${reason}`, state: "corrupt" } });
    log.error({ reason }, "spool file is corrupt; moved to corrupt/");
    return "corrupt";
  }

  return {
    async start() {
      const { tempRemoved, requeued, orphansRemoved } = await spool.recover();
      if (tempRemoved || requeued.length || orphansRemoved) {
        logger.info({ tempRemoved, requeued: requeued.length, orphansRemoved }, "spool recovered after an unclean stop");
      }
      const t = now().getTime();
      for (const id of await spool.list("deferred")) {
        const meta = await spool.readMeta(id);
        const at = meta?.nextAttemptAt ? Date.parse(meta.nextAttemptAt) : t;
        due.set(id, Number.isNaN(at) ? t : at);
      }
      await rescan();
      rescanTimer = setInterval(() => void rescan(), RESCAN_MS);
      tickTimer = setInterval(tick, TICK_MS);
      updateDepth();
    },
    enqueue,
    async close() {
      closing = true;
      clearInterval(rescanTimer);
      clearInterval(tickTimer);
      ready.length = 0;
      while (inFlight.size) await Promise.allSettled([...inFlight]);
    },
    idle() {
      if (active === 0 && ready.length === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
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
