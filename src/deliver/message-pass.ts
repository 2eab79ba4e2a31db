/**
 * One pass of one message: claim it (rename into active/), read its framing
 * and meta, sanitize it unless its output is already spooled, deliver it.
 * Which message runs and when is the queue manager's business; how each step
 * ends is the stages' (sanitize-stage.ts, deliver-stage.ts, settle.ts).
 *
 * SECURITY: reads the record's framing (our own format, length-checked);
 * message bytes are only read by the sanitizer workers.
 * Crash state: the claim is not durable; a crash leaves the message in
 * active/, which recovery treats like incoming/.
 */
import type { Logger } from "../lib/logger.ts";
import { CorruptRecordError, readRecordInfo, type RecordInfo } from "../spool/record.ts";
import type { QueueState } from "../spool/queue-types.ts";
import { freshMeta, type Spool } from "../spool/spool.ts";
import type { DeliverStage } from "./deliver-stage.ts";
import type { SanitizeStage } from "./sanitize-stage.ts";
import type { Removal, Settled, Settler } from "./settle.ts";

export interface MessagePassDeps {
  spool: Pick<Spool, "move" | "recordPath" | "readMeta" | "hasOut">;
  sanitize: SanitizeStage;
  deliver: DeliverStage;
  settle: Pick<Settler, "toCorrupt">;
  logger: Logger;
}

/** `fresh`: the framing as the receiver just wrote it (no meta, no output yet, no need to read it back) */
export type MessagePass = (id: string, from: QueueState, fresh: RecordInfo | undefined) => Promise<Settled>;

export function createMessagePass(deps: MessagePassDeps): MessagePass {
  const { spool } = deps;
  return async function pass(id, from, fresh) {
    // not durable: a crash leaves it in active/, which recovery treats like incoming/
    if (!(await spool.move(id, from, "active", false))) return "gone";
    const log = deps.logger.child({ queueId: id });
    const file = spool.recordPath("active", id);
    let info: RecordInfo;
    if (fresh) info = fresh;
    else {
      try {
        info = await readRecordInfo(file);
      } catch (error) {
        if (error instanceof CorruptRecordError) return deps.settle.toCorrupt(id, error.message, log);
        throw error;
      }
    }
    const meta = (fresh ? undefined : await spool.readMeta(id)) ?? freshMeta(info.envelope);

    let message: Buffer | undefined;
    // a fresh message has no meta file unless this pass writes one (and a pass that does never removes)
    const removal: Removal = fresh ? { noMeta: true } : {};
    if (fresh || !(await spool.hasOut(id))) {
      const sanitized = await deps.sanitize(id, info, meta, log, removal);
      if (typeof sanitized === "string") return sanitized;
      message = sanitized;
    }
    return deps.deliver(id, info.envelope, meta, log, removal, message);
  };
}
