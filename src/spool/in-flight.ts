/**
 * Is a file in active/ really in flight? Only a running gateway works on
 * active/, and a running gateway never leaves a message there that it does
 * not hold (a pass that fails puts its message back into deferred/; see
 * deliver/queue-manager.ts). So a message in active/ is in flight exactly when
 * a live gateway holds the spool: the kernel lock of spool-lock.ts is taken
 * (probed, never waited for). Without one, whatever is in
 * active/ was left by a crash or a stop, and an administrator may act on it
 * (the next start would otherwise put it back in incoming/).
 *
 * SECURITY: opens the lock database under dataDir (operator-controlled).
 * Crash state: none; the probe's lock is given back at once.
 */
import { spoolLockHeld } from "./spool-lock.ts";

/** true when a gateway process holds the spool (the kernel's lock of spool-lock.ts); when unsure, true */
export async function gatewayHoldsSpool(spoolRoot: string): Promise<boolean> {
  return spoolLockHeld(spoolRoot);
}
