/**
 * The audit log as the gateway uses it: record() enqueues and returns at once;
 * a single background loop writes batches (every `flushMs`, or as soon as
 * `batchSize` events wait) in one transaction each.
 *
 * `received` events are also appended to a journal (`<dataDir>/audit-journal/`,
 * one write(2) each, no fsync) before they are queued, and the journal is
 * emptied once the store has them. A crash of the process (kill -9) cannot
 * lose what the kernel already has: at the next start the journal is written
 * to the store first, and the store drops the `received` events it already
 * holds (one per message, see dropKnownReceived). Together with the spool
 * scan at start (recovery.ts) this makes every acknowledged message findable,
 * even one delivered and retired from the spool just before the crash.
 * (A power cut may still lose the journal's last lines; messages still in the
 * spool are then rebuilt from their records.)
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
 * Order: what waits in memory and what waits in spill files is one list of
 * segments in recorded order, written from its head only; spill files are
 * named by a stamp that only grows (above every name found at start), so the
 * next start replays them in recorded order too. A replay's progress is kept
 * in `<file>.done` after each stored batch; a file left by a process that died
 * between the two is checked against the store first (the batch is one
 * transaction: all of it is there or none), so nothing is stored twice.
 *
 * Every event also goes to the pino stream, before it is stored, as an
 * allow-list of its fields (log-fields.ts): ids, addresses, sizes, outcomes,
 * rule names — never the text staff received, never attachment names, and
 * subjects only with `log.subjects: true`.
 *
 * The text staff received (data.text of a `sanitized` event) is taken out of
 * the hashed data: the event keeps its SHA-256 (data.textSha256), the text
 * goes to the store's texts table (or nowhere, with `audit.keepText: false`),
 * so it can have a retention of its own without breaking the chain.
 *
 * Anchors (anchor.ts): every `anchor.intervalMinutes`, at close and right after
 * a retention purge, the chain's head is written outside the store.
 *
 * A purge obeys the retention policy (purge-policy.ts): a cutoff later than
 * now − retentionDays is refused unless an override with a reason is given,
 * and the checkpoint records the policy, the override and its reason.
 *
 * afterStored(fn) calls back once everything recorded so far is stored, in
 * the batch it was going to be in anyway (flush() cuts the window short and
 * makes small batches): the queue manager lets a finished message's record go
 * only then (deliver/done-queue.ts).
 *
 * A crash loses at most the events still in memory (≤ one flush interval in
 * normal operation) — but never a `received` (the journal), and never a final
 * event whose record is still in done/ (rebuilt from the spool at start).
 * Spill files survive.
 */
import { createHash } from "node:crypto";
import { closeSync, createReadStream, existsSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../lib/logger.ts";
import type { Metrics } from "../lib/metrics.ts";
import { decodeWords } from "../sanitize/header-decode.ts";
import type { AnchorWriter } from "./anchor.ts";
import { canonicalJson, plainData, type PendingEvent } from "./audit-fns.ts";
import { PAGE_SIZE, type AuditStore } from "./audit-store.ts";
import type { Anchor, AuditEvent, AuditEventInput, AuditReader, AuditSink, VerifyResult } from "./audit-types.ts";
import { verifyStore } from "./audit-verify.ts";
import { logFieldsOf } from "./log-fields.ts";
import { checkPurgeRequest, DEFAULT_RETENTION_DAYS, reasonOf } from "./purge-policy.ts";

export interface AuditLog extends AuditSink, AuditReader {
  /** writes the events with since ≤ ts < until as JSON lines; resolves to how many. withText: each kept text as `text` beside its event */
  exportJsonl(since: Date, until: Date, out: NodeJS.WritableStream, options?: { withText?: boolean }): Promise<number>;
  /** writes the chain's head outside the store now (unless it is the last anchor already); resolves to it */
  anchor(): Promise<Anchor | undefined>;
  /** the last anchor written by this process (or read from the anchor file at start) */
  lastAnchor(): Anchor | undefined;
  /** removes kept texts older than `olderThan` (audit.textRetentionDays) */
  purgeTexts(olderThan: Date): Promise<number>;
  /** which of these messages the store has a story (summary) for */
  knownMessages(auditIds: readonly string[]): Promise<Set<string>>;
  /**
   * removes events older than `olderThan` behind a checkpoint event naming `actor`, then anchors the
   * new head; throws PurgeRefusedError for a cutoff in the future, or inside audit.retentionDays
   * without `override` (whose reason the checkpoint records)
   */
  purge(olderThan: Date, actor: string, options?: { override?: { reason: string } }): Promise<{ removed: number; checkpoint?: AuditEvent; anchor?: Anchor }>;
  /**
   * writes what is queued (waiting at most `waitMs`, default CLOSE_WAIT_MS, for a failing store,
   * then spilling it) and closes. waitMs 0: one more try, then spill (a gateway whose start failed)
   */
  close(options?: { waitMs?: number }): Promise<void>;
}

export interface AuditLogDeps {
  store: AuditStore;
  config: Pick<Config["audit"], "flushMs" | "batchSize" | "maxQueueEvents"> & Partial<Pick<Config["audit"], "keepText" | "retentionDays">>;
  gateway: string;
  logger: Logger;
  metrics?: Pick<Metrics, "auditLag">;
  /** where to spill when the queue overflows or the store is down at close; false: never (CLI) */
  spillDir: string | false;
  /** where `received` events are journaled until stored (default: none); false: never (CLI) */
  journalDir?: string | false;
  /** log.subjects: subjects may go to the operational log */
  logSubjects?: boolean;
  /** anchors of the chain's head: where they go, how often, and the last one written before this start */
  anchors?: { writer: AnchorWriter; intervalMs: number; last?: Anchor };
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
const JOURNAL_SUFFIX = ".journal";
/**
 * A journal file is emptied whenever the store has caught up with it; under a load that never
 * lets it catch up (or a store that is down) a new file is started after this many lines (about
 * 500 bytes each) and the full one removed once stored.
 */
const JOURNAL_ROTATE_LINES = 20_000;

/** A spill file (own: written by this process, its events counted in `recorded`) or a journal; fd: still being written. */
interface FileSegment {
  kind: "file";
  file: string;
  own: boolean;
  fd?: number;
  /** bytes written whole so far (a short write is cut back to this) */
  size?: number;
}
/** Events waiting in memory; stamp: the spill name they get if close() has to spill them. */
interface MemorySegment {
  kind: "memory";
  stamp: number;
  events: PendingEvent[];
}
type Segment = FileSegment | MemorySegment;

export function createAuditLog(deps: AuditLogDeps): AuditLog {
  const { store, config, gateway, logger } = deps;
  const now = deps.now ?? (() => new Date());
  /**
   * Everything recorded and not yet stored, oldest first, as one list: events waiting in memory
   * and files (spilled by this process, or left by an earlier one) in the order their events were
   * recorded. The loop only ever writes the first segment, so the store gets events in the order
   * they were recorded whichever way each one waited (R2 #7: a separate memory queue written before
   * older spill files, and spill files ordered by wall-clock names, could store a message's later
   * events before its `received`).
   */
  const segments: Segment[] = [];
  /** events waiting in memory segments (bounded by maxQueueEvents; twice that when spilling fails) */
  let inMemory = 0;
  /** events recorded by this process, and how many of them are stored */
  let recorded = 0;
  let stored = 0;
  let dropped = 0;
  let closing = false;
  let closed = false;
  let giveUpAt = Infinity;
  let failing = false;
  /** cuts the loop's idle wait or flush interval short (new events, flush, close) */
  let wake: (() => void) | undefined;
  /** cuts a retry backoff short: only flush() and close(), so a busy relay cannot turn an outage into a retry storm */
  let wakeBackoff: (() => void) | undefined;
  let waiters: { target: number; resolve: () => void }[] = [];
  /** afterStored() callbacks, in the order recorded (targets never decrease): called as `stored` passes them */
  let storedHooks: { target: number; fn: () => void }[] = [];
  /** the journal file `received` events are written to now, and full ones waiting to be stored */
  let journal: { fd: number; file: string; lines: number; last: number } | undefined;
  const fullJournals: { file: string; last: number }[] = [];
  let journalFailed = false;
  let lastAnchor: Anchor | undefined = deps.anchors?.last;
  let anchorTimer: NodeJS.Timeout | undefined;
  const keepText = config.keepText !== false;
  /** the retention policy a purge obeys and verify judges purges by (purge-policy.ts) */
  const retentionDays = config.retentionDays ?? DEFAULT_RETENTION_DAYS;

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

  /** removes what the journal holds once all of it is stored */
  const trimJournal = (): void => {
    // a dropped event counts as stored but is not: keep the journal for the next start
    if (dropped > 0) return;
    try {
      while (fullJournals.length && fullJournals[0]!.last <= stored) rmSync(fullJournals.shift()!.file, { force: true });
      if (journal && journal.lines > 0 && journal.last <= stored) {
        ftruncateSync(journal.fd, 0); // opened for appending: the next line goes to the start again
        journal.lines = 0;
      }
    } catch (error) {
      // left as it is: the next start writes it again, and the store drops what it already has
      logger.error({ err: error }, "audit: the received-journal could not be emptied");
    }
  };

  const journalWrite = (event: PendingEvent): void => {
    if (!deps.journalDir) return;
    try {
      if (!journal) {
        const file = path.join(deps.journalDir, `${String(now().getTime()).padStart(15, "0")}-${process.pid}-${recorded}${JOURNAL_SUFFIX}`);
        journal = { fd: openSync(file, "a", 0o600), file, lines: 0, last: 0 };
      }
      writeSync(journal.fd, `${JSON.stringify(event)}\n`);
      journal.lines += 1;
      journal.last = recorded + 1; // record() counts it right after
      if (journal.lines >= JOURNAL_ROTATE_LINES) {
        closeSync(journal.fd);
        fullJournals.push({ file: journal.file, last: journal.last });
        journal = undefined;
      }
      journalFailed = false;
    } catch (error) {
      // the spool scan at the next start still rebuilds the messages that are in the spool
      if (!journalFailed) logger.error({ err: error }, "audit: the received-journal cannot be written");
      journalFailed = true;
    }
  };

  /** journals and spill files of an earlier run not yet stored: flush() waits for them too */
  const earlierPending = (): boolean => segments.some((g) => g.kind === "file" && !g.own);

  /** what waited for its events to be stored goes on; never on a dropped event's word (see dropLoud) */
  const runStoredHooks = (): void => {
    if (storedHooks.length === 0) return;
    if (dropped > 0) {
      // `stored` counts a dropped event as stored: from now on it cannot be trusted, so nothing is
      // released on it; what waited stays where it is (the spool keeps it) for the next start
      storedHooks = [];
      return;
    }
    let n = 0;
    while (n < storedHooks.length && storedHooks[n]!.target <= stored) n += 1;
    if (n === 0) return;
    for (const h of storedHooks.splice(0, n)) {
      try {
        h.fn();
      } catch (error) {
        logger.error({ err: error }, "audit: an after-stored step failed");
      }
    }
  };

  const settle = (): void => {
    setLag();
    trimJournal();
    runStoredHooks();
    if (waiters.length === 0 || earlierPending()) return;
    const done = waiters.filter((w) => w.target <= stored);
    waiters = waiters.filter((w) => w.target > stored);
    for (const w of done) w.resolve();
  };

  if (deps.journalDir) {
    // journals of an earlier run that did not end cleanly: written first, before any spill file
    // (a journal holds only `received` events, each before its message's later events)
    mkdirSync(deps.journalDir, { recursive: true, mode: 0o700 });
    const names = readdirSync(deps.journalDir).filter((n) => n.endsWith(JOURNAL_SUFFIX)).sort();
    for (const name of names) segments.push({ kind: "file", file: path.join(deps.journalDir, name), own: false });
    if (names.length) logger.warn({ files: names.length }, "audit: received-journal of an unclean stop found; its events are written to the store first");
  }
  /** the last spill name stamp used: names only ever grow, whatever the clock does (see spillName) */
  let lastStamp = 0;
  if (deps.spillDir) {
    mkdirSync(deps.spillDir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(deps.spillDir).filter((n) => n.endsWith(SPILL_SUFFIX)).sort()) {
      segments.push({ kind: "file", file: path.join(deps.spillDir, name), own: false });
      lastStamp = Math.max(lastStamp, Number(/^\d+/.exec(name)?.[0] ?? 0));
    }
    if (segments.length) logger.warn({ files: segments.length }, "audit: spill files from an earlier run found; they are written to the store first");
  }

  /**
   * A spill file's name stamp, taken when its segment begins: milliseconds of the clock, but always
   * above every name already in the directory and every stamp taken before, so that names sort in the
   * order the segments were recorded in — also when the clock steps back (NTP) or two segments begin
   * in the same millisecond. The next start replays the files in name order.
   */
  const nextStamp = (): number => (lastStamp = Math.max(now().getTime(), lastStamp + 1));
  const spillName = (stamp: number): string => path.join(deps.spillDir as string, `${String(stamp).padStart(15, "0")}-${process.pid}${SPILL_SUFFIX}`);

  /**
   * Appends one event to an open spill segment; false when it could not be written whole (a short
   * write is cut back off, so a later line cannot be glued onto half of this one).
   */
  const appendLine = (segment: FileSegment & { fd: number }, event: PendingEvent): boolean => {
    const line = Buffer.from(`${JSON.stringify(event)}\n`, "utf8");
    try {
      const written = writeSync(segment.fd, line);
      if (written === line.length) {
        segment.size = (segment.size ?? 0) + written;
        return true;
      }
      ftruncateSync(segment.fd, segment.size ?? 0);
    } catch (error) {
      // not lost yet: the caller keeps it in memory after this file (dropped, and said so, only past twice the bound)
      logger.error({ err: error, file: segment.file }, "audit: cannot write the spill file");
    }
    return false;
  };

  /** Starts a spill file as the newest segment (undefined: it cannot be created). */
  const openSpill = (stamp = nextStamp()): (FileSegment & { fd: number }) | undefined => {
    if (!deps.spillDir) return undefined;
    const file = spillName(stamp);
    try {
      return { kind: "file" as const, file, own: true, fd: openSync(file, "a", 0o600), size: 0 };
    } catch (error) {
      logger.fatal({ err: error, file }, "audit: cannot create a spill file");
      return undefined;
    }
  };

  /** Ends a spill file: what is written stays its segment's, later events go after it. */
  const closeFile = (segment: FileSegment): void => {
    if (segment.fd === undefined) return;
    try {
      closeSync(segment.fd);
    } catch (error) {
      logger.error({ err: error, file: segment.file }, "audit: closing a spill file failed");
    }
    delete segment.fd;
  };

  const pushMemory = (event: PendingEvent): void => {
    const tail = segments.at(-1);
    if (tail?.kind === "memory") tail.events.push(event);
    else segments.push({ kind: "memory", stamp: nextStamp(), events: [event] });
    inMemory += 1;
  };

  /** Keeps one event behind everything recorded before it; false: it could be kept nowhere. */
  const keep = (event: PendingEvent): boolean => {
    const tail = segments.at(-1);
    if (tail?.kind === "file" && tail.fd !== undefined) {
      if (appendLine(tail as FileSegment & { fd: number }, event)) return true;
      closeFile(tail); // the file ends here; this event and the next wait in memory after it
    } else if (inMemory >= config.maxQueueEvents) {
      const file = openSpill();
      if (file) {
        logger.error({ file: file.file, queued: inMemory }, "audit: in-memory queue full, spilling events to disk until the store catches up");
        segments.push(file);
        if (appendLine(file, event)) return true;
        closeFile(file);
      }
    }
    if (inMemory >= config.maxQueueEvents * 2) return false;
    pushMemory(event);
    return true;
  };

  /** An event recorded after close(): a spill file of its own, for the next start. */
  const spillAlone = (event: PendingEvent): boolean => {
    const file = openSpill();
    if (!file) return false;
    const ok = appendLine(file, event);
    closeFile(file);
    return ok;
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

  /** Whether the store holds this very event (same instant, origin, type, message, actor and data). */
  const isStored = async (event: PendingEvent): Promise<boolean> => {
    const since = new Date(event.ts);
    if (!Number.isFinite(since.getTime())) return false;
    const until = new Date(since.getTime() + 1);
    const data = canonicalJson(event.data);
    let after: { ts: string; seq: number } | undefined;
    for (;;) {
      const page = await store.eventsByTime(since, until, after, PAGE_SIZE);
      for (const e of page) {
        if (e.gateway === event.gateway && e.type === event.type && (e.auditId ?? null) === (event.auditId ?? null) && (e.actor ?? null) === (event.actor ?? null) && canonicalJson(e.data) === data) {
          return true;
        }
      }
      if (page.length < PAGE_SIZE) return false;
      after = { ts: page[page.length - 1]!.ts, seq: page[page.length - 1]!.seq };
    }
  };

  /**
   * How many of these events, from the first, the store already holds: a process that died after
   * a replay batch was stored and before its progress was written leaves exactly such a prefix (one
   * transaction per batch: all of it or none). A `received` proves nothing either way and costs
   * nothing to send again (the store drops a second one), so only the other events are looked up.
   */
  const storedPrefix = async (events: readonly PendingEvent[]): Promise<number> => {
    let prefix = 0;
    for (let i = 0; i < events.length; i++) {
      if (events[i]!.type === "received") continue;
      if (!(await isStored(events[i]!))) break;
      prefix = i + 1;
    }
    return prefix;
  };

  const replay = async (item: FileSegment): Promise<void> => {
    const doneFile = `${item.file}.done`;
    /** lines of the file already handled (stored, or unreadable and skipped) */
    let done = existsSync(doneFile) ? Number(readFileSync(doneFile, "utf8").trim()) || 0 : 0;
    // a file of an earlier run: that run may have died between storing a batch and writing `done`
    let mayBeStored = !item.own;
    let line = 0;
    let batch: { line: number; event: PendingEvent }[] = [];
    const write = async (): Promise<void> => {
      const last = batch[batch.length - 1]!.line;
      let events = batch.map((b) => b.event);
      if (mayBeStored) {
        const skip = await storedPrefix(events);
        if (skip > 0) logger.warn({ file: item.file, events: skip }, "audit: spilled events already stored before a crash are not stored again");
        mayBeStored = skip === events.length; // the stored part may go on into the next batch
        events = events.slice(skip);
      }
      if (events.length) await appendWithRetry(events);
      done = last;
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
        batch.push({ line, event: JSON.parse(text) as PendingEvent });
      } catch {
        // a torn last line from a crash while spilling: the event is in the pino stream
        logger.error({ file: item.file, line }, "audit: unreadable spill line skipped");
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
      const head = segments[0];
      if (head?.kind === "file") {
        // everything before it is stored: an open spill file ends here, later events wait after it
        closeFile(head);
        await replay(head);
        segments.shift();
        settle();
        continue;
      }
      if (head && head.events.length > 0) {
        // the newest segment may still grow: wait for a fuller batch (unless someone waits or we close)
        if (segments.length === 1 && head.events.length < config.batchSize && !closing && waiters.length === 0) {
          await sleep(config.flushMs);
        }
        const batch = head.events.slice(0, config.batchSize);
        await appendWithRetry(batch);
        head.events.splice(0, batch.length);
        inMemory -= batch.length;
        stored += batch.length;
        settle();
        continue;
      }
      if (head && segments.length > 1) {
        segments.shift(); // an emptied memory segment with newer ones behind it
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
      const data = withDecodedHeaders(input.type, plainData(input.data));
      // the text staff received: out of the hashed data, into the texts table (or nowhere)
      let text: string | undefined;
      if (typeof data.text === "string") {
        text = data.text;
        data.textSha256 = createHash("sha256").update(text, "utf8").digest("hex");
        delete data.text;
      }
      const event: PendingEvent = {
        ts: now().toISOString(),
        gateway,
        type: input.type,
        ...(input.auditId !== undefined ? { auditId: input.auditId } : {}),
        ...(input.actor !== undefined ? { actor: input.actor } : {}),
        data,
        ...(text !== undefined && keepText ? { text } : {}),
      };
      logger.info({ audit: logFieldsOf(event, { subjects: deps.logSubjects }) }, `audit ${event.type}`);
      if (event.type === "received") journalWrite(event);
      recorded += 1;
      if (closed) {
        logger.error({ type: event.type }, "audit: event recorded after close; spilled for the next start");
        if (!spillAlone(event)) dropLoud(event);
      } else if (!keep(event)) {
        dropLoud(event);
      }
      setLag();
      if (inMemory >= config.batchSize) signal();
      else if (inMemory === 1 && wake) signal();
    } catch (error) {
      logger.error({ err: error }, "audit: record failed");
    }
  };

  const dropLoud = (event: PendingEvent): void => {
    dropped += 1;
    stored += 1; // nobody waits for it any more
    // the log's allow-list even here: an operational log never carries mail content
    logger.fatal(
      { audit: logFieldsOf(event, { subjects: deps.logSubjects }), dropped },
      "audit: EVENT DROPPED (queue full and spill impossible); only what this log line names is left of it",
    );
  };

  const anchorNow = async (): Promise<Anchor | undefined> => {
    if (!deps.anchors) return undefined;
    const head = await store.head();
    if (!head) return undefined;
    if (lastAnchor && lastAnchor.seq === head.seq && lastAnchor.hash === head.hash) return lastAnchor;
    const anchor: Anchor = { seq: head.seq, hash: head.hash, ts: now().toISOString(), gateway };
    await deps.anchors.writer.write(anchor);
    lastAnchor = anchor;
    return anchor;
  };
  if (deps.anchors) {
    anchorTimer = setInterval(() => {
      anchorNow().catch((error: unknown) => logger.error({ err: error }, "audit: the chain's head could not be read for an anchor"));
    }, deps.anchors.intervalMs);
    anchorTimer.unref();
  }

  return {
    record,
    flush() {
      if (stored >= recorded && !earlierPending()) return Promise.resolve();
      return new Promise<void>((resolve) => {
        waiters.push({ target: recorded, resolve });
        signal();
        signalBackoff();
      });
    },
    afterStored(fn) {
      if (closed || dropped > 0) return;
      if (stored >= recorded) queueMicrotask(fn);
      else storedHooks.push({ target: recorded, fn });
    },
    search: (q) => store.search(q),
    spread: (q) => store.spread(q),
    eventsBetween: (since, until, after, limit) => store.eventsByTime(since, until, after, limit),
    story: (id) => store.story(id),
    dailyCounts: (since, until) => store.dailyCounts(since, until),
    verify: (options): Promise<VerifyResult> =>
      verifyStore(store, {
        ...(options?.anchors ? { anchors: options.anchors } : {}),
        ...(lastAnchor ? { lastAnchor } : {}),
        retentionDays,
        now: now(),
      }),
    anchor: anchorNow,
    lastAnchor: () => lastAnchor,
    purgeTexts: (olderThan) => store.purgeTexts(olderThan),
    async knownMessages(auditIds) {
      const known = new Set<string>();
      for (let i = 0; i < auditIds.length; i += PAGE_SIZE) {
        for (const s of await store.summaries(auditIds.slice(i, i + PAGE_SIZE))) known.add(s.auditId);
      }
      return known;
    },
    async exportJsonl(since, until, out, options = {}) {
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
          // texts only when asked for (they are what staff read); events written before texts had a
          // table of their own carry theirs in data.text, which is withheld the same way
          const texts = options.withText ? await store.texts(page.map((e) => e.seq)) : new Map<number, string>();
          const lines = page.map((e) => {
            const inline = typeof e.data.text === "string" ? e.data.text : undefined;
            const { text: _inline, ...data } = e.data;
            const kept = texts.get(e.seq) ?? inline;
            if (options.withText) return JSON.stringify(kept !== undefined ? { ...e, data, text: kept } : { ...e, data });
            return JSON.stringify(inline !== undefined ? { ...e, data, textWithheld: true } : e);
          });
          // one write per page: fewer syscalls, and backpressure is honoured per page
          const text = lines.join("\n") + "\n";
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
    async purge(olderThan, actor, options = {}) {
      const override = options.override ? { reason: reasonOf(options.override.reason) } : undefined;
      checkPurgeRequest(olderThan, now(), retentionDays, override);
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
          retentionDays,
          ...(override ? { override } : {}),
        },
      }));
      if (!result.checkpoint) return { removed: result.removed };
      logger.info({ audit: result.checkpoint }, "audit checkpoint");
      // anchored at once: from now on, removing the checkpoint (or what follows it) shows against the anchor
      const anchor = await anchorNow().catch((error: unknown) => {
        logger.error({ err: error }, "audit: no anchor after the purge (the store's head could not be read)");
        return undefined;
      });
      return { removed: result.removed, checkpoint: result.checkpoint, ...(anchor ? { anchor } : {}) };
    },
    async close(options = {}) {
      if (closed) return;
      closing = true;
      giveUpAt = Date.now() + (options.waitMs ?? CLOSE_WAIT_MS);
      signal();
      signalBackoff();
      await running;
      if (anchorTimer) clearInterval(anchorTimer);
      const unstored = segments.some((g) => g.kind === "file" || g.events.length > 0);
      // the head at shutdown: the next start (or an attacker in between) cannot move it unseen
      if (!unstored && !failing) {
        await anchorNow().catch((error: unknown) => logger.error({ err: error }, "audit: no anchor at shutdown (the store's head could not be read)"));
      }
      let lost = 0;
      let spilled = 0;
      // what the store did not take stays in order for the next start: files as they are, each memory
      // segment spilled under the stamp it began with (between the files before and after it)
      for (const segment of segments.splice(0)) {
        if (segment.kind === "file") {
          closeFile(segment);
          continue;
        }
        if (segment.events.length === 0) continue;
        const file = openSpill(segment.stamp);
        for (const e of segment.events) {
          if (file && appendLine(file, e)) spilled += 1;
          else lost += 1;
        }
        if (file) closeFile(file);
        inMemory -= segment.events.length;
      }
      if (lost > 0) logger.fatal({ lost }, "audit: store unreachable at close and no spill directory: events only in the log stream");
      else if (spilled > 0) logger.error({ spilled }, "audit: store unreachable at close; events spilled to disk, written at next start");
      closed = true;
      for (const w of waiters) w.resolve();
      waiters = [];
      // what this process could not store is not stored: what waited for it is left for the next start
      storedHooks = [];
      if (journal) {
        closeSync(journal.fd);
        // all stored: nothing to replay. Otherwise the next start writes it (duplicates are dropped).
        if (journal.last <= stored && dropped === 0) rmSync(journal.file, { force: true });
        journal = undefined;
      }
      trimJournal();
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
