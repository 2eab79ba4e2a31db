/**
 * The monthly report as a person or a spreadsheet reads it: an HTML document
 * printable on A4 (a chart of outcomes per day as inline SVG, tables that do
 * not break across pages), CSV for Excel (UTF-8 with a BOM, so Japanese opens
 * correctly; CRLF; one section after another), and JSON. Headings are in
 * Japanese with English beside them: the printed report is filed as is.
 *
 * SECURITY: domains, actors and reasons come from event data (sender- or
 * remote-server-controlled). HTML: every value goes through html`` (escaped)
 * and visible() (bidi overrides shown); the document has no script and its
 * style is one constant block. CSV: a cell starting with = + - @ (a formula in
 * Excel) is prefixed with ' and every cell is quoted. Pure.
 */
import { html, raw, visible, type Html } from "../admin/html.ts";
import { formatJst } from "../lib/japan-time.ts";
import { OUTCOMES, type MonthReport, type Outcome } from "./report-fns.ts";

export type ReportFormat = "html" | "csv" | "json";
export const REPORT_FORMATS: readonly ReportFormat[] = ["html", "csv", "json"];

const OUTCOME_LABEL: Record<Outcome, [string, string]> = {
  delivered: ["配送", "delivered"],
  held: ["保留", "held"],
  rejected: ["拒否", "rejected"],
  bounced: ["不達", "bounced"],
  deferred: ["再送待ち", "deferred"],
  expired: ["期限切れ", "expired"],
  deleted: ["削除", "deleted"],
  queued: ["処理中", "in progress"],
};

/** Colours of the outcomes in the chart (SVG fill attributes, not style: the console's CSP holds). */
const OUTCOME_FILL: Record<Outcome, string> = {
  delivered: "#2f6f9f",
  held: "#d08a1c",
  rejected: "#a33b3b",
  bounced: "#7a3f8f",
  deferred: "#8fb1cc",
  expired: "#6b6b6b",
  deleted: "#b8b8b8",
  queued: "#d9d9d9",
};

const n = (v: number): string => v.toLocaleString("ja-JP");

/** "1.2 秒", "3 分 5 秒", "2 時間 4 分": a duration as read in a report. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} 秒`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} 分 ${Math.round(s - m * 60)} 秒`;
  return `${Math.floor(m / 60)} 時間 ${m % 60} 分`;
}

const ACTION_TYPE: Record<"held" | "released" | "deleted", string> = { held: "保留 held", released: "解放 released", deleted: "削除 deleted" };

/** Messages by outcome per day: stacked bars, server-drawn SVG. */
export function outcomeChart(report: MonthReport): Html {
  const W = 1000;
  const H = 260;
  const pad = { left: 50, right: 10, top: 10, bottom: 30 };
  const max = Math.max(1, ...report.days.map((d) => d.received));
  const pow = 10 ** Math.floor(Math.log10(max));
  const top = Math.max(4, [1, 2, 5, 10].map((k) => k * pow).find((v) => v >= max) ?? 10 * pow);
  const plotW = W - pad.left - pad.right;
  const plotH = H - pad.top - pad.bottom;
  const slot = plotW / Math.max(1, report.days.length);
  const y = (v: number): number => pad.top + plotH - (v / top) * plotH;
  // 2·10^k and 4 divide into quarters, 1·10^k and 5·10^k into fifths: every tick a whole number
  const lead = Number(String(top)[0]);
  const divisions = top >= 10 && (lead === 2 || lead === 4) ? 4 : top >= 5 ? 5 : top;
  const grid = Array.from({ length: divisions + 1 }, (_, i) => i / divisions).map((f) => {
    const v = Math.round(top * f);
    const gy = y(v).toFixed(1);
    return html`<line x1="${pad.left}" x2="${W - pad.right}" y1="${gy}" y2="${gy}" stroke="#e3e3e3"/><text x="${pad.left - 6}" y="${(Number(gy) + 4).toFixed(1)}" text-anchor="end" font-size="12" fill="#555">${n(v)}</text>`;
  });
  const bars = report.days.map((d, i) => {
    const x = pad.left + i * slot + slot * 0.15;
    let base = 0;
    const rects = OUTCOMES.filter((o) => d.outcomes[o] > 0).map((o) => {
      const v = d.outcomes[o];
      const r = html`<rect x="${x.toFixed(1)}" y="${y(base + v).toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${(y(base) - y(base + v)).toFixed(1)}" fill="${OUTCOME_FILL[o]}"><title>${d.day} ${OUTCOME_LABEL[o][0]}: ${v}</title></rect>`;
      base += v;
      return r;
    });
    return html`<g>${rects}<text x="${(pad.left + i * slot + slot / 2).toFixed(1)}" y="${H - pad.bottom + 16}" text-anchor="middle" font-size="11" fill="#555">${Number(d.day.slice(8))}</text></g>`;
  });
  const used = OUTCOMES.filter((o) => report.totals[o] > 0);
  return html`<figure class="report-chart">
<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="日別の処理結果 Messages by outcome per day" xmlns="http://www.w3.org/2000/svg">${grid}${bars}<line x1="${pad.left}" x2="${W - pad.right}" y1="${pad.top + plotH}" y2="${pad.top + plotH}" stroke="#888"/></svg>
<figcaption>${(used.length ? used : (["delivered"] as Outcome[])).map(
    (o) => html`<span class="key"><svg class="swatch" width="12" height="12" viewBox="0 0 12 12" aria-hidden="true"><rect width="12" height="12" fill="${OUTCOME_FILL[o]}"/></svg> ${OUTCOME_LABEL[o][0]} ${OUTCOME_LABEL[o][1]}</span> `,
  )}</figcaption>
</figure>`;
}

/** The body of the report (sections), shared by the printable document and the console page. */
export function reportSections(report: MonthReport): Html {
  const chain = report.chain;
  const outcomesUsed = OUTCOMES.filter((o) => report.totals[o] > 0 || o === "delivered" || o === "held");
  return html`<section class="rs">
<h2>概要 <small>Summary</small></h2>
<table class="kv">
<tr><th>受信したメール <small>Messages received</small></th><td class="num">${n(report.messages)}</td></tr>
${OUTCOMES.filter((o) => report.totals[o] > 0).map((o) => html`<tr><th>${OUTCOME_LABEL[o][0]} <small>${OUTCOME_LABEL[o][1]}</small></th><td class="num">${n(report.totals[o])}</td></tr>`)}
<tr><th>削除した添付ファイル <small>Attachments removed</small></th><td class="num">${n(report.attachments.total)}</td></tr>
<tr><th>パスワード付きファイル (PPAP) <small>Password-protected files</small></th><td class="num">${n(report.ppap.files)} <small>(${n(report.ppap.messages)} 通 messages)</small></td></tr>
<tr><th>無効化したリンク <small>Links disarmed</small></th><td class="num">${n(report.links.disarmed)} <small>(${n(report.links.messages)} 通 messages)</small></td></tr>
<tr><th>DMARC 失敗 <small>DMARC failures</small></th><td class="num">${report.dmarc ? html`${n(report.dmarc.failed)} <small>/ ${n(report.dmarc.checked)} 検証 checked</small>` : html`<small>検証していません (not verified)</small>`}</td></tr>
<tr><th>配送までの時間 <small>Delivery latency</small></th><td class="num">中央値 p50 ${formatDuration(report.latency.p50)} · p90 ${formatDuration(report.latency.p90)} · p99 ${formatDuration(report.latency.p99)} · 最大 max ${formatDuration(report.latency.max)}</td></tr>
<tr><th>監査ログの検証 <small>Audit chain</small></th><td>${chain
    ? chain.ok
      ? html`<strong class="ok">検証成功 verified</strong> ${n(chain.checked)} 件 events${chain.headSeq !== undefined ? html`, 末尾 head seq ${chain.headSeq}` : ""}${chain.anchor
          ? html`; アンカー anchor seq ${chain.anchor.seq}${chain.anchor.ts ? html` (${formatJst(chain.anchor.ts)})` : ""} ${chain.anchor.reached ? "まで確認 reached" : "に届かず NOT reached"}`
          : html`; アンカーなし no anchor`}`
      : html`<strong class="bad">改ざん検出 FAILED</strong> ${visible(chain.firstBad ?? "")}`
    : html`<small>未検証 not checked</small>`}</td></tr>
</table>
</section>
<section class="rs">
<h2>日別の処理結果 <small>Messages by outcome per day</small></h2>
${outcomeChart(report)}
<table class="grid days">
<thead><tr><th>日付 <small>day</small></th><th class="num">受信 <small>received</small></th>${outcomesUsed.map((o) => html`<th class="num">${OUTCOME_LABEL[o][0]} <small>${OUTCOME_LABEL[o][1]}</small></th>`)}</tr></thead>
<tbody>${report.days.map((d) => html`<tr><td>${d.day}</td><td class="num">${n(d.received)}</td>${outcomesUsed.map((o) => html`<td class="num">${n(d.outcomes[o])}</td>`)}</tr>`)}</tbody>
</table>
</section>
<div class="two">
<section class="rs">
<h2>削除した添付（形式別） <small>Attachments removed by type</small></h2>
${report.attachments.byType.length
    ? html`<table class="grid"><thead><tr><th>形式 <small>sniffed type</small></th><th class="num">件数 <small>files</small></th></tr></thead><tbody>${report.attachments.byType.map(
        (r) => html`<tr><td class="mono">${visible(r.type)}</td><td class="num">${n(r.count)}</td></tr>`,
      )}</tbody></table>`
    : html`<p class="none">なし (none)</p>`}
</section>
<section class="rs">
<h2>差出人ドメイン上位 <small>Top sender domains</small></h2>
${report.senderDomains.length
    ? html`<table class="grid"><thead><tr><th>ドメイン <small>domain</small></th><th class="num">通数 <small>messages</small></th></tr></thead><tbody>${report.senderDomains.map(
        (r) => html`<tr><td class="mono">${visible(r.domain)}</td><td class="num">${n(r.messages)}</td></tr>`,
      )}</tbody></table>`
    : html`<p class="none">なし (none)</p>`}
</section>
</div>
<section class="rs">
<h2>保留・解放・削除 <small>Held, released, deleted</small></h2>
<p>保留 held ${n(report.actions.held)} · 解放 released ${n(report.actions.released)} · 削除 deleted ${n(report.actions.deleted)}${report.actions.rows.length < report.actions.held + report.actions.released + report.actions.deleted ? html` <small>(先頭 ${report.actions.rows.length} 件を表示 first ${report.actions.rows.length} listed)</small>` : ""}</p>
${report.actions.rows.length
    ? html`<table class="grid actions"><thead><tr><th>日時 <small>time (JST)</small></th><th>操作 <small>action</small></th><th>実施者 <small>who</small></th><th>理由 <small>why</small></th><th>ID</th></tr></thead><tbody>${report.actions.rows.map(
        (r) => html`<tr><td class="nowrap">${formatJst(r.ts)}</td><td class="nowrap">${ACTION_TYPE[r.type]}</td><td>${visible(r.actor)}</td><td class="reason">${visible(r.reason)}</td><td class="mono id">${r.auditId}</td></tr>`,
      )}</tbody></table>`
    : ""}
</section>
<section class="rs">
<h2>管理者の操作（アカウント別） <small>Administrator actions by account</small></h2>
${report.adminActions.length
    ? html`<table class="grid"><thead><tr><th>アカウント <small>account</small></th><th>操作 <small>action</small></th><th class="num">回数 <small>count</small></th></tr></thead><tbody>${report.adminActions.map(
        (r) => html`<tr><td>${visible(r.actor)}</td><td class="mono">${visible(r.action)}</td><td class="num">${n(r.count)}</td></tr>`,
      )}</tbody></table>`
    : html`<p class="none">なし (none)</p>`}
</section>`;
}

/** The printable page's style: A4 portrait, tables kept whole where they fit. A constant. */
const PRINT_CSS = `
@page { size: A4 portrait; margin: 14mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans JP", "Noto Sans CJK JP", "Hiragino Sans", "Yu Gothic", Meiryo, sans-serif; font-size: 10pt; color: #1d1d1d; margin: 0 auto; max-width: 190mm; line-height: 1.45; }
h1 { font-size: 17pt; margin: 0 0 2mm; }
h2 { font-size: 12pt; margin: 6mm 0 2mm; border-bottom: 1.5pt solid #2f6f9f; padding-bottom: 1mm; }
small { color: #666; font-weight: normal; }
.meta { color: #444; margin: 0 0 4mm; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 1mm 2mm; vertical-align: top; }
.grid th { background: #eef3f7; border-bottom: 1pt solid #9fb8cc; font-size: 9pt; }
.grid td { border-bottom: 0.5pt solid #ddd; }
.kv th { width: 45%; font-weight: 600; border-bottom: 0.5pt solid #ddd; }
.kv td { border-bottom: 0.5pt solid #ddd; }
.days td, .days th { padding: 0.4mm 2mm; font-size: 8.5pt; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.mono, .id { font-family: "Noto Sans Mono", Consolas, monospace; font-size: 8.5pt; word-break: break-all; }
.reason { word-break: break-word; }
.actions td { font-size: 8pt; padding: 0.4mm 1.5mm; }
.actions .id { font-size: 7pt; white-space: nowrap; word-break: normal; }
.nowrap { white-space: nowrap; }
.ok { color: #1f6b35; } .bad { color: #a33b3b; }
.none { color: #666; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 6mm; }
figure { margin: 0 0 3mm; } figure > svg { width: 100%; height: auto; }
svg.swatch { width: 3mm; height: 3mm; vertical-align: -0.4mm; }
figcaption { font-size: 8.5pt; color: #444; } .key { margin-right: 3mm; white-space: nowrap; }
tr, .report-chart, .kv { break-inside: avoid; }
h2 { break-after: avoid; }
.days { break-before: auto; }
footer { margin-top: 8mm; font-size: 8pt; color: #666; border-top: 0.5pt solid #ccc; padding-top: 2mm; }
`;

/** The standalone printable document (its own style, no script, no external resource). */
export function reportHtml(report: MonthReport, options: { product?: string } = {}): string {
  const [y, m] = report.month.split("-");
  return html`<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<title>自己点検報告 ${report.month} — mumuka</title>
<style>${raw(PRINT_CSS)}</style>
</head>
<body>
<h1>メール無害化 自己点検報告 ${y}年${Number(m)}月 <small>Monthly self-inspection report</small></h1>
<p class="meta">${options.product ?? "mumuka 無害化ゲートウェイ"} · 対象期間 period: ${formatJst(report.since)} 〜 ${formatJst(report.until)} (JST, 終端を含まない end exclusive) · 作成 generated: ${formatJst(report.generatedAt)}</p>
${reportSections(report)}
<footer>この報告は監査ログ（ハッシュチェーン）から作成しました。 This report was generated from the hash-chained audit trail.</footer>
</body>
</html>
`.value;
}

/** A CSV cell: always quoted; a leading formula character neutralised (Excel would evaluate it). */
export function csvCell(value: string | number): string {
  let s = String(value);
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return `"${s.replace(/"/g, '""')}"`;
}

/** CSV for Excel: UTF-8 with a BOM, CRLF, sections one after another with a title row. */
export function reportCsv(report: MonthReport): Buffer {
  const rows: (string | number)[][] = [];
  const section = (title: string, header: string[], body: (string | number)[][]) => {
    if (rows.length) rows.push([]);
    rows.push([title]);
    rows.push(header);
    rows.push(...body);
  };
  section("概要 Summary", ["項目 item", "値 value"], [
    ["対象月 month", report.month],
    ["受信 received", report.messages],
    ...OUTCOMES.map((o) => [`${OUTCOME_LABEL[o][0]} ${OUTCOME_LABEL[o][1]}`, report.totals[o]]),
    ["削除した添付 attachments removed", report.attachments.total],
    ["PPAP ファイル files", report.ppap.files],
    ["PPAP メール messages", report.ppap.messages],
    ["無効化したリンク links disarmed", report.links.disarmed],
    ["DMARC 失敗 failures", report.dmarc ? report.dmarc.failed : "検証なし not verified"],
    ["配送時間 p50 latency (ms)", report.latency.p50 ?? ""],
    ["配送時間 p90 latency (ms)", report.latency.p90 ?? ""],
    ["配送時間 p99 latency (ms)", report.latency.p99 ?? ""],
    ["配送時間 最大 max latency (ms)", report.latency.max ?? ""],
    ["監査ログ検証 audit chain", report.chain ? (report.chain.ok ? "OK" : `NG ${report.chain.firstBad ?? ""}`) : "未検証 not checked"],
    ["検証したアンカー anchor seq", report.chain?.anchor ? `${report.chain.anchor.seq}${report.chain.anchor.reached ? "" : " NOT reached"}` : ""],
  ]);
  section(
    "日別 Per day",
    ["日付 day", "受信 received", ...OUTCOMES.map((o) => `${OUTCOME_LABEL[o][0]} ${OUTCOME_LABEL[o][1]}`)],
    report.days.map((d) => [d.day, d.received, ...OUTCOMES.map((o) => d.outcomes[o])]),
  );
  section("添付（形式別） Attachments by type", ["形式 type", "件数 files"], report.attachments.byType.map((r) => [r.type, r.count]));
  section("差出人ドメイン Sender domains", ["ドメイン domain", "通数 messages"], report.senderDomains.map((r) => [r.domain, r.messages]));
  section(
    "保留・解放・削除 Held, released, deleted",
    ["日時 time (JST)", "操作 action", "実施者 who", "理由 why", "ID"],
    report.actions.rows.map((r) => [formatJst(r.ts), r.type, r.actor, r.reason, r.auditId]),
  );
  section("管理者の操作 Administrator actions", ["アカウント account", "操作 action", "回数 count"], report.adminActions.map((r) => [r.actor, r.action, r.count]));
  const text = rows.map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n";
  return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, "utf8")]);
}

export function reportJson(report: MonthReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** The report in a format, as bytes, with its media type and a file name (from the month only). */
export function renderReport(report: MonthReport, format: ReportFormat): { body: Buffer; type: string; filename: string } {
  const filename = `mumuka-report-${report.month}.${format}`;
  if (format === "csv") return { body: reportCsv(report), type: "text/csv; charset=utf-8", filename };
  if (format === "json") return { body: Buffer.from(reportJson(report)), type: "application/json; charset=utf-8", filename };
  return { body: Buffer.from(reportHtml(report)), type: "text/html; charset=utf-8", filename };
}
