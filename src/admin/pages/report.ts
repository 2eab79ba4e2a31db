/**
 * The monthly self-inspection report in the console: GET /report?month=YYYY-MM
 * shows it (viewers), GET /report/download?month=…&format=html|csv|json hands
 * it out as a file, and every download is recorded in the audit trail (who,
 * which month, which format: the report carries addresses out of the console).
 *
 * The audit chain's verification reads the whole store, so it is not run per
 * request: it runs in the background at most once per CHAIN_CACHE_MS, one run
 * at a time, and the report shows the latest result (or "not checked yet").
 *
 * SECURITY: the month and format come from the query string and are checked
 * (monthRange, REPORT_FORMATS) before anything is read; event data reaches the
 * page only through reportSections() (escaped). A crash leaves nothing: the
 * chain result is a cache.
 */
import type { FastifyPluginAsync } from "fastify";
import type { AuditReader, AuditSink, VerifyResult } from "../../audit/audit-types.ts";
import { buildMonthReport, monthRange, type MonthReport } from "../../report/report-fns.ts";
import { previousMonth } from "../../report/report-command.ts";
import { renderReport, REPORT_FORMATS, reportSections, type ReportFormat } from "../../report/report-format.ts";
import { href, html, type Html } from "../html.ts";
import { field } from "../http-fns.ts";
import { incidentWords } from "../incident-words.ts";
import { layout, type PageContext } from "../layout.ts";
import type { PageKit } from "../page-kit.ts";

/** A chain result younger than this is reused. */
const CHAIN_CACHE_MS = 10 * 60_000;
/** How long the first report waits for the first verification before showing "not checked yet". */
const CHAIN_FIRST_WAIT_MS = 3_000;

export function reportPage(ctx: PageContext, month: string, report: MonthReport | undefined, error?: string): Html {
  const w = incidentWords(ctx.lang);
  return layout(
    ctx,
    `${w.reportTitle} ${month}`,
    html`<section class="card">
<form method="get" action="/report" class="inline-search">
  <label class="month">${w.month}<input type="month" name="month" value="${month}" pattern="\\d{4}-\\d{2}"></label>
  <div class="actions"><button type="submit" class="primary">${w.show}</button></div>
</form>
${report
  ? html`<p class="downloads">${w.download}: ${REPORT_FORMATS.map((f) => html`<a class="button small" href="${href(["report", "download"], { month, format: f })}">${f.toUpperCase()}</a> `)}
<span class="muted">${w.reportAudited} ${w.printHint}</span></p>`
  : ""}
</section>
${error ? html`<p class="notice error" role="alert">${error}</p>` : ""}
${report ? html`<div class="card report-doc">${reportSections(report)}</div>` : ""}`,
  );
}

export interface ReportRoutesOptions {
  kit: PageKit;
  audit: Pick<AuditReader, "eventsBetween" | "verify"> & Pick<AuditSink, "record">;
}

export const reportRoutes: FastifyPluginAsync<ReportRoutesOptions> = async (app, { kit, audit }) => {
  let chainCache: { at: number; result: VerifyResult } | undefined;
  let chainRun: Promise<void> | undefined;
  const chain = (): VerifyResult | undefined => {
    if ((!chainCache || kit.now() - chainCache.at >= CHAIN_CACHE_MS) && !chainRun) {
      chainRun = audit
        .verify()
        .then(
          (result) => {
            chainCache = { at: kit.now(), result };
          },
          (error: unknown) => kit.log.error({ err: error }, "admin console: audit verify for the report failed"),
        )
        .finally(() => {
          chainRun = undefined;
        });
    }
    return chainCache?.result;
  };
  // the audit store may close right after the console: a verification still reading it ends first
  app.addHook("onClose", async () => {
    await chainRun;
  });

  /** the month asked for (default: last month), or undefined when it does not parse */
  const monthOf = (query: unknown): string | undefined => {
    const month = field(query, "month", 7) || previousMonth(new Date(kit.now()));
    try {
      monthRange(month);
      return month;
    } catch {
      return undefined;
    }
  };

  const build = async (month: string): Promise<MonthReport> => {
    let verified = chain();
    if (!verified && chainRun) {
      // the first report after a start: give the verification a moment rather than say "not checked" at once
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([chainRun, new Promise<void>((resolve) => (timer = setTimeout(resolve, CHAIN_FIRST_WAIT_MS)))]);
      clearTimeout(timer);
      verified = chainCache?.result;
    }
    return buildMonthReport(audit, month, { now: new Date(kit.now()), ...(verified ? { chain: verified } : {}) });
  };

  kit.route(app, "GET", "/report", "viewer", async (request, reply) => {
    const ctx = kit.ctxOf(request);
    const month = monthOf(request.query);
    if (!month) return kit.send(reply, reportPage(ctx, previousMonth(new Date(kit.now())), undefined, incidentWords(ctx.lang).badMonth), 400);
    return kit.send(reply, reportPage(ctx, month, await build(month)));
  });

  kit.route(app, "GET", "/report/download", "viewer", async (request, reply) => {
    const month = monthOf(request.query);
    const format = field(request.query, "format", 8) || "html";
    if (!month || !REPORT_FORMATS.includes(format as ReportFormat)) return kit.fail(request, reply, 400, "badRequest");
    const rendered = renderReport(await build(month), format as ReportFormat);
    audit.record({ type: "admin", actor: kit.actorOf(request), data: { action: "report-download", month, format, ip: request.ip } });
    // the file name is built from the checked month and format only
    return reply.type(rendered.type).header("Content-Disposition", `attachment; filename="${rendered.filename}"`).send(rendered.body);
  });
};
