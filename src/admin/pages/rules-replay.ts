/**
 * The "この変更で何が変わるか / What would this change change" page: an
 * operator pastes candidate rules (the form starts with the rules in force),
 * picks a window of past mail, and sees what `mumuka rules replay` would
 * report — outcome changes, rules firing more or less, render options that
 * change, and the changed messages with links to their stories. Nothing is
 * delivered, held or changed; one audit event (admin, rules-replay) records
 * who replayed what.
 *
 * The replay runs in the gateway's process (its own worker threads), so the
 * page bounds it: one replay at a time, one analyzer thread, at most
 * MAX_MESSAGES messages; the CLI is the tool for larger windows.
 *
 * Wiring (composition root): register `rulesReplayRoutes` with
 * `{ kit, audit, replay: createTextReplay({ rules, audit, originals, limits,
 * maxMessageBytes, defaults, workers: 1 }), liveSource: () => rules.status().source }`.
 *
 * SECURITY: the candidate is operator text (validated like the rules file;
 * problems shown escaped). Subjects and addresses of past mail are hostile
 * and shown through html`` and visible().
 */
import type { FastifyPluginAsync } from "fastify";
import type { AuditSink } from "../../audit/audit-types.ts";
import { formatJst } from "../../lib/japan-time.ts";
import type { ChangedMessage, ReplayReport, TextReplay } from "../../rules/rules-replay.ts";
import type { RulesProblem } from "../../rules/rules-file.ts";
import { barChart } from "../chart.ts";
import { html, href, visible, type Html } from "../html.ts";
import { field } from "../http-fns.ts";
import { csrfField, layout, notice, type PageContext } from "../layout.ts";
import type { PageKit } from "../page-kit.ts";

/** A console replay reads at most this many messages: about a minute of one analyzer thread. */
export const MAX_MESSAGES = 20_000;
const DEFAULT_MESSAGES = 5_000;
/** candidate rules text: a rules file, not a data dump */
const MAX_CANDIDATE_BYTES = 512 * 1024;
const DAY_MS = 86_400_000;

const WORDS = {
  ja: {
    title: "この変更で何が変わるか",
    help: "候補のルールを貼り付け、過去のメールで現在のルールと比べます。配送・保留・変更は一切しません。",
    candidate: "候補のルール (YAML)",
    days: "期間(日)",
    sender: "送信者(部分一致、任意)",
    limit: "最大件数",
    run: "比べる",
    busy: "別の比較が実行中です。終わってからもう一度どうぞ。",
    invalid: "候補のルールに問題があります",
    examined: "対象",
    replayed: "再生",
    notReplayable: "原本なし(保存期間切れ)",
    failed: "失敗",
    changed: "変わる",
    perDay: "日ごとの変化",
    outcomes: "扱いの変化",
    rules: "ルールの適用数の変化",
    render: "表示の変化",
    sample: "変わるメッセージ",
    none: "なし",
    live: "現在",
    cand: "候補",
  },
  en: {
    title: "What would this change change",
    help: "Paste candidate rules and compare them with the rules in force on past mail. Nothing is delivered, held or changed.",
    candidate: "Candidate rules (YAML)",
    days: "Window (days)",
    sender: "Sender contains (optional)",
    limit: "At most",
    run: "Compare",
    busy: "Another comparison is running; try again when it has finished.",
    invalid: "The candidate rules have problems",
    examined: "Examined",
    replayed: "Replayed",
    notReplayable: "Original gone (retention)",
    failed: "Failed",
    changed: "Changed",
    perDay: "Changes per day",
    outcomes: "Outcome changes",
    rules: "Rules firing more or less",
    render: "Render options",
    sample: "Changed messages",
    none: "none",
    live: "live",
    cand: "candidate",
  },
} as const;

export interface ReplayForm {
  candidate: string;
  days: number;
  sender: string;
  limit: number;
}

function counts(r: Record<string, number>, none: string): Html {
  const entries = Object.entries(r).sort((a, b) => b[1] - a[1]);
  return entries.length ? html`<ul>${entries.map(([k, n]) => html`<li>${k}: <strong>${n}</strong></li>`)}</ul>` : html`<p class="muted">${none}</p>`;
}

function decision(d: ChangedMessage["live"]): Html {
  return html`<span class="pill ${d.action === "deliver" ? "ok" : d.action === "hold" ? "warn" : "bad"}">${d.action}</span> ${d.reason ? visible(d.reason) : ""} <span class="muted">${d.rules.join(", ")} · links ${d.links} · ${d.language}${d.inlineText.length ? ` · inline ${d.inlineText.join(" ")}` : ""}${d.subjectTags.length ? ` · ${d.subjectTags.join(" ")}` : ""}</span>`;
}

/** The page: the form, then (after a run) the problems of the candidate or the report. */
export function rulesReplayPage(ctx: PageContext, form: ReplayForm, outcome?: { report?: ReplayReport; problems?: RulesProblem[]; error?: string }): Html {
  const w = WORDS[ctx.lang === "en" ? "en" : "ja"];
  const r = outcome?.report;
  return layout(
    ctx,
    w.title,
    html`<section class="card">
<h2>${w.title}</h2>
<p class="muted">${w.help}</p>
<form method="post" action="/rules/replay" class="stack">
  ${csrfField(ctx)}
  <label>${w.candidate}<textarea name="candidate" rows="16" class="mono" required>${form.candidate}</textarea></label>
  <div class="grid2">
  <label>${w.days}<input name="days" type="number" min="1" max="90" value="${form.days}"></label>
  <label>${w.limit}<input name="limit" type="number" min="1" max="${MAX_MESSAGES}" value="${form.limit}"></label>
  <label>${w.sender}<input name="sender" value="${form.sender}" maxlength="256"></label>
  </div>
  <div class="actions"><button type="submit" class="primary">${w.run}</button></div>
</form>
${outcome?.error ? notice("error", outcome.error) : ""}
${outcome?.problems ? html`${notice("error", w.invalid)}<pre class="mono error-text">${outcome.problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}\n`)}</pre>` : ""}
</section>
${r
  ? html`<section class="card">
<dl class="facts">
  <dt>${w.examined}</dt><dd>${r.examined}</dd>
  <dt>${w.replayed}</dt><dd>${r.replayed}</dd>
  <dt>${w.notReplayable}</dt><dd>${r.notReplayable}</dd>
  <dt>${w.failed}</dt><dd>${r.failed}</dd>
  <dt>${w.changed}</dt><dd><strong>${r.changed}</strong></dd>
</dl>
${changesChart(r, w)}
<h3>${w.outcomes}</h3>${counts(r.outcomes, w.none)}
<h3>${w.rules}</h3>
${r.rules.length ? html`<ul>${r.rules.map((x) => html`<li><span class="tag">${x.name}</span> ${x.live} → ${x.candidate} (${x.delta > 0 ? "+" : ""}${x.delta})</li>`)}</ul>` : html`<p class="muted">${w.none}</p>`}
<h3>${w.render}</h3>
${Object.entries(r.render).some(([, v]) => Object.keys(v).length) ? Object.entries(r.render).filter(([, v]) => Object.keys(v).length).map(([k, v]) => html`<h4>${k}</h4>${counts(v, w.none)}`) : html`<p class="muted">${w.none}</p>`}
<h3>${w.sample} (${r.sample.length} / ${r.changed})</h3>
${r.sample.length
  ? html`<table><tbody>${r.sample.map(
      (c) => html`<tr><td class="mono"><a href="${href(["messages", c.auditId])}">${c.auditId}</a><br><span class="muted">${formatJst(c.receivedAt)}</span></td><td>${visible(c.from)}<br>${visible(c.subject)}</td><td>${w.live}: ${decision(c.live)}<br>${w.cand}: ${decision(c.candidate)}</td></tr>`,
    )}</tbody></table>`
  : html`<p class="muted">${w.none}</p>`}
</section>`
  : ""}`,
  );
}

/** Replayed and changed messages per day of arrival: where in the week the change would bite. */
function changesChart(r: ReplayReport, w: { replayed: string; changed: string; perDay: string }): Html {
  const days = [...new Set([...Object.keys(r.replayedByDay), ...Object.keys(r.changedByDay)])].sort();
  if (days.length === 0) return html``;
  return html`<h3>${w.perDay}</h3>${barChart(
    days.map((day) => ({ day, values: [r.replayedByDay[day] ?? 0, r.changedByDay[day] ?? 0] })),
    [
      { key: "received", label: w.replayed },
      { key: "problems", label: w.changed },
    ],
    w.perDay,
  )}`;
}

export interface RulesReplayRoutesOptions {
  kit: PageKit;
  audit: Pick<AuditSink, "record">;
  replay?: TextReplay & { readonly busy: boolean };
  /** the text of the rules in force, to start the form with */
  liveSource?: () => string;
}

export const rulesReplayRoutes: FastifyPluginAsync<RulesReplayRoutesOptions> = async (app, { kit, audit, replay, liveSource }) => {
  const { ctxOf, send, fail } = kit;

  kit.route(app, "GET", "/rules/replay", "operator", async (request, reply) => {
    if (!replay) return fail(request, reply, 404, "notFound");
    return send(reply, rulesReplayPage(ctxOf(request), { candidate: liveSource?.() ?? "", days: 7, sender: "", limit: DEFAULT_MESSAGES }));
  });

  kit.route(
    app,
    "POST",
    "/rules/replay",
    "operator",
    async (request, reply) => {
      if (!replay) return fail(request, reply, 404, "notFound");
      const ctx = ctxOf(request);
      const w = WORDS[ctx.lang === "en" ? "en" : "ja"];
      const body = request.body as Record<string, unknown>;
      const whole = (name: string, fallback: number, max: number) => {
        const n = Number(field(body, name, 12));
        return Number.isInteger(n) && n >= 1 ? Math.min(n, max) : fallback;
      };
      const form: ReplayForm = {
        candidate: typeof body.candidate === "string" ? body.candidate.slice(0, MAX_CANDIDATE_BYTES) : "",
        days: whole("days", 7, 90),
        sender: field(body, "sender", 256),
        limit: whole("limit", DEFAULT_MESSAGES, MAX_MESSAGES),
      };
      if (replay.busy) return send(reply, rulesReplayPage(ctx, form, { error: w.busy }), 429);
      const until = new Date(kit.now());
      const since = new Date(until.getTime() - form.days * DAY_MS);
      const result = await replay(form.candidate, { since, until, limit: form.limit, ...(form.sender ? { sender: form.sender } : {}) });
      if ("problems" in result) return send(reply, rulesReplayPage(ctx, form, { problems: result.problems }), 422);
      const r = result.report;
      audit.record({
        type: "admin",
        actor: kit.actorOf(request),
        data: {
          action: "rules-replay",
          candidate: { source: "console", version: result.candidateVersion },
          live: { version: result.liveVersion },
          window: { since: since.toISOString(), until: until.toISOString() },
          ...(form.sender ? { sender: form.sender } : {}),
          limit: form.limit,
          counts: { examined: r.examined, replayed: r.replayed, notReplayable: r.notReplayable, failed: r.failed, changed: r.changed, outcomes: r.outcomes },
        },
      });
      return send(reply, rulesReplayPage(ctx, form, { report: r }));
    },
    { bodyLimit: MAX_CANDIDATE_BYTES * 2 },
  );
};
