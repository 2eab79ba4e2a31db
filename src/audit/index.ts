/**
 * The audit trail's entry point: picks the store from the configuration
 * (SQLite under dataDir, or PostgreSQL for `audit.url: postgres://…`) and
 * wraps it in the batching, never-throwing writer.
 *
 * A PostgreSQL server that is down at start-up does not stop the gateway: the
 * writer keeps the events and retries (see audit-log.ts). A SQLite file that
 * cannot be opened is a configuration error and throws here.
 *
 * For the gateway (`gateway: true`) the log also journals `received` events
 * under <dataDir>/audit-journal and anchors the chain's head (anchor.ts);
 * short-lived commands do neither, except that a command which purges anchors
 * (`anchored: true`), so the purge's checkpoint is outside the store at once.
 */
import path from "node:path";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../lib/logger.ts";
import type { Metrics } from "../lib/metrics.ts";
import { createAnchorWriter, lastAnchorIn } from "./anchor.ts";
import { createAuditLog, type AuditLog } from "./audit-log.ts";
import type { AuditStore } from "./audit-store.ts";
import { openPgStore } from "./pg-store.ts";
import { openSqliteStore } from "./sqlite-store.ts";

export type { AuditLog } from "./audit-log.ts";
export { runRetention, startRetention } from "./retention.ts";
export { recoverReceived } from "./recovery.ts";
export { checkAnchors, formatAnchorLine, parseAnchors, readAnchorFile } from "./anchor.ts";
export { PurgeRefusedError, purgeLimit } from "./purge-policy.ts";
export type * from "./audit-types.ts";

export class AuditConfigError extends Error {
  override name = "AuditConfigError";
  readonly code = "EAUDITCONFIG";
}

export function isPostgresUrl(url: string | undefined): url is string {
  return !!url && /^postgres(ql)?:\/\//i.test(url);
}

/** The store named by the configuration, not yet wrapped in a writer (verify, tools). */
export function openAuditStore(config: Config["audit"], dataDir: string): AuditStore {
  if (config.url !== undefined && !isPostgresUrl(config.url)) {
    throw new AuditConfigError("audit.url must start with postgres:// (or be absent for the embedded SQLite store)");
  }
  return isPostgresUrl(config.url)
    ? openPgStore({ url: config.url, tablePrefix: config.tablePrefix })
    : openSqliteStore({ file: path.join(dataDir, "audit.sqlite"), tablePrefix: config.tablePrefix });
}

export async function openAuditLog(options: {
  config: Config["audit"];
  dataDir: string;
  gateway: string;
  logger: Logger;
  metrics?: Pick<Metrics, "auditLag">;
  /** where events go when the store cannot take them; default <dataDir>/audit-spill; false for short-lived commands */
  spillDir?: string | false;
  /** the clock events are stamped with (tests) */
  now?: () => Date;
  /** the gateway itself: journal `received` events and anchor the chain (not for short-lived commands) */
  serving?: boolean;
  /** anchor the chain without being the gateway (a command that purges) */
  anchored?: boolean;
  /** log.subjects */
  logSubjects?: boolean;
}): Promise<AuditLog> {
  const store = openAuditStore(options.config, options.dataDir);
  try {
    await store.init();
  } catch (error) {
    options.logger.error({ err: error }, "audit: store unreachable at start; events are kept and written when it is back");
  }
  const anchor = options.config.anchor;
  return createAuditLog({
    store,
    config: options.config,
    gateway: options.gateway,
    logger: options.logger,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    spillDir: options.spillDir ?? path.join(options.dataDir, "audit-spill"),
    journalDir: options.serving ? path.join(options.dataDir, "audit-journal") : false,
    ...(options.logSubjects ? { logSubjects: true } : {}),
    ...(options.serving || options.anchored
      ? {
          anchors: {
            writer: createAnchorWriter(anchor, options.logger),
            intervalMs: anchor.intervalMinutes * 60_000,
            ...(anchor.file ? { last: await lastAnchorIn(anchor.file) } : {}),
          },
        }
      : {}),
    ...(options.now ? { now: options.now } : {}),
  });
}
