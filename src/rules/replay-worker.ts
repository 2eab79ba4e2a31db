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
import { closeSync, createReadStream, openSync, readSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import type { Limits } from "../config/schema.ts";
import { analyze } from "../sanitize/index.ts";

export interface ReplayJob {
  id: number;
  region?: { file: string; offset: number; length: number };
  bytes?: Uint8Array;
  limits: Limits;
}

/** messages up to 1 MiB (nearly all mail) are read with one read; larger ones are streamed (bounded memory) */
const READ_ONCE_BYTES = 1024 * 1024;

function readRegion(file: string, offset: number, length: number): Buffer {
  const buffer = Buffer.allocUnsafe(length);
  const fd = openSync(file, "r");
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(fd, buffer, done, length - done, offset + done);
      if (n === 0) throw new Error("the retained original is shorter than its framing says");
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return buffer;
}

const port = parentPort!;
port.on("message", (job: ReplayJob) => {
  void run(job).catch((error: unknown) => {
    const e = error as Error;
    port.postMessage({ id: job.id, error: `${e?.name ?? "Error"}: ${e?.message ?? String(error)}` });
  });
});

async function run(job: ReplayJob): Promise<void> {
  let input: Buffer | NodeJS.ReadableStream;
  if (job.bytes) input = Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength);
  else {
    const r = job.region!;
    input =
      r.length <= READ_ONCE_BYTES
        ? readRegion(r.file, r.offset, r.length)
        : r.length === 0
          ? Buffer.alloc(0)
          : createReadStream(r.file, { start: r.offset, end: r.offset + r.length - 1 });
  }
  const budget = new AbortController();
  const timer = setTimeout(() => budget.abort(), job.limits.maxTimeMs);
  const analyzed = await analyze(input as Parameters<typeof analyze>[0], job.limits, budget.signal).finally(() => clearTimeout(timer));
  port.postMessage({ id: job.id, facts: analyzed.facts });
}
