/**
 * Runs the sanitizer off the event loop: a small pool of worker threads, each
 * with V8 resource limits, each job under a wall-clock budget. A worker that
 * dies, runs out of memory or overruns the budget is terminated and replaced;
 * its message gets a "failed" outcome (the queue manager holds it with the
 * reason). The gateway itself never crashes on a message.
 *
 * Between analysis and rendering the pool calls back into the main thread
 * (`decide`), where the rules engine lives.
 *
 * SECURITY: the raw message is only read inside the workers. What comes back
 * (facts, report, the sanitized message) is produced by our own code.
 * Crash state: none; jobs are re-run from the spool after a restart.
 */
import { Worker } from "node:worker_threads";
import type { Limits } from "../config/schema.ts";
import type { MessageFacts, RenderOptions, SanitizeReport } from "../sanitize/sanitize-types.ts";

/** where the raw message is: a region of a spool record (the relay), or bytes in memory (the console's trial) */
export type SanitizeSource = { file: string; offset: number; length: number } | { bytes: Uint8Array };

export type SanitizeJob = SanitizeSource & {
  limits: Limits;
  /**
   * Limits (keys of Limits) whose hit ends the job as "failed" instead of rendering: the caller
   * holds such a message rather than deliver what could be done (the queue manager: maxTimeMs).
   */
  failOnLimits?: readonly string[];
};

/**
 * The limits whose hit holds a message instead of delivering it with a note: the gateway's
 * policy (the table in docs/relay.md §5), shared by the relay and the console's trial. Only
 * the time budget: work stopped at an arbitrary point (HTML not converted, text missing in an
 * unknown way), and a message that takes that long is an attack shape or a sign of an
 * overloaded gateway, which an administrator should see. The structural limits (parts, depth,
 * header, text, HTML size) cut at a known place and the notice names the cut. A dead,
 * out-of-memory or killed worker fails the job anyway.
 */
export const HELD_LIMITS: readonly string[] = ["maxTimeMs"];

/** what the main thread answers once it has the facts: render with these options, or stop here */
export type Decision<T> = { render: RenderOptions; context: T } | { stop: true; context: T };

export type PoolOutcome<T> =
  | { kind: "rendered"; facts: MessageFacts; message: Buffer; report: SanitizeReport; text?: string; context: T }
  | { kind: "stopped"; facts: MessageFacts; context: T }
  /** `limitsHit`/`facts`: present when the job ended on one of its failOnLimits, after analysis */
  | { kind: "failed"; reason: string; limitsHit?: string[]; facts?: MessageFacts };

export interface SanitizePool {
  /**
   * `eager`: render options known before analysis (no rules to consult); the worker then renders
   * without waiting for the main thread, saving a round trip. `decide` still sees the facts and
   * may stop (the rendered message is then discarded).
   */
  run<T>(job: SanitizeJob, decide: (facts: MessageFacts) => Decision<T>, eager?: RenderOptions): Promise<PoolOutcome<T>>;
  /** terminates the workers once the running jobs are done (queued jobs fail) */
  close(): Promise<void>;
  readonly size: number;
}

export interface PoolOptions {
  size: number;
  /** V8 heap of one worker, MiB: the sanitizer streams attachments, so the heap holds text, not files */
  maxOldGenerationSizeMb?: number;
  /** beyond the sanitizer's own budget (limits.maxTimeMs), how long before the worker is killed */
  graceMs?: number;
  /** for tests: another worker script */
  workerUrl?: URL;
}

/** 512 MiB: maxTextChars (2 M chars) and maxHtmlBytes (10 MiB) with html-to-text's overhead fit well inside */
const DEFAULT_HEAP_MB = 512;
/** young generation per worker: 16 MiB keeps each worker's footprint small; sanitizing allocates short-lived text */
const YOUNG_GENERATION_MB = 16;
/** the analyzer stops itself at maxTimeMs; this is how long we wait for it to notice before killing it */
const DEFAULT_GRACE_MS = 2_000;

interface Slot {
  worker: Worker;
  busy: boolean;
}

interface Pending {
  /** undefined: the pool closed before a worker became free */
  start: (slot: Slot | undefined) => void;
}

export function createSanitizePool(options: PoolOptions): SanitizePool {
  const workerUrl =
    options.workerUrl ?? new URL(import.meta.url.endsWith(".ts") ? "./worker.ts" : "./worker.js", import.meta.url);
  const heap = options.maxOldGenerationSizeMb ?? DEFAULT_HEAP_MB;
  const grace = options.graceMs ?? DEFAULT_GRACE_MS;
  const slots: Slot[] = [];
  const queue: Pending[] = [];
  let closed = false;

  const spawn = (): Slot => {
    const worker = new Worker(workerUrl, {
      name: "mumuka-sanitize",
      resourceLimits: { maxOldGenerationSizeMb: heap, maxYoungGenerationSizeMb: YOUNG_GENERATION_MB, stackSizeMb: 8 },
    });
    worker.unref();
    // errors are handled per job; an idle worker's death is noticed at its next job
    worker.on("error", () => {});
    return { worker, busy: false };
  };
  for (let i = 0; i < options.size; i++) slots.push(spawn());

  function replace(slot: Slot): Slot {
    void slot.worker.terminate().catch(() => {});
    const fresh = spawn();
    slots[slots.indexOf(slot)] = fresh;
    return fresh;
  }

  function release(slot: Slot): void {
    slot.busy = false;
    const next = queue.shift();
    if (next) {
      slot.busy = true;
      next.start(slot);
    }
  }

  function acquire(): Promise<Slot | undefined> {
    return new Promise((resolve) => {
      const free = slots.find((s) => !s.busy);
      if (free) {
        free.busy = true;
        resolve(free);
      } else queue.push({ start: resolve });
    });
  }

  async function run<T>(job: SanitizeJob, decide: (facts: MessageFacts) => Decision<T>, eager?: RenderOptions): Promise<PoolOutcome<T>> {
    if (closed) return { kind: "failed", reason: "the sanitizer is shutting down" };
    const acquired = await acquire();
    if (!acquired) return { kind: "failed", reason: "the sanitizer is shutting down" };
    let slot = acquired;
    const worker = slot.worker;
    return new Promise<PoolOutcome<T>>((resolve) => {
      let facts: MessageFacts | undefined;
      let context: T | undefined;
      let finished = false;
      const finish = (outcome: PoolOutcome<T>, broken: boolean) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
        if (broken) slot = replace(slot);
        release(slot);
        resolve(outcome);
      };
      const timer = setTimeout(
        () => finish({ kind: "failed", reason: limitReason(["maxTimeMs"], job.limits) }, true),
        job.limits.maxTimeMs + grace,
      );
      const onError = (error: Error) => {
        const oom = (error as NodeJS.ErrnoException).code === "ERR_WORKER_OUT_OF_MEMORY";
        finish({ kind: "failed", reason: oom ? "sanitizer ran out of memory" : `sanitizer worker failed: ${error.message}` }, true);
      };
      const onExit = (code: number) => finish({ kind: "failed", reason: `sanitizer worker exited (code ${code})` }, true);
      /** the job's failOnLimits that the analysis reached, as a failure; undefined: none */
      const overrun = (limitsHit: unknown, analyzed: MessageFacts): PoolOutcome<T> | undefined => {
        const hit = Array.isArray(limitsHit) ? (limitsHit as string[]).filter((l) => job.failOnLimits?.includes(l)) : [];
        if (hit.length === 0) return undefined;
        return { kind: "failed", reason: limitReason(hit, job.limits), limitsHit: hit, facts: analyzed };
      };
      const onMessage = (msg: {
        type: string;
        facts?: MessageFacts;
        limitsHit?: string[];
        message?: Uint8Array;
        report?: SanitizeReport;
        text?: string;
        [k: string]: unknown;
      }) => {
        if (msg.type === "analyzed") {
          facts = msg.facts!;
          const failed = overrun(msg.limitsHit, facts);
          if (failed) {
            worker.postMessage({ type: "drop" });
            finish(failed, false);
            return;
          }
          let decision: Decision<T>;
          try {
            decision = decide(facts);
          } catch (error) {
            worker.postMessage({ type: "drop" });
            finish({ kind: "failed", reason: `decision failed: ${(error as Error).message}` }, false);
            return;
          }
          context = decision.context;
          if ("stop" in decision) {
            worker.postMessage({ type: "drop" });
            finish({ kind: "stopped", facts, context: decision.context }, false);
          } else worker.postMessage({ type: "render", options: decision.render });
        } else if (msg.type === "rendered") {
          if (eager) {
            facts = msg.facts!;
            const failed = overrun(msg.report?.limitsHit, facts);
            if (failed) {
              finish(failed, false);
              return;
            }
            let decision: Decision<T>;
            try {
              decision = decide(facts);
            } catch (error) {
              finish({ kind: "failed", reason: `decision failed: ${(error as Error).message}` }, false);
              return;
            }
            context = decision.context;
            if ("stop" in decision) {
              finish({ kind: "stopped", facts, context: decision.context }, false);
              return;
            }
          }
          const m = msg.message!;
          const message = Buffer.from(m.buffer, m.byteOffset, m.byteLength);
          const text = typeof msg.text === "string" ? { text: msg.text } : {};
          finish({ kind: "rendered", facts: facts!, message, report: msg.report!, ...text, context: context as T }, false);
        } else if (msg.type === "error") {
          finish({ kind: "failed", reason: `sanitizer error: ${String(msg.message)}` }, false);
        }
      };
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
      worker.postMessage({
        type: "analyze",
        ...("bytes" in job ? { bytes: job.bytes } : { file: job.file, offset: job.offset, length: job.length }),
        limits: job.limits,
        ...(eager ? { render: eager } : {}),
      });
    });
  }

  return {
    run,
    size: options.size,
    async close() {
      closed = true;
      for (const p of queue.splice(0)) p.start(undefined);
      await Promise.all(slots.map((s) => s.worker.terminate().catch(() => 0)));
    },
  };
}

/** why a job failed on its limits, in the words the hold reason and the audit trail carry */
export function limitReason(hit: string[], limits: Limits): string {
  return hit
    .map((name) =>
      name === "maxTimeMs" ? `sanitizer time budget exceeded (${limits.maxTimeMs} ms)` : `sanitizer limit reached: ${name} (${String(limits[name as keyof Limits])})`,
    )
    .join("; ");
}
