/**
 * Retention of raw originals: the message exactly as received, kept for
 * `originals.retentionDays` under `<dataDir>/originals/<YYYY-MM-DD>/<id>.eml`
 * (mode 0600, directories 0700), optionally encrypted at rest
 * (`<id>.eml.enc`, see original-crypto.ts) with a key from the environment
 * variable named by `originals.keyEnv`.
 *
 * Unencrypted originals are hard-linked from the spool when possible (no
 * copy, no extra disk for the retention period); encrypted ones are written
 * to a temporary name, fsynced and renamed, so a crash leaves either a whole
 * original or a `.tmp-*` file that purge removes.
 *
 * SECURITY: the raw message is hostile content; it is stored and streamed out
 * as bytes, never parsed here. Ids are checked with isAuditId() before they
 * touch a path. A retrieval is an audit event naming who asked.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, copyFile, link, mkdir, open, readdir, rename, rm, rmdir, stat } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { AuditSink } from "../audit/audit-types.ts";
import type { Config } from "../config/schema.ts";
import { isAuditId } from "../lib/ids.ts";
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
  /** keeps the raw message of `auditId` (copy, or hard link when unencrypted); mode 0600 */
  keep(auditId: string, sourceFile: string): Promise<void>;
  /** the raw message; records "original-retrieved" with the actor */
  get(auditId: string, actor: string): Promise<NodeJS.ReadableStream>;
  /** removes originals past their retention; resolves to how many */
  purge(now: Date): Promise<number>;
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
  config: Config["originals"];
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

  const locate = (auditId: string): { dir: string; plain: string; encrypted: string } => {
    if (!isAuditId(auditId)) throw new OriginalNotFoundError(`not an audit id: ${JSON.stringify(auditId.slice(0, 80))}`);
    const dir = path.join(root, idTime(auditId).day);
    return { dir, plain: path.join(dir, `${auditId}.eml`), encrypted: path.join(dir, `${auditId}.eml.enc`) };
  };

  const exists = async (p: string): Promise<boolean> =>
    stat(p).then(
      () => true,
      () => false,
    );

  return {
    async keep(auditId, sourceFile) {
      if (config.retentionDays === 0) return;
      const where = locate(auditId);
      await mkdir(where.dir, { recursive: true, mode: 0o700 });
      if (!key) {
        try {
          await link(sourceFile, where.plain);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === "EEXIST") return; // kept already (a retry after a crash)
          if (code !== "EXDEV" && code !== "EPERM" && code !== "EMLINK") throw error;
          const tmp = tempFor(where.plain);
          await copyFile(sourceFile, tmp);
          await chmod(tmp, 0o600);
          await fsyncPath(tmp);
          await rename(tmp, where.plain);
        }
        // a link shares the spool file's inode: the spool keeps its files private too
        if (((await stat(where.plain)).mode & 0o077) !== 0) await chmod(where.plain, 0o600);
        // the source may not have been synced by whoever wrote it: the retained copy must survive a crash
        await fsyncPath(where.plain);
      } else {
        if (await exists(where.encrypted)) return;
        const tmp = tempFor(where.encrypted);
        try {
          await pipeline(createReadStream(sourceFile), encryptStream(key), createWriteStream(tmp, { flags: "wx", mode: 0o600 }));
          await fsyncPath(tmp);
          await rename(tmp, where.encrypted);
        } catch (error) {
          await rm(tmp, { force: true });
          throw error;
        }
      }
      await fsyncPath(where.dir);
    },

    async get(auditId, actor) {
      const where = locate(auditId);
      const encrypted = await exists(where.encrypted);
      if (!encrypted && !(await exists(where.plain))) {
        throw new OriginalNotFoundError(`no retained original for ${auditId} (never kept, or purged after ${config.retentionDays} days)`);
      }
      if (encrypted) {
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
      }
      const file = encrypted ? where.encrypted : where.plain;
      const size = (await stat(file)).size;
      audit.record({ type: "original-retrieved", auditId, actor, data: { encrypted, storedBytes: size } });
      const source = createReadStream(file);
      if (!encrypted) return source;
      const plain = decryptStream(key!, `original ${auditId}`);
      source.on("error", (error) => plain.destroy(error));
      return source.pipe(plain);
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
      for (const day of days) {
        const dir = path.join(root, day);
        for (const name of await readdir(dir)) {
          const id = name.replace(/\.eml(\.enc)?(\.tmp-[0-9a-f-]+)?$/, "");
          const kept = isAuditId(id) ? idTime(id).ms : Infinity;
          if (kept >= cutoff) continue;
          await rm(path.join(dir, name), { force: true });
          if (!name.includes(".tmp-")) removed += 1;
        }
        if ((await readdir(dir)).length === 0) await rmdir(dir).catch(() => {});
      }
      if (removed > 0) {
        audit.record({ type: "purged", actor: "gateway", data: { what: "originals", removed, before: new Date(cutoff).toISOString() } });
      }
      return removed;
    },
  };
}
