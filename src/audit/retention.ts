/**
 * Scheduled retention for a running gateway: once shortly after start and then
 * every day, audit events older than `audit.retentionDays` are purged behind a
 * checkpoint, the texts staff received older than `audit.textRetentionDays`
 * are removed (their SHA-256 stays in the chain), and retained originals older
 * than `originals.retentionDays` are removed. The composition root starts it; `mumuka audit purge` and
 * `mumuka original purge` do the same by hand.
 *
 * A failure is logged and retried at the next run; it never stops the gateway.
 * The timers are unref'd, so they never keep a process alive.
 */
import type { Config } from "../config/schema.ts";
import type { Logger } from "../lib/logger.ts";
import type { AuditLog } from "./audit-log.ts";

const DAY_MS = 24 * 3600 * 1000;
/** the first run waits a little: start-up (spool recovery, first deliveries) comes first */
const FIRST_RUN_DELAY_MS = 60_000;

export interface RetentionDeps {
  audit: Pick<AuditLog, "purge"> & Partial<Pick<AuditLog, "purgeTexts">>;
  originals?: { purge(now: Date): Promise<number> };
  config: { audit: Pick<Config["audit"], "retentionDays"> & Partial<Pick<Config["audit"], "textRetentionDays">> };
  logger: Logger;
  now?: () => Date;
  /** test hooks */
  firstRunDelayMs?: number;
  intervalMs?: number;
}

/** Runs one retention pass; resolves to what was removed. Never throws. */
export async function runRetention(deps: RetentionDeps): Promise<{ events: number; texts: number; originals: number }> {
  const now = (deps.now ?? (() => new Date()))();
  const out = { events: 0, texts: 0, originals: 0 };
  try {
    out.events = (await deps.audit.purge(new Date(now.getTime() - deps.config.audit.retentionDays * DAY_MS), "gateway")).removed;
  } catch (error) {
    deps.logger.error({ err: error }, "retention: purging old audit events failed; retried at the next run");
  }
  const textDays = deps.config.audit.textRetentionDays;
  if (deps.audit.purgeTexts && textDays !== undefined) {
    try {
      out.texts = await deps.audit.purgeTexts(new Date(now.getTime() - textDays * DAY_MS));
    } catch (error) {
      deps.logger.error({ err: error }, "retention: removing old staff texts failed; retried at the next run");
    }
  }
  try {
    if (deps.originals) out.originals = await deps.originals.purge(now);
  } catch (error) {
    deps.logger.error({ err: error }, "retention: purging old originals failed; retried at the next run");
  }
  if (out.events || out.texts || out.originals) deps.logger.info(out, "retention: removed what was past its retention");
  return out;
}

/** Starts the daily schedule; call the returned function to stop it. */
export function startRetention(deps: RetentionDeps): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (ms: number): void => {
    timer = setTimeout(() => {
      void runRetention(deps).finally(() => {
        if (!stopped) schedule(deps.intervalMs ?? DAY_MS);
      });
    }, ms);
    timer.unref();
  };
  schedule(deps.firstRunDelayMs ?? FIRST_RUN_DELAY_MS);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
