/** The dashboard: today / this week, the 14-day chart, queue depth, health, audit chain. Pure renderer. */
import { describeLastAnchor } from "../../audit/anchor.ts";
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
