/**
 * The dashboard: today / this week, the 14-day chart, queue depth, health,
 * audit chain. A pure renderer, and its route (GET /).
 *
 * Verifying the whole audit chain reads every event: it runs in the
 * background, one run at a time, and the page shows the latest result. Counts
 * and health are the gateway's own numbers, no request input beyond the
 * session. A crash leaves nothing: the chain result is a cache.
 */
import type { FastifyPluginAsync } from "fastify";
import { describeLastAnchor } from "../../audit/anchor.ts";
import type { AuditReader } from "../../audit/audit-types.ts";
import { formatJst, jstDay, jstDayStart, jstWeekStart } from "../../lib/japan-time.ts";
import type { QueueAdmin } from "../../spool/queue-types.ts";
import type { PageKit } from "../page-kit.ts";
import type { DailyCounts, VerifyResult } from "../../audit/audit-types.ts";
import type { QueueState } from "../../spool/queue-types.ts";
import type { HealthCheck } from "../admin-types.ts";
import { dailyChart } from "../chart.ts";
import { html, type Html } from "../html.ts";
import { statusLabel, type MessageKey } from "../i18n.ts";
import { layout, type PageContext } from "../layout.ts";

export interface DashboardData {
  today: DailyCounts;
  week: DailyCounts;
  days: DailyCounts[];
  queue: Record<QueueState, number> | undefined;
  health: HealthCheck | undefined;
  chain: VerifyResult | undefined;
  chainCheckedAt?: string;
}

const COUNT_KEYS: { key: keyof Omit<DailyCounts, "day">; label: MessageKey; tone?: string }[] = [
  { key: "received", label: "received" },
  { key: "delivered", label: "sanitized" },
  { key: "attachmentsRemoved", label: "attachmentsRemoved" },
  { key: "held", label: "held", tone: "warn" },
  { key: "deferred", label: "deferred", tone: "warn" },
  { key: "bounced", label: "bounced", tone: "bad" },
];

export function dashboardPage(ctx: PageContext, data: DashboardData): Html {
  const { t } = ctx;
  const counts = (title: string, c: DailyCounts) =>
    html`<section class="card"><h2>${title}</h2><dl class="tiles">${COUNT_KEYS.map(
      (k) => html`<div class="tile${c[k.key] > 0 && k.tone ? ` ${k.tone}` : ""}"><dt>${t(k.label)}</dt><dd>${c[k.key].toLocaleString("ja-JP")}</dd></div>`,
    )}</dl></section>`;
  const state = (ok: boolean | undefined) =>
    ok === undefined ? html`<span class="pill unknown">${t("unknown")}</span>` : ok ? html`<span class="pill ok">${t("ok")}</span>` : html`<span class="pill bad">${t("ng")}</span>`;
  const downstream = data.health?.checks.downstream;
  const queueStates: QueueState[] = ["incoming", "active", "deferred", "held", "corrupt"];
  return layout(
    ctx,
    t("dashboard"),
    html`<div class="grid2">${counts(`${t("today")}（${data.today.day}）`, data.today)}${counts(`${t("thisWeek")}（${data.week.day} 〜）`, data.week)}</div>
<section class="card"><h2>${t("last14")}</h2>${dailyChart(data.days, t)}</section>
<div class="grid3">
<section class="card"><h2>${t("queueDepth")}</h2>
${data.queue
  ? html`<dl class="tiles small">${queueStates.map(
      (s) => html`<div class="tile${(s === "held" || s === "corrupt") && data.queue![s] > 0 ? " warn" : ""}"><dt><a href="/queue">${statusLabel(t, s)}</a></dt><dd>${data.queue![s]}</dd></div>`,
    )}</dl>`
  : html`<p>${state(undefined)}</p>`}
</section>
<section class="card"><h2>${t("downstream")}</h2>
<p>${state(downstream?.ok)} ${downstream?.detail ?? ""}</p>
<h3>${t("health")}</h3>
<ul class="checks">${Object.entries(data.health?.checks ?? {}).map(([name, c]) => html`<li>${state(c.ok)} <span class="mono">${name}</span> <span class="muted">${c.detail ?? ""}</span></li>`)}</ul>
</section>
<section class="card"><h2>${t("auditChain")}</h2>
<p>${state(data.chain?.ok)} ${data.chain ? html`${data.chain.checked.toLocaleString("ja-JP")} ${t("checked")}` : ""}</p>
${data.chain?.firstBad ? html`<p class="mono bad-text">seq ${data.chain.firstBad.seq}: ${data.chain.firstBad.reason}</p>` : ""}
${describeLastAnchor(data.chain) ? html`<p class="mono${data.chain?.lastAnchor?.reached ? "" : " bad-text"}">${describeLastAnchor(data.chain)}</p>` : ""}
${data.chainCheckedAt ? html`<p class="muted">${data.chainCheckedAt}</p>` : ""}
</section>
</div>`,
  );
}

// ---- route -------------------------------------------------------------------------------------

/** Verifying the whole audit chain is not free; the dashboard shows a result at most this old. */
const CHAIN_CACHE_MS = 60_000;
/** The first dashboard after a start waits this long for a verification before showing "unknown". */
const CHAIN_FIRST_WAIT_MS = 2_000;
const DAY_MS = 86_400_000;

export interface DashboardRoutesOptions {
  kit: PageKit;
  audit: Pick<AuditReader, "dailyCounts" | "verify">;
  queue: Pick<QueueAdmin, "list">;
  health: () => Promise<HealthCheck>;
}

export const dashboardRoutes: FastifyPluginAsync<DashboardRoutesOptions> = async (app, { kit, audit, queue, health }) => {
  const { now, log } = kit;
  let chainCache: { at: number; result: VerifyResult } | undefined;
  let chainRun: Promise<void> | undefined;
  const refreshChain = (): Promise<void> =>
    (chainRun ??= audit
      .verify()
      .then(
        (result) => {
          chainCache = { at: now(), result };
        },
        (error: unknown) => log.error({ err: error }, "admin console: audit verify failed"),
      )
      .finally(() => {
        chainRun = undefined;
      }));
  const chain = async (): Promise<{ result: VerifyResult; at: number } | undefined> => {
    if (!chainCache || now() - chainCache.at >= CHAIN_CACHE_MS) {
      const run = refreshChain();
      if (!chainCache) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([run, new Promise<void>((resolve) => (timer = setTimeout(resolve, CHAIN_FIRST_WAIT_MS)))]);
        clearTimeout(timer);
      }
    }
    return chainCache;
  };
  // the audit store may close right after the console: a verification still reading it ends first
  app.addHook("onClose", async () => {
    await chainRun;
  });

  const zero = (day: string): DailyCounts => ({ day, received: 0, delivered: 0, attachmentsRemoved: 0, held: 0, deferred: 0, bounced: 0, rejected: 0 });

  kit.route(app, "GET", "/", "viewer", async (request, reply) => {
    const at = new Date(now());
    const firstDay = jstDay(new Date(at.getTime() - 13 * DAY_MS));
    const weekStart = jstWeekStart(at);
    const [counts, queueEntries, healthNow, verified] = await Promise.all([
      audit.dailyCounts(jstDayStart(firstDay)!, at).catch((error: unknown) => {
        log.error({ err: error }, "admin console: daily counts failed");
        return [] as DailyCounts[];
      }),
      queue.list().catch(() => undefined),
      health().catch(() => undefined),
      chain(),
    ]);
    const byDay = new Map(counts.map((c) => [c.day, c]));
    const days: DailyCounts[] = [];
    for (let i = 13; i >= 0; i--) {
      const day = jstDay(new Date(at.getTime() - i * DAY_MS));
      days.push(byDay.get(day) ?? zero(day));
    }
    const week = zero(weekStart);
    for (const d of days) {
      if (d.day < weekStart) continue;
      for (const k of ["received", "delivered", "attachmentsRemoved", "held", "deferred", "bounced", "rejected"] as const) week[k] += d[k];
    }
    let queueDepth: Record<QueueState, number> | undefined;
    if (queueEntries) {
      queueDepth = { incoming: 0, active: 0, deferred: 0, held: 0, corrupt: 0 };
      for (const e of queueEntries) queueDepth[e.state] = (queueDepth[e.state] ?? 0) + 1;
    }
    return kit.send(
      reply,
      dashboardPage(kit.ctxOf(request), {
        today: days[days.length - 1]!,
        week,
        days,
        queue: queueDepth,
        health: healthNow,
        chain: verified?.result,
        ...(verified ? { chainCheckedAt: formatJst(new Date(verified.at)) } : {}),
      }),
    );
  });
};
