/**
 * The shared corpus of real messages (`../shared/corpus`, or env MUMUKA_CORPUS):
 * where it is, what `index.tsv` says about each message, and how to read one.
 *
 * The corpus is never copied into the repository; suites that need it skip
 * with a message naming the path they looked for.
 *
 * SECURITY: the files are hostile mail; they are only read as bytes here.
 */
import { existsSync, readFileSync } from "node:fs";
import { requirement } from "./requirements.ts";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface CorpusEntry {
  /** path relative to the corpus directory, as in index.tsv */
  path: string;
  source: string;
  bytes: number;
  tags: string[];
}

/** The corpus directory, or undefined when it is absent (the suites then skip). */
export function corpusDir(): string | undefined {
  const dir = process.env.MUMUKA_CORPUS ?? path.resolve(repoRoot, "../shared/corpus");
  return existsSync(path.join(dir, "index.tsv")) ? dir : undefined;
}

/**
 * The corpus directory for a suite that needs it: under CI=true its absence
 * fails the suite; elsewhere it returns undefined after saying why (skip).
 */
export function requireCorpus(): string | undefined {
  const dir = corpusDir();
  requirement("the shared corpus", dir ? undefined : corpusMissingReason());
  return dir;
}

/** Explains where the corpus was looked for, for a skip message. */
export function corpusMissingReason(): string {
  const dir = process.env.MUMUKA_CORPUS ?? path.resolve(repoRoot, "../shared/corpus");
  return `corpus not found: no index.tsv in ${dir} (set MUMUKA_CORPUS to the corpus directory)`;
}

/** Every message listed in index.tsv (header line skipped). */
export function corpusEntries(dir = corpusDir()): CorpusEntry[] {
  if (!dir) return [];
  const lines = readFileSync(path.join(dir, "index.tsv"), "utf8").split(/\r?\n/);
  const out: CorpusEntry[] = [];
  for (const line of lines.slice(1)) {
    if (!line.trim()) continue;
    const [file = "", source = "", bytes = "0", tags = ""] = line.split("\t");
    out.push({ path: file, source, bytes: Number(bytes), tags: tags ? tags.split(",") : [] });
  }
  return out;
}

export function readCorpusMessage(entry: CorpusEntry, dir = corpusDir()): Buffer {
  if (!dir) throw new Error(corpusMissingReason());
  return readFileSync(path.join(dir, entry.path));
}

/** A deterministic sample: every n-th entry, so reruns test the same messages. */
export function sampleEvery<T>(items: T[], count: number): T[] {
  if (items.length <= count) return items;
  const step = items.length / count;
  return Array.from({ length: count }, (_, i) => items[Math.floor(i * step)]!);
}
