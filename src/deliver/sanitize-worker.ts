/**
 * A sanitizer worker thread: reads one message region from a spool file,
 * analyzes it, hands the facts to the main thread (which asks the rules), then
 * renders with the options it gets back. One job at a time.
 *
 * Protocol (main → worker → main):
 *   {type:"analyze", file, offset, length, limits}  → {type:"analyzed", facts} | {type:"error"}
 *   {type:"analyze", …, render: options}             → {type:"rendered", facts, message, report} (no rules: one trip)
 *   {type:"render", options}                         → {type:"rendered", message, report} | {type:"error"}
 *   {type:"drop"}                                    (the rules rejected or held it)
 *
 * SECURITY: the message bytes are hostile; this thread runs with V8 resource
 * limits (set by the pool) and under a wall-clock budget, so a pathological
 * message kills this worker, never the gateway.
 * Crash state: none; the message stays in the spool and is held by the pool.
 */
import { createReadStream } from "node:fs";
import { parentPort } from "node:worker_threads";
import { analyze, render } from "../sanitize/index.ts";
import type { Limits } from "../config/schema.ts";
import type { AnalyzedMessage, RenderOptions } from "../sanitize/sanitize-types.ts";

type Request =
  | { type: "analyze"; file: string; offset: number; length: number; limits: Limits; render?: RenderOptions }
  | { type: "render"; options: RenderOptions }
  | { type: "drop" };

let current: AnalyzedMessage | undefined;

const port = parentPort!;
port.on("message", (request: Request) => {
  void handle(request).catch((error: unknown) => {
    current = undefined;
    const e = error as Error;
    port.postMessage({ type: "error", message: `${e?.name ?? "Error"}: ${e?.message ?? String(error)}` });
  });
});

async function handle(request: Request): Promise<void> {
  if (request.type === "analyze") {
    const input =
      request.length === 0
        ? createReadStream("/dev/null")
        : createReadStream(request.file, { start: request.offset, end: request.offset + request.length - 1 });
    // the analyzer's own time budget; the pool also enforces one from outside
    const signal = AbortSignal.timeout(request.limits.maxTimeMs);
    const analyzed = await analyze(input, request.limits, signal);
    if (request.render) {
      // eager: no rules to consult, render at once and send facts with the result
      const result = await render(analyzed, request.render);
      port.postMessage({ type: "rendered", facts: analyzed.facts, message: result.message, report: result.report });
      return;
    }
    current = analyzed;
    port.postMessage({ type: "analyzed", facts: analyzed.facts });
  } else if (request.type === "render") {
    if (!current) throw new Error("render without analysis");
    const result = await render(current, request.options);
    current = undefined;
    const message = result.message;
    port.postMessage({ type: "rendered", message, report: result.report });
  } else {
    current = undefined;
  }
}
