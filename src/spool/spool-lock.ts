/**
 * One gateway per spool (Postfix's master.lock): a second `mumuka serve` on
 * the same data directory would run the startup recovery under the first
 * one's feet (moving its in-flight messages, removing its temp files). The
 * lock is a file holding the owner's pid, created exclusively; a lock whose
 * process is gone (crash, kill -9) is taken over.
 *
 * The queue CLI does not take the lock: it is designed to work beside a
 * running gateway.
 *
 * SECURITY: reads a pid from a file under dataDir (operator-controlled).
 * Crash state: a stale lock file, taken over at the next start.
 */
import { open, readFile, unlink } from "node:fs/promises";
import path from "node:path";
import { SpoolError } from "./spool.ts";

export interface SpoolLock {
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function lockSpool(spoolRoot: string): Promise<SpoolLock> {
  const file = path.join(spoolRoot, "gateway.lock");
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, "wx", 0o640);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return {
        async release() {
          const owner = Number((await readFile(file, "utf8").catch(() => "")).trim());
          if (owner === process.pid) await unlink(file).catch(() => {});
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const owner = Number((await readFile(file, "utf8").catch(() => "")).trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
        throw new SpoolError(`another gateway (pid ${owner}) is using the spool ${spoolRoot}`, "ELOCKED");
      }
      // stale: its process is gone
      await unlink(file).catch(() => {});
    }
  }
  throw new SpoolError(`cannot take the spool lock ${file}`, "ELOCKED");
}

