/**
 * A worker thread of `mumuka rules replay`: analyzes one retained original at
 * a time and returns its facts. Nothing is rendered, delivered or written:
 * the replay decides with both rule sets on the main thread.
 *
 * Protocol (main → worker → main):
 *   {id, region: {file, offset, length}, limits} | {id, bytes, limits}  →  {id, facts} | {id, error}
 *
 * SECURITY: the message bytes are hostile (a real message as received). This
 * thread runs the same pure analyzer as the gateway, with V8 resource limits
 * set by the pool and the analyzer's own time budget; the pool kills it when
 * it overruns, so a pathological message ends as "analysis failed" in the
 * report, never as a crash of the replay.
 * Crash state: none; a replay writes nothing but its one audit event.
 */
import { parentPort } from "node:worker_threads";
import type { Limits } from "../config/schema.ts";
import { analyze } from "../sanitize/index.ts";
import { regionInput } from "../spool/region-input.ts";

export interface ReplayJob {
  id: number;
  region?: { file: string; offset: number; length: number };
  bytes?: Uint8Array;
  limits: Limits;
}

const port = parentPort!;
port.on("message", (job: ReplayJob) => {
  void run(job).catch((error: unknown) => {
    const e = error as Error;
    port.postMessage({ id: job.id, error: `${e?.name ?? "Error"}: ${e?.message ?? String(error)}` });
  });
});

async function run(job: ReplayJob): Promise<void> {
  const input = job.bytes ? Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength) : regionInput(job.region!);
  const budget = new AbortController();
  const timer = setTimeout(() => budget.abort(), job.limits.maxTimeMs);
  const analyzed = await analyze(input, job.limits, budget.signal).finally(() => clearTimeout(timer));
  port.postMessage({ id: job.id, facts: analyzed.facts });
}
