/**
 * The promise on real mail: every message of the shared corpus goes through
 * sanitize(); none throws, none hangs, every output satisfies the invariant
 * (parsed again independently), the output is reproducible, and Japanese
 * messages keep their Japanese words.
 *
 * Messages run in batches (one test per batch) so a failure names its files
 * without 1,443 test lines. Time is bounded by `limits.maxTimeMs` and an
 * AbortSignal; a watchdog only detects a core that ignores both (a hang), it
 * does not assert speed. Figures (count, failures, slowest) are written to
 * $MUMUKA_CORPUS_SUMMARY or /tmp/mumuka-corpus-summary.json.
 */
import { writeFileSync } from "node:fs";
import { simpleParser } from "mailparser";
import { afterAll, describe, expect, it } from "vitest";
import { sanitize } from "../../src/sanitize/index.ts";
import type { SanitizeResult } from "../../src/sanitize/sanitize-types.ts";
import { corpusEntries, readCorpusMessage, requireCorpus, sampleEvery, type CorpusEntry } from "../helpers/corpus.ts";
import { checkSanitized } from "../helpers/invariant.ts";
import { TEST_AUDIT_ID, testOptions } from "../helpers/options.ts";

const dir = requireCorpus();
const entries = corpusEntries(dir);
const BATCH = 60;
const batches: CorpusEntry[][] = [];
for (let i = 0; i < entries.length; i += BATCH) batches.push(entries.slice(i, i + BATCH));

/** Past this a sanitization that ignored its own time limit and its AbortSignal counts as hung. */
const WATCHDOG_MS = 45_000;

interface Timing {
  path: string;
  ms: number;
}
const timings: Timing[] = [];
const failures: Array<{ path: string; problems: string[] }> = [];

/** sanitize() with the limits and a signal; the watchdog settles the race only if the core ignores both. */
async function runOne(input: Buffer): Promise<SanitizeResult> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle ${WATCHDOG_MS} ms after start despite maxTimeMs and AbortSignal (hang)`)), WATCHDOG_MS);
  });
  try {
    return await Promise.race([sanitize(input, testOptions({ signal: AbortSignal.timeout(15_000), limits: { maxTimeMs: 10_000 } })), hang]);
  } finally {
    clearTimeout(timer);
  }
}

describe.skipIf(!dir)("every corpus message", () => {
  it.each(batches.map((batch, i) => [`${i * BATCH + 1}–${i * BATCH + batch.length}`, batch] as const))(
    "messages %s come out sanitized, none throwing or hanging",
    async (_label, batch) => {
      const batchFailures: string[] = [];
      for (const entry of batch) {
        const input = readCorpusMessage(entry, dir);
        const started = performance.now();
        let problems: string[];
        try {
          const result = await runOne(input);
          timings.push({ path: entry.path, ms: performance.now() - started });
          problems = (await checkSanitized(result, { input, auditId: TEST_AUDIT_ID })).violations;
        } catch (error) {
          timings.push({ path: entry.path, ms: performance.now() - started });
          problems = [`threw: ${(error as Error).stack?.split("\n").slice(0, 3).join(" | ") ?? String(error)}`];
        }
        if (problems.length > 0) {
          failures.push({ path: entry.path, problems });
          batchFailures.push(`${entry.path} [${entry.tags.join(",")}]\n    ${problems.slice(0, 4).join("\n    ")}`);
        }
      }
      expect(batchFailures, `${batchFailures.length} of ${batch.length} failed:\n${batchFailures.join("\n")}`).toEqual([]);
    },
    240_000,
  );

  afterAll(() => {
    if (timings.length === 0) return;
    const sorted = [...timings].sort((a, b) => b.ms - a.ms);
    const summary = {
      messages: timings.length,
      failures: failures.length,
      failed: failures.map((f) => ({ path: f.path, problems: f.problems.slice(0, 5) })),
      slowest: sorted.slice(0, 5).map((t) => ({ path: t.path, ms: Math.round(t.ms) })),
      totalMs: Math.round(timings.reduce((s, t) => s + t.ms, 0)),
    };
    const file = process.env.MUMUKA_CORPUS_SUMMARY ?? "/tmp/mumuka-corpus-summary.json";
    try {
      writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
    } catch {
      // the figures are a convenience; the assertions above are the test
    }
    console.log(`[corpus.test] ${summary.messages} messages, ${summary.failures} failures, slowest ${summary.slowest[0]?.path} ${summary.slowest[0]?.ms} ms`);
  });
});

describe.skipIf(!dir)("corpus messages under other options", () => {
  // the invariant holds for every presentation an operator can choose, not only the defaults
  it.each([
    ["ISO-2022-JP output, English notice", { charset: "iso-2022-jp", language: "en" }],
    ["links kept, HTML alternative preferred", { links: "keep", alternative: "html" }],
    ["links removed, text alternative, inline .txt, subject tag", { links: "remove", alternative: "text", inlineText: ["txt", "csv"], subjectTags: ["[外部]"] }],
  ] as const)("satisfy the invariant with %s (150 sampled messages)", async (_label, overrides) => {
    const problems: string[] = [];
    for (const entry of sampleEvery(entries, 150)) {
      const input = readCorpusMessage(entry, dir);
      try {
        const result = await sanitize(input, testOptions({ ...overrides, inlineText: [...(("inlineText" in overrides && overrides.inlineText) || [])], subjectTags: [...(("subjectTags" in overrides && overrides.subjectTags) || [])] }));
        const { violations } = await checkSanitized(result, { input });
        if (violations.length) problems.push(`${entry.path}: ${violations.slice(0, 3).join("; ")}`);
      } catch (error) {
        problems.push(`${entry.path}: threw ${(error as Error).message}`);
      }
    }
    expect(problems, problems.join("\n")).toEqual([]);
  }, 240_000);
});

describe.skipIf(!dir)("corpus determinism", () => {
  it("gives byte-identical output and report for the same input, options, time and id", async () => {
    const sample = sampleEvery(entries, 40);
    const differing: string[] = [];
    for (const entry of sample) {
      const input = readCorpusMessage(entry, dir);
      const a = await sanitize(input, testOptions());
      const b = await sanitize(input, testOptions());
      if (!a.message.equals(b.message) || JSON.stringify(a.report) !== JSON.stringify(b.report)) differing.push(entry.path);
    }
    expect(differing).toEqual([]);
  }, 120_000);
});

/** Runs of Japanese script: kana, CJK ideographs, the long-vowel mark. */
const JAPANESE_RUN = /[\u3041-\u3096\u30a1-\u30fa\u30fc\u4e00-\u9fff]{4,}/g;
const KANA = /[\u3041-\u3096\u30a1-\u30fa]/;

/**
 * What mailparser (an independent decoder) reads as the message's Japanese:
 * the subject and a few runs of its text. Runs that mailparser decodes as
 * Japanese must survive the sanitizer intact (not split by wrapping, not
 * replaced by U+FFFD).
 */
async function japaneseOf(input: Buffer): Promise<{ subject: string; runs: string[]; hasReplacement: boolean }> {
  const parsed = await simpleParser(input, { skipImageLinks: true, skipTextToHtml: true });
  const text = parsed.text ?? "";
  const runs = [...new Set(text.match(JAPANESE_RUN) ?? [])].filter((r) => KANA.test(r)).slice(0, 3).map((r) => r.slice(0, 10));
  const subject = parsed.subject ?? "";
  return { subject: KANA.test(subject) ? subject : "", runs, hasReplacement: text.includes("\ufffd") || subject.includes("\ufffd") };
}

describe.skipIf(!dir)("Japanese corpus messages", () => {
  const japanese = entries.filter((e) => e.tags.includes("japanese"));
  it(`keep their Japanese words intact (${japanese.length} messages tagged japanese)`, async () => {
    const problems: string[] = [];
    let checked = 0;
    for (const entry of japanese) {
      const input = readCorpusMessage(entry, dir);
      let expected: Awaited<ReturnType<typeof japaneseOf>>;
      try {
        expected = await japaneseOf(input);
      } catch {
        continue; // mailparser cannot read it: no independent opinion to compare with
      }
      if (!expected.subject && expected.runs.length === 0) continue;
      checked++;
      const result = await sanitize(input, testOptions());
      const { view } = await checkSanitized(result, { input });
      if (!view) {
        problems.push(`${entry.path}: output unreadable`);
        continue;
      }
      const subject = view.get("Subject") ?? "";
      const compact = (s: string) => s.replace(/\s+/g, "");
      // the subject's Japanese runs, not the whole string: control characters are rightly made visible
      for (const run of expected.subject.match(/[\u3041-\u3096\u30a1-\u30fa\u30fc\u4e00-\u9fff]{2,}/g) ?? []) {
        if (!compact(subject).includes(run)) problems.push(`${entry.path}: subject ${JSON.stringify(expected.subject)} came out as ${JSON.stringify(subject)}`);
      }
      for (const run of expected.runs) {
        if (!view.text.includes(run)) {
          const hint = compact(view.text).includes(run) ? " (present only when line breaks are removed: broken by wrapping)" : "";
          problems.push(`${entry.path}: text run ${JSON.stringify(run)} missing${hint}`);
        }
      }
      if (!expected.hasReplacement && view.text.includes("\ufffd")) problems.push(`${entry.path}: U+FFFD in the output where the input decodes cleanly`);
    }
    expect(checked).toBeGreaterThan(0);
    expect(problems, problems.join("\n")).toEqual([]);
  }, 240_000);
});
