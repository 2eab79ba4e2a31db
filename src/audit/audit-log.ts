/**
 * The audit log as the gateway uses it: record() enqueues and returns at once;
 * a single background loop writes batches (every `flushMs`, or as soon as
 * `batchSize` events wait) in one transaction each.
 *
 * When the store fails (database down, disk full, lock timeout) nothing is
 * thrown at the relay: the batch stays queued, the loop retries with
 * exponential backoff, every failure is logged at error level and the lag is
 * exported as the `mumuka_audit_lag_events` gauge. Memory is bounded: past
 * `maxQueueEvents` new events are appended to a local spill file
 * (`<dataDir>/audit-spill/*.jsonl`, mode 0600) and written to the store, in
 * order, once it is back — also after a restart. Only if the spill file cannot
 * be written either is an event dropped, counted and logged at fatal level.
 *
 * Every event also goes to the pino stream (`{audit: event}`), before it is
 * stored, so log shipping sees it even if the store never recovers.
 *
 * A crash loses at most the events still in memory (≤ one flush interval in
 * normal operation); they are in the pino stream. Spill files survive.
 */
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../lib/logger.ts";
import type { Metrics } from "../lib/metrics.ts";
import { decodeWords } from "../sanitize/header-decode.ts";
import { plainData, type PendingEvent } from "./audit-fns.ts";
import { PAGE_SIZE, type AuditStore } from "./audit-store.ts";
import type { AuditEventInput, AuditReader, AuditSink, VerifyResult } from "./audit-types.ts";
import { verifyStore } from "./audit-verify.ts";

export interface AuditLog extends AuditSink, AuditReader {
  /** writes the events with since ≤ ts < until as JSON lines; resolves to how many */
  exportJsonl(since: Date, until: Date, out: NodeJS.WritableStream): Promise<number>;
  /** removes events older than `olderThan` behind a checkpoint event naming `actor` */
  purge(olderThan: Date, actor: string): Promise<{ removed: number }>;
  /** writes what is queued (waiting at most CLOSE_WAIT_MS for a failing store, then spilling it) and closes */
  close(): Promise<void>;
}

export interface AuditLogDeps {
  store: AuditStore;
  config: Pick<Config["audit"], "flushMs" | "batchSize" | "maxQueueEvents">;
  gateway: string;
  logger: Logger;
  metrics?: Pick<Metrics, "auditLag">;
  /** where to spill when the queue overflows or the store is down at close; false: never (CLI) */
  spillDir: string | false;
  now?: () => Date;
}

/** First retry after a failed write; doubles up to BACKOFF_MAX_MS. */
const BACKOFF_MIN_MS = 100;
/** A failing store is retried at least every 30 s, so recovery is noticed soon. */
const BACKOFF_MAX_MS = 30_000;
/** How long close() keeps retrying a failing store before spilling what is left. */
const CLOSE_WAIT_MS = 5_000;
/** A spill file whose replay progress is kept in `<file>.done` (lines already stored). */
const SPILL_SUFFIX = ".jsonl";

export function createAuditLog(deps: AuditLogDeps): AuditLog {
  const { store, config, gateway, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const queue: PendingEvent[] = [];
  /** events recorded by this process, and how many of them are stored */
  let recorded = 0;
  let stored = 0;
  let dropped = 0;
  let spillFd: number | undefined;
  let spillFile: string | undefined;
  /** spill files to write to the store, oldest first; own: written by this process (counted in `recorded`) */
  const replays: { file: string; own: boolean }[] = [];
  let closing = false;
  let closed = false;
  let giveUpAt = Infinity;
  let failing = false;
  /** cuts the loop's idle wait or flush interval short (new events, flush, close) */
  let wake: (() => void) | undefined;
  /** cuts a retry backoff short: only flush() and close(), so a busy relay cannot turn an outage into a retry storm */
  let wakeBackoff: (() => void) | undefined;
  let waiters: { target: number; resolve: () => void }[] = [];

  const setLag = (): void => deps.metrics?.auditLag.set(recorded - stored);
  const signal = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const sleep = (ms: number, kind: "idle" | "backoff" = "idle"): Promise<void> =>
    new Promise((resolve) => {
      const stop = (): void => {
        clearTimeout(timer);
        if (kind === "idle") wake = undefined;
        else wakeBackoff = undefined;
        resolve();
      };
      const timer = setTimeout(stop, ms);
      if (kind === "idle") wake = stop;
      else wakeBackoff = stop;
    });
  const signalBackoff = (): void => {
    const w = wakeBackoff;
    wakeBackoff = undefined;
    w?.();
  };

  const settle = (): void => {
    setLag();
    if (waiters.length === 0) return;
    const done = waiters.filter((w) => w.target <= stored);
    waiters = waiters.filter((w) => w.target > stored);
    for (const w of done) w.resolve();
  };

  if (deps.spillDir) {
    mkdirSync(deps.spillDir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(deps.spillDir).filter((n) => n.endsWith(SPILL_SUFFIX)).sort()) {
      replays.push({ file: path.join(deps.spillDir, name), own: false });
    }
    if (replays.length) logger.warn({ files: replays.length }, "audit: spill files from an earlier run found; they are written to the store first");
  }

  const spill = (event: PendingEvent, stampMs = now().getTime()): boolean => {
    if (!deps.spillDir) return false;
    try {
      if (spillFd === undefined) {
        // names sort by the time of their first event: replay keeps the order events were recorded in
        spillFile = path.join(deps.spillDir, `${String(stampMs).padStart(15, "0")}-${process.pid}-${recorded}${SPILL_SUFFIX}`);
        spillFd = openSync(spillFile, "a", 0o600);
        logger.error({ file: spillFile, queued: queue.length }, "audit: in-memory queue full, spilling events to disk until the store catches up");
      }
      writeSync(spillFd, `${JSON.stringify(event)}\n`);
      return true;
    } catch (error) {
      logger.fatal({ err: error }, "audit: cannot write the spill file either");
      return false;
    }
  };

  const closeSpill = (): void => {
    if (spillFd === undefined || !spillFile) return;
    closeSync(spillFd);
    replays.push({ file: spillFile, own: true });
    spillFd = undefined;
    spillFile = undefined;
  };

  /** Appends one batch, retrying until it is stored (or close() gives up: then it throws). */
  const appendWithRetry = async (batch: PendingEvent[]): Promise<void> => {
    let backoff = BACKOFF_MIN_MS;
    for (;;) {
      try {
        await store.append(batch);
        if (failing) logger.warn({ lag: recorded - stored }, "audit: store reachable again, catching up");
        failing = false;
        return;
      } catch (error) {
        failing = true;
        logger.error(
          { err: error, lag: recorded - stored, retryInMs: backoff },
          "audit: store write FAILED; events kept (mail is unaffected), retrying",
        );
        if (Date.now() + backoff > giveUpAt) throw error;
        await sleep(backoff, "backoff");
        backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      }
    }
  };

  const replay = async (item: { file: string; own: boolean }): Promise<void> => {
    const doneFile = `${item.file}.done`;
    let done = existsSync(doneFile) ? Number(readFileSync(doneFile, "utf8").trim()) || 0 : 0;
    let line = 0;
    let batch: PendingEvent[] = [];
    const write = async (): Promise<void> => {
      await appendWithRetry(batch);
      done += batch.length;
      if (item.own) stored += batch.length;
      // progress survives a crash mid-replay, so a restart does not store events twice
      writeFileSync(doneFile, String(done), { mode: 0o600 });
      batch = [];
    };
    const lines = createInterface({ input: createReadStream(item.file, "utf8"), crlfDelay: Infinity });
    for await (const text of lines) {
      line += 1;
      if (line <= done || text.trim() === "") continue;
      try {
        batch.push(JSON.parse(text) as PendingEvent);
      } catch {
        // a torn last line from a crash while spilling: the event is in the pino stream
        logger.error({ file: item.file, line }, "audit: unreadable spill line skipped");
        done += 1;
      }
      if (batch.length >= config.batchSize) {
        await write();
        setLag(); // waiters are released when the whole file is stored and removed
      }
    }
    if (batch.length) await write();
    rmSync(item.file, { force: true });
    rmSync(doneFile, { force: true });
    settle();
  };

  const loop = async (): Promise<void> => {
    for (;;) {
      const next = replays[0];
      if (next) {
        await replay(next);
        replays.shift();
        continue;
      }
      if (queue.length > 0) {
        if (queue.length < config.batchSize && !closing && waiters.length === 0) {
          await sleep(config.flushMs);
        }
        const batch = queue.slice(0, config.batchSize);
        await appendWithRetry(batch);
        queue.splice(0, batch.length);
        stored += batch.length;
        settle();
        continue;
      }
      if (spillFd !== undefined) {
        closeSpill();
        continue;
      }
      if (closing) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  };

  const running: Promise<void> = loop().catch((error: unknown) => {
    // only close() giving up on a failing store ends up here
    logger.error({ err: error }, "audit: writer stopped");
  });

  const record = (input: AuditEventInput): void => {
    try {
      const event: PendingEvent = {
        ts: now().toISOString(),
        gateway,
        type: input.type,
        ...(input.auditId !== undefined ? { auditId: input.auditId } : {}),
        ...(input.actor !== undefined ? { actor: input.actor } : {}),
        data: withDecodedHeaders(input.type, plainData(input.data)),
      };
      logger.info({ audit: event }, `audit ${event.type}`);
      recorded += 1;
      if (closed) {
        logger.error({ type: event.type }, "audit: event recorded after close; spilled for the next start");
        if (!spill(event)) dropLoud(event);
        else closeSpill();
      } else if (spillFd !== undefined || queue.length >= config.maxQueueEvents) {
        if (!spill(event)) {
          if (queue.length < config.maxQueueEvents * 2) queue.push(event);
          else dropLoud(event);
        }
      } else {
        queue.push(event);
      }
      setLag();
      if (queue.length >= config.batchSize) signal();
      else if (queue.length === 1 && wake) signal();
    } catch (error) {
      logger.error({ err: error }, "audit: record failed");
    }
  };

  const dropLoud = (event: PendingEvent): void => {
    dropped += 1;
    stored += 1; // nobody waits for it any more
    logger.fatal({ audit: event, dropped }, "audit: EVENT DROPPED (queue full and spill impossible); it is only in this log line");
  };

  return {
    record,
    flush() {
      if (stored >= recorded) return Promise.resolve();
      return new Promise<void>((resolve) => {
        waiters.push({ target: recorded, resolve });
        signal();
        signalBackoff();
      });
    },
    search: (q) => store.search(q),
    story: (id) => store.story(id),
    dailyCounts: (since, until) => store.dailyCounts(since, until),
    verify: (): Promise<VerifyResult> => verifyStore(store),
    async exportJsonl(since, until, out) {
      let after = 0;
      let count = 0;
      let failed: Error | undefined;
      const onError = (error: Error): void => {
        failed = error;
      };
      out.on("error", onError);
      try {
        for (;;) {
          const page = await store.eventsAfter(after, PAGE_SIZE, { since, until });
          if (page.length === 0) break;
          // one write per page: fewer syscalls, and backpressure is honoured per page
          const text = page.map((e) => JSON.stringify(e)).join("\n") + "\n";
          if (!out.write(text)) {
            await new Promise<void>((resolve) => {
              const done = (): void => {
                out.off("drain", done);
                out.off("error", done);
                resolve();
              };
              out.once("drain", done);
              out.once("error", done);
            });
          }
          if (failed) throw failed;
          count += page.length;
          after = page[page.length - 1]!.seq;
        }
        return count;
      } finally {
        out.off("error", onError);
      }
    },
    async purge(olderThan, actor) {
      const result = await store.purge(olderThan, (last, removed) => ({
        ts: now().toISOString(),
        gateway,
        type: "checkpoint",
        actor,
        data: {
          purgedThroughSeq: last.seq,
          purgedThroughTs: last.ts,
          anchorHash: last.hash,
          removed,
          before: olderThan.toISOString(),
        },
      }));
      if (result.checkpoint) logger.info({ audit: result.checkpoint }, "audit checkpoint");
      return { removed: result.removed };
    },
    async close() {
      if (closed) return;
      closing = true;
      giveUpAt = Date.now() + CLOSE_WAIT_MS;
      signal();
      signalBackoff();
      await running;
      closeSpill();
      let lost = 0;
      if (queue.length > 0) {
        const left = queue.splice(0);
        // the queue is older than any open spill file: its file is named after its first event
        const stamp = Date.parse(left[0]!.ts);
        let spilled = 0;
        for (const e of left) if (spill(e, stamp)) spilled += 1;
        closeSpill();
        lost = left.length - spilled;
        if (lost > 0) logger.fatal({ lost }, "audit: store unreachable at close and no spill directory: events only in the log stream");
        else logger.error({ spilled }, "audit: store unreachable at close; events spilled to disk, written at next start");
      }
      closed = true;
      for (const w of waiters) w.resolve();
      waiters = [];
      await store.close();
      if (lost > 0) throw new Error(`audit store unreachable: ${lost} audit event(s) could not be stored`);
    },
  };
}

/**
 * A received event may carry the Subject and From exactly as on the wire
 * (RFC 2047 encoded words, e.g. =?UTF-8?B?…?=). Their decoded text is added
 * beside them (subjectDecoded, headerFromDecoded) so the message can be found
 * by what staff see before the sanitizer has run; the raw values stay as the
 * evidence. Decoded here, once, into the event itself, so that verify's
 * recomputation of the summary never depends on a decoder's version.
 */
function withDecodedHeaders(type: string, data: Record<string, unknown>): Record<string, unknown> {
  if (type !== "received") return data;
  const out = { ...data };
  for (const [raw, decoded] of [
    ["subject", "subjectDecoded"],
    ["headerFrom", "headerFromDecoded"],
  ] as const) {
    const value = data[raw];
    if (typeof value !== "string" || !value.includes("=?") || data[decoded] !== undefined) continue;
    try {
      const text = decodeWords(value);
      if (text !== value) out[decoded] = text;
    } catch {
      // undecodable: searchable by its raw form only
    }
  }
  return out;
}
