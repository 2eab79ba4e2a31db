/**
 * The spool: the durable queue between receiving and delivering. Its state is
 * visible on disk, one directory per queue state (Postfix style):
 *
 *   <dataDir>/spool/
 *     incoming/ID     received, waiting for the queue manager (also: retried / released)
 *     active/ID       being sanitized or delivered by the running gateway
 *     deferred/ID     waiting for its next attempt (meta/ID.json says when)
 *     held/ID         waiting for an administrator (meta/ID.json says why)
 *     corrupt/ID      inconsistent files, kept for inspection, never deleted silently
 *     done/ID         finished (delivered, bounced, rejected, deleted): leaves the spool once the audit
 *                     store has its final events (deliver/done-queue.ts; not a queue state an
 *                     administrator sees or acts on)
 *     done-journal/   what each message in done/ ended with, the proof its final events are
 *                     rebuilt from after a crash (done-journal.ts)
 *     meta/ID.json    mutable delivery state (recipients left, attempts, errors)
 *     out/ID.eml      the sanitized message of one that outlived its first attempt (deferred, held, failed)
 *
 * A state change is one rename() of the record file, so a concurrent
 * administrator (CLI) and the gateway resolve races by who renames first; the
 * loser gets ENOENT and backs off. Ownership: the gateway moves files out of
 * incoming/, active/ and deferred/; an administrator first claims a message by
 * renaming it into held/ and only then edits its meta.
 *
 * SECURITY: file names are audit ids, checked with isAuditId() before any
 * path is built from a caller's string. Message bytes are never interpreted here.
 * Crash state: at most a `.tmp-*` file (never acknowledged), messages left in
 * active/, and meta/output files of a message whose record was just removed;
 * `recover()` removes the first and last and moves the others back to incoming/.
 * Records in done/ are settled by deliver/final-recovery.ts, not here.
 */
import { createHash } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { isAuditId } from "../lib/ids.ts";
import type { QueueState } from "./queue-types.ts";
import { createDirSyncer, durableRename, isTempName, tempName, writeFileDurable, type DirSyncer, type OpenFile } from "./durable.ts";
import { encodeRecordHead, encodeRecordTrailer, readRecordInfo, type RecordInfo, type SpoolEnvelope } from "./record.ts";

/** receive-side write batching: bounded memory per session (64 KiB), few system calls per message */
const WRITE_BATCH_BYTES = 64 * 1024;

/** the queue states an administrator sees and acts on */
export const STATES: readonly QueueState[] = ["incoming", "active", "deferred", "held", "corrupt"];
/** every directory a record can be in: the queue states, and done/ (finished, its final audit events not yet stored) */
export type SpoolState = QueueState | "done";
const ALL_STATES: readonly SpoolState[] = [...STATES, "done"];

/** A recipient the downstream server refused for good (5xx), or that expired. */
export interface FailedRecipient {
  rcpt: string;
  /** the server's reply, or our reason ("expired after 5 days") */
  reply: string;
  code?: number;
  at: string;
}

/** The mutable part of a queued message; absent file = fresh message, nothing attempted yet. */
export interface DeliveryMeta {
  v: 1;
  /** recipients still to be delivered */
  pending: string[];
  delivered: string[];
  failed: FailedRecipient[];
  attempts: number;
  /** start of the queue lifetime (maxQueueDays); reset by an administrator's release */
  queuedAt: string;
  nextAttemptAt?: string;
  lastError?: string;
  holdReason?: string;
  /** released by an administrator: a rule's "hold" no longer applies */
  released?: boolean;
  /** the sanitized output in out/ID.eml */
  sanitized?: { sha256: string; size: number };
  /** failed recipients already covered by a DSN (so a retry does not send another) */
  dsnSentFor?: string[];
}

export function freshMeta(envelope: SpoolEnvelope): DeliveryMeta {
  return { v: 1, pending: [...envelope.rcptTo], delivered: [], failed: [], attempts: 0, queuedAt: envelope.receivedAt };
}

export class SpoolError extends Error {
  override name = "SpoolError";
  readonly code: string;
  constructor(message: string, code = "ESPOOL") {
    super(message);
    this.code = code;
  }
}

export interface RemoveOptions {
  noMeta?: boolean;
  noOut?: boolean;
  noRecord?: boolean;
}

/** A message being received: bytes go straight to an exclusive-create temp file. */
export interface SpoolWriter {
  write(chunk: Buffer): Promise<void>;
  /** fsync, rename into incoming/, fsync the directory; resolves when the message is durable */
  commit(): Promise<{ size: number; sha256: string; info: RecordInfo }>;
  /** removes the temp file (client aborted, too large, …) */
  abort(): Promise<void>;
}

export interface Spool {
  readonly root: string;
  dir(state: SpoolState): string;
  recordPath(state: SpoolState, id: string): string;
  outPath(id: string): string;
  /** starts writing a new message; the envelope's id becomes its file name */
  create(envelope: SpoolEnvelope): Promise<SpoolWriter>;
  /** atomic state change; false when the message was not in `from` (someone else moved it) */
  move(id: string, from: SpoolState, to: SpoolState, durable?: boolean): Promise<boolean>;
  /** where the message is now in the queue, or undefined (also when it is finished, in done/) */
  locate(id: string): Promise<QueueState | undefined>;
  list(state: SpoolState): Promise<string[]>;
  readMeta(id: string): Promise<DeliveryMeta | undefined>;
  writeMeta(id: string, meta: DeliveryMeta): Promise<void>;
  writeOut(id: string, message: Buffer): Promise<void>;
  hasOut(id: string): Promise<boolean>;
  /**
   * removes the record and its meta and output (delivered or deleted);
   * `noMeta` / `noOut`: the caller knows that file was never written (a message done in its first pass);
   * `noRecord`: the record was already taken away (retired into the originals store)
   */
  remove(id: string, state: SpoolState, options?: RemoveOptions): Promise<void>;
  /** startup: removes never-acknowledged temp files, moves active/ back to incoming/ */
  recover(): Promise<{ tempRemoved: number; requeued: string[]; orphansRemoved: number }>;
}

async function unlinkIfPresent(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}

export function checkId(id: string): string {
  if (!isAuditId(id)) throw new SpoolError(`not a queue id: ${JSON.stringify(id.slice(0, 80))}`, "EBADID");
  return id;
}

export interface SpoolIo {
  /** opens every file the spool writes (records, meta, outputs); tests wrap it to make the disk "full" */
  open?: OpenFile;
}

export async function openSpool(dataDir: string, syncer: DirSyncer = createDirSyncer(), io: SpoolIo = {}): Promise<Spool> {
  const openFile: OpenFile = io.open ?? open;
  const root = path.resolve(dataDir, "spool");
  const dirs = Object.fromEntries(ALL_STATES.map((s) => [s, path.join(root, s)])) as Record<SpoolState, string>;
  const metaDir = path.join(root, "meta");
  const outDir = path.join(root, "out");
  for (const d of [...Object.values(dirs), metaDir, outDir]) await mkdir(d, { recursive: true, mode: 0o750 });

  const recordPath = (state: SpoolState, id: string) => path.join(dirs[state], checkId(id));
  const metaPath = (id: string) => path.join(metaDir, `${checkId(id)}.json`);
  const outPath = (id: string) => path.join(outDir, `${checkId(id)}.eml`);

  async function create(envelope: SpoolEnvelope): Promise<SpoolWriter> {
    const final = recordPath("incoming", envelope.id);
    const tmp = tempName(dirs.incoming, envelope.id);
    // private from the start: the record becomes the retained original (originals/, 0600) when the spool is done with it
    const handle: FileHandle = await openFile(tmp, "wx", 0o600);
    const head = encodeRecordHead(envelope);
    const hash = createHash("sha256");
    // chunks are gathered up to WRITE_BATCH_BYTES and written with one writev: a small message costs one write
    let batch: Buffer[] = [head];
    let batchBytes = head.length;
    let size = 0;
    let closed = false;
    const closeAndUnlink = async () => {
      batch = [];
      if (!closed) {
        closed = true;
        await handle.close().catch(() => {});
      }
      await unlink(tmp).catch(() => {});
    };
    const flush = async () => {
      const chunks = batch;
      batch = [];
      batchBytes = 0;
      if (chunks.length) await handle.writev(chunks);
    };
    return {
      async write(chunk) {
        hash.update(chunk);
        size += chunk.length;
        batch.push(chunk);
        batchBytes += chunk.length;
        if (batchBytes >= WRITE_BATCH_BYTES) await flush();
      },
      async commit() {
        try {
          const sha256 = hash.digest("hex");
          const trailer = encodeRecordTrailer(size, sha256);
          batch.push(trailer);
          await flush();
          await handle.sync();
          closed = true;
          await handle.close();
          await durableRename(tmp, final, syncer);
          const info: RecordInfo = { envelope, messageOffset: head.length, messageLength: size, sha256, fileSize: head.length + size + trailer.length };
          return { size, sha256, info };
        } catch (error) {
          await closeAndUnlink();
          throw error;
        }
      },
      abort: closeAndUnlink,
    };
  }

  async function move(id: string, from: SpoolState, to: SpoolState, durable = true): Promise<boolean> {
    try {
      if (durable) await durableRename(recordPath(from, id), recordPath(to, id), syncer);
      else await rename(recordPath(from, id), recordPath(to, id));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw error;
    }
  }

  async function locate(id: string): Promise<QueueState | undefined> {
    for (const state of STATES) {
      try {
        await stat(recordPath(state, id));
        return state;
      } catch {
        // not in this state
      }
    }
    return undefined;
  }

  async function list(state: SpoolState): Promise<string[]> {
    const names = await readdir(dirs[state]);
    return names.filter((n) => isAuditId(n)).sort();
  }

  async function readMeta(id: string): Promise<DeliveryMeta | undefined> {
    try {
      const meta = JSON.parse(await readFile(metaPath(id), "utf8")) as DeliveryMeta;
      return meta.v === 1 && Array.isArray(meta.pending) ? meta : undefined;
    } catch {
      // absent (fresh message) or unreadable: the caller starts from the envelope (at-least-once)
      return undefined;
    }
  }

  async function hasOut(id: string): Promise<boolean> {
    try {
      await stat(outPath(id));
      return true;
    } catch {
      return false;
    }
  }

  async function remove(id: string, state: SpoolState, options: RemoveOptions = {}): Promise<void> {
    // record first: once it is gone the message no longer exists for any scan
    // (unlink, not rm: fs.promises.rm makes a synchronous lstat on the event loop)
    if (!options.noRecord) await unlinkIfPresent(recordPath(state, id));
    // then both others at once; an unlink of an absent meta costs an ENOENT error (with its stack) per message
    await Promise.all([options.noMeta ? undefined : unlinkIfPresent(metaPath(id)), options.noOut ? undefined : unlinkIfPresent(outPath(id))]);
  }

  async function recover(): Promise<{ tempRemoved: number; requeued: string[]; orphansRemoved: number }> {
    let tempRemoved = 0;
    for (const d of [...Object.values(dirs), metaDir, outDir]) {
      for (const name of await readdir(d)) {
        if (isTempName(name)) {
          await unlinkIfPresent(path.join(d, name));
          tempRemoved++;
        }
      }
    }
    const requeued: string[] = [];
    for (const id of await list("active")) {
      if (await move(id, "active", "incoming")) requeued.push(id);
    }
    // meta and outputs whose record is gone: a crash between the unlinks of a finished message
    const present = new Set<string>();
    for (const state of ALL_STATES) for (const id of await list(state)) present.add(id);
    let orphansRemoved = 0;
    for (const [d, suffix] of [
      [metaDir, ".json"],
      [outDir, ".eml"],
    ] as const) {
      for (const name of await readdir(d)) {
        const id = name.endsWith(suffix) ? name.slice(0, -suffix.length) : "";
        if (isAuditId(id) && !present.has(id)) {
          await unlinkIfPresent(path.join(d, name));
          orphansRemoved++;
        }
      }
    }
    return { tempRemoved, requeued, orphansRemoved };
  }

  return {
    root,
    dir: (state) => dirs[state],
    recordPath,
    outPath,
    create,
    move,
    locate,
    list,
    readMeta,
    writeMeta: (id, meta) => writeFileDurable(metaPath(id), JSON.stringify(meta), syncer, openFile),
    writeOut: (id, message) => writeFileDurable(outPath(id), message, syncer, openFile),
    hasOut,
    remove,
    recover,
  };
}

export { readRecordInfo };
export type { SpoolEnvelope };
