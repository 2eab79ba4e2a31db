/**
 * The rules page: rules in force, validation state, the "try a message" form
 * and its result. Pure renderer.
 *
 * SECURITY: the tried message is hostile (its subject, file names and text
 * are shown through `html``` and visible()); the rules source is operator
 * text, escaped the same way.
 */
import type { RuleTrial } from "../admin-types.ts";
import type { RulesStatus } from "../../rules/index.ts";
import { html, visible, type Html } from "../html.ts";
import { formatBytes } from "../i18n.ts";
import { formatJst } from "../../lib/japan-time.ts";
import { csrfField, layout, notice, type PageContext } from "../layout.ts";
import { roleAtLeast } from "../user-store.ts";

export interface TryForm {
  source: string;
  mailFrom: string;
  rcptTo: string;
}

export function rulesPage(
  ctx: PageContext,
  view: { status?: RulesStatus; canTry: boolean; canReload: boolean },
  trial?: { form: TryForm; result?: RuleTrial; error?: string },
  flash?: { kind: "ok" | "error"; text: string },
): Html {
  const { t, user } = ctx;
  const operator = user !== undefined && roleAtLeast(user.role, "operator");
  const s = view.status;
  const r = trial?.result;
  return layout(
    ctx,
    t("rules"),
    html`${flash ? notice(flash.kind, flash.text) : ""}
<section class="card">
<h2>${t("rulesInForce")}</h2>
${!s
  ? html`<p class="muted">${t("unavailable")}</p>`
  : html`<dl class="facts">
  <dt>${t("rulesFile")}</dt><dd class="mono">${s.file ?? t("none")}</dd>
  <dt>${t("validation")}</dt><dd>${s.lastError ? html`<span class="pill bad">${t("invalid")}</span>` : html`<span class="pill ok">${t("valid")}</span>`}</dd>
  ${s.lastError
    ? html`<dt>${t("reason")}</dt><dd><p class="muted">${formatJst(s.lastError.at)} · ${s.lastError.reason}</p><pre class="mono error-text">${s.lastError.problems.map((p) => `${p.line}:${p.column}: ${p.message}\n`)}</pre></dd>`
    : ""}
  ${s.version ? html`<dt>${t("rulesVersion")}</dt><dd class="mono hash">${s.version}</dd>` : ""}
  ${s.loadedAt ? html`<dt>${t("loadedAt")}</dt><dd>${formatJst(s.loadedAt)}</dd>` : ""}
  ${s.ruleNames.length ? html`<dt>${t("rules")}</dt><dd>${s.ruleNames.map((n) => html`<span class="tag">${n}</span> `)}</dd>` : ""}
</dl>
${s.file === undefined ? html`<p>${t("noRules")}</p>` : ""}
${s.source ? html`<pre class="source">${s.source}</pre>` : ""}
${operator && view.canReload ? html`<form method="post" action="/rules/reload" class="inline">${csrfField(ctx)}<button type="submit">${t("reload")}</button></form>` : ""}`}
</section>
${operator
  ? html`<section class="card">
<h2>${t("tryMessage")}</h2>
${view.canTry
  ? html`<p class="muted">${t("tryHelp")}</p>
<form method="post" action="/rules/try" class="stack">
  ${csrfField(ctx)}
  <div class="grid2">
  <label>${t("envelopeFrom")}<input name="mailFrom" value="${trial?.form.mailFrom ?? ""}" maxlength="256"></label>
  <label>${t("envelopeTo")}<input name="rcptTo" value="${trial?.form.rcptTo ?? ""}" maxlength="1024"></label>
  </div>
  <label>${t("messageSource")}<textarea name="source" rows="10" class="mono" required>${trial?.form.source ?? ""}</textarea></label>
  <div class="actions"><button type="submit" class="primary">${t("tryMessage")}</button></div>
</form>`
  : html`<p class="muted">${t("unavailable")}</p>`}
${trial?.error ? notice("error", trial.error) : ""}
${r
  ? html`<h3>${t("decision")}</h3>
<dl class="facts">
  <dt>${t("decision")}</dt><dd><span class="pill ${r.decision.action === "deliver" ? "ok" : r.decision.action === "hold" ? "warn" : "bad"}">${t(r.decision.action === "deliver" ? "deliver" : r.decision.action === "hold" ? "hold" : "reject")}</span></dd>
  ${r.decision.reason ? html`<dt>${t("reason")}</dt><dd>${visible(r.decision.reason)}</dd>` : ""}
  <dt>${t("rulesApplied")}</dt><dd>${r.decision.rulesApplied.length ? r.decision.rulesApplied.map((n) => html`<span class="tag">${n}</span> `) : t("none")}</dd>
  <dt>${t("subjectTags")}</dt><dd>${r.decision.render.subjectTags.join(" ") || t("none")}</dd>
  <dt>${t("subject")}</dt><dd>${visible(r.facts.subject)}</dd>
  <dt>${t("removedParts")}</dt><dd>${r.facts.attachments.length ? r.facts.attachments.map((a) => html`<div>${visible(a.filename)} <span class="muted">${a.contentType} ${formatBytes(a.size)}</span></div>`) : t("none")}</dd>
</dl>
<h3>${t("sanitizedText")}</h3>
<pre class="mailtext">${visible(r.text)}</pre>`
  : ""}
</section>`
  : ""}`,
  );
}
