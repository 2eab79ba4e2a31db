/**
 * `mumuka audit …`: search, show, export, verify and purge the audit trail.
 *
 * Every command opens the store named by the configuration on its own
 * connection, so it works while the gateway runs (SQLite WAL lets readers in
 * beside the writer; writes wait on busy_timeout). Output for people is a
 * table in Japan time; `--json` / `export` are for machines.
 *
 * `purge` keeps to audit.retentionDays: a later `--before` is refused unless
 * `--force --reason TEXT`, which is recorded (before anything is removed),
 * alerted and written into the checkpoint; the new head is anchored at once.
 * `verify` lists every purge on record, checks the anchor file of the
 * configuration when no `--anchors` is given, and says what it cannot prove.
 *
 * SECURITY: sender-controlled text is passed through displaySafe() before it
 * reaches a terminal (audit-format.ts). Exit codes: 0 ok, 1 verify failed or
 * an operation failed, 2 bad arguments or configuration.
 */
import os from "node:os";
import type { Command } from "commander";
import { CliError } from "../lib/cli-error.ts";
import { loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { createLogger } from "../lib/logger.ts";
import { dayInJapan, MESSAGE_STATUSES } from "./audit-fns.ts";
import { formatTable, readableHeader, type Column } from "./audit-format.ts";
import { displaySafe } from "../lib/display-safe.ts";
import { formatJst, parseTimeArg } from "../lib/japan-time.ts";
import type { AuditEvent, AuditQuery, MessageStatus, MessageSummary, VerifyResult } from "./audit-types.ts";
import { formatAnchorLine, openAuditLog, openAuditStore, parseAnchors, PurgeRefusedError, readAnchorFile, type AuditLog } from "./index.ts";
import { checkPurgeRequest, purgeLimit, reasonOf } from "./purge-policy.ts";
import { createAlerts } from "../alerts/index.ts";
import type { Anchor } from "./audit-types.ts";
import { FACET_FIELDS } from "./audit-types.ts";
import { parseAuthFilter, searchByAuth } from "../authenticate/auth-search.ts";

const DAY_MS = 24 * 3600 * 1000;

/** Who a CLI action is recorded as. */
export function cliActor(): string {
  let user: string;
  try {
    user = os.userInfo().username;
  } catch {
    user = String(process.getuid?.() ?? "unknown");
  }
  return `cli:${user}`;
}

/**
 * Opens the audit log of a configuration for one CLI command; never spills (a CLI has no next
 * start). Unlike the gateway, a command does not start while the store is unreachable: it would
 * act and then be unable to record what it did, so the store is tried first and a failure is one
 * line (exit 1) before anything is touched.
 */
export async function openCliAuditLog(config: Config, options: { anchored?: boolean } = {}): Promise<AuditLog> {
  let probe: ReturnType<typeof openAuditStore> | undefined;
  try {
    probe = openAuditStore(config.audit, config.dataDir);
    await probe.init();
  } catch (error) {
    throw new CliError(`the audit store cannot be opened, so nothing was done: ${oneLine(error)}`, 1);
  } finally {
    await probe?.close().catch(() => {});
  }
  const logger = createLogger({ level: "warn", format: "json" });
  return openAuditLog({
    config: config.audit,
    dataDir: config.dataDir,
    gateway: config.smtp.hostname ?? os.hostname(),
    logger,
    spillDir: false,
    ...(options.anchored ? { anchored: true } : {}),
  });
}

/** the message of an error as one line (a driver's message may span several) */
export function oneLine(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return String((e && (e.message || e.code)) || error).replace(/\s*\n\s*/g, "; ");
}

/** Closes a CLI's audit log: a failure means an event of this command was not stored, said in one line. */
export async function closeCliAuditLog(log: AuditLog): Promise<void> {
  try {
    await log.close();
  } catch (error) {
    throw new CliError(`the audit trail could not record this command: ${oneLine(error)}`, 1);
  }
}

async function withLog<T>(configFile: string | undefined, fn: (log: AuditLog, config: Config) => Promise<T>, open: { anchored?: boolean } = {}): Promise<T> {
  const config = loadConfig(configFile);
  const log = await openCliAuditLog(config, open);
  let result: T;
  try {
    result = await fn(log, config);
  } catch (error) {
    await log.close().catch(() => {}); // the command's own failure is the one to report
    if (error instanceof CliError) throw error;
    throw new CliError(`audit store: ${oneLine(error)}`, 1);
  }
  await closeCliAuditLog(log);
  return result;
}

function dateOpt(value: string | undefined, bound: "since" | "until"): Date | undefined {
  if (value === undefined) return undefined;
  return parseTimeArg(value, bound, bound === "until" ? "end" : "start"); // a DateArgError is a CliError (exit 2)
}

function intOpt(value: string | undefined, name: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new CliError(`--${name} must be a whole number ≥ ${min}`, 2);
  return Number(value);
}

/** A SHA-256 as given on the command line: 64 hex digits, or exit 2. */
function sha256Arg(value: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(value.trim())) throw new CliError("--sha256 must be 64 hexadecimal digits", 2);
  return value.trim();
}

/** The search options that look a message up by its facets (what was removed, its links, sender domain, verdicts). */
function facetOptions(opts: Record<string, string | boolean | undefined>): Partial<AuditQuery> {
  const text = (k: string): string | undefined => (typeof opts[k] === "string" && opts[k] !== "" ? (opts[k] as string) : undefined);
  const sha = text("sha256");
  const q: Partial<AuditQuery> = {};
  if (sha !== undefined) q.sha256 = sha256Arg(sha);
  for (const [opt, field] of FACET_FIELDS) {
    const v = text(opt);
    if (v !== undefined) (q as Record<string, string>)[field] = v;
  }
  return q;
}

const summaryColumns: Column<MessageSummary>[] = [
  { title: "受信日時 (JST)", width: 19, value: (r) => formatJst(r.receivedAt) },
  { title: "状態 status", width: 11, value: (r) => r.status },
  { title: "差出人 from", width: 28, value: (r) => r.mailFrom || r.headerFrom },
  { title: "宛先 to", width: 24, value: (r) => r.rcptTo.join(", ") },
  { title: "添付削除", width: 8, value: (r) => (r.attachmentsRemoved ? String(r.attachmentsRemoved) : "") },
  { title: "件名 subject", width: 36, value: (r) => r.subject },
  { title: "ID", width: 34, value: (r) => r.auditId },
];

/** The details of an event worth a glance, on one line; the whole of it is in --json. */
function eventDetails(e: AuditEvent): string {
  const d = e.type === "received" ? withReadableHeaders(e.data) : e.data;
  const pick = (keys: string[]): string =>
    keys
      .filter((k) => d[k] !== undefined && d[k] !== "" && !(Array.isArray(d[k]) && (d[k] as unknown[]).length === 0))
      .map((k) => `${k}=${typeof d[k] === "string" ? d[k] : JSON.stringify(d[k])}`)
      .join(" ");
  switch (e.type) {
    case "received":
      return pick(["clientAddress", "helo", "mailFrom", "rcptTo", "headerFrom", "subject", "messageId", "size", "sha256"]);
    case "sanitized": {
      // the relay stores the SanitizeReport under data.report (data.facts when a rule stopped the message)
      const inner = (k: string): Record<string, unknown> => (d[k] && typeof d[k] === "object" ? (d[k] as Record<string, unknown>) : {});
      const r = { ...inner("facts"), ...inner("report"), ...d };
      const list = r.attachments;
      const atts = Array.isArray(list) ? (list as { filename?: string; contentType?: string; size?: number; sha256?: string }[]) : [];
      const removed = atts.map((a) => `${a.filename || "(名前なし)"} ${a.contentType ?? ""} ${a.size ?? "?"}B sha256:${String(a.sha256 ?? "").slice(0, 12)}`);
      const brief = ["html", "links", "limitsHit", "rulesApplied", "action", "reason", "withheld"]
        .filter((k) => r[k] !== undefined && !(Array.isArray(r[k]) && (r[k] as unknown[]).length === 0))
        .map((k) => `${k}=${typeof r[k] === "string" ? r[k] : JSON.stringify(r[k])}`)
        .join(" ");
      return [brief, ...removed.map((x) => `removed: ${x}`)].filter(Boolean).join(" | ");
    }
    default:
      return canonicalShort(d);
  }
}

/** The received event's Subject and From as the search table shows them (decoded), not as on the wire. */
function withReadableHeaders(d: Record<string, unknown>): Record<string, unknown> {
  const out = { ...d };
  if (d.subject !== undefined) out.subject = readableHeader(d.subject, d.subjectDecoded);
  if (d.headerFrom !== undefined) out.headerFrom = readableHeader(d.headerFrom, d.headerFromDecoded);
  return out;
}

function canonicalShort(d: Record<string, unknown>): string {
  const s = JSON.stringify(d);
  return s === "{}" ? "" : s;
}

export function registerAuditCommands(program: Command): void {
  const audit = program.command("audit").description("the audit trail: search, show, export, verify, purge / 監査ログ");

  audit
    .command("search")
    .description("find messages by date, sender, recipient, subject, status, id, removed attachment, link or verdict / メッセージ検索")
    .option("-c, --config <file>", "configuration file (YAML)")
    .option("--since <date>", "received at or after (YYYY-MM-DD in Japan time, or ISO 8601)")
    .option("--until <date>", "received before (YYYY-MM-DD: to the end of that day in Japan time)")
    .option("--from <text>", "part of the envelope sender or header From")
    .option("--to <text>", "part of a recipient")
    .option("--subject <text>", "part of the subject")
    .option("--status <status>", `one of: ${MESSAGE_STATUSES.join(", ")}`)
    .option("--id <auditId>", "one message's audit id")
    .option("--auth <method=result>", "sender-authentication verdict, e.g. dmarc=fail (docs/authentication.md) / 送信者認証の結果")
    .option("--sha256 <hex>", "a removed attachment's SHA-256 / 削除した添付ファイルの SHA-256")
    .option("--attachment <text>", "part of a removed attachment's file name / 添付ファイル名の一部")
    .option("--type <type>", "a removed attachment's sniffed type (pdf, zip, exe, unknown …) / 判定した形式")
    .option("--link-domain <domain>", "a link's domain, or a parent of it / リンクのドメイン")
    .option("--url <url>", "a link's full URL as written in the original / リンクの URL")
    .option("--sender-domain <domain>", "the envelope sender's domain, or a parent of it / 差出人ドメイン")
    .option("--verdict <verdict>", "a recorded verdict: ppap, type-mismatch, rule:<name>, action:hold, limit:<name>, dmarc:fail … / 判定")
    .option("--limit <n>", "rows per page (max 1000)", "50")
    .option("--page <n>", "page number, from 1", "1")
    .option("--json", "JSON output: {total, rows}")
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const status = opts.status as string | undefined;
      if (status !== undefined && !MESSAGE_STATUSES.includes(status as MessageStatus)) {
        throw new CliError(`--status must be one of: ${MESSAGE_STATUSES.join(", ")}`, 2);
      }
      const limit = intOpt(opts.limit as string, "limit", 1)!;
      const page = intOpt(opts.page as string, "page", 1)!;
      const since = dateOpt(opts.since as string | undefined, "since");
      const until = dateOpt(opts.until as string | undefined, "until");
      const query: AuditQuery = {
        ...(since ? { since } : {}),
        ...(until ? { until } : {}),
        ...(opts.from ? { from: String(opts.from) } : {}),
        ...(opts.to ? { to: String(opts.to) } : {}),
        ...(opts.subject ? { subject: String(opts.subject) } : {}),
        ...(status ? { status: status as MessageStatus } : {}),
        ...(opts.id ? { auditId: String(opts.id) } : {}),
        ...facetOptions(opts),
        limit,
        offset: (page - 1) * limit,
      };
      const authFilter = opts.auth === undefined ? undefined : parseAuthFilter(String(opts.auth));
      if (typeof authFilter === "string") throw new CliError(`--auth: ${authFilter}`, 2);
      await withLog(opts.config as string | undefined, async (log) => {
        const filtered = authFilter ? await searchByAuth(log, query, authFilter) : undefined;
        if (filtered?.truncated) process.stderr.write(`--auth: 新しい順に ${filtered.scanned} 件だけを調べました / only the newest ${filtered.scanned} messages were looked at\n`);
        const result = filtered ?? (await log.search(query));
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
          return;
        }
        process.stdout.write(formatTable(summaryColumns, result.rows));
        const first = result.rows.length ? (query.offset ?? 0) + 1 : 0;
        const last = (query.offset ?? 0) + result.rows.length;
        process.stdout.write(`${first}–${last} / ${result.total} 件 (messages)${last < result.total ? `  次のページ next: --page ${page + 1}` : ""}\n`);
      });
    });

  audit
    .command("recipients")
    .description("who else received this attachment or link: every message and recipient, with counts per day / 同じ添付・リンクを受け取った人")
    .option("-c, --config <file>", "configuration file (YAML)")
    .option("--sha256 <hex>", "a removed attachment's SHA-256")
    .option("--link-domain <domain>", "a link's domain, or a parent of it")
    .option("--url <url>", "a link's full URL as written in the original")
    .option("--json", "JSON output: {messages, truncated, recipientsComplete, days, recipients, rows}")
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const given = (["sha256", "linkDomain", "url"] as const).filter((k) => typeof opts[k] === "string");
      if (given.length !== 1) throw new CliError("give exactly one of --sha256, --link-domain, --url", 2);
      const field = given[0]!;
      const value = String(opts[field]);
      if (field === "sha256") sha256Arg(value);
      const kind = field === "sha256" ? "sha256" : field === "url" ? "url" : "domain";
      await withLog(opts.config as string | undefined, async (log) => {
        const spread = await log.spread({ kind, value });
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(spread, null, 2)}\n`);
          return;
        }
        const lines = [
          `${spread.messages} 件のメッセージ (messages), ${spread.recipients.length} 人の宛先 (recipients)${spread.recipientsComplete ? "" : " — 宛先は最新の 10,000 通のみ集計 (recipients of the newest 10,000 only)"}${spread.truncated ? ` — 一覧は最新の ${spread.rows.length} 通 (newest ${spread.rows.length} listed)` : ""}`,
          "",
          "日付 day (JST)   件数 messages  宛先数 recipients",
          ...spread.days.map((d) => `${d.day}       ${String(d.messages).padStart(8)}  ${String(d.recipients).padStart(8)}`),
          "",
          "宛先 recipient                              件数 messages",
          ...spread.recipients.map((r) => `${displaySafe(r.address).padEnd(42)} ${String(r.messages).padStart(6)}`),
          "",
        ];
        process.stdout.write(lines.join("\n"));
        process.stdout.write(formatTable(summaryColumns, spread.rows));
      });
    });

  audit
    .command("show")
    .description("the whole story of one message, in order / メッセージの経過")
    .argument("<id>", "audit id")
    .option("-c, --config <file>", "configuration file (YAML)")
    .option("--json", "JSON output: the events")
    .action(async (id: string, opts: { config?: string; json?: boolean }) => {
      await withLog(opts.config, async (log) => {
        const events = await log.story(id);
        if (events.length === 0) throw new CliError(`no audit events for ${displaySafe(id)}`, 1);
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(events, null, 2)}\n`);
          return;
        }
        const lines = events.map(
          (e) => `${formatJst(e.ts, true)}  #${e.seq}  ${e.type.padEnd(16)} ${(e.actor ?? "gateway").padEnd(14)} ${displaySafe(eventDetails(e))}`,
        );
        process.stdout.write(`${displaySafe(id)} (JST)\n${lines.join("\n")}\n`);
      });
    });

  audit
    .command("export")
    .description("events between two dates as JSON lines, for a SIEM / JSON Lines 出力")
    .requiredOption("--since <date>", "from (YYYY-MM-DD in Japan time, or ISO 8601)")
    .requiredOption("--until <date>", "to (YYYY-MM-DD: to the end of that day, Japan time)")
    .option("-c, --config <file>", "configuration file (YAML)")
    .option("--with-text", "include the text staff received (kept texts), as `text` beside each event / 職員に届いた本文も出力")
    .action(async (opts: { config?: string; since: string; until: string; withText?: boolean }) => {
      const since = dateOpt(opts.since, "since")!;
      const until = dateOpt(opts.until, "until")!;
      await withLog(opts.config, async (log) => {
        let n: number;
        try {
          n = await log.exportJsonl(since, until, process.stdout, { withText: opts.withText === true });
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "EPIPE") return; // the reader (head, a closed SIEM pipe) stopped: not our failure
          throw error;
        }
        // the whole trail (addresses, subjects) left the gateway: that is an administrator action
        log.record({
          type: "admin",
          actor: cliActor(),
          data: { action: "audit-export", since: since.toISOString(), until: until.toISOString(), events: n, withText: opts.withText === true },
        });
        process.stderr.write(`exported ${n} events (${formatJst(since.toISOString())} – ${formatJst(until.toISOString())} JST)\n`);
      });
    });

  audit
    .command("verify")
    .description("check the hash chain, the message summaries, completeness and anchors; exit 1 naming the first problem / 改ざん検査")
    .option("-c, --config <file>", "configuration file (YAML)")
    .option("--anchors <file|SEQ:HASH>", "anchors the chain must reach: an anchor file, a copy of the log, or SEQ:HASH / アンカー照合")
    .option("--json", "JSON output")
    .action(async (opts: { config?: string; json?: boolean; anchors?: string }) => {
      let anchors: Anchor[] | undefined;
      if (opts.anchors !== undefined) {
        const given = parseAnchors(opts.anchors);
        if (/^\d+:[0-9a-f]{64}$/.test(opts.anchors.trim()) && given.anchors.length === 1) anchors = given.anchors;
        else {
          try {
            anchors = (await readAnchorFile(opts.anchors)).anchors;
          } catch (error) {
            throw new CliError(`--anchors: ${displaySafe((error as Error).message)} (give an anchor file or SEQ:HASH)`, 2);
          }
        }
        if (anchors.length === 0) throw new CliError(`--anchors: no anchor found in ${displaySafe(opts.anchors)} (lines "… audit-anchor … seq=N hash=H", pino "audit-anchor" lines, or SEQ:HASH)`, 2);
      }
      await withLog(opts.config, async (log, config) => {
        // the configuration's own anchor file, when no anchors are given: a cut-off end shows without asking
        let from = opts.anchors;
        if (!anchors && config.audit.anchor.file) {
          const file = config.audit.anchor.file;
          try {
            const found = (await readAnchorFile(file)).anchors;
            if (found.length) {
              anchors = found;
              from = file;
            }
          } catch (error) {
            process.stderr.write(`警告 / WARNING: アンカーファイルを読めません / the anchor file ${displaySafe(file)} cannot be read: ${displaySafe(oneLine(error))}\n`);
          }
        }
        const result = await log.verify(anchors ? { anchors } : undefined);
        if (opts.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        for (const w of result.warnings ?? []) process.stderr.write(`警告 / WARNING: ${displaySafe(w)}\n`);
        if (!result.ok) {
          const bad = result.firstBad!;
          const what = bad.kind ? `anchor seq ${bad.seq} [${bad.kind}]` : bad.seq ? `event seq ${bad.seq}` : `message ${displaySafe(bad.auditId ?? "?")}`;
          throw new CliError(`audit verify FAILED (改ざん検出) at ${what}: ${displaySafe(bad.reason)} (${result.checked} events checked)`, 1);
        }
        if (!opts.json) {
          const a = result.anchors;
          const anchorText = a
            ? a.latest
              ? `; ${a.checked} anchor(s) reached, latest seq ${a.latest.seq}${a.latest.ts ? ` (${formatJst(a.latest.ts, true)} JST)` : ""}: no event up to it was removed or changed` +
                (a.purged ? ` (${a.purged} older anchor(s) before the retention purge)` : "")
              : `; all ${a.purged} anchor(s) lie before the retention purge: nothing left to compare`
            : "";
          process.stdout.write(
            `OK 検証成功: ${result.checked} events, chain, message summaries and completeness intact` +
              anchorText +
              (result.headSeq ? `; head seq ${result.headSeq} hash ${result.headHash}` : "") +
              "\n" +
              purgeLines(result) +
              coverageLine(result, from),
          );
        }
      });
    });

  audit
    .command("purge")
    .description("remove events older than the retention behind a checkpoint, anchored at once / 保存期間を過ぎたイベントの削除")
    .option("-c, --config <file>", "configuration file (YAML)")
    .option("--before <date>", "remove events before this time (default and latest allowed: now minus audit.retentionDays)")
    .option("--force", "also remove events inside the retention period (recorded, alerted and shown by verify; needs --reason) / 保存期間内の削除")
    .option("--reason <text>", "with --force: why (recorded in the audit trail and the checkpoint) / 理由")
    .action(async (opts: { config?: string; before?: string; force?: boolean; reason?: string }) => {
      if (opts.force && !opts.reason?.trim()) throw new CliError("--force needs --reason TEXT (recorded in the audit trail) / 理由を --reason で指定してください", 2);
      if (opts.reason !== undefined && !opts.force) throw new CliError("--reason goes with --force", 2);
      const config = loadConfig(opts.config);
      const days = config.audit.retentionDays;
      const now = new Date();
      const before = dateOpt(opts.before, "since") ?? new Date(now.getTime() - days * DAY_MS);
      // an override alerts and stays on record: one that overrides nothing would be a false alarm
      if (opts.force && before.getTime() <= purgeLimit(now, days).getTime()) {
        throw new CliError(`--force は保存期間内の削除のときだけです。この削除は保存期間(${days} 日)の外なので --force なしで実行してください / --force is only for a cutoff inside the retention period of ${days} days; run this one without it`, 2);
      }
      const override = opts.force ? { reason: reasonOf(opts.reason!) } : undefined;
      try {
        checkPurgeRequest(before, now, days, override);
      } catch (error) {
        if (!(error instanceof PurgeRefusedError)) throw error;
        const hint = error.code === "inside-retention" ? "; 緊急時のみ / only in an emergency: --force --reason TEXT (記録され通知されます / recorded and alerted)" : "";
        throw new CliError(`削除を拒否しました / purge refused: ${error.message}${hint}`, 2);
      }
      await withLog(
        opts.config,
        async (log) => {
          const actor = cliActor();
          const alerts = override ? createAlerts(config, createLogger({ level: "warn", format: "json" })) : undefined;
          let removed: number | undefined;
          try {
            if (override) {
              // on record before anything is removed (an attempt that fails is still an attempt); it is
              // stamped now, at or after the cutoff (a future cutoff was refused), so the purge keeps it
              log.record({ type: "admin", actor, data: { action: "audit-purge-override", before: before.toISOString(), retentionDays: days, reason: override.reason } });
              await log.flush();
              process.stderr.write(`警告 / WARNING: 保存期間(${days} 日)内のイベントを削除します。記録し、通知します / purging inside the retention period of ${days} days: recorded and alerted\n`);
            }
            const result = await log.purge(before, actor, override ? { override } : {});
            removed = result.removed;
            process.stdout.write(`removed ${result.removed} events before ${formatJst(before.toISOString())} JST (${dayInJapan(before.toISOString())})\n`);
            if (result.checkpoint) {
              process.stdout.write(`checkpoint seq ${result.checkpoint.seq}: purged through seq ${String(result.checkpoint.data.purgedThroughSeq)}\n`);
              const where = [config.audit.anchor.file, config.audit.anchor.syslog ? `syslog ${config.audit.anchor.syslog.host}` : undefined].filter(Boolean).join(", ");
              if (result.anchor) {
                process.stdout.write(
                  `アンカー / anchor: ${formatAnchorLine(result.anchor)}\n` +
                    (where
                      ? `  → ${displaySafe(where)}\n`
                      : "  → audit.anchor.file も syslog も未設定です。この行を DB の外に控えてください / no anchor file or syslog configured: keep this line outside the database\n"),
                );
              }
            }
          } finally {
            if (alerts) {
              await alerts.alerter.event("audit-purge-override", { actor, ...(removed !== undefined ? { value: removed } : {}) });
              alerts.close();
            }
          }
        },
        { anchored: true },
      );
    });
}

/** Every purge on record, one line each (the newest PURGE_LINES; all of them in --json). */
const PURGE_LINES = 10;
function purgeLines(result: VerifyResult): string {
  const p = result.purges;
  if (!p) return "";
  const lines = p.listed.slice(-PURGE_LINES).map(
    (c) =>
      `削除 / purge: checkpoint seq ${c.seq} ${formatJst(c.at)} JST by ${displaySafe(c.actor ?? "?")}: seq ≤ ${c.throughSeq}, before ${c.before ? `${formatJst(c.before)} JST` : "?"}` +
      (c.removed !== undefined ? `, ${c.removed} events` : "") +
      (c.override ? ` — 保存期間の上書き / retention OVERRIDE: ${displaySafe(c.override.reason)}` : ""),
  );
  const more = p.count - lines.length;
  return `${p.count} purge(s) on record${more > 0 ? ` (the newest ${lines.length} below; all with --json)` : ""}\n${lines.map((l) => `  ${l}\n`).join("")}`;
}

/** What this verification proves and what it cannot, in one line. */
function coverageLine(result: VerifyResult, anchorsFrom: string | undefined): string {
  const c = result.coverage;
  if (!c) return "";
  const a = c.anchoredThrough;
  if (!a) {
    return (
      "証明できない範囲 / NOT proven: 外部アンカーを照合していません / no external anchor was checked: the chain alone cannot show the newest events removed, " +
      "the chain rewritten with fresh hashes, an older copy restored, or a purge that removed younger events than its cutoff " +
      "(set audit.anchor.file or give --anchors)\n"
    );
  }
  const when = a.ts ? ` (${formatJst(a.ts, true)} JST)` : "";
  const source = anchorsFrom ? ` [${displaySafe(anchorsFrom)}]` : "";
  return (
    `証明できる範囲 / proven: seq ${a.seq}${when} まで削除・改変なし / intact up to anchor seq ${a.seq}${source}` +
    (c.unanchored > 0
      ? `; 証明できない / NOT proven: その後の ${c.unanchored} 件 / the ${c.unanchored} event(s) after it can be removed from the end or rewritten without detection until the next anchor\n`
      : "; no event after it\n")
  );
}
