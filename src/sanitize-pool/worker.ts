/**
 * A sanitizer worker thread (of the pool in pool.ts): reads one message region from a spool file,
 * analyzes it, hands the facts to the main thread (which asks the rules), then
 * renders with the options it gets back. One job at a time.
 *
 * Protocol (main → worker → main):
 *   {type:"analyze", file, offset, length, limits}  → {type:"analyzed", facts, limitsHit} | {type:"error"}
 *   {type:"analyze", bytes, limits}                  (the same, for bytes in memory: the console's trial)
 *   {type:"analyze", …, render: options}             → {type:"rendered", facts, message, report} (no rules: one trip)
 *   {type:"render", options}                         → {type:"rendered", message, report} | {type:"error"}
 *   {type:"drop"}                                    (the rules rejected or held it)
 *
 * SECURITY: the message bytes are hostile; this thread runs with V8 resource
 * limits (set by the pool) and under a wall-clock budget, so a pathological
 * message kills this worker, never the gateway.
 * Crash state: none; the message stays in the spool and is held by the pool.
 */
import type { Readable } from "node:stream";
import { parentPort } from "node:worker_threads";
import { analyze, render } from "../sanitize/index.ts";
import type { Limits } from "../config/schema.ts";
import type { AnalyzedMessage, RenderOptions } from "../sanitize/sanitize-types.ts";
import { createExtractRunner, extractInto } from "../extract/index.ts";
import { regionInput } from "../spool/region-input.ts";

type Request =
  | ({ type: "analyze"; limits: Limits; render?: RenderOptions } & ({ file: string; offset: number; length: number } | { bytes: Uint8Array }))
  | { type: "render"; options: RenderOptions }
  | { type: "drop" };

let current: AnalyzedMessage | undefined;
/** text extraction from attachments, in a thread of its own (started on the first document) */
const extractRunner = createExtractRunner();
/** extraction ends this long before the job's time budget, so rendering still fits in it */
const EXTRACT_MARGIN_MS = 500;
/** when the current job's time budget ends (performance.now() scale) */
let deadline = 0;
const clock = (): number => performance.now();

/** the message bytes of a job: given (the console's trial), read at once, or streamed from the spool record */
function inputOf(request: Extract<Request, { type: "analyze" }>): Buffer | Readable {
  if ("bytes" in request) return Buffer.from(request.bytes.buffer, request.bytes.byteOffset, request.bytes.byteLength);
  return regionInput(request);
}

/**
 * The sanitized message's memory is moved to the main thread, not copied by the structured clone,
 * when the Buffer has an ArrayBuffer of its own (a large one always has; a small one may sit in
 * Node's shared pool, which must stay here, and is copied). It is not used here afterwards.
 */
function handedOver(message: Buffer): ArrayBuffer[] {
  const memory = message.buffer;
  return memory instanceof ArrayBuffer && message.byteOffset === 0 && message.byteLength === memory.byteLength ? [memory] : [];
}

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
    const input = inputOf(request);
    // the analyzer's own time budget (the pool also enforces one from outside); a timer cleared at
    // the end, not AbortSignal.timeout(), whose timer would outlive every message by the whole budget
    const budget = new AbortController();
    deadline = clock() + request.limits.maxTimeMs - EXTRACT_MARGIN_MS;
    const timer = setTimeout(() => budget.abort(), request.limits.maxTimeMs);
    const analyzed = await analyze(input, request.limits, budget.signal).finally(() => clearTimeout(timer));
    if (request.render) {
      // eager: no rules to consult, render at once and send facts with the result
      await extractInto(analyzed, request.render, extractRunner, clock, deadline);
      const result = await render(analyzed, request.render);
      port.postMessage({ type: "rendered", facts: analyzed.facts, message: result.message, report: result.report, text: result.text }, handedOver(result.message));
      return;
    }
    current = analyzed;
    // the limits reached go with the facts: the pool may end the job there (a time budget means "held")
    port.postMessage({ type: "analyzed", facts: analyzed.facts, limitsHit: analyzed.content?.limitsHit ?? [] });
  } else if (request.type === "render") {
    if (!current) throw new Error("render without analysis");
    await extractInto(current, request.options, extractRunner, clock, deadline);
    const result = await render(current, request.options);
    current = undefined;
    const message = result.message;
    port.postMessage({ type: "rendered", message, report: result.report, text: result.text }, handedOver(message));
  } else {
    current = undefined;
  }
}
