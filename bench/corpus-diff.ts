/**
 * Which corpus messages a change to the sanitizer changes, and why.
 *
 *   node bench/corpus-diff.ts --base /path/to/other/checkout [--corpus ../shared/corpus] [--show]
 *
 * Sanitizes every message of the corpus with the base checkout's core and with
 * this one's (same options, same audit id and time, so outputs are comparable),
 * decodes both bodies, and lists each message whose text or list of removed
 * parts differs, grouped by the warnings this checkout added (e.g. "a base64
 * file inside the text was removed"). --show prints the lines that went and
 * came. Reads the corpus only; writes nothing. Not part of the test suite.
 */
import path from "node:path";
import { checkSanitized } from "../tests/helpers/invariant.ts";
import { corpusDir, corpusEntries, readCorpusMessage, repoRoot } from "../tests/helpers/corpus.ts";

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const base = opt("base");
if (!base) {
  console.error("usage: node bench/corpus-diff.ts --base CHECKOUT [--corpus DIR] [--show]");
  process.exit(2);
}
const dir = opt("corpus") ?? corpusDir();
if (!dir) {
  console.error("corpus not found (give --corpus DIR)");
  process.exit(2);
}

interface Core {
  sanitize: (input: Buffer, options: unknown) => Promise<{ message: Buffer; report: { attachments: Array<{ path: string; contentType: string; size: number; sha256: string }>; warnings: string[] } }>;
  testOptions: (overrides?: unknown) => unknown;
}
async function load(root: string): Promise<Core> {
  const { sanitize } = await import(path.join(root, "src/sanitize/index.ts"));
  const { testOptions } = await import(path.join(root, "tests/helpers/options.ts"));
  return { sanitize, testOptions };
}
const cores = { base: await load(path.resolve(base)), here: await load(repoRoot) };

/** the body staff read, after the notice (whose part list is compared separately) */
async function bodyText(message: Buffer): Promise<string> {
  const { view } = await checkSanitized({ message, report: { attachments: [] } } as never);
  const text = view?.text ?? "";
  const rule = "━".repeat(40);
  return text.slice(text.indexOf(rule, text.indexOf(rule) + rule.length) + rule.length);
}

const groups = new Map<string, string[]>();
let changed = 0;
const entries = corpusEntries(dir);
for (const entry of entries) {
  const input = readCorpusMessage(entry, dir);
  const run = (core: Core) => core.sanitize(input, core.testOptions({ limits: { maxTimeMs: 10_000 } }));
  const [a, b] = [await run(cores.base), await run(cores.here)];
  const parts = (r: typeof a) => r.report.attachments.map((p) => `${p.path} ${p.contentType} ${p.size} ${p.sha256}`);
  const [ta, tb] = [await bodyText(a.message), await bodyText(b.message)];
  if (ta === tb && parts(a).join("\n") === parts(b).join("\n")) continue;
  changed++;
  const added = b.report.warnings.filter((w) => !a.report.warnings.includes(w)).map((w) => w.replace(/^part [\d.]+: /, ""));
  const why = [...new Set(added)].sort().join("; ") || "(no new warning: text shaped differently)";
  groups.set(why, [...(groups.get(why) ?? []), entry.path]);
  if (args.includes("--show")) {
    const [la, lb] = [ta.split("\r\n"), tb.split("\r\n")];
    const [sa, sb] = [new Set(la), new Set(lb)];
    console.log(`### ${entry.path}`);
    for (const line of la.filter((l) => !sb.has(l)).slice(0, 6)) console.log(`  - ${line.slice(0, 160)}`);
    for (const line of lb.filter((l) => !sa.has(l)).slice(0, 6)) console.log(`  + ${line.slice(0, 160)}`);
  }
}
for (const [why, files] of [...groups].sort((x, y) => y[1].length - x[1].length)) {
  console.log(`${String(files.length).padStart(4)}  ${why}\n${files.map((f) => `        ${f}`).join("\n")}`);
}
console.log(`${changed} of ${entries.length} messages changed`);

