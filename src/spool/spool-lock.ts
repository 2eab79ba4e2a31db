/**
 * One gateway per spool (Postfix's master.lock): a second `mumuka serve` on
 * the same data directory would run the startup recovery under the first
 * one's feet (moving its in-flight messages, removing its temp files).
 *
 * How the lock is held, and why: the lock is an fcntl() write lock that the
 * KERNEL drops when the holding process ends, however it ends (crash,
 * SIGKILL, OOM kill, power loss: after a reboot no lock exists at all). Node
 * has no flock()/fcntl(), so it is taken through SQLite, which is already in
 * the tree (better-sqlite3, for the audit store) and locks its database files
 * with fcntl(): `spool/gateway.lock.sqlite` is opened and a `BEGIN IMMEDIATE`
 * transaction (a RESERVED lock) is kept open for the gateway's lifetime. A
 * second process gets SQLITE_BUSY; SQLite's own per-inode bookkeeping refuses
 * a second connection in the same process as well.
 *
 * The former lock — a pid file checked with kill(pid, 0) — guessed at
 * liveness and guessed wrong both ways: a SIGKILLed gateway's pid still
 * exists until its parent reaps it (a restart 0.5 s later was refused), a
 * zombie answers kill(pid, 0), and after a reboot the recorded pid may belong
 * to an unrelated process (refused for good). Comparing boot id and process
 * start time would fix most of that, but is still a guess about a recorded
 * number; the kernel's lock is not a guess. The pid is still written, to
 * `spool/gateway.pid`, only so the refusal can name the other gateway; it
 * decides nothing. A `gateway.lock` pid file left by an older version is
 * ignored.
 *
 * The lock file is never removed: removing a lock file races with a process
 * that has just opened it (two holders of two different inodes).
 *
 * The queue CLI does not take the lock: it is designed to work beside a
 * running gateway.
 *
 * SECURITY: reads a pid from a file under dataDir (operator-controlled), used
 * only in the message.
 * Crash state: nothing to clean up; the kernel released the lock with the
 * process. A stale gateway.pid names a dead pid until the next start rewrites it.
 */
import { rename, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import Database from "better-sqlite3";
import { SpoolError } from "./spool.ts";

export interface SpoolLock {
  release(): Promise<void>;
}

export interface LockOptions {
  /**
   * how long to keep trying while another process holds the lock, ms. A process
   * killed a moment ago still holds its locks until its last thread is gone and
   * the kernel has closed its files (well under a second; its main thread may
   * already show as a zombie); a live gateway is refused after this wait.
   */
  waitMs?: number;
}

/** between two tries while the lock is held by someone else */
const RETRY_MS = 50;
const DEFAULT_WAIT_MS = 3000;

export async function lockSpool(spoolRoot: string, options: LockOptions = {}): Promise<SpoolLock> {
  const file = path.join(spoolRoot, "gateway.lock.sqlite");
  const pidFile = path.join(spoolRoot, "gateway.pid");
  let db: Database.Database;
  try {
    // timeout 0: SQLite's busy handler would sleep on the event loop; we wait below instead
    db = new Database(file, { timeout: 0 });
    db.pragma("journal_mode = DELETE"); // no -wal/-shm files: the lock is the database file's own
  } catch (error) {
    if (isBusy(error)) return refuse(spoolRoot, pidFile);
    throw new SpoolError(`cannot open the spool lock ${file}: ${(error as Error).message}`, "ELOCKED");
  }
  const tries = Math.max(1, Math.ceil((options.waitMs ?? DEFAULT_WAIT_MS) / RETRY_MS));
  for (let attempt = 0; ; attempt++) {
    try {
      db.exec("BEGIN IMMEDIATE");
      break;
    } catch (error) {
      if (!isBusy(error)) {
        db.close();
        throw new SpoolError(`cannot take the spool lock ${file}: ${(error as Error).message}`, "ELOCKED");
      }
      if (attempt + 1 >= tries) {
        db.close();
        return refuse(spoolRoot, pidFile);
      }
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }
  // informative only (see the header): written whole, so a reader never sees half a number
  const tmp = `${pidFile}.tmp-${process.pid}`;
  await writeFile(tmp, `${process.pid}\n`, { mode: 0o640 });
  await rename(tmp, pidFile);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      db.exec("ROLLBACK");
      db.close(); // closing the file descriptor is what releases the fcntl lock
    },
  };
}

/**
 * Whether a live process holds the spool lock right now: a probe that takes
 * the lock and gives it back at once (never waits). True also inside the
 * gateway's own process (SQLite refuses a second connection's lock there), and
 * when the probe cannot tell (the safe side: "a gateway may be running").
 */
export function spoolLockHeld(spoolRoot: string): boolean {
  const file = path.join(spoolRoot, "gateway.lock.sqlite");
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: 0, fileMustExist: true });
  } catch (error) {
    // never locked since this version was installed: nobody holds it
    return (error as { code?: string }).code !== "SQLITE_CANTOPEN";
  }
  try {
    db.exec("BEGIN IMMEDIATE");
    db.exec("ROLLBACK");
    return false;
  } catch {
    return true;
  } finally {
    db.close();
  }
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === "SQLITE_BUSY" || code === "SQLITE_LOCKED";
}

async function refuse(spoolRoot: string, pidFile: string): Promise<never> {
  const owner = Number((await readFile(pidFile, "utf8").catch(() => "")).trim());
  const who = Number.isInteger(owner) && owner > 0 ? `another gateway (pid ${owner})` : "another gateway";
  throw new SpoolError(`${who} is using the spool ${spoolRoot}`, "ELOCKED");
}
