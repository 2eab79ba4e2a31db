/**
 * Log search and message detail: pure renderers, and their routes (search,
 * detail; the retained original is asked for on pages/releases.ts). Nothing to leave half-done.
 *
 * SECURITY: subjects, addresses, file names, remote servers' replies and the
 * sanitized text are sender-controlled: every one is escaped by `html```,
 * header values are decoded and made visible by headerText(), the rest by
 * visible() (bidi overrides and controls shown as <U+XXXX>); links to a
 * message are built by href() from an audit id.
 */
import type { FastifyPluginAsync } from "fastify";
import { isAuditId } from "../../lib/ids.ts";
import type { AuditReader, AuditSink } from "../../audit/audit-types.ts";
import type { QueueAdmin } from "../../spool/queue-types.ts";
import { parseSearch } from "../http-fns.ts";
import type { PageKit } from "../page-kit.ts";
import type { AuditEvent, MessageStatus, MessageSummary } from "../../audit/audit-types.ts";
import type { QueueEntry } from "../../spool/queue-types.ts";
import { headerText } from "../display.ts";
import { href, html, visible, type Html } from "../html.ts";
import { eventLabel, formatBytes, statusLabel } from "../i18n.ts";
import { formatJst } from "../../lib/japan-time.ts";
import { layout, type PageContext } from "../layout.ts";
import { eventSentence, linksOf, rawFields, readStory, type AuthView } from "../story.ts";
import { incidentWords } from "../incident-words.ts";
import { urlHost } from "../../audit/facets.ts";
import { defangUrl } from "../../sanitize/links.ts";
import { roleAtLeast } from "../user-store.ts";
import { parseAuthFilter, searchByAuth } from "../../authenticate/auth-search.ts";
import { queueActionsFor } from "./queue.ts";
import { originalSection } from "./releases.ts";

export const messageStatuses: MessageStatus[] = ["received", "queued", "delivered", "deferred", "bounced", "held", "rejected", "expired", "deleted"];

export interface SearchForm {
  since?: string;
  until?: string;
  from?: string;
  to?: string;
  subject?: string;
  status?: string;
  id?: string;
  /** sender-authentication verdict, "method=result" (e.g. dmarc=fail) */
  auth?: string;
  /** what was removed or disarmed (the audit store's facets) */
  sha256?: string;
  attachment?: string;
  type?: string;
  linkDomain?: string;
  url?: string;
  senderDomain?: string;
  verdict?: string;
  page: number;
}

/** the verdicts the search form offers (any method=result is accepted in the URL) */
const AUTH_CHOICES = ["dmarc=fail", "dmarc=none", "dmarc=temperror,permerror", "spf=fail,softfail", "dkim=fail", "arc=fail"];

/** The incident fields of the search form, in the order shown. */
const INCIDENT_FIELDS = ["sha256", "attachment", "type", "linkDomain", "url", "senderDomain", "verdict"] as const;

export const PAGE_SIZE = 50;

export function statusPill(ctx: PageContext, status: string): Html {
  return html`<span class="pill st-${status}">${statusLabel(ctx.t, status)}</span>`;
}

export function searchPage(
  ctx: PageContext,
  form: SearchForm,
  result: { total: number; rows: MessageSummary[]; scanned?: number; truncated?: boolean } | undefined,
  error?: string,
): Html {
  const { t } = ctx;
  const query = (page: number) =>
    href(["messages"], {
      since: form.since,
      until: form.until,
      from: form.from,
      to: form.to,
      subject: form.subject,
      status: form.status,
      id: form.id,
      auth: form.auth,
      ...Object.fromEntries(INCIDENT_FIELDS.map((f) => [f, form[f]])),
      page: page > 1 ? page : undefined,
    });
  const w = incidentWords(ctx.lang);
  const incidentOpen = INCIDENT_FIELDS.some((f) => form[f]);
  const pages = result ? Math.max(1, Math.ceil(result.total / PAGE_SIZE)) : 1;
  return layout(
    ctx,
    t("messages"),
    html`<section class="card">
<form method="get" action="/messages" class="search">
  <label>${t("dateFrom")}<input type="date" name="since" value="${form.since ?? ""}"></label>
  <label>${t("dateTo")}<input type="date" name="until" value="${form.until ?? ""}"></label>
  <label>${t("sender")}<input name="from" value="${form.from ?? ""}" maxlength="256"></label>
  <label>${t("recipient")}<input name="to" value="${form.to ?? ""}" maxlength="256"></label>
  <label>${t("subject")}<input name="subject" value="${form.subject ?? ""}" maxlength="256"></label>
  <label>${t("status")}<select name="status"><option value="">${t("any")}</option>${messageStatuses.map(
    (s) => html`<option value="${s}"${form.status === s ? html` selected` : ""}>${statusLabel(t, s)}</option>`,
  )}</select></label>
  <label>${t("senderAuth")}<select name="auth"><option value="">${t("any")}</option>${[...new Set([...AUTH_CHOICES, ...(form.auth ? [form.auth] : [])])].map(
    (a) => html`<option value="${a}"${form.auth === a ? html` selected` : ""}>${a}</option>`,
  )}</select></label>
  <label>${t("auditId")}<input name="id" value="${form.id ?? ""}" maxlength="64" class="mono"></label>
  <details class="incident-fields"${incidentOpen ? html` open` : ""}><summary>${w.searchRemoved}</summary>
  <div class="search">
  <label>${w.sha256}<input name="sha256" value="${form.sha256 ?? ""}" maxlength="64" class="mono" placeholder="0123…"></label>
  <label>${w.attachmentName}<input name="attachment" value="${form.attachment ?? ""}" maxlength="256"></label>
  <label>${w.sniffedType}<input name="type" value="${form.type ?? ""}" maxlength="40" placeholder="pdf, zip, exe…"></label>
  <label>${w.linkDomain}<input name="linkDomain" value="${form.linkDomain ?? ""}" maxlength="256" placeholder="example.com"></label>
  <label>${w.url}<input name="url" value="${form.url ?? ""}" maxlength="2048"></label>
  <label>${w.senderDomain}<input name="senderDomain" value="${form.senderDomain ?? ""}" maxlength="256"></label>
  <label>${w.verdict}<input name="verdict" value="${form.verdict ?? ""}" maxlength="100" list="verdicts" placeholder="ppap"><datalist id="verdicts">${["ppap", "type-mismatch", "action:hold", "action:reject", "dmarc:fail"].map((v) => html`<option value="${v}">`)}</datalist></label>
  </div>
  </details>
  <div class="actions"><button type="submit" class="primary">${t("search")}</button></div>
</form>
</section>
${error ? html`<p class="notice error">${error}</p>` : ""}
${result
  ? html`<section class="card">
<p class="muted">${result.total.toLocaleString("ja-JP")} ${t("results")}${pages > 1 ? html` · ${t("page")} ${form.page} / ${pages}` : ""}${result.truncated ? html` · ${t("authScanLimited")} ${(result.scanned ?? 0).toLocaleString("ja-JP")}` : ""}</p>
${result.rows.length === 0
  ? html`<p>${t("noResults")}</p>`
  : html`<table class="list">
<thead><tr><th>${t("receivedAt")}</th><th>${t("sender")}</th><th>${t("recipient")}</th><th>${t("subject")}</th><th>${t("status")}</th><th class="num">${t("attachmentsRemoved")}</th><th class="num">${t("size")}</th></tr></thead>
<tbody>${result.rows.map(
    (r) => html`<tr>
<td class="nowrap">${formatJst(r.receivedAt)}</td>
<td class="addr">${headerText(r.headerFrom || r.mailFrom)}${r.headerFrom && r.mailFrom && !r.headerFrom.includes(r.mailFrom) ? html`<br><span class="muted">${visible(r.mailFrom)}</span>` : ""}</td>
<td class="addr">${visible(r.rcptTo.join(", "))}</td>
<td class="subject"><a href="${href(["messages", r.auditId])}">${headerText(r.subject) || html`<span class="muted">(${t("none")})</span>`}</a></td>
<td>${statusPill(ctx, r.status)}</td>
<td class="num">${r.attachmentsRemoved}</td>
<td class="num nowrap">${formatBytes(r.size)}</td>
</tr>`,
  )}</tbody></table>`}
<nav class="pager">${form.page > 1 ? html`<a href="${query(form.page - 1)}">← ${t("prev")}</a>` : ""}${form.page < pages ? html`<a href="${query(form.page + 1)}">${t("next")} →</a>` : ""}</nav>
</section>`
  : ""}`,
  );
}

export function detailPage(
  ctx: PageContext,
  auditId: string,
  summary: MessageSummary | undefined,
  events: AuditEvent[],
  queueEntry: QueueEntry | undefined,
  canRequestOriginal: boolean,
): Html {
  const { t, user } = ctx;
  const story = readStory(events);
  const w = incidentWords(ctx.lang);
  const links = linksOf(events);
  const actions = queueEntry && user && roleAtLeast(user.role, "operator") ? queueActionsFor(queueEntry.state) : [];
  return layout(
    ctx,
    t("detail"),
    html`<section class="card">
<h2>${t("summary")}</h2>
<dl class="facts">
  <dt>${t("auditId")}</dt><dd class="mono">${auditId}</dd>
  ${summary
    ? html`<dt>${t("subject")}</dt><dd class="subject-line">${headerText(summary.subject)}</dd>
  <dt>${t("sender")}</dt><dd>${headerText(summary.headerFrom)}${summary.mailFrom ? html` <span class="muted">(MAIL FROM: ${visible(summary.mailFrom)})</span>` : ""}</dd>
  <dt>${t("recipient")}</dt><dd>${visible(summary.rcptTo.join(", "))}</dd>
  <dt>${t("receivedAt")}</dt><dd>${formatJst(summary.receivedAt)}</dd>
  <dt>${t("status")}</dt><dd>${statusPill(ctx, summary.status)}</dd>
  <dt>${t("size")}</dt><dd>${formatBytes(summary.size)}</dd>`
    : ""}
  <dt>${t("rulesApplied")}</dt><dd>${story.rulesApplied.length ? story.rulesApplied.map((r) => html`<span class="tag">${r}</span> `) : t("none")}</dd>
  ${story.auth ? html`<dt>${t("senderAuth")}</dt><dd class="auth">${authPills(story.auth)}</dd>` : ""}
  ${queueEntry ? html`<dt>${t("queue")}</dt><dd>${statusPill(ctx, queueEntry.state)} ${actions.map((a) => html`<a class="button small" href="${href(["queue", auditId, a])}">${t(a)}</a> `)}</dd>` : ""}
  ${canRequestOriginal ? originalSection(ctx, auditId) : ""}
</dl>
</section>
<section class="card">
<h2>${t("removedParts")} <span class="count">${story.removedParts.length}</span></h2>
${story.removedParts.length === 0
  ? html`<p class="muted">${t("none")}</p>`
  : html`<table class="list parts"><thead><tr><th>${t("fileName")}</th><th>${t("declaredType")}</th><th>${t("sniffedType")}</th><th class="num">${t("size")}</th><th>SHA-256</th><th></th></tr></thead><tbody>${story.removedParts.map(
      (p) => html`<tr><td class="filename">${visible(p.filename) || html`<span class="muted">(${t("none")})</span>`}${p.encrypted ? html` <span class="pill warn">${t("encrypted")}</span>` : ""}</td>
<td class="mono">${p.contentType}</td><td class="mono">${p.sniffedType ?? ""}${p.typeMismatch ? html` <span class="pill bad">${t("typeMismatch")}</span>` : ""}</td>
<td class="num nowrap">${p.size === undefined ? "" : formatBytes(p.size)}</td><td class="mono hash">${p.sha256}</td>
<td class="nowrap">${/^[0-9a-f]{64}$/i.test(p.sha256) ? html`<a class="button small" href="${href(["incident"], { sha256: p.sha256 })}">${w.whoElse}</a>` : ""}</td></tr>`,
    )}</tbody></table>`}
</section>
${links.length
  ? html`<section class="card">
<h2>${w.linksInMessage} <span class="count">${links.length}</span></h2>
<table class="list links"><thead><tr><th>${w.urlAsWritten}</th><th>${w.linkDomain}</th><th></th></tr></thead><tbody>${links.map((u) => {
      const host = urlHost(u);
      return html`<tr><td class="mono url">${visible(defangUrl(u))}</td><td class="mono">${host ? visible(host) : ""}</td>
<td class="nowrap">${host ? html`<a class="button small" href="${href(["incident"], { domain: host })}">${w.whoElse}</a>` : ""}</td></tr>`;
    })}</tbody></table>
<p class="muted">${w.linksDefangedNote}</p>
</section>`
  : ""}
<section class="card">
<h2>${t("deliveryAttempts")} <span class="count">${story.attempts.length}</span></h2>
${story.attempts.length === 0
  ? html`<p class="muted">${t("none")}</p>`
  : html`<table class="list"><thead><tr><th>${t("time")}</th><th>${t("server")}</th><th>${t("result")}</th><th>${t("reply")}</th></tr></thead><tbody>${story.attempts.map(
      (a) => html`<tr><td class="nowrap">${formatJst(a.ts)}</td><td class="mono">${a.host ?? ""}</td><td>${a.result === "ok" ? html`<span class="pill ok">${t("ok")}</span>` : html`<span class="pill warn">${a.result ?? a.type}</span>`}</td><td class="mono reply">${visible(a.reply ?? "")}</td></tr>`,
    )}</tbody></table>`}
</section>
<section class="card">
<h2>${t("timeline")}</h2>
<ol class="timeline">${events.map(
    (e) => html`<li class="ev-${e.type}"><span class="when">${formatJst(e.ts)}</span> <span class="pill">${eventLabel(ctx.lang, e.type)}</span>
<p class="sentence">${visible(eventSentence(e, ctx.lang))}</p>
<details class="raw"><summary>${w.rawFields}</summary><ul class="kv">${rawFields(e).map((d) => html`<li>${visible(d)}</li>`)}</ul></details></li>`,
  )}</ol>
</section>
<section class="card">
<h2>${t("sanitizedText")}</h2>
${story.sanitizedText !== undefined ? html`<pre class="mailtext">${visible(story.sanitizedText)}</pre>` : html`<p class="muted">${t("notRecorded")}</p>`}
</section>`,
  );
}

/** SPF / DKIM / DMARC / ARC as pills (pass: ok; a failure: bad; anything else: warn), then the From domain and the client */
function authPills(a: AuthView): Html {
  const tone = (word: string) => (word === "pass" ? "ok" : ["fail", "softfail", "permerror"].includes(word) ? "bad" : "warn");
  const pill = (name: string, word: string) => html`<span class="pill ${tone(word)}">${name} ${word || "?"}</span> `;
  return html`${pill("SPF", a.spf)}${pill("DKIM", a.dkim)}${pill("DMARC", a.dmarc)}${pill("ARC", a.arc)}
<span class="muted mono">${a.fromDomain ? `header.from=${a.fromDomain}${a.policy ? ` (p=${a.policy})` : ""}` : ""}${a.alignedDomain ? ` aligned=${a.alignedDomain}` : ""}${a.client ? ` client=${a.client} (${a.clientSource})` : ""}</span>`;
}

// ---- routes ------------------------------------------------------------------------------------

export interface MessagesRoutesOptions {
  kit: PageKit;
  audit: Pick<AuditReader, "search" | "story"> & Pick<AuditSink, "record">;
  queue: Pick<QueueAdmin, "get">;
  /** originals can be asked for (pages/releases.ts) */
  releasable: boolean;
}

/**
 * GET /messages, /messages/:id (viewers). Audit ids from the path are
 * checked with isAuditId() before any store sees them.
 */
export const messagesRoutes: FastifyPluginAsync<MessagesRoutesOptions> = async (app, { kit, audit, queue, releasable }) => {
  const { ctxOf, send, fail } = kit;

  kit.route(app, "GET", "/messages", "viewer", async (request, reply) => {
    const ctx = ctxOf(request);
    const { form, audit: query, error } = parseSearch(request.query);
    if (error) return send(reply, searchPage(ctx, form, undefined, `${ctx.t("badRequest")} (${error})`), 400);
    // a verdict filter reads the newest matching messages' stories (bounded): see authenticate/auth-search.ts
    const filter = form.auth ? parseAuthFilter(form.auth) : undefined;
    const result = filter && typeof filter !== "string" ? await searchByAuth(audit, query, filter) : await audit.search(query);
    // a search by what was removed or disarmed is incident work: who looked for which file or link is recorded
    const asked = INCIDENT_FIELDS.filter((f) => form[f]);
    if (asked.length > 0 && form.page === 1) {
      audit.record({
        type: "admin",
        actor: kit.actorOf(request),
        data: { action: "incident-search", ...Object.fromEntries(asked.map((f) => [f, form[f]])), results: result.total, ip: request.ip },
      });
    }
    return send(reply, searchPage(ctx, form, result));
  });

  kit.route(app, "GET", "/messages/:id", "viewer", async (request, reply) => {
    const id = (request.params as { id: string }).id;
    if (!isAuditId(id)) return fail(request, reply, 404, "notFound");
    const [events, found, entry] = await Promise.all([audit.story(id), audit.search({ auditId: id, limit: 1 }), queue.get(id).catch(() => undefined)]);
    const summary = found.rows.find((r) => r.auditId === id);
    if (events.length === 0 && !summary) return fail(request, reply, 404, "notFound");
    const operator = roleAtLeast(kit.state(request).user!.role, "operator");
    return send(reply, detailPage(ctxOf(request), id, summary, events, entry, operator && releasable));
  });
};
