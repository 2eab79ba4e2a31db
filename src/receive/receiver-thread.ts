/**
 * Runs the SMTP receiver (smtp-server + spool writes) in its own thread, so
 * that receiving and the queue manager (sanitizer round trips, delivery,
 * audit) use both cores instead of sharing one event loop. The thread owns
 * the listening socket and writes the spool exactly as the in-process
 * receiver does; it tells this side, in order, each audit event and each
 * message it queued.
 *
 * If the thread dies unexpectedly it is started again (a crash of the
 * receiver must not stop delivery, and a message whose 250 was not sent is
 * retried by its client).
 *
 * SECURITY: the thread handles all network input; what crosses to this side
 * is our own structured data (queue ids, framing, audit events).
 * Crash state: as for the in-process receiver.
 */
import type { AddressInfo } from "node:net";
import { Worker } from "node:worker_threads";
import type { AuditEventInput, AuditSink } from "../audit/audit-types.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../lib/logger.ts";
import type { Metrics } from "../lib/metrics.ts";
import type { RecordInfo } from "../spool/record.ts";
import type { VerifyTarget } from "./recipient-verify.ts";
import type { Receiver } from "./smtp-receiver.ts";

export interface ReceiverThreadOptions {
  smtp: Config["smtp"];
  hostname: string;
  dataDir: string;
  log: Config["log"];
  /** smtp.verifyRecipients: where and how the thread asks about recipients */
  verify?: VerifyTarget;
  audit: AuditSink;
  logger: Logger;
  metrics?: Pick<Metrics, "refused">;
  onQueued(id: string, info?: RecordInfo): void;
  /** each receiver thread as it starts (tests use it to kill one) */
  onThread?(worker: Worker): void;
}

export type FromReceiverThread =
  | { type: "listening"; address: AddressInfo }
  | { type: "listen-error"; message: string; code?: string }
  | { type: "queued"; id: string; info: RecordInfo }
  | { type: "audit"; event: AuditEventInput }
  | { type: "refused"; reason: string }
  | { type: "closed" };

/**
 * The receiver's V8 young generation: 6 MiB, i.e. 2 MiB semi-spaces, as the main thread's
 * (--max-semi-space-size=2 in the unit): its garbage is per-session and short-lived (SMTP
 * dialogue, small buffers), and the default lets the semi-spaces grow to 16 MiB under load for
 * no CPU gain (docs/relay.md, heap sizing). Set here so it holds without NODE_OPTIONS too. The
 * old generation is left to V8: a hard limit would turn a burst of sessions into a crash.
 */
const RECEIVER_YOUNG_GENERATION_MB = 6;

/** a receiver thread that keeps dying is not restarted faster than this (ms) */
const RESTART_DELAY_MS = 1_000;

export function createThreadedReceiver(options: ReceiverThreadOptions): Receiver {
  const url = new URL(import.meta.url.endsWith(".ts") ? "./receiver-worker.ts" : "./receiver-worker.js", import.meta.url);
  let worker: Worker | undefined;
  let closing = false;
  let listened: AddressInfo | undefined;
  let closedWaiter: (() => void) | undefined;

  function spawn(onListening: (address: AddressInfo) => void, onListenError: (error: Error) => void): void {
    const w = new Worker(url, {
      name: "mumuka-receive", // the thread's name in ps/top (and the benchmark's CPU by thread)
      resourceLimits: { maxYoungGenerationSizeMb: RECEIVER_YOUNG_GENERATION_MB },
      workerData: { smtp: listened ? { ...options.smtp, port: listened.port } : options.smtp, hostname: options.hostname, dataDir: options.dataDir, log: options.log, verify: options.verify },
    });
    worker = w;
    options.onThread?.(w);
    w.on("message", (msg: FromReceiverThread) => {
      switch (msg.type) {
        case "listening":
          onListening(msg.address);
          break;
        case "listen-error":
          onListenError(Object.assign(new Error(msg.message), { code: msg.code }));
          break;
        case "audit":
          options.audit.record(msg.event);
          break;
        case "queued":
          options.onQueued(msg.id, msg.info);
          break;
        case "refused":
          options.metrics?.refused.inc({ reason: msg.reason });
          break;
        case "closed":
          closedWaiter?.();
          break;
      }
    });
    w.on("error", (error) => options.logger.error({ err: error }, "receiver thread failed"));
    w.on("exit", (code) => {
      if (worker === w) worker = undefined;
      if (closing) {
        closedWaiter?.();
        return;
      }
      options.logger.error({ code }, "receiver thread exited; starting it again");
      setTimeout(() => {
        if (!closing) spawn(() => options.logger.info("receiver thread listening again"), (e) => options.logger.error({ err: e }, "receiver thread cannot listen"));
      }, RESTART_DELAY_MS).unref();
    });
  }

  return {
    listen() {
      return new Promise((resolve, reject) => {
        spawn(
          (address) => {
            listened = address;
            resolve(address);
          },
          (error) => {
            closing = true;
            void worker?.terminate();
            reject(error);
          },
        );
      });
    },
    close() {
      closing = true;
      const w = worker;
      if (!w) return Promise.resolve();
      return new Promise<void>((resolve) => {
        closedWaiter = () => resolve();
        w.postMessage({ type: "close" });
      }).then(() => w.terminate().then(() => undefined));
    },
  };
}
