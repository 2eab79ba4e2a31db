/**
 * `mumuka rules replay --rules CANDIDATE.yaml [--since 7d | --from DATE --to DATE]
 * [--sender …] [--limit N] [--json] [-c CONFIG]`: what a rules change would
 * change, on the mail the gateway really received (see rules-replay.ts).
 *
 * Prints a summary (outcome changes, rules firing more or less, render
 * options changing, a sample of changed messages with their audit ids), or
 * with --json one JSON line per changed message and a summary line. A
 * progress bar goes to stderr, only when stderr is a terminal.
 *
 * Nothing is delivered, held or written except one audit event (type admin,
 * action rules-replay): who replayed which window, the candidate's SHA-256
 * and version, the live version, and the counts. The originals are read
 * without one "original-retrieved" event each; that one event is the record
 * of the access.
 *
 * SECURITY: sender text in the output (subjects, addresses) is display-safe;
 * the candidate file is operator input, validated like `rules check`.
 * Exit codes: 0 done, 1 invalid rules / store error, 2 bad arguments.
 */
import os from "node:os";
import type { Command } from "commander";
import { cliActor, openCliAuditLog } from "../audit/audit-command.ts";
import { loadConfig } from "../config/load.ts";
import { CliError } from "../lib/cli-error.ts";
import { displaySafe } from "../lib/display-safe.ts";
import { formatJst, parseTimeArg } from "../lib/japan-time.ts";
import { OriginalKeyError, openOriginals } from "../originals/index.ts";
import { noRules, type LoadedRules } from "./rules-engine.ts";
import { RulesError } from "./rules-file.ts";
import { loadRulesFile } from "./rules-holder.ts";
import { replayRules, type ChangedMessage, type DecisionView, type ReplayReport } from "./rules-replay.ts";

const HOUR_MS = 3_600_000;
/** how often the progress bar is redrawn: often enough to move, rarely enough to cost nothing */
const PROGRESS_EVERY_MS = 200;

interface ReplayCliOptions {
  rules: string;
  since?: string;
  from?: string;
  to?: string;
  sender?: string;
  limit?: string;
  sample?: string;
  workers?: string;
  json?: boolean;
  config?: string;
}

/** "7d", "36h" → milliseconds; or a date (Japan time) → undefined (read by parseTimeArg). */
function relative(value: string): number | undefined {
  const m = /^(\d{1,4})\s*([dh])$/i.exec(value.trim());
  if (!m) return undefined;
  return Number(m[1]) * (m[2]!.toLowerCase() === "d" ? 24 : 1) * HOUR_MS;
}

function window(opts: ReplayCliOptions, now: Date): { since: Date; until: Date } {
  if (opts.since && (opts.from || opts.to)) throw new CliError("give either --since or --from/--to, not both", 2);
  if (opts.from || opts.to) {
    if (!opts.from || !opts.to) throw new CliError("--from and --to go together (e.g. --from 2026-11-20 --to 2026-11-26, Japan time, both days included)", 2);
    const since = parseTimeArg(opts.from, "from");
    const until = parseTimeArg(opts.to, "to", "end");
    if (until <= since) throw new CliError("--to is before --from", 2);
    return { since, until: until > now ? now : until };
  }
  const text = opts.since ?? "7d";
  const ms = relative(text);
  return { since: ms !== undefined ? new Date(now.getTime() - ms) : parseTimeArg(text, "since"), until: now };
}

function positive(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new CliError(`--${name} must be a whole number ≥ 1`, 2);
  return Number(value);
}

async function rulesFrom(file: string, what: string): Promise<{ engine: LoadedRules; sha256: string }> {
  try {
    return await loadRulesFile(file);
  } catch (error) {
    if (error instanceof RulesError) {
      process.stderr.write(`${error.message}\n`);
      throw new CliError(`${file}: ${error.problems.length} problem(s); the ${what} rules were not accepted`, 1);
    }
    const e = error as NodeJS.ErrnoException;
    throw new CliError(`${file}: cannot read the ${what} rules: ${e.code ?? e.message}`, 2);
  }
}

function progressBar(done: number, total: number, started: number): string {
  const width = 30;
  const ratio = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(ratio * width);
  const elapsed = (Date.now() - started) / 1000;
  const rate = elapsed > 0 ? done / elapsed : 0;
  const eta = rate > 0 ? Math.ceil((total - done) / rate) : 0;
  return `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done.toLocaleString("en-US")}/${total.toLocaleString("en-US")}  ${rate.toFixed(0)}/s  残り ${eta} s `;
}

const counts = (r: Record<string, number>) =>
  Object.entries(r)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `    ${k}: ${n}`);

function decisionLine(d: DecisionView): string {
  return `${d.action}${d.reason ? ` (${displaySafe(d.reason)})` : ""} [${d.rules.join(", ") || "-"}] links ${d.links}, ${d.language}${d.inlineText.length ? `, inline ${d.inlineText.join(" ")}` : ""}${d.subjectTags.length ? `, tags ${d.subjectTags.join(" ")}` : ""}`;
}

function textReport(report: ReplayReport, head: string[], elapsedMs: number): string {
  const out = [...head, ""];
  out.push(
    `対象 examined:          ${report.examined}`,
    `再生 replayed:          ${report.replayed}`,
    `原本なし not replayable: ${report.notReplayable}${report.notReplayable ? "  (保存期間切れ・未保存 / original gone: retention)" : ""}`,
    `失敗 failed:            ${report.failed}`,
    `変わる changed:         ${report.changed}`,
    `時間 time:              ${(elapsedMs / 1000).toFixed(1)} s`,
  );
  out.push("", "扱いの変化 outcome changes:", ...(Object.keys(report.outcomes).length ? counts(report.outcomes) : ["    (なし / none)"]));
  out.push("", "ルールの適用数の変化 rules firing more or less (live → candidate):");
  out.push(...(report.rules.length ? report.rules.map((r) => `    ${r.name}: ${r.live} → ${r.candidate} (${r.delta > 0 ? "+" : ""}${r.delta})`) : ["    (なし / none)"]));
  out.push("", "表示の変化 render options:");
  const render = Object.entries(report.render).filter(([, v]) => Object.keys(v).length > 0);
  if (render.length === 0) out.push("    (なし / none)");
  for (const [k, v] of render) out.push(`  ${k}:`, ...counts(v).map((l) => `  ${l}`));
  if (report.sample.length) {
    out.push("", `変わるメッセージの例 sample of changed messages (${report.sample.length} of ${report.changed}):`);
    for (const c of report.sample) {
      out.push(
        `  ${c.auditId}  ${formatJst(c.receivedAt)}  ${displaySafe(c.from)}  ${JSON.stringify(displaySafe(c.subject))}`,
        `      live:      ${decisionLine(c.live)}`,
        `      candidate: ${decisionLine(c.candidate)}`,
      );
    }
  }
  if (report.failures.length) {
    out.push("", "失敗 failures:", ...report.failures.map((f) => `  ${f.auditId}: ${displaySafe(f.reason)}`));
  }
  if (report.notReplayableIds.length) {
    out.push("", `原本のないメッセージ not replayable (first ${report.notReplayableIds.length}):`, ...report.notReplayableIds.map((id) => `  ${id}`));
  }
  out.push("", "何も配送・保留・変更していません(監査記録に replay の記録を 1 件追加)。/ Nothing was delivered, held or changed (one audit event records the replay).");
  return out.join("\n");
}

/** JSON for one changed message: display-safe text, like every other output of the CLI. */
function changedJson(c: ChangedMessage): string {
  return JSON.stringify({ type: "changed", ...c, from: displaySafe(c.from), subject: displaySafe(c.subject) });
}

export function registerReplayCommand(rules: Command): void {
  rules
    .command("replay")
    .description("run candidate rules and the live rules over retained originals and report what would change (nothing is delivered) / ルール変更の影響を過去のメールで確かめる")
    .requiredOption("--rules <file>", "candidate rules file")
    .option("--since <when>", "window start: 7d, 36h, or a date (Japan time); default 7d")
    .option("--from <date>", "window start date (Japan time), with --to")
    .option("--to <date>", "window end date (Japan time, the whole day included)")
    .option("--sender <text>", "only messages whose envelope sender or header From contains this")
    .option("--limit <n>", "at most N messages, the newest first")
    .option("--sample <n>", "changed messages to list (default 20)")
    .option("--workers <n>", "analyzer threads (default: the CPU count, at most 4)")
    .option("--json", "JSON lines: one per changed message, then a summary")
    .option("-c, --config <file>", "configuration file (YAML): data directory, audit store, originals, live rules")
    .action(async (opts: ReplayCliOptions) => {
      const now = new Date();
      const { since, until } = window(opts, now);
      const limit = positive(opts.limit, "limit");
      const sampleSize = positive(opts.sample, "sample") ?? 20;
      const workers = positive(opts.workers, "workers") ?? Math.min(4, Math.max(1, os.availableParallelism()));
      const config = loadConfig(opts.config);
      const candidate = await rulesFrom(opts.rules, "candidate");
      const live = config.rules.file ? await rulesFrom(config.rules.file, "live") : { engine: noRules, sha256: "" };

      const audit = await openCliAuditLog(config);
      let report: ReplayReport;
      const started = Date.now();
      const tty = process.stderr.isTTY === true;
      let drawn = 0;
      try {
        let originals;
        try {
          originals = openOriginals({ config: config.originals, dataDir: config.dataDir, audit });
        } catch (error) {
          if (error instanceof OriginalKeyError) throw new CliError(error.message, 1);
          throw error;
        }
        report = await replayRules(
          { audit, originals, limits: config.sanitize.limits, maxMessageBytes: config.smtp.maxMessageBytes, defaults: { links: config.sanitize.links, language: config.sanitize.language }, workers },
          {
            live: live.engine,
            candidate: candidate.engine,
            since,
            until,
            ...(opts.sender ? { sender: opts.sender } : {}),
            ...(limit ? { limit } : {}),
            sampleSize,
            onProgress: ({ done, total }) => {
              if (!tty || (done < total && Date.now() - drawn < PROGRESS_EVERY_MS)) return;
              drawn = Date.now();
              process.stderr.write(progressBar(done, total, started));
              if (done >= total) process.stderr.write("\n");
            },
            ...(opts.json ? { onChanged: (c: ChangedMessage) => void process.stdout.write(`${changedJson(c)}\n`) } : {}),
          },
        );
        audit.record({
          type: "admin",
          actor: cliActor(),
          data: {
            action: "rules-replay",
            candidate: { file: opts.rules, sha256: candidate.sha256, version: candidate.engine.version },
            live: { file: config.rules.file ?? null, version: live.engine.version },
            window: { since: since.toISOString(), until: until.toISOString() },
            ...(opts.sender ? { sender: opts.sender } : {}),
            ...(limit ? { limit } : {}),
            counts: {
              examined: report.examined,
              replayed: report.replayed,
              notReplayable: report.notReplayable,
              failed: report.failed,
              changed: report.changed,
              outcomes: report.outcomes,
            },
          },
        });
      } finally {
        await audit.close();
      }
      const elapsedMs = Date.now() - started;
      if (opts.json) {
        const { sample: _sample, ...summary } = report;
        process.stdout.write(
          `${JSON.stringify({ type: "summary", candidate: { file: opts.rules, sha256: candidate.sha256, version: candidate.engine.version }, live: { file: config.rules.file ?? null, version: live.engine.version }, window: { since: since.toISOString(), until: until.toISOString() }, elapsedMs, ...summary })}\n`,
        );
        return;
      }
      const head = [
        `candidate: ${opts.rules} (sha256 ${candidate.sha256.slice(0, 16)}…, ${candidate.engine.rules.length} rule(s))`,
        `live:      ${config.rules.file ? `${config.rules.file} (version ${live.engine.version.slice(0, 16)}…, ${live.engine.rules.length} rule(s))` : "(none: the configured defaults)"}`,
        `window:    ${formatJst(since)} 〜 ${formatJst(until)} JST${opts.sender ? `, sender contains ${JSON.stringify(opts.sender)}` : ""}${limit ? `, newest ${limit}` : ""}`,
      ];
      process.stdout.write(`${textReport(report, head, elapsedMs)}\n`);
    });
}
