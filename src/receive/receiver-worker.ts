/**
 * The receiver thread's entry point (see receiver-thread.ts): runs
 * createReceiver() with a spool of its own, and reports audit events,
 * refusals and queued messages to the main thread.
 *
 * SECURITY: see smtp-receiver.ts; this file only wires it.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { AuditEventInput } from "../audit/audit-types.ts";
import type { Config } from "../config/schema.ts";
import { createLogger } from "../lib/logger.ts";
import type { Metrics } from "../lib/metrics.ts";
import { openSpool } from "../spool/spool.ts";
import type { FromReceiverThread } from "./receiver-thread.ts";
import { createRecipientVerifier, type VerifyTarget } from "./recipient-verify.ts";
import { createReceiver } from "./smtp-receiver.ts";

const data = workerData as { smtp: Config["smtp"]; hostname: string; dataDir: string; log: Config["log"]; verify?: VerifyTarget };
const port = parentPort!;
const post = (msg: FromReceiverThread) => port.postMessage(msg);

const logger = createLogger(data.log).child({ thread: "receiver" });
async function main(): Promise<void> {
  let receiver: ReturnType<typeof createReceiver>;
  try {
    const spool = await openSpool(data.dataDir);
    receiver = createReceiver({
      smtp: data.smtp,
      hostname: data.hostname,
      spool,
      audit: { record: (event: AuditEventInput) => post({ type: "audit", event }), flush: async () => {} },
      logger,
      metrics: { refused: { inc: (labels: { reason: string }) => post({ type: "refused", reason: labels.reason }) } } as unknown as Pick<Metrics, "refused">,
      onQueued: (id, info) => post({ type: "queued", id, info: info! }),
      ...(data.verify ? { verifier: createRecipientVerifier(data.verify) } : {}),
    });
  } catch (error) {
    // a setting that cannot work (an unreadable TLS key, …): reported like a failed listen, so that
    // listen() rejects; the thread stays (its port open) until the main side terminates it, rather
    // than dying and being restarted every second
    const e = error as NodeJS.ErrnoException;
    post({ type: "listen-error", message: e.message, ...(e.code ? { code: e.code } : {}) });
    port.on("message", () => {});
    return;
  }

  port.on("message", (msg: { type: string }) => {
    if (msg.type === "close") {
      void receiver.close().then(() => {
        post({ type: "closed" });
        port.close();
      });
    }
  });

  try {
    const address = await receiver.listen();
    post({ type: "listening", address });
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    post({ type: "listen-error", message: e.message, ...(e.code ? { code: e.code } : {}) });
  }
}

await main();
