/**
 * The extraction worker thread (started by runner.ts): one document at a
 * time, `{id, kind, bytes, limits}` → `{id, result}`. The file system is read
 * here only for pdf.js's packed Adobe CMaps, from the pdfjs-dist package
 * itself, by a name checked against a strict pattern.
 *
 * SECURITY: the document is hostile; this thread runs under a heap limit and
 * is terminated past its time budget (runner.ts). Crash state: none.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { parentPort } from "node:worker_threads";
import type { ExtractKind, ExtractLimits } from "./extract-types.ts";
import { extractDocument } from "./extract.ts";

// this thread has nothing to log, and must not log mail content: pdf.js's warnings (which can
// quote a document's font names) and its notice about optional canvas support go nowhere
console.log = console.warn = console.info = console.debug = () => {};

const require = createRequire(import.meta.url);
const CMAP_DIR = join(dirname(require.resolve("pdfjs-dist/package.json")), "cmaps");
/** CMap names are Adobe's ("UniJIS-UCS2-H", "90ms-RKSJ-V", "Adobe-Japan1-UCS2"): nothing else is read */
const CMAP_NAME = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,80}\.bcmap$/;
const cache = new Map<string, Uint8Array | undefined>();

function cmap(filename: string): Uint8Array | undefined {
  if (!CMAP_NAME.test(filename) || filename.includes("..")) return undefined;
  if (cache.has(filename)) return cache.get(filename);
  let data: Uint8Array | undefined;
  try {
    data = new Uint8Array(readFileSync(join(CMAP_DIR, filename)));
  } catch {
    data = undefined;
  }
  cache.set(filename, data);
  return data;
}

// pdf.js may reject a promise of its own after a document is done with (a destroyed task's
// leftovers): that must not end the thread the next document needs
process.on("unhandledRejection", () => {});

const port = parentPort!;
/** share of a document's time budget after which no further page is started (the rest is the margin to answer) */
const SOFT_SHARE = 0.8;

port.on("message", (msg: { id: number; kind: ExtractKind; bytes: Uint8Array; limits: ExtractLimits; timeoutMs: number }) => {
  const soft = performance.now() + msg.timeoutMs * SOFT_SHARE;
  void extractDocument(msg.kind, msg.bytes, msg.limits, cmap, () => performance.now() > soft).then(
    (result) => port.postMessage({ id: msg.id, result }),
    (error: unknown) => port.postMessage({ id: msg.id, result: { ok: false, reason: "worker-failed", detail: String((error as Error)?.message ?? error).slice(0, 100), active: [] } }),
  );
});
