import { describe, expect, it } from "vitest";
import { Worker } from "node:worker_threads";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseRules } from "../../src/rules/index.ts";

function inWorker(text: string): Promise<unknown> {
  const worker = new Worker(path.join(import.meta.dirname, "parse-in-worker.ts"));
  return new Promise((resolve, reject) => {
    worker.once("message", (m) => {
      void worker.terminate();
      resolve(m);
    });
    worker.once("error", reject);
    worker.postMessage(text);
  });
}

describe("parseRules in a worker thread", () => {
  it("validates plain text there and gives the same version as on the main thread", async () => {
    const text = readFileSync(path.join(import.meta.dirname, "../../config/rules.example.yaml"), "utf8");
    const main = parseRules(text, "rules.yaml");
    expect(await inWorker(text)).toEqual({ ok: true, version: main.version, names: main.rules.map((r) => r.name) });
  });

  it("reports problems as plain, cloneable data", async () => {
    expect(await inWorker("rules:\n  - name: a\n    then: { links: html }\n")).toEqual({
      ok: false,
      problems: [{ file: "rules.yaml", line: 3, column: 20, message: expect.stringMatching(/links: "html" is not allowed/) }],
    });
  });
});
