/**
 * The queue manager (Postfix's qmgr): decides what runs next. It moves each
 * spooled message through incoming → active → (sanitize) → deliver → done |
 * deferred | held, and does nothing else itself: one pass of one message is
 * message-pass.ts, its steps are sanitize-stage.ts (the sanitizer pool and
 * the rules), deliver-stage.ts (Postfix's smtp), bounce.ts (DSNs and hold
 * notices) and settle.ts (held, corrupt, finished); a pass that fails half-way
 * (a full disk) is put back by failed-pass.ts. A finished record waits in
 * done/ until the audit store has its final events (done-queue.ts), and at
 * start final-recovery.ts settles what a crash left there (and rebuilds the
 * lost events of held and corrupt records). This closure wires them.
 *
 * - incoming/: picked up at once when the receiver reports it, and by a
 *   periodic rescan (an administrator's retry/release puts messages there).
 * - active/: at most `maxActive` messages at a time, so a slow or dead
 *   downstream server cannot make memory grow: the rest wait on disk.
 * - deferred/: one in-memory timer entry per message (id + due time), rebuilt
 *   from meta files at start.
 * - held/: never touched by the gateway; an administrator decides.
 * - done/: finished; leaves once its final audit events are stored.
 *
 * Most messages are delivered with no output file at all (see
 * deliver-stage.ts): no write, fsync, rename or unlink.
 *
 * SECURITY: handles the envelope (sender-controlled addresses) and the
 * downstream server's replies as data only. Message bytes are only read by the
 * sanitizer workers.
 * Crash state: whatever was in active/ goes back to incoming/ at the next
 * start (recover()); a message may then be delivered twice (at-least-once),
 * never lost. What was in done/ is not delivered again (final-recovery.ts).
 */
import path from "node:path";
import type { AuditEvent, AuditSink } from "../audit/audit-types.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../lib/logger.ts";
import type { OriginalStore } from "../originals/index.ts";
import type { Metrics } from "../lib/metrics.ts";
import type { RulesEngine } from "../rules/rules-types.ts";
import type { RenderOptions } from "../sanitize/sanitize-types.ts";
import type { SanitizePool } from "../sanitize-pool/index.ts";
import type { RecordInfo } from "../spool/record.ts";
import { openDoneJournal } from "../spool/done-journal.ts";
import type { Spool } from "../spool/spool.ts";
import { createBounce, type DsnSender } from "./bounce.ts";
import type { Deliverer } from "./delivery-types.ts";
import { createDeliverStage } from "./deliver-stage.ts";
import { createDoneQueue, type DoneQueue, type FinalEvent } from "./done-queue.ts";
import { createFailedPasses } from "./failed-pass.ts";
import { recoverFinalEvents } from "./final-recovery.ts";
import { createMessagePass } from "./message-pass.ts";
import { createSanitizeStage, type SanitizeStageDeps } from "./sanitize-stage.ts";
import { createSettler, type Settled } from "./settle.ts";

export type { DsnSender } from "./bounce.ts";

/** how often incoming/ is rescanned for messages put there by an administrator (ms) */
const RESCAN_MS = 2_000;
/** granularity of deferred-message timers (ms); retries are scheduled in seconds */
const TICK_MS = 500;

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
  /** a message's stored events (final-recovery.ts); absent: the sink cannot be read, nothing counts as stored */
  story?: (auditId: string) => Promise<AuditEvent[]>;
  logger: Logger;
  metrics?: Metrics;
  now?: () => Date;
  /** keeps each raw original once the spool is done with it (absent: records are just removed) */
  originals?: Pick<OriginalStore, "retire">;
  /** sender authentication before sanitizing (absent: off) */
  authenticate?: SanitizeStageDeps["authenticate"];
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
  /** where finished records wait for their final events to be stored; an administrator's delete too (spool/queue-admin.ts) */
  readonly done: Pick<DoneQueue, "end" | "releaseWhenStored">;
}

/** how long close() waits for the start-up recovery to reach its next message */
const RECOVERY_CLOSE_WAIT_MS = 5_000;

export function createQueueManager(deps: QueueManagerDeps): QueueManager {
  const { spool, delivery, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const maxActive = delivery.concurrency * 2 + deps.pool.size;
  const ready: string[] = [];
  const known = new Set<string>();
  const due = new Map<string, number>();
  /** framing of messages the receiver just wrote: no meta, no output yet, no need to read them back */
  const freshInfo = new Map<string, RecordInfo>();
  let active = 0;
  let closing = false;
  /** the start-up recovery of final events (runs beside the queue; close() waits for it) */
  let recovering: Promise<void> = Promise.resolve();
  let rescanTimer: NodeJS.Timeout | undefined;
  let tickTimer: NodeJS.Timeout | undefined;
  const inFlight = new Set<Promise<unknown>>();
  let idleWaiters: (() => void)[] = [];

  // the jobs, each with its narrow deps
  const journal = openDoneJournal<FinalEvent[]>(path.join(spool.root, "done-journal"));
  const done = createDoneQueue({ spool, journal, audit: deps.audit, logger, ...(deps.originals ? { originals: deps.originals } : {}) });
  const settle = createSettler({ spool, audit: deps.audit, metrics: deps.metrics, done });
  const bounce = createBounce({ spool, delivery, hostname: deps.hostname, dsn: deps.dsn, deliverer: deps.deliverer, settle, audit: deps.audit, now });
  const failed = createFailedPasses({ spool, delivery, retryAt: (id, at) => due.set(id, at.getTime()), audit: deps.audit, logger, now });
  const pass = createMessagePass({
    spool,
    settle,
    logger,
    sanitize: createSanitizeStage({
      spool,
      pool: deps.pool,
      limits: deps.limits,
      rules: deps.rules,
      renderOptions: deps.renderOptions,
      settle,
      bounce,
      audit: deps.audit,
      metrics: deps.metrics,
      ...(deps.authenticate ? { authenticate: deps.authenticate } : {}),
    }),
    deliver: createDeliverStage({
      spool,
      deliverer: deps.deliverer,
      delivery,
      settle,
      bounce,
      retryAt: (id, at) => due.set(id, at.getTime()),
      audit: deps.audit,
      metrics: deps.metrics,
      now,
    }),
  });

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

  /** processes one message */
  function start(id: string, from: "incoming" | "deferred"): void {
    track(
      id,
      pass(id, from, from === "incoming" ? freshInfo.get(id) : undefined).then(
        (settled) => {
          failed.settled(id);
          return settled;
        },
        // a pass that throws (a spool write failed: ENOSPC, EIO) must not strand its message in active/
        (error: unknown) => failed.readopt(id, error),
      ),
    );
  }

  /** the in-flight bookkeeping of one message's work, in one place */
  function track(id: string, work: Promise<Settled>): void {
    active++;
    const p = work
      .catch((error: unknown) => {
        logger.error({ queueId: id, err: error }, "queue manager error; message left in place until the next start");
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
      // counted on disk, not in the done queue's memory: a record stuck there (its original could not be
      // kept, a CLI's delete waiting for the next start) shows in the gauge too; listed only when someone reads the gauge
      if (deps.metrics?.registry) deps.metrics.queueDepth.set({ state: "done" }, (await spool.list("done")).length);
    } catch (error) {
      logger.error({ err: error }, "cannot scan incoming/");
    }
  }

  function tick(): void {
    const t = now().getTime();
    for (const id of failed.takeDue(t)) {
      if (closing || known.has(id)) continue;
      // still in active/ (its rename back failed): this gateway holds it; try again
      known.add(id);
      track(id, failed.retry(id));
    }
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

  return {
    async start() {
      const { tempRemoved, requeued, orphansRemoved } = await spool.recover();
      if (tempRemoved || requeued.length || orphansRemoved) {
        logger.info({ tempRemoved, requeued: requeued.length, orphansRemoved }, "spool recovered after an unclean stop");
      }
      // beside the queue: it waits for the audit store, which must not hold mail up
      recovering = recoverFinalEvents({
        spool,
        journal,
        done,
        audit: deps.audit,
        ...(deps.story ? { story: deps.story } : {}),
        requeued: (id) => enqueue(id),
        closing: () => closing,
        logger,
      })
        .then(() => undefined)
        .catch((error: unknown) => logger.error({ err: error }, "audit recovery of finished, held and corrupt messages failed; the next start tries again"));
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
      // the recovery stops between messages once closing is set; it must not outlive the store and the lock.
      // Bounded: while it waits for a store that is down (its first flush) it touches nothing, and the
      // audit log's close (after this) ends that wait
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([recovering, new Promise<void>((resolve) => (timer = setTimeout(resolve, RECOVERY_CLOSE_WAIT_MS)))]);
      clearTimeout(timer);
      await done.close();
    },
    done,
    idle() {
      if (active === 0 && ready.length === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
  };
}

