/**
 * The example rules over every message of the shared corpus (real, often
 * malformed mail): deciding never throws, the explanation `rules test` prints
 * agrees with the decision the gateway takes, and only known rules are named.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { requireCorpus } from "../helpers/corpus.ts";
import { analyze } from "../../src/sanitize/index.ts";
import { limitsSchema } from "../../src/config/schema.ts";
import { loadRulesFile } from "../../src/rules/index.ts";

const CORPUS = requireCorpus() ?? "";
const present = CORPUS !== "";

describe.skipIf(!present)("the example rules over the corpus", () => {
  it("decide() and explain() agree on every message and name only rules of the file", async () => {
    const { engine } = await loadRulesFile(path.join(import.meta.dirname, "../../config/rules.example.yaml"));
    const names = new Set(engine.rules.map((r) => r.name));
    const files = readFileSync(path.join(CORPUS, "index.tsv"), "utf8").trim().split("\n").slice(1).map((l) => l.split("\t")[0]!);
    expect(files.length).toBeGreaterThan(100);
    const limits = limitsSchema.parse({});
    const now = new Date("2026-11-26T01:00:00Z");
    let tagged = 0;
    for (const file of files) {
      const { facts } = await analyze(readFileSync(path.join(CORPUS, file)), limits);
      const envelope = { mailFrom: facts.from[0]?.address ?? "", rcptTo: ["kikaku@city.example.lg.jp"], clientAddress: "203.0.113.5", clientHelo: "mx" };
      const decision = engine.decide(facts, envelope, now);
      const explained = engine.explain(facts, envelope, now);
      expect(explained.decision, file).toEqual(decision);
      expect(explained.trace.filter((t) => t.matched).map((t) => t.name), file).toEqual(decision.rulesApplied);
      for (const name of decision.rulesApplied) expect(names.has(name), file).toBe(true);
      if (decision.render.subjectTags.length > 0) tagged++;
    }
    // the corpus is Internet mail: most of it is "outside" and tagged
    expect(tagged).toBeGreaterThan(files.length / 2);
  });
});
