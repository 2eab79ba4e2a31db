/**
 * The main thread's side of the authentication thread (auth-worker.ts): sends
 * each record to verify, matches the answers to the requests, and keeps the
 * thread alive. Verification costs CPU per message (DKIM: hashing, header
 * parsing, RSA; mailauth's parsing of the message again); on the main thread
 * that cost fell on the queue, the rules and delivery, which are the relay's
 * bottleneck (docs/authentication.md §8).
 *
 * Whatever goes wrong gives a temperror verdict, never a pass and never an
 * exception: the thread dies (out of memory on a hostile message, a library
 * crash) → every verification it had is temperror and a new thread starts
 * for the next; no answer within the verification's own bound
 * (authentication.timeoutMs) and a margin → the thread is taken as stuck,
 * replaced, and its verifications are temperror.
 *
 * SECURITY: what crosses back is an AuthVerdict built by allow-list in the
 * thread; only its structure is trusted here.
 * Crash state: memory only.
 */
import { Worker } from "node:worker_threads";
import type { AuthenticationConfig } from "../config/schema.ts";
import type { RecordVerdict, VerifyRecord } from "./auth-stage.ts";
import type { AuthRequest, AuthThreadData } from "./auth-worker.ts";
import type { AuthVerdict } from "./auth-types.ts";

export interface AuthThreadOptions {
  config: AuthenticationConfig;
  hostname: string;
  maxHeaderBytes: number;
  /** the verdict when nothing could be verified (Authenticator.unverified) */
  unverified(peer: string): AuthVerdict;
  /** beyond authentication.timeoutMs, how long before the thread is taken as stuck (ms) */
  graceMs?: number;
  /** each thread as it starts (tests use it to end one) */
  onThread?(worker: Worker): void;
}

export interface AuthThread {
  verify: VerifyRecord;
  /** ends the thread; verifications still waiting are temperror */
  close(): Promise<void>;
}

/** the thread's V8 heap: mailauth keeps the header block and hashes the body as it passes */
const HEAP_MB = 256;
const YOUNG_GENERATION_MB = 16;
const DEFAULT_GRACE_MS = 5_000;

interface Waiting {
  peer: string;
  resolve(result: RecordVerdict): void;
  timer: NodeJS.Timeout;
}

export function createAuthThread(options: AuthThreadOptions): AuthThread {
  const url = new URL(import.meta.url.endsWith(".ts") ? "./auth-worker.ts" : "./auth-worker.js", import.meta.url);
  const grace = options.graceMs ?? DEFAULT_GRACE_MS;
  const data: AuthThreadData = { config: options.config, hostname: options.hostname, maxHeaderBytes: options.maxHeaderBytes };
  let worker: Worker | undefined;
  /** the requests of the current thread (a new thread starts with none) */
  let waiting = new Map<number, Waiting>();
  let nextId = 1;
  let closed = false;

  /** every verification of the thread that ended is temperror; the next request starts a new thread */
  function lose(w: Worker, why: string): void {
    if (worker !== w) return;
    worker = undefined;
    const lost = waiting;
    waiting = new Map();
    void w.terminate().catch(() => 0);
    for (const entry of lost.values()) {
      clearTimeout(entry.timer);
      entry.resolve({ verdict: options.unverified(entry.peer), readError: why });
    }
  }

  function thread(): Worker {
    if (worker) return worker;
    const w = new Worker(url, {
      name: "mumuka-auth", // the thread's name in ps/top (and the benchmark's CPU by thread)
      workerData: data,
      resourceLimits: { maxOldGenerationSizeMb: HEAP_MB, maxYoungGenerationSizeMb: YOUNG_GENERATION_MB, stackSizeMb: 8 },
    });
    // an idle thread does not keep the process alive; a waiting verification is held by its caller
    w.unref();
    w.on("message", (msg: { id: number } & RecordVerdict) => {
      const entry = waiting.get(msg.id);
      if (!entry) return;
      waiting.delete(msg.id);
      clearTimeout(entry.timer);
      entry.resolve(msg.readError === undefined ? { verdict: msg.verdict } : { verdict: msg.verdict, readError: msg.readError });
    });
    w.on("error", (error) => lose(w, `authentication thread failed: ${error.message}`));
    w.on("exit", (code) => lose(w, `authentication thread exited (code ${code})`));
    worker = w;
    options.onThread?.(w);
    return w;
  }

  return {
    verify(region, envelope) {
      if (closed) return Promise.resolve({ verdict: options.unverified(envelope.clientAddress), readError: "the gateway is shutting down" });
      const w = thread();
      const id = nextId++;
      return new Promise<RecordVerdict>((resolve) => {
        const timer = setTimeout(() => lose(w, "authentication thread did not answer in time"), options.config.timeoutMs + grace);
        waiting.set(id, { peer: envelope.clientAddress, resolve, timer });
        w.postMessage({ id, region, envelope } satisfies AuthRequest);
      });
    },
    async close() {
      closed = true;
      const w = worker;
      if (w) {
        lose(w, "the gateway is shutting down");
        await w.terminate().catch(() => 0);
      }
    },
  };
}
