/**
 * Retention of raw originals: the message exactly as received, kept for
 * `originals.retentionDays` under `<dataDir>/originals/<YYYY-MM-DD>/`,
 * optionally encrypted at rest with a key from the environment variable named
 * by `originals.keyEnv` (see original-crypto.ts).
 *
 * An original is kept when the spool is done with a message (delivered,
 * bounced, rejected, deleted): its spool record is RETIRED into the store.
 *   - unencrypted: the record file is renamed to `<id>.rec` (the envelope, the
 *     raw bytes and their SHA-256, framed as in the spool; see spool/record.ts).
 *     No copy, no extra fsync: the record was made durable before the 250
 *     reply, and a rename lost in a crash leaves it in the spool, where the
 *     recovery scan delivers it again (at-least-once) and retires it again.
 *   - encrypted: the message region is encrypted to a temporary name, fsynced,
 *     renamed to `<id>.eml.enc` and the directory fsynced; then the record is
 *     removed. A crash leaves a `.tmp-*` file (purge removes it) and the
 *     record still in the spool.
 * While a message is still queued (held, deferred), its original is read
 * from the spool record itself. `<id>.eml` files of earlier versions are read
 * as they are.
 *
 * Files are 0600 in 0700 directories.
 *
 * SECURITY: the raw message is hostile content; it is stored and streamed out
 * as bytes, never parsed here (only the spool's framing is read, by lengths).
 * Ids are checked with isAuditId() before they touch a path. A retrieval is an
 * audit event naming who asked (and under which release request: see
 * release-desk.ts, which decides who may ask).
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { copyFile, mkdir, open, readdir, rename, rm, rmdir, stat, unlink } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { AuditSink } from "../audit/audit-types.ts";
import type { Config } from "../config/schema.ts";
import { isAuditId } from "../lib/ids.ts";
import { readRecordInfo, type SpoolEnvelope } from "../spool/record.ts";
import {
  decryptStream,
  encryptStream,
  headerFingerprint,
  isEncryptedHeader,
  keyFingerprint,
  OriginalKeyError,
  parseKey,
} from "./original-crypto.ts";

export { OriginalKeyError } from "./original-crypto.ts";

export interface OriginalStore {
  /**
   * the spool is done with this message: its record file moves into the store
   * (or, encrypted, its message is stored and the record removed). Resolves to
   * true when `recordFile` is gone from the spool, false when nothing is kept
   * (retention of zero days: the caller removes the record).
   */
  retire(auditId: string, recordFile: string): Promise<boolean>;
  /**
   * the raw message (retained, or still in the spool); records "original-retrieved" with the actor
   * and `context` (the release request, or the break-glass reason: see release-desk.ts)
   */
  get(auditId: string, actor: string, context?: Record<string, unknown>): Promise<NodeJS.ReadableStream>;
  /** whether an original of this message can be served (retained, or still queued) */
  has(auditId: string): Promise<boolean>;
  /** removes originals past their retention; resolves to how many */
  purge(now: Date): Promise<number>;
  /**
   * Where the raw message is, WITHOUT recording a retrieval: for a caller that
   * records its access itself (rules replay records one event for its whole
   * window, not one per message). Undefined when nothing is kept.
   */
  retained(auditId: string): Promise<RetainedOriginal | undefined>;
}

/** A retained original, not yet read. */
export interface RetainedOriginal {
  encrypted: boolean;
  /** bytes of the raw message (of the stored file when encrypted) */
  size: number;
  /** the envelope as received, when the store kept the spool record (unencrypted originals) */
  envelope?: SpoolEnvelope;
  /** the message's bytes in a plain file, when they are there as they are (not encrypted) */
  region?: { file: string; offset: number; length: number };
  /** streams the raw message (decrypted); an encrypted one with a wrong key fails with OriginalKeyError */
  open(): NodeJS.ReadableStream;
}

export class OriginalNotFoundError extends Error {
  override name = "OriginalNotFoundError";
  readonly code = "ENOORIGINAL";
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * A temp name beside `final`, unique per attempt: the pid alone repeats (a
 * container restarts as pid 1; sanitizer threads share one pid), and a
 * crash's leftover under a repeated name would make every later "wx" open of
 * that original fail. Leftovers are removed by purge.
 */
function tempFor(final: string): string {
  return `${final}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
}

/** The UTC day and instant encoded in an audit id (20261126T095312Z-…). */
function idTime(auditId: string): { day: string; ms: number } {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-/.exec(auditId);
  if (!m) throw new OriginalNotFoundError(`not an audit id: ${JSON.stringify(auditId.slice(0, 80))}`);
  const [, y, mo, d, h, mi, s] = m;
  return { day: `${y}-${mo}-${d}`, ms: Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) };
}

async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function openOriginals(options: {
  config: Pick<Config["originals"], "retentionDays" | "keyEnv">;
  dataDir: string;
  audit: AuditSink;
  /** where the key variable is looked up (tests); default process.env */
  env?: NodeJS.ProcessEnv;
}): OriginalStore {
  const { config, audit } = options;
  const root = path.join(options.dataDir, "originals");
  let key: Buffer | undefined;
  if (config.keyEnv) {
    const value = (options.env ?? process.env)[config.keyEnv];
    if (!value) throw new OriginalKeyError(`originals.keyEnv names ${config.keyEnv}, but that environment variable is not set`);
    key = parseKey(value, `environment variable ${config.keyEnv}`);
  }

  const locate = (auditId: string): { dir: string; record: string; encrypted: string; plain: string } => {
    if (!isAuditId(auditId)) throw new OriginalNotFoundError(`not an audit id: ${JSON.stringify(auditId.slice(0, 80))}`);
    const dir = path.join(root, idTime(auditId).day);
    return {
      dir,
      record: path.join(dir, `${auditId}.rec`),
      encrypted: path.join(dir, `${auditId}.eml.enc`),
      plain: path.join(dir, `${auditId}.eml`),
    };
  };

  const exists = async (p: string): Promise<boolean> =>
    stat(p).then(
      () => true,
      () => false,
    );

  /** day directories made by this process: one mkdir per day, not one per message */
  const made = new Set<string>();
  const dayDir = async (dir: string): Promise<void> => {
    if (made.has(dir)) return;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    made.add(dir);
  };

  /** the record moves in by rename (spool records are written 0600, like the rest of the store) */
  async function moveRecord(recordFile: string, final: string): Promise<void> {
    try {
      await rename(recordFile, final);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" && made.has(path.dirname(final))) {
        // the day directory was purged under us (by `mumuka original purge`): make it again, once
        made.delete(path.dirname(final));
        await dayDir(path.dirname(final));
        await rename(recordFile, final);
      } else if (code === "EXDEV") {
        await copyRecord(recordFile, final);
      } else {
        throw error;
      }
    }
  }

  /** writes `final` through a temp name made durable (fsync, rename, directory fsync), then lets the record go */
  async function storeDurably(recordFile: string, final: string, write: (tmp: string) => Promise<void>): Promise<void> {
    const tmp = tempFor(final);
    try {
      await write(tmp);
      await fsyncPath(tmp);
      await rename(tmp, final);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
    await fsyncPath(path.dirname(final));
    await unlink(recordFile);
  }

  /** the store is on another file system: a durable copy */
  const copyRecord = (recordFile: string, final: string): Promise<void> => storeDurably(recordFile, final, (tmp) => copyFile(recordFile, tmp));

  const encryptRecord = async (recordFile: string, final: string): Promise<void> => {
    const message = await messageOf(recordFile);
    await storeDurably(recordFile, final, (tmp) => pipeline(message.open(), encryptStream(key!), createWriteStream(tmp, { flags: "wx", mode: 0o600 })));
  };

  /** the raw message region of a record file, streamed */
  async function messageOf(recordFile: string): Promise<RetainedOriginal> {
    const info = await readRecordInfo(recordFile);
    const end = info.messageOffset + info.messageLength - 1;
    return {
      encrypted: false,
      size: info.messageLength,
      envelope: info.envelope,
      region: { file: recordFile, offset: info.messageOffset, length: info.messageLength },
      open: () => (info.messageLength > 0 ? createReadStream(recordFile, { start: info.messageOffset, end }) : Readable.from([])),
    };
  }

  /**
   * a message still queued: its record in the spool (not corrupt/: its framing is not trusted). A record
   * in done/ may be a deleted corrupt one waiting for its event: served only when its bytes match the
   * hash written at receipt
   */
  async function inSpool(auditId: string): Promise<string | undefined> {
    for (const state of ["held", "deferred", "incoming", "active", "done"]) {
      const file = path.join(options.dataDir, "spool", state, auditId);
      if (!(await exists(file))) continue;
      if (state === "done" && !(await intact(file))) return undefined;
      return file;
    }
    return undefined;
  }

  /** the record's message region hashes to the SHA-256 its trailer names */
  async function intact(recordFile: string): Promise<boolean> {
    try {
      const info = await readRecordInfo(recordFile);
      const hash = createHash("sha256");
      if (info.messageLength > 0) {
        for await (const chunk of createReadStream(recordFile, { start: info.messageOffset, end: info.messageOffset + info.messageLength - 1 })) hash.update(chunk as Buffer);
      }
      return hash.digest("hex") === info.sha256;
    } catch {
      return false;
    }
  }

  /** an unencrypted original: a record in the store, an `.eml` of an earlier version, or a record still queued */
  async function plainOriginal(auditId: string): Promise<RetainedOriginal | undefined> {
    const where = locate(auditId);
    if (await exists(where.record)) return messageOf(where.record);
    if (await exists(where.plain)) {
      const size = (await stat(where.plain)).size;
      return { encrypted: false, size, region: { file: where.plain, offset: 0, length: size }, open: () => createReadStream(where.plain) };
    }
    if (config.retentionDays > 0) {
      const queued = await inSpool(auditId);
      // a record that moves on between the look and the read is looked for again once
      if (queued) {
        return messageOf(queued).catch(async () => {
          const again = (await exists(where.record)) ? where.record : await inSpool(auditId);
          return again ? messageOf(again) : undefined;
        });
      }
    }
    return undefined;
  }

  return {
    async retained(auditId) {
      const where = locate(auditId);
      if (await exists(where.encrypted)) {
        const size = (await stat(where.encrypted)).size;
        return {
          encrypted: true,
          size,
          open: () => {
            if (!key) throw new OriginalKeyError(`the original of ${auditId} is encrypted; set originals.keyEnv and its environment variable`);
            const source = createReadStream(where.encrypted);
            const plain = decryptStream(key, `original ${auditId}`);
            source.on("error", (error) => plain.destroy(error));
            return source.pipe(plain);
          },
        };
      }
      return plainOriginal(auditId);
    },

    async retire(auditId, recordFile) {
      if (config.retentionDays === 0) return false;
      const where = locate(auditId);
      await dayDir(where.dir);
      if (key) await encryptRecord(recordFile, where.encrypted);
      else await moveRecord(recordFile, where.record);
      return true;
    },

    async has(auditId) {
      if (!isAuditId(auditId)) return false;
      const where = locate(auditId);
      if ((await exists(where.encrypted)) || (await exists(where.record)) || (await exists(where.plain))) return true;
      return config.retentionDays > 0 && (await inSpool(auditId)) !== undefined;
    },

    async get(auditId, actor, context = {}) {
      const where = locate(auditId);
      if (await exists(where.encrypted)) {
        if (!key) throw new OriginalKeyError(`the original of ${auditId} is encrypted; set originals.keyEnv and its environment variable`);
        // check the key before anything is recorded or streamed, so a wrong key is named as such
        const fh = await open(where.encrypted, "r");
        const head = Buffer.alloc(24);
        try {
          await fh.read(head, 0, 24, 0);
        } finally {
          await fh.close();
        }
        if (!isEncryptedHeader(head)) throw new OriginalKeyError(`the original of ${auditId} is damaged (bad header)`);
        if (headerFingerprint(head) !== keyFingerprint(key)) {
          throw new OriginalKeyError(
            `the original of ${auditId} was encrypted with a different key (fingerprint ${headerFingerprint(head)}; the key in ${config.keyEnv} has ${keyFingerprint(key)})`,
          );
        }
        const size = (await stat(where.encrypted)).size;
        audit.record({ type: "original-retrieved", auditId, actor, data: { ...context, encrypted: true, storedBytes: size } });
        const source = createReadStream(where.encrypted);
        const plain = decryptStream(key, `original ${auditId}`);
        source.on("error", (error) => plain.destroy(error));
        return source.pipe(plain);
      }
      const message = await plainOriginal(auditId);
      if (!message) {
        throw new OriginalNotFoundError(`no retained original for ${auditId} (never kept, or purged after ${config.retentionDays} days)`);
      }
      audit.record({ type: "original-retrieved", auditId, actor, data: { ...context, encrypted: false, storedBytes: message.size } });
      return message.open();
    },

    async purge(now) {
      const cutoff = now.getTime() - config.retentionDays * DAY_MS;
      const cutoffDay = new Date(cutoff).toISOString().slice(0, 10);
      let removed = 0;
      let days: string[];
      try {
        days = (await readdir(root)).filter((d) => /^\d{4}-\d{2}-\d{2}$/.test(d) && d <= cutoffDay).sort();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
        throw error;
      }
      try {
        for (const day of days) {
          const dir = path.join(root, day);
          for (const name of await readdir(dir)) {
            const id = name.replace(/\.(?:rec|eml|eml\.enc)(\.tmp-[0-9a-f-]+)?$/, "");
            const kept = isAuditId(id) ? idTime(id).ms : Infinity;
            if (kept >= cutoff) continue;
            await rm(path.join(dir, name), { force: true });
            if (!name.includes(".tmp-")) removed += 1;
          }
          if ((await readdir(dir)).length === 0) {
            await rmdir(dir).catch(() => {});
            made.delete(dir);
          }
        }
      } finally {
        // also when a removal fails part-way: what was removed is on record
        if (removed > 0) {
          audit.record({ type: "purged", actor: "gateway", data: { what: "originals", removed, before: new Date(cutoff).toISOString() } });
        }
      }
      return removed;
    },
  };
}
