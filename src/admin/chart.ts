/**
 * The dashboard chart: daily counts drawn as server-rendered SVG (no script;
 * colours come from console.css through classes, so the strict CSP holds).
 * Pure: counts in, Html out. Day labels are our own YYYY-MM-DD strings.
 */
import type { DailyCounts } from "../audit/audit-types.ts";
import { html, type Html } from "./html.ts";
import type { Translate } from "./i18n.ts";

const WIDTH = 1000;
const HEIGHT = 250;
const PAD = { left: 44, right: 12, top: 14, bottom: 34 };

interface Series {
  key: "received" | "attachmentsRemoved" | "problems";
  label: string;
  value: (d: DailyCounts) => number;
}

/** A round axis maximum ≥ max: 1, 2, 5 × 10^k. */
export function niceMax(max: number): number {
  if (max <= 4) return 4;
  const pow = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * pow >= max) return step * pow;
  return 10 * pow;
}

/** One group of bars per day: `values[j]` is the height of series j that day. */
export interface BarDay {
  day: string;
  values: number[];
}

export interface BarSeries {
  /** a class of console.css that colours the bar and its swatch */
  key: string;
  label: string;
}

/** Daily bars, one colour per series, with a legend: the dashboard's and the rules replay's chart. */
export function barChart(days: BarDay[], series: BarSeries[], ariaLabel: string): Html {
  const max = niceMax(Math.max(0, ...days.flatMap((d) => d.values)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, days.length);
  const barW = Math.max(2, (slot * 0.78) / series.length);
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;

  // 2·10^k and 4 divide into quarters, 1·10^k and 5·10^k into fifths: every tick is a whole number
  const lead = Number(String(max)[0]);
  const divisions = lead === 2 || lead === 4 ? 4 : 5;
  const grid = Array.from({ length: divisions + 1 }, (_, i) => i / divisions).map((f) => {
    const v = Math.round(max * f);
    const gy = y(v).toFixed(1);
    return html`<line class="grid" x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${gy}" y2="${gy}"/><text class="axis" x="${PAD.left - 6}" y="${(Number(gy) + 4).toFixed(1)}" text-anchor="end">${v}</text>`;
  });

  const bars = days.map((d, i) => {
    const x0 = PAD.left + i * slot + slot * 0.11;
    const label = d.day.slice(5).replace("-", "/");
    return html`<g>${series.map((s, j) => {
      const v = d.values[j] ?? 0;
      const top = y(v);
      return html`<rect class="bar ${s.key}" x="${(x0 + j * barW).toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${(PAD.top + plotH - top).toFixed(1)}"><title>${d.day} ${s.label}: ${v}</title></rect>`;
    })}<text class="axis" x="${(PAD.left + i * slot + slot / 2).toFixed(1)}" y="${HEIGHT - PAD.bottom + 16}" text-anchor="middle">${label}</text></g>`;
  });

  return html`<figure class="chart">
<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${ariaLabel}" xmlns="http://www.w3.org/2000/svg">${grid}${bars}<line class="baseline" x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${PAD.top + plotH}" y2="${PAD.top + plotH}"/></svg>
<figcaption><ul class="legend">${series.map((s) => html`<li><span class="swatch ${s.key}"></span>${s.label}</li>`)}</ul></figcaption>
</figure>`;
}

export function dailyChart(days: DailyCounts[], t: Translate): Html {
  const series: Series[] = [
    { key: "received", label: t("received"), value: (d) => d.received },
    { key: "attachmentsRemoved", label: t("attachmentsRemoved"), value: (d) => d.attachmentsRemoved },
    { key: "problems", label: `${t("held")}・${t("deferred")}・${t("bounced")}`, value: (d) => d.held + d.deferred + d.bounced },
  ];
  return barChart(
    days.map((d) => ({ day: d.day, values: series.map((s) => s.value(d)) })),
    series,
    t("last14"),
  );
}
