/**
 * The console's one stylesheet, served at /static/console.css. Kept in a module
 * (not a .css file) so the compiled build carries it without a copy step.
 * The CSP allows styles from 'self' only: no inline style anywhere.
 */
export const CONSOLE_CSS = `
:root {
  --bg: #f3f5f8; --card: #ffffff; --ink: #1d2733; --muted: #5d6b7a; --line: #d9e0e8;
  --brand: #0b4f8a; --brand-ink: #ffffff; --accent: #1f6fb8; --ok: #1e7b45; --ok-bg: #e3f4ea;
  --warn: #8a5a00; --warn-bg: #fff3d6; --bad: #a3242b; --bad-bg: #fde6e7;
  --received: #1f6fb8; --attachmentsRemoved: #e08a1e; --problems: #c0392b;
  font-size: 15px;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font-family: "Noto Sans JP", "Noto Sans CJK JP", "Hiragino Kaku Gothic ProN", "Yu Gothic UI", Meiryo, system-ui, sans-serif;
  line-height: 1.6; }
a { color: var(--accent); }
.mono, code, pre { font-family: "Noto Sans Mono CJK JP", "BIZ UDGothic", Consolas, "DejaVu Sans Mono", monospace; font-size: 0.92em; }
.topbar { display: flex; align-items: center; gap: 24px; background: var(--brand); color: var(--brand-ink); padding: 0 24px; height: 56px; }
.brand { display: flex; align-items: center; gap: 10px; color: var(--brand-ink); text-decoration: none; font-weight: 700; font-size: 1.15rem; white-space: nowrap; }
.brand .mark { display: inline-grid; place-items: center; width: 32px; height: 32px; border-radius: 6px; background: #fff; color: var(--brand); font-size: 1.1rem; }
.brand small { font-weight: 400; opacity: 0.85; font-size: 0.8rem; }
.topbar nav { display: flex; gap: 4px; flex: 1; }
.topbar nav a { color: #dce9f7; text-decoration: none; padding: 16px 14px; border-bottom: 3px solid transparent; }
.topbar nav a:hover { color: #fff; }
.topbar nav a.current { color: #fff; border-bottom-color: #fff; font-weight: 700; }
.spacer { flex: 1; }
.who { display: flex; align-items: center; gap: 14px; white-space: nowrap; }
.who .lang { color: #dce9f7; }
.who .user { font-weight: 600; }
.who button.link { background: none; border: 1px solid #8fb5dc; color: #fff; padding: 3px 10px; border-radius: 4px; cursor: pointer; font: inherit; }
main { max-width: 1280px; margin: 0 auto; padding: 20px 24px 40px; }
h1 { font-size: 1.45rem; margin: 4px 0 16px; }
h2 { font-size: 1.1rem; margin: 0 0 12px; }
h3 { font-size: 1rem; margin: 16px 0 8px; }
footer { text-align: center; color: var(--muted); font-size: 0.85rem; padding: 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 18px 20px; margin-bottom: 18px; box-shadow: 0 1px 2px rgba(20, 40, 60, 0.05); }
.card.narrow { max-width: 420px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 0 18px; }
.grid3 { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 0 18px; }
.tiles { display: grid; grid-template-columns: repeat(3, 1fr); gap: 10px; margin: 0; }
.tiles.small { grid-template-columns: repeat(3, 1fr); }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; background: #fafbfd; }
.tile dt { color: var(--muted); font-size: 0.85rem; }
.tile dd { margin: 0; font-size: 1.7rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.tiles.small .tile dd { font-size: 1.3rem; }
.tile.warn { background: var(--warn-bg); border-color: #f0d08a; }
.tile.bad { background: var(--bad-bg); border-color: #f1b3b6; }
.chart { margin: 0; }
.chart svg { width: 100%; height: auto; display: block; }
.chart .grid { stroke: #e6ebf1; stroke-width: 1; }
.chart .baseline { stroke: #9aa8b6; stroke-width: 1; }
.chart .axis { fill: var(--muted); font-size: 11px; }
.chart .bar.received, .swatch.received { fill: var(--received); background: var(--received); }
.chart .bar.attachmentsRemoved, .swatch.attachmentsRemoved { fill: var(--attachmentsRemoved); background: var(--attachmentsRemoved); }
.chart .bar.problems, .swatch.problems { fill: var(--problems); background: var(--problems); }
.legend { list-style: none; display: flex; gap: 20px; padding: 0; margin: 8px 0 0 40px; color: var(--muted); font-size: 0.9rem; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.pill { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 0.82rem; background: #e8edf3; color: #334; white-space: nowrap; }
.pill.ok, .pill.st-delivered { background: var(--ok-bg); color: var(--ok); }
.pill.warn, .pill.st-held, .pill.st-deferred, .pill.st-queued { background: var(--warn-bg); color: var(--warn); }
.pill.bad, .pill.st-bounced, .pill.st-rejected, .pill.st-expired, .pill.st-corrupt { background: var(--bad-bg); color: var(--bad); }
.pill.unknown { background: #eceff3; color: var(--muted); }
.role { font-size: 0.78rem; padding: 1px 7px; border-radius: 4px; background: #e8edf3; color: #334; font-weight: 400; }
.role-admin { background: #fde6e7; color: var(--bad); }
.role-operator { background: #fff3d6; color: var(--warn); }
.checks { list-style: none; padding: 0; margin: 0; }
.checks li { padding: 3px 0; }
.muted { color: var(--muted); }
.bad-text, .error-text { color: var(--bad); white-space: pre-wrap; }
.notice { padding: 10px 14px; border-radius: 6px; border: 1px solid; margin: 0 0 16px; }
.notice.ok { background: var(--ok-bg); border-color: #a9d8bb; color: var(--ok); }
.notice.error { background: var(--bad-bg); border-color: #f1b3b6; color: var(--bad); }
.notice.info { background: #e7f0fa; border-color: #b5cfe9; }
form.search { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 10px 16px; align-items: end; }
form.stack { display: grid; gap: 12px; }
form.inline { display: inline; }
label { display: grid; gap: 3px; font-size: 0.88rem; color: var(--muted); }
input, select, textarea { font: inherit; color: var(--ink); padding: 6px 9px; border: 1px solid #b8c3cf; border-radius: 5px; background: #fff; width: 100%; }
textarea { resize: vertical; }
input:focus, select:focus, textarea:focus { outline: 2px solid #7fb0e3; outline-offset: 0; border-color: var(--accent); }
button, .button { font: inherit; display: inline-block; padding: 6px 16px; border-radius: 5px; border: 1px solid #9fb0c2; background: #fff; color: var(--ink); cursor: pointer; text-decoration: none; white-space: nowrap; }
button.primary, .button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.danger, .button.danger { border-color: var(--bad); color: var(--bad); }
button.danger { background: var(--bad); color: #fff; }
.button.small { padding: 1px 10px; font-size: 0.85rem; }
.actions { display: flex; gap: 10px; align-items: center; }
table.list { width: 100%; border-collapse: collapse; font-size: 0.93rem; }
table.list th { text-align: left; font-weight: 600; color: var(--muted); border-bottom: 2px solid var(--line); padding: 6px 8px; white-space: nowrap; }
table.list td { border-bottom: 1px solid var(--line); padding: 7px 8px; vertical-align: top; }
table.list tbody tr:hover { background: #f6f9fc; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.nowrap { white-space: nowrap; }
.addr { max-width: 260px; overflow-wrap: break-word; }
.subject { max-width: 380px; overflow-wrap: break-word; }
.filename, .reply { overflow-wrap: anywhere; }
.hash { font-size: 0.8rem; overflow-wrap: anywhere; max-width: 300px; }
.pager { display: flex; gap: 16px; margin-top: 12px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 6px 18px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.subject-line { font-weight: 700; font-size: 1.05rem; }
.tag { display: inline-block; background: #e7f0fa; color: #174a7c; border-radius: 4px; padding: 0 7px; font-size: 0.85rem; }
.count { display: inline-block; min-width: 24px; text-align: center; background: #e8edf3; border-radius: 999px; font-size: 0.8rem; padding: 0 7px; color: var(--muted); }
ol.timeline { list-style: none; padding: 0 0 0 18px; margin: 0; border-left: 3px solid var(--line); }
ol.timeline > li { position: relative; padding: 4px 0 10px 10px; }
ol.timeline > li::before { content: ""; position: absolute; left: -26px; top: 11px; width: 11px; height: 11px; border-radius: 50%; background: var(--accent); border: 2px solid #fff; }
ol.timeline > li.ev-held::before, ol.timeline > li.ev-deferred::before { background: #d69a1f; }
ol.timeline > li.ev-bounced::before, ol.timeline > li.ev-rejected::before { background: var(--bad); }
ol.timeline > li.ev-delivered::before { background: var(--ok); }
.when { font-variant-numeric: tabular-nums; font-weight: 600; }
ul.kv { list-style: none; padding: 0; margin: 2px 0 0; color: var(--muted); font-size: 0.86rem; }
ul.kv li { overflow-wrap: anywhere; }
pre.mailtext, pre.source { background: #fbfcfd; border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; white-space: pre-wrap; overflow-wrap: anywhere; max-height: 520px; overflow: auto; margin: 0; }
/* the text staff received is read to its end: no inner scroll box hiding the last lines */
pre.mailtext { max-height: none; overflow: visible; }
p.sentence { margin: 2px 0 0; }
details.raw > summary { cursor: pointer; color: var(--muted); font-size: 0.82rem; width: max-content; }
details.raw[open] > summary { margin-bottom: 2px; }
form.search details.incident-fields { grid-column: 1 / -1; border-top: 1px dashed var(--line); padding-top: 8px; }
details.incident-fields > summary { cursor: pointer; color: var(--accent); font-weight: 600; }
div.search { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 10px 16px; align-items: end; margin-top: 8px; }
td.url { overflow-wrap: anywhere; }
td.barcell { width: 40%; }
svg.hbar { width: 100%; height: 12px; display: block; }
svg.hbar rect { fill: var(--attachmentsRemoved); }
form.inline-search { display: flex; flex-wrap: wrap; gap: 10px 16px; align-items: end; }
form.inline-search label { flex: 1 1 260px; }
form.inline-search label.month { flex: 0 0 220px; }
.report-doc h2 small, .report-doc th small { color: var(--muted); font-weight: 400; }
.report-doc .rs { margin-bottom: 22px; }
.report-doc table { border-collapse: collapse; width: 100%; }
.report-doc th, .report-doc td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
.report-doc .grid th { background: #f4f7fa; }
.report-doc .kv th { width: 40%; }
.report-doc .num { text-align: right; font-variant-numeric: tabular-nums; }
.report-doc .two { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 0 18px; }
.report-doc .ok { color: var(--ok); } .report-doc .bad { color: var(--bad); } .report-doc .none { color: var(--muted); }
.report-doc figure { margin: 0 0 8px; } .report-doc figure > svg { width: 100%; height: auto; display: block; }
.report-doc svg.swatch { width: 12px; height: 12px; vertical-align: -1px; }
.report-doc figcaption { color: var(--muted); font-size: 0.88rem; } .report-doc .key { margin-right: 14px; white-space: nowrap; }
.report-doc .days td, .report-doc .days th { padding: 2px 8px; font-size: 0.88rem; }
.report-doc .id { font-size: 0.8rem; overflow-wrap: anywhere; }
.question { font-size: 1.05rem; }
@media (max-width: 900px) { .topbar { flex-wrap: wrap; height: auto; } .tiles { grid-template-columns: repeat(2, 1fr); } }
`;
