/**
 * The gateway's stages closed in the reverse order they were started: a
 * composition root opens each stage through `start()`, which registers how to
 * close it. When a stage fails to start, everything already open is closed,
 * last first, and a StartError names the stage that failed; at shutdown the
 * same stack is the shutdown (Postfix's master stops its children the same
 * way whatever the reason: one list, one order).
 *
 * Why one stack rather than a close() call at each failure point: a stage added
 * later cannot be forgotten on one of the paths, and "start order reversed" is
 * the order the stages depend on each other (the receiver stops before the
 * queue it feeds, the queue before the pool and the alerts it uses, the audit
 * log after everything that records, the spool lock last).
 *
 * No untrusted input. No state of its own on disk; each close says what a crash
 * in it leaves.
 */

/** A stage as the operator reads it: Japanese first, English, and the configuration keys that decide it. */
export interface StageName {
  ja: string;
  en: string;
  /** e.g. "smtp.host / smtp.port" */
  keys?: string;
}

/** Why the stack is being closed: a start that failed may cut its waits short (nothing was running yet). */
export type CloseReason = "start-failed" | "shutdown";

export interface CloseFailure {
  stage: StageName;
  error: unknown;
}

/** A stage that could not start; everything started before it has been closed. */
export class StartError extends Error {
  override name = "StartError";
  readonly stage: StageName;
  /** the cause as one line */
  readonly reason: string;
  /** closes that failed while unwinding (logged; named here for a caller that wants them) */
  readonly closeFailures: readonly CloseFailure[];
  constructor(stage: StageName, cause: unknown, closeFailures: readonly CloseFailure[]) {
    const reason = errorText(cause);
    super(`cannot start the ${stage.en}: ${reason}`, { cause });
    this.stage = stage;
    this.reason = reason;
    this.closeFailures = closeFailures;
  }
}

export interface CloseStack {
  /**
   * Opens one stage and registers its close. If `open` throws (or rejects), every stage
   * registered before it is closed, last first, and a StartError naming this stage is thrown.
   */
  start<T>(stage: StageName, open: () => T | Promise<T>, close?: (value: T, reason: CloseReason) => void | Promise<void>): Promise<T>;
  /** Closes every registered stage, last first; each runs even when one before it failed. Runs once. */
  closeAll(reason: CloseReason): Promise<CloseFailure[]>;
}

export function createCloseStack(hooks: { onCloseError?(failure: CloseFailure): void } = {}): CloseStack {
  const stack: { stage: StageName; close: (reason: CloseReason) => void | Promise<void> }[] = [];
  let closing: Promise<CloseFailure[]> | undefined;

  const closeAll = (reason: CloseReason): Promise<CloseFailure[]> => {
    closing ??= (async () => {
      const failures: CloseFailure[] = [];
      while (stack.length > 0) {
        const { stage, close } = stack.pop()!;
        try {
          await close(reason);
        } catch (error) {
          const failure = { stage, error };
          failures.push(failure);
          hooks.onCloseError?.(failure);
        }
      }
      return failures;
    })();
    return closing;
  };

  return {
    async start(stage, open, close) {
      if (closing) throw new StartError(stage, new Error("the gateway is stopping"), []);
      let value;
      try {
        value = await open();
      } catch (error) {
        throw new StartError(stage, error, await closeAll("start-failed"));
      }
      if (close) stack.push({ stage, close: (reason) => close(value, reason) });
      return value;
    },
    closeAll,
  };
}

/** An error as one line: its code where the message does not already say it. */
function errorText(error: unknown): string {
  const e = error as NodeJS.ErrnoException | undefined;
  const message = String((e && (e.message || e.code)) || error).replace(/\s*\n\s*/g, "; ");
  return e?.code && !message.includes(e.code) ? `${message} (${e.code})` : message;
}
