/**
 * `mumuka report --month YYYY-MM [--format html|csv|json] [--out file]`: the
 * monthly self-inspection report from the audit trail (report-fns.ts), with
 * the chain verified as part of it. Every report made is recorded in the
 * audit trail (who, which month, which format): it carries addresses and
 * reasons out of the gateway.
 *
 * Untrusted input: the month and format (checked, exit 2); event data (escaped
 * by the formats). A crash leaves at most a partial --out file, written under
 * a temporary name and renamed only when complete.
 * Exit codes: 0 ok (also when the chain fails: the report says so), 1 the
 * store or the file failed, 2 bad arguments.
 */
import { renameSync, rmSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import { loadConfig } from "../config/load.ts";
import { CliError } from "../lib/cli-error.ts";
import { jstDay } from "../lib/japan-time.ts";
import { cliActor, closeCliAuditLog, oneLine, openCliAuditLog } from "../audit/audit-command.ts";
import { buildMonthReport, monthRange } from "./report-fns.ts";
import { renderReport, REPORT_FORMATS, type ReportFormat } from "./report-format.ts";

/** The Japan-time month before the one `now` falls in. */
export function previousMonth(now: Date): string {
  const [y, m] = jstDay(now).split("-").map(Number) as [number, number];
  return m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, "0")}`;
}

export function registerReportCommand(program: Command): void {
  program
    .command("report")
    .description("the monthly self-inspection report from the audit trail / 月次の自己点検報告")
    .option("-c, --config <file>", "configuration file (YAML)")
    .option("--month <YYYY-MM>", "the month, in Japan time (default: last month) / 対象月")
    .option("--format <format>", `one of: ${REPORT_FORMATS.join(", ")}`, "html")
    .option("--out <file>", "write to this file instead of standard output / 出力ファイル")
    .option("--no-verify", "do not verify the audit chain (the report says it was not checked)")
    .action(async (opts: { config?: string; month?: string; format: string; out?: string; verify: boolean }) => {
      const month = opts.month ?? previousMonth(new Date());
      try {
        monthRange(month);
      } catch {
        throw new CliError(`--month must be YYYY-MM (e.g. 2026-11), got ${JSON.stringify(month.slice(0, 20))}`, 2);
      }
      if (!REPORT_FORMATS.includes(opts.format as ReportFormat)) throw new CliError(`--format must be one of: ${REPORT_FORMATS.join(", ")}`, 2);
      const format = opts.format as ReportFormat;
      const config = loadConfig(opts.config);
      const log = await openCliAuditLog(config);
      let rendered: ReturnType<typeof renderReport>;
      try {
        const chain = opts.verify ? await log.verify() : undefined;
        const report = await buildMonthReport(log, month, chain ? { chain } : {});
        rendered = renderReport(report, format);
        log.record({ type: "admin", actor: cliActor(), data: { action: "report", month, format, ...(opts.out ? { out: "file" } : {}) } });
      } catch (error) {
        await log.close().catch(() => {});
        throw new CliError(`audit store: ${oneLine(error)}`, 1);
      }
      await closeCliAuditLog(log);
      if (opts.out) {
        const tmp = `${opts.out}.tmp-${process.pid}`;
        try {
          writeFileSync(tmp, rendered.body, { mode: 0o600 });
          renameSync(tmp, opts.out);
        } catch (error) {
          rmSync(tmp, { force: true });
          throw new CliError(`--out: ${oneLine(error)}`, 1);
        }
        process.stderr.write(`${month} の報告を書きました (report written): ${opts.out}\n`);
      } else {
        process.stdout.write(rendered.body);
      }
    });
}
