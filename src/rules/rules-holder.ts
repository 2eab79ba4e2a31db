/**
 * The live rules of a running gateway: holds the current engine and swaps it
 * atomically on reload (SIGHUP via the relay, a change of the file, or the
 * console). A reload reads the file, validates it completely, and only then
 * replaces the engine: a message being decided sees either the old rules or
 * the new ones, never a mix. An invalid file keeps the old rules in force and
 * is logged at error level with every problem. Every attempt, good or bad, is
 * a `rules-reloaded` audit event carrying the file's SHA-256.
 *
 * SECURITY: reads the operator's rules file and the templates it names (paths
 * relative to the rules file). No sender input.
 *
 * Crash state: nothing is written; the engine lives in memory only.
 */
import { watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import type { AuditSink } from "../audit/audit-types.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../lib/logger.ts";
import { noRules, type LoadedRules } from "./rules-engine.ts";
import { parseRules, RulesError, type RulesProblem } from "./rules-file.ts";

export type ReloadReason = "start" | "sighup" | "watch" | "admin";

export interface ReloadResult {
  ok: boolean;
  /** the version in force after the attempt */
  version: string;
  problems?: RulesProblem[];
}

export interface RulesStatus {
  /** absolute path of the rules file; absent when no rules file is configured */
  file?: string;
  /** SHA-256 of the rules in force ("" = no rules) */
  version: string;
  /** when the rules in force were loaded (ISO 8601) */
  loadedAt: string;
  /** number of (enabled) rules in force */
  ruleCount: number;
  ruleNames: string[];
  /** the text of the rules in force, for the console */
  source: string;
  watching: boolean;
  /** the latest failed attempt, when it came after the last success */
  lastError?: { at: string; reason: ReloadReason; sha256?: string; problems: RulesProblem[] };
}

export interface RulesHolder {
  current(): LoadedRules;
  reload(reason: "sighup" | "watch" | "admin"): Promise<ReloadResult>;
  status(): RulesStatus;
  close(): void;
}

export interface OpenRulesOptions {
  config: Config["rules"];
  logger: Pick<Logger, "info" | "warn" | "error">;
  audit: Pick<AuditSink, "record">;
  /** debounce of file-change events, ms; editors write a file in several steps */
  debounceMs?: number;
}

/**
 * Editors save by truncate+write or write-temp+rename, producing bursts of
 * events; 250 ms lets the burst settle without making an operator wait.
 */
const DEFAULT_DEBOUNCE_MS = 250;

/** Reads the rules file as strict UTF-8 and parses it with templates resolved next to it. */
export async function loadRulesFile(file: string): Promise<{ engine: LoadedRules; text: string; sha256: string }> {
  const bytes = await readFile(file);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  let text: string;
  try {
    // ignoreBOM keeps a BOM in the text, so the engine's version equals the file's hash
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw Object.assign(new RulesError([{ file, line: 1, column: 1, message: "the file is not valid UTF-8; save it as UTF-8" }]), { sha256 });
  }
  const dir = path.dirname(path.resolve(file));
  try {
    const engine = parseRules(text, file, { loadTemplate: (p) => readFileSync(path.resolve(dir, p), "utf8") });
    return { engine, text, sha256 };
  } catch (error) {
    if (error instanceof RulesError) Object.assign(error, { sha256 });
    throw error;
  }
}

function problemsOf(error: unknown, file: string): RulesProblem[] {
  if (error instanceof RulesError) return error.problems;
  const e = error as NodeJS.ErrnoException;
  return [{ file, line: 0, column: 0, message: `cannot read the rules file: ${e.code ?? e.message}` }];
}

/** Holds the live engine; reload() validates then swaps atomically; an invalid file keeps the old one. */
export async function openRules(options: OpenRulesOptions): Promise<RulesHolder> {
  const { config, logger, audit } = options;
  const file = config.file === undefined ? undefined : path.resolve(config.file);
  const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;

  let engine: LoadedRules = noRules;
  let source = "";
  let loadedAt = new Date().toISOString();
  let lastError: RulesStatus["lastError"];
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  /** reloads run one after another, so two saves in a row cannot swap out of order */
  let chain: Promise<unknown> = Promise.resolve();

  async function attempt(reason: ReloadReason): Promise<ReloadResult> {
    if (!file) return { ok: true, version: "" };
    const previous = engine.version;
    try {
      const loaded = await loadRulesFile(file);
      engine = loaded.engine;
      source = loaded.text;
      loadedAt = new Date().toISOString();
      lastError = undefined;
      audit.record({
        type: "rules-reloaded",
        actor: reason === "admin" ? "admin" : "gateway",
        data: { ok: true, reason, file, sha256: loaded.sha256, previous, rules: engine.rules.map((r) => r.name) },
      });
      logger.info({ file, sha256: loaded.sha256, reason, rules: engine.rules.length }, "rules loaded");
      return { ok: true, version: engine.version };
    } catch (error) {
      const problems = problemsOf(error, file);
      const sha256 = (error as { sha256?: string }).sha256;
      lastError = { at: new Date().toISOString(), reason, problems };
      if (sha256) lastError.sha256 = sha256;
      audit.record({
        type: "rules-reloaded",
        actor: reason === "admin" ? "admin" : "gateway",
        data: { ok: false, reason, file, sha256: sha256 ?? null, kept: previous, problems },
      });
      if (reason !== "start") {
        logger.error(
          { file, reason, kept: previous, problems: problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`) },
          "RULES NOT RELOADED: the file is invalid; the previous rules stay in force",
        );
      }
      return { ok: false, version: engine.version, problems };
    }
  }

  function reload(reason: ReloadReason): Promise<ReloadResult> {
    const next = chain.then(() => attempt(reason));
    chain = next.catch(() => undefined);
    return next;
  }

  if (file) {
    const first = await reload("start");
    if (!first.ok) throw new RulesError(first.problems ?? []);
    if (config.watch) {
      // watch the directory: editors replace the file (rename), which ends a watch on the file itself
      const dir = path.dirname(file);
      const base = path.basename(file);
      try {
        watcher = watch(dir, { persistent: false }, (_event, name) => {
          if (closed || (name !== null && name !== base)) return;
          clearTimeout(timer);
          timer = setTimeout(() => {
            void (async () => {
              // skip when the content is what already runs (or what already failed): editors emit several events per save
              let sha: string;
              try {
                sha = createHash("sha256").update(await readFile(file)).digest("hex");
              } catch {
                sha = "";
              }
              if (closed) return;
              if (sha !== "" && sha === engine.version) {
                // the file is back to what runs (e.g. a bad edit undone): nothing to load, nothing wrong any more
                lastError = undefined;
                return;
              }
              if (sha !== "" && sha === lastError?.sha256) return;
              await reload("watch");
            })();
          }, debounceMs);
          timer.unref?.();
        });
        watcher.on("error", (error) => logger.warn({ err: error, file }, "rules file watch failed; SIGHUP still reloads"));
      } catch (error) {
        logger.warn({ err: error, file }, "cannot watch the rules file; SIGHUP still reloads");
      }
    }
  }

  return {
    current: () => engine,
    reload: (reason) => reload(reason),
    status() {
      const s: RulesStatus = {
        version: engine.version,
        loadedAt,
        ruleCount: engine.rules.length,
        ruleNames: engine.rules.map((r) => r.name),
        source,
        watching: watcher !== undefined,
      };
      if (file) s.file = file;
      if (lastError) s.lastError = lastError;
      return s;
    },
    close() {
      closed = true;
      clearTimeout(timer);
      watcher?.close();
      watcher = undefined;
    },
  };
}
