/**
 * Durability primitives of the spool: the few file-system steps that make a
 * "250" a promise (Postfix: flush → fsync → close → rename → fsync the directory).
 *
 * - `writeFileDurable()` — exclusive-create a temp name, write, fsync, rename
 *   over the final name, fsync the directory.
 * - `durableRename()` — rename, then fsync the target directory (and the
 *   source directory when it differs), so the move survives a power cut.
 * - `createDirSyncer()` — group commit of directory fsyncs: when many sessions
 *   finish at once, one fsync of a directory serves every rename that happened
 *   before it started.
 *
 * SECURITY: no untrusted input reaches these functions except through file
 * names, which callers build from audit ids checked by `isAuditId()`.
 * Crash state: a temp file (`.tmp-*`) may be left behind; it was never
 * acknowledged to anyone and the recovery scan removes it.
 */
import { open, rename, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";

/** fsync of one directory: makes the names created/removed in it durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export interface DirSyncer {
  /** resolves once a directory fsync that STARTED after this call has completed */
  sync(dir: string): Promise<void>;
}

/**
 * Group commit: per directory, at most one fsync runs at a time; callers that
 * arrive while one is running share the next one. A caller is never served by
 * an fsync that started before its call (its rename might not be covered).
 */
export function createDirSyncer(fsync: (dir: string) => Promise<void> = fsyncDir): DirSyncer {
  interface Round {
    promise: Promise<void>;
    resolve: () => void;
    reject: (e: unknown) => void;
  }
  const running = new Map<string, Promise<void>>();
  const waiting = new Map<string, Round>();

  function start(dir: string, round: Round): void {
    const p = fsync(dir).then(round.resolve, round.reject);
    const done = p.finally(() => {
      running.delete(dir);
      const next = waiting.get(dir);
      if (next) {
        waiting.delete(dir);
        start(dir, next);
      }
    });
    running.set(dir, done);
  }

  return {
    sync(dir: string): Promise<void> {
      let round = waiting.get(dir);
      if (!round) {
        let resolve!: () => void;
        let reject!: (e: unknown) => void;
        const promise = new Promise<void>((res, rej) => {
          resolve = res;
          reject = rej;
        });
        round = { promise, resolve, reject };
        if (running.has(dir)) waiting.set(dir, round);
        else start(dir, round);
      }
      return round.promise;
    },
  };
}

/** A temp name in `dir` that the recovery scan recognises (and removes) as never acknowledged. */
let tempCounter = 0;
export function tempName(dir: string, hint: string): string {
  // unique per process by pid + counter (open with "wx" still refuses any clash); no random bytes needed
  return path.join(dir, `.tmp-${hint}-${process.pid}-${++tempCounter}`);
}

export function isTempName(name: string): boolean {
  return name.startsWith(".tmp-");
}

/** rename(from, to), then fsync the destination directory (and the source one when different). */
export async function durableRename(from: string, to: string, syncer: DirSyncer): Promise<void> {
  await rename(from, to);
  const toDir = path.dirname(to);
  const fromDir = path.dirname(from);
  if (toDir === fromDir) await syncer.sync(toDir);
  else await Promise.all([syncer.sync(toDir), syncer.sync(fromDir)]);
}

/** how the spool opens the files it writes: fs.promises.open, or a wrapper that injects faults (ENOSPC) in tests */
export type OpenFile = (file: string, flags: string, mode: number) => Promise<FileHandle>;

/** Writes `data` as `file` atomically and durably: readers see the old file or the whole new one. */
export async function writeFileDurable(file: string, data: Buffer | string, syncer: DirSyncer, openFile: OpenFile = open): Promise<void> {
  const dir = path.dirname(file);
  const tmp = tempName(dir, path.basename(file));
  const handle = await openFile(tmp, "wx", 0o640);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw error;
  }
  await handle.close();
  try {
    await rename(tmp, file);
  } catch (error) {
    await unlink(tmp).catch(() => {});
    throw error;
  }
  await syncer.sync(dir);
}
