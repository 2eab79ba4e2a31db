/**
 * The live rules of a running gateway: holds the current engine and swaps it
 * atomically on reload (SIGHUP via the relay, a change of the file, or the
 * console). A reload reads the file, validates it completely, and only then
 * replaces the engine: a message being decided sees either the old rules or
 * the new ones, never a mix. An invalid file keeps the old rules in force and
 * is logged at error level with every problem. Every attempt, good or bad, is
 * a `rules-reloaded` audit event carrying the file's SHA-256.
 *
 * The list files the rules read (attachment_sha256, link_domain, sender_domain
 * with file:) are part of the rules: their directories are watched too, an
 * edit of a list reloads everything the same way, and a bad list keeps the old
 * rules. The version is then one SHA-256 over the rules file and its lists.
 *
 * SECURITY: reads the operator's rules file and the templates and list files
 * it names (paths relative to the rules file; a list is refused by its size
 * before it is read). No sender input.
 *
 * Crash state: nothing is written; the engine lives in memory only.
 */
import { watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import { readFileSync, statSync } from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import type { AuditSink } from "../audit/audit-types.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../lib/logger.ts";
import { noRules, type LoadedRules } from "./rules-engine.ts";
import { combinedVersion, parseRules, RulesError, type RulesProblem } from "./rules-file.ts";
import { MAX_LIST_BYTES } from "./rules-lists.ts";
import { holidayDataWarning } from "./rules-calendar.ts";

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
  /** the list files the rules in force read */
  lists: { file: string; kind: string; entries: number; sha256: string }[];
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

const sha256Of = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/** A list file as strict UTF-8, refused before reading when it is larger than a list can be. */
function readListFile(file: string): { text: string; file: string; sha256: string } {
  const size = statSync(file).size;
  if (size > MAX_LIST_BYTES) throw new Error(`larger than ${MAX_LIST_BYTES / 1024 / 1024} MB`);
  const bytes = readFileSync(file);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error("not valid UTF-8; save it as UTF-8");
  }
  return { text, file, sha256: sha256Of(bytes) };
}

/**
 * Reads the rules file as strict UTF-8 and parses it with templates and list
 * files resolved next to it. A failure carries the rules file's SHA-256, the
 * version it would have had and the list files it tried, so the holder can
 * watch them and recognise the same bad content again.
 */
export async function loadRulesFile(file: string): Promise<{ engine: LoadedRules; text: string; sha256: string }> {
  const bytes = await readFile(file);
  const sha256 = sha256Of(bytes);
  let text: string;
  try {
    // ignoreBOM keeps a BOM in the text, so the engine's version equals the file's hash
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw Object.assign(new RulesError([{ file, line: 1, column: 1, message: "the file is not valid UTF-8; save it as UTF-8" }]), { sha256, version: sha256, lists: [] });
  }
  const dir = path.dirname(path.resolve(file));
  const tried: { path: string; file: string; sha256: string }[] = [];
  try {
    const engine = parseRules(text, file, {
      loadTemplate: (p) => readFileSync(path.resolve(dir, p), "utf8"),
      loadList: (p) => {
        const abs = path.resolve(dir, p);
        const entry = { path: p, file: abs, sha256: "" };
        tried.push(entry);
        const loaded = readListFile(abs);
        entry.sha256 = loaded.sha256;
        return loaded;
      },
    });
    return { engine, text, sha256 };
  } catch (error) {
    if (error instanceof RulesError) Object.assign(error, { sha256, version: combinedVersion(sha256, tried), lists: tried.map((t) => ({ path: t.path, file: t.file })) });
    throw error;
  }
}

/** The version the files on disk would load as now (rules file and the given list files), "" when one cannot be read. */
async function versionOnDisk(file: string, lists: readonly { path: string; file: string }[]): Promise<string> {
  try {
    const rulesSha = sha256Of(await readFile(file));
    const shas: { path: string; sha256: string }[] = [];
    for (const l of lists) shas.push({ path: l.path, sha256: sha256Of(await readFile(l.file)) });
    return combinedVersion(rulesSha, shas);
  } catch {
    return "";
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
  /** the version and list files of the latest failed attempt, to recognise the same bad content again */
  let failed: { version: string; lists: { path: string; file: string }[] } | undefined;
  /** one watcher per directory holding the rules file or a list file it reads */
  const watchers = new Map<string, FSWatcher>();
  /** absolute paths of the files whose change triggers a reload */
  let watched = new Set<string>();
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
      failed = undefined;
      const lists = engine.lists.map((l) => ({ file: l.file, kind: l.kind, sha256: l.sha256, entries: l.entries }));
      audit.record({
        type: "rules-reloaded",
        actor: reason === "admin" ? "admin" : "gateway",
        data: { ok: true, reason, file, sha256: loaded.sha256, version: engine.version, previous, rules: engine.rules.map((r) => r.name), ...(lists.length ? { lists } : {}) },
      });
      logger.info({ file, sha256: loaded.sha256, version: engine.version, reason, rules: engine.rules.length, lists: lists.length }, "rules loaded");
      // a gateway running past its holiday data would treat every holiday as a working day: say so at each load
      const stale = holidayDataWarning(new Date());
      if (stale) logger.warn({ file }, stale);
      return { ok: true, version: engine.version };
    } catch (error) {
      const problems = problemsOf(error, file);
      const info = error as { sha256?: string; version?: string; lists?: { path: string; file: string }[] };
      const sha256 = info.sha256;
      lastError = { at: new Date().toISOString(), reason, problems };
      if (sha256) lastError.sha256 = sha256;
      failed = info.version ? { version: info.version, lists: info.lists ?? [] } : undefined;
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
    } finally {
      if (watchers.size > 0) watchFiles();
    }
  }

  function reload(reason: ReloadReason): Promise<ReloadResult> {
    const next = chain.then(() => attempt(reason));
    chain = next.catch(() => undefined);
    return next;
  }

  /** skip when the content is what already runs (or what already failed): editors emit several events per save */
  async function changed(): Promise<void> {
    if (!file) return;
    const running = await versionOnDisk(file, engine.lists);
    if (closed) return;
    if (running !== "" && running === engine.version) {
      // the files are back to what runs (e.g. a bad edit undone): nothing to load, nothing wrong any more
      lastError = undefined;
      failed = undefined;
      return;
    }
    if (failed && (await versionOnDisk(file, failed.lists)) === failed.version) return;
    await reload("watch");
  }

  function onEvent(dir: string, name: string | null): void {
    if (closed || (name !== null && !watched.has(path.join(dir, name)))) return;
    clearTimeout(timer);
    timer = setTimeout(() => void changed(), debounceMs);
    timer.unref?.();
  }

  /**
   * Watches the directories of the rules file and of every list file it reads
   * (now, or in the failed attempt: fixing a bad list must reload too).
   * Directories, not files: editors replace a file (rename), which ends a watch on the file itself.
   */
  function watchFiles(): void {
    if (!file || closed) return;
    watched = new Set([file, ...engine.lists.map((l) => l.file), ...(failed?.lists ?? []).map((l) => l.file)]);
    const dirs = new Set([...watched].map((f) => path.dirname(f)));
    for (const [dir, w] of watchers) {
      if (!dirs.has(dir)) {
        w.close();
        watchers.delete(dir);
      }
    }
    for (const dir of dirs) {
      if (watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => onEvent(dir, name));
        w.on("error", (error) => logger.warn({ err: error, dir }, "rules file watch failed; SIGHUP still reloads"));
        watchers.set(dir, w);
      } catch (error) {
        logger.warn({ err: error, dir }, "cannot watch the rules or a list file; SIGHUP still reloads");
      }
    }
  }

  if (file) {
    const first = await reload("start");
    if (!first.ok) throw new RulesError(first.problems ?? []);
    if (config.watch) watchFiles();
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
        lists: engine.lists.map((l) => ({ file: l.file, kind: l.kind, entries: l.entries, sha256: l.sha256 })),
        source,
        watching: watchers.size > 0,
      };
      if (file) s.file = file;
      if (lastError) s.lastError = lastError;
      return s;
    },
    close() {
      closed = true;
      clearTimeout(timer);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}
