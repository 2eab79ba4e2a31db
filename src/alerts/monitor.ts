/**
 * The gateway's alert monitor: every alerts.checkSeconds it looks at the
 * queue, the downstream server, the audit store and (every
 * alerts.verifyMinutes) the audit chain, and raises or clears the matching
 * conditions on the alerter; it also sends the alerter's held-back summaries.
 * It is given narrow probes by the composition root (serve.ts), so it imports
 * no stage.
 *
 *   queue-age         the oldest deferred message waited ≥ queueAgeMinutes
 *   queue-depth       deferred + held + incoming + active > queueDepth
 *   downstream        the probe failed continuously for ≥ downstreamMinutes
 *   audit-unwritable  a flush of the audit log has not completed for ≥ auditStallSeconds
 *   audit-verify      the chain verification said not ok, or could not run
 *
 * SECURITY: reads counts and states, never message content.
 * Crash state: nothing kept.
 */
import type { Config } from "../config/schema.ts";
import type { Logger } from "../lib/logger.ts";
import type { Alerter } from "./alerter.ts";

export interface MonitorProbes {
  /** messages waiting, and when the oldest deferred one arrived (ISO 8601) */
  queue(): Promise<{ depth: number; oldestDeferred?: string }>;
  /** smtp delivery: whether the first downstream server accepts a TCP connection; absent: not watched */
  downstream?: { target: string; probe(): Promise<boolean> };
  /** resolves when everything recorded so far is stored */
  auditFlush(): Promise<void>;
  /** the audit chain verifies; absent: not watched */
  verify?(): Promise<boolean>;
}

export interface AlertMonitor {
  /** one round of checks (the timer calls it; tests call it with their clock) */
  check(): Promise<void>;
  stop(): void;
}

export function createAlertMonitor(deps: {
  alerter: Alerter;
  config: Config["alerts"];
  probes: MonitorProbes;
  logger: Pick<Logger, "warn">;
  now?: () => number;
  /** false: no timer (tests call check()) */
  timer?: boolean;
}): AlertMonitor {
  const { alerter, config, probes } = deps;
  const now = deps.now ?? Date.now;
  let downSince: number | undefined;
  let flush: { since: number; done: boolean } | undefined;
  let lastVerify: number | undefined;
  let running: Promise<void> | undefined;

  const checkQueue = async () => {
    const q = await probes.queue();
    if (q.depth > config.queueDepth) await alerter.raise("queue-depth", { value: q.depth, threshold: config.queueDepth });
    else await alerter.clear("queue-depth", { value: q.depth, threshold: config.queueDepth });
    const ageMinutes = q.oldestDeferred ? Math.floor((now() - Date.parse(q.oldestDeferred)) / 60_000) : 0;
    if (ageMinutes >= config.queueAgeMinutes) await alerter.raise("queue-age", { value: ageMinutes, threshold: config.queueAgeMinutes });
    else await alerter.clear("queue-age", { value: ageMinutes, threshold: config.queueAgeMinutes });
  };

  const checkDownstream = async () => {
    if (!probes.downstream) return;
    const { target } = probes.downstream;
    if (await probes.downstream.probe()) {
      downSince = undefined;
      await alerter.clear("downstream", { target });
      return;
    }
    downSince ??= now();
    const minutes = Math.floor((now() - downSince) / 60_000);
    if (minutes >= config.downstreamMinutes) await alerter.raise("downstream", { target, value: minutes, threshold: config.downstreamMinutes });
  };

  /** a flush that does not finish is the sign: the writer keeps retrying a store that refuses */
  const checkAudit = async () => {
    if (!flush || flush.done) {
      const current = { since: now(), done: false };
      flush = current;
      probes.auditFlush().then(
        () => {
          current.done = true;
          void alerter.clear("audit-unwritable");
        },
        () => {}, // a flush that fails is still not done: the stall check below raises it
      );
      return;
    }
    const seconds = Math.floor((now() - flush.since) / 1000);
    if (seconds >= config.auditStallSeconds) await alerter.raise("audit-unwritable", { value: seconds, threshold: config.auditStallSeconds });
  };

  const checkVerify = async () => {
    if (!probes.verify || config.verifyMinutes === 0) return;
    if (lastVerify !== undefined && now() - lastVerify < config.verifyMinutes * 60_000) return;
    lastVerify = now();
    let ok: boolean;
    try {
      ok = await probes.verify();
    } catch {
      ok = false;
    }
    if (ok) await alerter.clear("audit-verify");
    else await alerter.raise("audit-verify");
  };

  const check = async () => {
    for (const step of [checkAudit, checkQueue, checkDownstream, checkVerify, () => alerter.tick()]) {
      try {
        await step();
      } catch (error) {
        deps.logger.warn({ err: error }, "alert monitor: a check failed");
      }
    }
  };
  const guarded = () => (running ??= check().finally(() => (running = undefined)));
  const timer = deps.timer === false ? undefined : setInterval(() => void guarded(), config.checkSeconds * 1000);
  timer?.unref();
  return {
    check: guarded,
    stop: () => clearInterval(timer),
  };
}
