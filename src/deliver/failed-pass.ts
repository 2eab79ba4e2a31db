/**
 * What happens to a message whose pass failed half-way (a spool write threw:
 * ENOSPC on a full disk, EIO): it must not stay in active/, where nothing
 * rescans it while the gateway runs and where an administrator cannot act on
 * it. It is renamed back into deferred/ (a rename needs no free blocks) with
 * a backoff of its own (the retry schedule, counted in failed passes), and
 * its pass starts over from the record when it is due. If even that rename
 * fails, the gateway keeps holding the message (in memory, still in active/)
 * and tries the rename again on the same backoff.
 *
 * SECURITY: the reason recorded is the error's code and message (ours or the
 * OS's); no message content.
 * Crash state: the rename is not durable: a crash leaves the message in
 * active/ or deferred/, and the next start resumes both. Its meta on disk is
 * whatever was last written: at worst a recipient is delivered twice
 * (at-least-once), never lost.
 */
import type { AuditSink } from "../audit/audit-types.ts";
import type { Logger } from "../lib/logger.ts";
import type { Spool } from "../spool/spool.ts";
import { nextAttemptAt, type RetryPolicy } from "./retry-schedule.ts";
import type { Settled } from "./settle.ts";

export interface FailedPassDeps {
  spool: Pick<Spool, "locate" | "move">;
  delivery: RetryPolicy;
  /** the queue manager's timer: the message is in deferred/, try it again at `at` */
  retryAt(id: string, at: Date): void;
  audit: Pick<AuditSink, "record">;
  logger: Logger;
  now: () => Date;
}

export interface FailedPasses {
  /** a pass of `id` threw `error`: put its message back into deferred/ */
  readopt(id: string, error: unknown): Promise<Settled>;
  /** a pass of `id` settled normally: its backoff starts over */
  settled(id: string): void;
  /** messages whose rename back failed and is due to be tried again at `t` (retry() takes one off the list) */
  takeDue(t: number): string[];
  /** tries the rename back again */
  retry(id: string): Promise<Settled>;
}

export function createFailedPasses(deps: FailedPassDeps): FailedPasses {
  const { spool, logger } = deps;
  /** consecutive failed passes of a message, for its backoff */
  const failures = new Map<string, number>();
  /** messages still in active/ because their rename back failed too: when to try again, and why */
  const stranded = new Map<string, { at: number; reason: string }>();

  function forget(id: string): Settled {
    failures.delete(id);
    return "gone";
  }

  async function putBack(id: string, reason: string): Promise<Settled> {
    const n = (failures.get(id) ?? 0) + 1;
    failures.set(id, n);
    const at = nextAttemptAt(n, deps.delivery, deps.now());
    try {
      const state = await spool.locate(id);
      if (state === "active" || state === "incoming") {
        if (!(await spool.move(id, state, "deferred", false))) return forget(id);
      } else if (state !== "deferred") return forget(id); // held, corrupt or gone: no longer ours
    } catch (moveError) {
      logger.error({ queueId: id, err: moveError, next: at.toISOString() }, "cannot put the message back in deferred/; trying again later");
      stranded.set(id, { at: at.getTime(), reason });
      return "deferred";
    }
    deps.retryAt(id, at);
    deps.audit.record({ type: "deferred", auditId: id, actor: "gateway", data: { reason, nextAttemptAt: at.toISOString(), failedPasses: n } });
    return "deferred";
  }

  return {
    async readopt(id, error) {
      const code = (error as NodeJS.ErrnoException | undefined)?.code;
      const reason = `queue manager error${code ? ` (${code})` : ""}: ${(error as Error | undefined)?.message ?? String(error)}`;
      logger.error({ queueId: id, err: error }, "queue manager error; message put back in deferred/");
      return putBack(id, reason);
    },
    settled(id) {
      failures.delete(id);
    },
    takeDue(t) {
      const ids: string[] = [];
      for (const [id, { at }] of stranded) if (at <= t) ids.push(id);
      return ids;
    },
    async retry(id) {
      const entry = stranded.get(id);
      if (!entry) return "gone";
      stranded.delete(id);
      return putBack(id, entry.reason);
    },
  };
}
