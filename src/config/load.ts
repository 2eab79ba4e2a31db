/**
 * Loading the configuration: YAML file (or none) → validated, frozen Config,
 * plus the warnings about values that are valid but almost certainly a mistake.
 *
 * Every problem of the file is reported at once, one per line, each naming the
 * key path and, when the file has it, `FILE:LINE:COLUMN`: YAML syntax errors,
 * unknown keys (with the nearest known key as "did you mean"), wrong types, and
 * the checks between keys (schema.ts). An operator fixing a file should not
 * have to run the check once per mistake.
 *
 * Relative paths in the file (dataDir, rules.file, TLS files, …) are resolved
 * against the file's own directory, so a config works wherever it is started
 * from.
 *
 * SECURITY: the file is operator input; its text is only echoed back as key
 * names (cut to a bounded length), never as values (a value may be a password in audit.url).
 */
import { editDistance } from "../lib/edit-distance.ts";
import { readFileSync } from "node:fs";
import path from "node:path";
import { LineCounter, parseDocument, isMap, isScalar, type Document } from "yaml";
import type { z } from "zod";
import { configSchema, type Config } from "./schema.ts";
import { configWarnings, type ConfigNote } from "./warnings.ts";

export class ConfigError extends Error {
  override name = "ConfigError";
  readonly code = "ECONFIG";
}

export interface LoadedConfig {
  config: Config;
  /** one line each: where, which key, why it is probably a mistake */
  warnings: string[];
}

/** Parses and validates a configuration object; throws ConfigError naming every bad key. */
export function parseConfig(input: unknown, baseDir = process.cwd()): Config {
  const { config, problems } = validate(input, baseDir);
  if (!config) throw new ConfigError(problems.map((p) => `${p.key}: ${p.message}`).join("\n"));
  return config;
}

/** Reads FILE (YAML) or, without one, the embedded defaults. */
export function loadConfig(file?: string): Config {
  return loadConfigChecked(file).config;
}

/** Like loadConfig, with the warnings (`mumuka config check` prints them, `serve` logs them). */
export function loadConfigChecked(file?: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  if (!file) {
    const config = parseConfig({});
    return { config, warnings: configWarnings(config, env).map((w) => `${w.key}: ${w.message}`) };
  }
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines });
  const at = (offset: number | undefined) => {
    if (offset === undefined) return `${file}:`;
    const pos = lines.linePos(offset);
    return `${file}:${pos.line}:${pos.col}:`;
  };
  if (doc.errors.length > 0) {
    // a broken structure makes key-level checks guess; its syntax errors are the whole report
    throw new ConfigError(doc.errors.map((e) => `${at(e.pos[0])} ${e.message}`).join("\n"));
  }
  const { config, problems } = validate(doc.toJS() ?? {}, path.dirname(path.resolve(file)));
  // in the order of the file, so the report reads top to bottom beside it
  const where = (notes: ConfigNote[]) =>
    notes
      .map((note) => ({ note, offset: offsetOf(doc, note.path) ?? 0 }))
      .sort((x, y) => x.offset - y.offset)
      .map(({ note, offset }) => `${at(offset)} ${note.key}: ${note.message}`);
  if (!config) throw new ConfigError(where(problems).join("\n"));
  const warnings = [...doc.warnings.map((w) => `${at(w.pos[0])} ${w.message}`), ...where(configWarnings(config, env))];
  return { config, warnings };
}

function validate(input: unknown, baseDir: string): { config?: Config; problems: ConfigNote[] } {
  const result = configSchema.safeParse(input ?? {});
  if (result.success) return { config: deepFreeze(resolvePaths(result.data, baseDir)), problems: [] };
  const problems: ConfigNote[] = [];
  for (const issue of result.error.issues) {
    const at = issue.path.filter((p): p is string | number => typeof p !== "symbol");
    if (issue.code === "unrecognized_keys") {
      // one line per unknown key, each with its full path and the nearest known key
      for (const key of issue.keys) {
        const guess = nearest(key, knownKeys(at));
        problems.push({ path: [...at, key], key: keyName([...at, key]), message: `unknown key${guess ? ` (did you mean "${guess}"?)` : ""}` });
      }
      continue;
    }
    problems.push({ path: at, key: keyName(at), message: issue.message });
  }
  return { problems };
}

/** a key path for a message; a key from the file is cut short and shown as JSON when it is not a plain name */
function keyName(at: (string | number)[]): string {
  if (at.length === 0) return "(top level)";
  return at
    .map((k) => (typeof k === "number" ? `[${k}]` : /^[A-Za-z0-9_-]{1,64}$/.test(k) ? k : JSON.stringify(k.slice(0, 64))))
    .join(".")
    .replaceAll(".[", "[");
}

/** where the key (or the nearest enclosing key that exists) is in the file */
function offsetOf(doc: Document, at: (string | number)[]): number | undefined {
  for (let n = at.length; n > 0; n--) {
    const parent = n === 1 ? doc.contents : doc.getIn(at.slice(0, n - 1), true);
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === at[n - 1]);
      const node = pair?.key as { range?: [number, number, number] } | undefined;
      if (node?.range) return node.range[0];
    }
    const node = doc.getIn(at.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return node.range[0];
  }
  return (doc.contents as { range?: [number, number, number] } | null)?.range?.[0];
}

/** the keys the schema knows at PATH (for "did you mean") */
function knownKeys(at: (string | number)[]): string[] {
  let schema: z.ZodType | undefined = configSchema;
  for (const step of [...at, undefined]) {
    // unwrap what does not change the shape: defaults, optionals, transforms
    for (;;) {
      const def: Record<string, unknown> | undefined = (schema as { _zod?: { def: Record<string, unknown> } } | undefined)?._zod?.def;
      if (!def) return [];
      if (def.type === "default" || def.type === "optional" || def.type === "prefault" || def.type === "nullable") schema = def.innerType as z.ZodType;
      else if (def.type === "pipe") schema = def.in as z.ZodType;
      else break;
    }
    if (step === undefined) break;
    const def: Record<string, unknown> = (schema as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
    if (def.type === "array" && typeof step === "number") schema = def.element as z.ZodType;
    else if (def.type === "object" && typeof step === "string") schema = (def.shape as Record<string, z.ZodType>)[step];
    else return [];
  }
  const def: Record<string, unknown> = (schema as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
  return def.type === "object" ? Object.keys(def.shape as object) : [];
}

/** the known key closest to a misspelt one, when it is close enough to be the one meant */
function nearest(key: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === key.toLowerCase() ? 0.5 : editDistance(key.slice(0, 64), k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return bestDistance <= Math.max(1, Math.floor((best?.length ?? 0) / 3)) ? best : undefined;
}

function resolvePaths(config: Config, baseDir: string): Config {
  const abs = (p: string | undefined) => (p === undefined ? undefined : path.resolve(baseDir, p));
  const tls = (t: { cert: string; key: string } | undefined) =>
    t && { cert: abs(t.cert)!, key: abs(t.key)! };
  return {
    ...config,
    dataDir: abs(config.dataDir)!,
    smtp: { ...config.smtp, tls: tls(config.smtp.tls) },
    delivery: { ...config.delivery, directory: abs(config.delivery.directory) },
    sanitize: { ...config.sanitize, noticeTemplate: abs(config.sanitize.noticeTemplate) },
    rules: { ...config.rules, file: abs(config.rules.file) },
    admin: { ...config.admin, tls: tls(config.admin.tls) },
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
