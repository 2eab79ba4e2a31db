/** Worker body for worker.test.ts: parses rules text received as plain data and answers with plain data. */
import { parentPort } from "node:worker_threads";
import { parseRules, RulesError } from "../../src/rules/index.ts";

parentPort!.on("message", (text: string) => {
  try {
    const engine = parseRules(text, "rules.yaml", { loadTemplate: () => "template from the main thread's files is not needed here" });
    parentPort!.postMessage({ ok: true, version: engine.version, names: engine.rules.map((r) => r.name) });
  } catch (error) {
    parentPort!.postMessage({ ok: false, problems: error instanceof RulesError ? error.problems : String(error) });
  }
});
