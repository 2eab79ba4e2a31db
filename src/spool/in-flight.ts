/**
 * Is a file in active/ really in flight? Only a running gateway works on
 * active/, and a running gateway never leaves a message there that it does
 * not hold (a pass that fails puts its message back into deferred/; see
 * deliver/queue-manager.ts). So a message in active/ is in flight exactly when
 * a live gateway holds the spool: its lock file (spool/gateway.lock, written
 * by spool-lock.ts) names a running process. Without one, whatever is in
 * active/ was left by a crash or a stop, and an administrator may act on it
 * (the next start would otherwise put it back in incoming/).
 *
 * SECURITY: reads a pid from a file under dataDir (operator-controlled).
 * Crash state: none; read-only.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";

/** the lock file of spool-lock.ts (kept in step with it; its test covers both) */
const LOCK_FILE = "gateway.lock";

/** true when a gateway process holds the spool; a pid that cannot be checked counts as alive (the safe side) */
export async function gatewayHoldsSpool(spoolRoot: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(path.join(spoolRoot, LOCK_FILE), "utf8");
  } catch (error) {
    // no lock: no gateway; an unreadable one (EACCES…): assume one runs
    return (error as NodeJS.ErrnoException).code !== "ENOENT";
  }
  const pid = Number(text.trim());
  // a lock being written right now (created, pid not yet in it) belongs to a gateway starting up
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
