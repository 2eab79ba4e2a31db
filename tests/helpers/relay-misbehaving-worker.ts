/**
 * A sanitizer worker that misbehaves on demand, to test the pool's promise
 * (never crash the gateway, replace the worker, hold the message): the file
 * name says what to do — "hang", "crash", "oom", "throw"; anything else is
 * answered properly (facts with the file's length, the bytes echoed back).
 */
import { readFileSync } from "node:fs";
import { parentPort } from "node:worker_threads";

let bytes: Buffer | undefined;
parentPort!.on("message", (req: { type: string; file?: string }) => {
  if (req.type === "analyze") {
    const file = req.file!;
    if (file.endsWith("hang")) for (;;);
    if (file.endsWith("crash")) process.exit(7);
    if (file.endsWith("throw")) throw new Error("boom");
    if (file.endsWith("oom")) {
      const hog: number[][] = [];
      for (;;) hog.push(new Array(1_000_000).fill(1));
    }
    bytes = readFileSync(file);
    parentPort!.postMessage({ type: "analyzed", facts: { size: bytes.length, sha256: "x" } });
  } else if (req.type === "render") {
    parentPort!.postMessage({ type: "rendered", message: bytes, report: { ok: true } });
  }
});
