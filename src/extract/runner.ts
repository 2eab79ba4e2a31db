/**
 * Runs extraction off the sanitizer worker's own thread: one extraction worker
 * thread (extract-worker.ts) per sanitizer worker, started on first use and
 * kept for the next document, with a V8 heap limit of its own
 * (maxMemoryMb). A document that overruns its time budget, exhausts that heap
 * or kills the thread costs only itself: the thread is terminated, the
 * document gets "failed" with the reason, and the message goes on with the
 * rest. pdf.js's synchronous loops cannot be interrupted from inside; a
 * terminated thread can.
 *
 * SECURITY: the document bytes are copied to the extraction worker; what comes
 * back is plain data our extractors built. Crash state: none (the worker is
 * replaced; the message is still in the spool).
 */
import { Worker } from "node:worker_threads";
import type { ExtractKind, ExtractLimits, ExtractionFailure, ExtractionOutput } from "./extract-types.ts";

export interface ExtractRunner {
  run(kind: ExtractKind, bytes: Uint8Array, limits: ExtractLimits, timeoutMs: number): Promise<ExtractionOutput | ExtractionFailure>;
  close(): Promise<void>;
}

/** young generation of the extraction worker: pdf.js and sax allocate short-lived objects */
const YOUNG_GENERATION_MB = 16;

export function createExtractRunner(workerUrl?: URL): ExtractRunner {
  const url = workerUrl ?? new URL(import.meta.url.endsWith(".ts") ? "./extract-worker.ts" : "./extract-worker.js", import.meta.url);
  let current: { worker: Worker; heapMb: number } | undefined;
  let nextId = 1;

  const spawn = (heapMb: number): Worker => {
    if (current && current.heapMb === heapMb) return current.worker;
    if (current) void current.worker.terminate().catch(() => 0);
    const worker = new Worker(url, {
      name: "mumuka-extract",
      resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: YOUNG_GENERATION_MB, stackSizeMb: 4 },
    });
    worker.unref();
    worker.on("error", () => {});
    // a thread that dies between documents is not handed the next one
    worker.once("exit", () => {
      if (current?.worker === worker) current = undefined;
    });
    current = { worker, heapMb };
    return worker;
  };
  const discard = (worker: Worker) => {
    if (current?.worker === worker) current = undefined;
    void worker.terminate().catch(() => 0);
  };

  return {
    run(kind, bytes, limits, timeoutMs) {
      const worker = spawn(limits.maxMemoryMb);
      const id = nextId++;
      return new Promise((resolve) => {
        let done = false;
        const finish = (result: ExtractionOutput | ExtractionFailure, broken: boolean) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          worker.off("message", onMessage);
          worker.off("error", onError);
          worker.off("exit", onExit);
          if (broken) discard(worker);
          resolve(result);
        };
        const fail = (reason: ExtractionFailure["reason"], detail: string): ExtractionFailure => ({ ok: false, reason, detail, active: [] });
        const timer = setTimeout(() => finish(fail("time-budget", `more than ${timeoutMs} ms`), true), Math.max(1, timeoutMs));
        const onMessage = (msg: { id: number; result: ExtractionOutput | ExtractionFailure }) => {
          if (msg.id === id) finish(msg.result, false);
        };
        const onError = (error: Error) => {
          const oom = (error as NodeJS.ErrnoException).code === "ERR_WORKER_OUT_OF_MEMORY";
          finish(oom ? fail("memory-budget", `more than ${limits.maxMemoryMb} MiB`) : fail("worker-failed", error.message.slice(0, 100)), true);
        };
        const onExit = (code: number) => finish(fail("worker-failed", `exited (code ${code})`), true);
        worker.on("message", onMessage);
        worker.on("error", onError);
        worker.on("exit", onExit);
        worker.postMessage({ id, kind, bytes, limits, timeoutMs });
      });
    },
    async close() {
      const worker = current?.worker;
      current = undefined;
      if (worker) await worker.terminate().catch(() => 0);
    },
  };
}
