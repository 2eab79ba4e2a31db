/**
 * The incident page: "who else received this?" — from a removed attachment's
 * SHA-256, a link's domain or its URL, every message and recipient that had
 * the same, with counts per day. A pure renderer and its route (GET
 * /incident, viewers). Every lookup is recorded in the audit trail (who
 * looked up which file or link, and how many messages it found): during an
 * incident that record is part of the evidence.
 *
 * SECURITY: the looked-up value comes from the query string (checked: a hash
 * is 64 hex digits, others capped) and only reaches the store as a bound
 * parameter; addresses and subjects are sender-controlled and escaped by
 * html``. Nothing to leave half-done.
 */
import type { FastifyPluginAsync } from "fastify";
import type { AuditReader, AuditSink, Spread, SpreadQuery } from "../../audit/audit-types.ts";
import { formatJst } from "../../lib/japan-time.ts";
import { defangUrl } from "../../sanitize/links.ts";
import { headerText } from "../display.ts";
import { href, html, visible, type Html } from "../html.ts";
import { field } from "../http-fns.ts";
import { incidentWords } from "../incident-words.ts";
import { layout, type PageContext } from "../layout.ts";
import type { PageKit } from "../page-kit.ts";
import { statusPill } from "./messages.ts";

/** Messages listed on the page (the counts cover up to 10,000; the search page pages through all). */
const LISTED = 200;

export interface IncidentForm {
  sha256?: string;
  domain?: string;
  url?: string;
}

/** The one question the query string asks, or an error key; undefined when nothing was asked. */
export function parseIncident(query: unknown): { form: IncidentForm; question?: SpreadQuery; error?: "badHash" } {
  const form: IncidentForm = {};
  const sha256 = field(query, "sha256", 64);
  const domain = field(query, "domain", 256);
  const url = field(query, "url", 2048);
  if (sha256) form.sha256 = sha256;
  if (domain) form.domain = domain;
  if (url) form.url = url;
  if (sha256) return /^[0-9a-fA-F]{64}$/.test(sha256) ? { form, question: { kind: "sha256", value: sha256 } } : { form, error: "badHash" };
  if (domain) return { form, question: { kind: "domain", value: domain } };
  if (url) return { form, question: { kind: "url", value: url } };
  return { form };
}

function dayBars(spread: Spread): Html {
  const max = Math.max(1, ...spread.days.map((d) => d.recipients));
  return html`${spread.days.map(
    (d) => html`<tr><td class="nowrap">${d.day}</td><td class="num">${d.messages}</td><td class="num">${d.recipients}</td>
<td class="barcell"><svg viewBox="0 0 100 10" preserveAspectRatio="none" class="hbar" aria-hidden="true"><rect x="0" y="1" height="8" width="${((d.recipients / max) * 100).toFixed(1)}"/></svg></td></tr>`,
  )}`;
}

export function incidentPage(ctx: PageContext, form: IncidentForm, question: SpreadQuery | undefined, spread: Spread | undefined, error?: string): Html {
  const { t } = ctx;
  const w = incidentWords(ctx.lang);
  const what = question ? (question.kind === "sha256" ? w.kindSha256 : question.kind === "domain" ? w.kindDomain : w.kindUrl) : "";
  const shown = question ? (question.kind === "url" ? defangUrl(question.value) : question.value) : "";
  const searchLink = question
    ? href(["messages"], question.kind === "sha256" ? { sha256: question.value } : question.kind === "domain" ? { linkDomain: question.value } : { url: question.value })
    : "";
  return layout(
    ctx,
    w.incident,
    html`<section class="card">
<p class="muted">${w.incidentHelp}</p>
<form method="get" action="/incident" class="inline-search">
  <label>${w.sha256}<input name="sha256" value="${form.sha256 ?? ""}" maxlength="64" class="mono"></label>
  <label>${w.linkDomain}<input name="domain" value="${form.domain ?? ""}" maxlength="256"></label>
  <label>${w.url}<input name="url" value="${form.url ?? ""}" maxlength="2048"></label>
  <div class="actions"><button type="submit" class="primary">${w.lookup}</button></div>
</form>
</section>
${error ? html`<p class="notice error" role="alert">${error}</p>` : ""}
${spread && question
  ? html`<section class="card">
<h2>${what}: <span class="mono hash">${visible(shown)}</span></h2>
<dl class="tiles small">
<div class="tile${spread.messages > 0 ? " warn" : ""}"><dt>${w.messagesWith}</dt><dd id="spread-messages">${spread.messages.toLocaleString("ja-JP")}</dd></div>
<div class="tile${spread.recipients.length > 0 ? " warn" : ""}"><dt>${w.recipients}</dt><dd id="spread-recipients">${spread.recipients.length.toLocaleString("ja-JP")}</dd></div>
<div class="tile"><dt>${w.perDay}</dt><dd>${spread.days.length}</dd></div>
</dl>
${spread.recipientsComplete ? "" : html`<p class="notice info">${w.recipientsPartial}</p>`}
${spread.messages === 0 ? html`<p>${w.nothingFound}</p>` : ""}
</section>
${spread.messages > 0
  ? html`<div class="grid2">
<section class="card"><h2>${w.recipients} <span class="count">${spread.recipients.length}</span></h2>
<table class="list recipients"><thead><tr><th>${t("recipient")}</th><th class="num">${w.messages}</th></tr></thead><tbody>${spread.recipients.map(
      (r) => html`<tr><td class="addr"><a href="${href(["messages"], { to: r.address, ...(question.kind === "sha256" ? { sha256: question.value } : question.kind === "domain" ? { linkDomain: question.value } : { url: question.value }) })}">${visible(r.address)}</a></td><td class="num">${r.messages}</td></tr>`,
    )}</tbody></table></section>
<section class="card"><h2>${w.perDay}</h2>
<table class="list days"><thead><tr><th>${w.day}</th><th class="num">${w.messages}</th><th class="num">${w.recipientCount}</th><th></th></tr></thead>
<tbody>${dayBars(spread)}</tbody></table></section>
</div>
<section class="card"><h2>${w.messagesWith} <span class="count">${spread.messages}</span></h2>
<table class="list"><thead><tr><th>${t("receivedAt")}</th><th>${t("sender")}</th><th>${t("recipient")}</th><th>${t("subject")}</th><th>${t("status")}</th></tr></thead>
<tbody>${spread.rows.slice(0, LISTED).map(
      (r) => html`<tr><td class="nowrap">${formatJst(r.receivedAt)}</td><td class="addr">${headerText(r.headerFrom || r.mailFrom)}</td><td class="addr">${visible(r.rcptTo.join(", "))}</td>
<td class="subject"><a href="${href(["messages", r.auditId])}">${headerText(r.subject) || html`<span class="muted">(${t("none")})</span>`}</a></td><td>${statusPill(ctx, r.status)}</td></tr>`,
    )}</tbody></table>
${spread.messages > LISTED ? html`<p><a href="${searchLink}">${t("messages")} →</a></p>` : ""}
</section>`
  : ""}`
  : ""}`,
  );
}

export interface IncidentRoutesOptions {
  kit: PageKit;
  audit: Pick<AuditReader, "spread"> & Pick<AuditSink, "record">;
}

export const incidentRoutes: FastifyPluginAsync<IncidentRoutesOptions> = async (app, { kit, audit }) => {
  kit.route(app, "GET", "/incident", "viewer", async (request, reply) => {
    const ctx = kit.ctxOf(request);
    const { form, question, error } = parseIncident(request.query);
    if (error) return kit.send(reply, incidentPage(ctx, form, undefined, undefined, incidentWords(ctx.lang)[error]), 400);
    if (!question) return kit.send(reply, incidentPage(ctx, form, undefined, undefined));
    const spread = await audit.spread(question);
    audit.record({
      type: "admin",
      actor: kit.actorOf(request),
      data: { action: "incident-lookup", kind: question.kind, value: question.value.slice(0, 2048), messages: spread.messages, ip: request.ip },
    });
    return kit.send(reply, incidentPage(ctx, form, question, spread));
  });
};
