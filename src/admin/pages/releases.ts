/**
 * The release of originals in the console (see originals/release-desk.ts):
 * an operator or administrator asks with a reason (from the message detail),
 * a different administrator approves or refuses on /releases (the requester
 * may cancel it while it is open), and the requester downloads within the
 * window, as many times as allowed. Pure
 * renderers and their routes; every step is recorded by the desk.
 *
 * The download is a POST (a form with the CSRF token): a cross-site link must
 * not be able to use up someone's single download.
 *
 * SECURITY: reasons and notes are typed by staff and shown escaped by
 * `html```; request ids and audit ids from paths are checked (isRequestId,
 * isAuditId) before the desk sees them; the download's file name is the audit
 * id, never anything a sender wrote. Nothing is left half-done here: the desk
 * writes each step as one SQLite statement.
 */
import type { FastifyPluginAsync } from "fastify";
import { isAuditId } from "../../lib/ids.ts";
import { formatJst } from "../../lib/japan-time.ts";
import { personOf, ReleaseError, type ReleaseDesk } from "../../originals/release-desk.ts";
import { isRequestId, type ReleaseRequest } from "../../originals/release-store.ts";
import { field } from "../http-fns.ts";
import { href, html, visible, type Html } from "../html.ts";
import type { Lang } from "../i18n.ts";
import { csrfField, layout, notice, type PageContext } from "../layout.ts";
import type { PageKit } from "../page-kit.ts";
import { roleAtLeast } from "../user-store.ts";
import { OriginalKeyError, OriginalNotFoundError } from "../../originals/index.ts";

const ja = {
  releases: "原本の取り出し申請",
  original: "原本",
  requestOriginal: "原本の取り出しを申請",
  requestTitle: "原本の取り出し申請",
  requestHelp: "原本(受信したままのメール)は危険な内容を含む可能性があります。取り出しには理由を記入して申請し、別の管理者の承認を受けてください。承認後、申請者本人だけが期限内に決められた回数だけ取り出せます。",
  singlePerson: "この設定では申請は自動的に承認されます(originals.release.approvals: 1)。",
  reason: "理由(職員の依頼番号など)",
  submitRequest: "申請する",
  requested: "申請しました。別の管理者の承認を待ってください。",
  approved: "承認しました。",
  refused: "却下しました。",
  open: "承認待ち",
  st_approved: "承認済み",
  st_refused: "却下",
  st_cancelled: "取り消し",
  st_expired: "未判断のまま期限切れ",
  cancelled: "申請を取り消しました。",
  withdraw: "申請を取り消す",
  expired: "期限切れ",
  usedUp: "取り出し済み",
  requestId: "申請番号",
  auditId: "監査ID",
  requester: "申請者",
  requestedAt: "申請日時",
  decidedBy: "判断した管理者",
  until: "取り出し期限",
  downloads: "取り出し回数",
  state: "状態",
  actions: "操作",
  approve: "承認",
  refuse: "却下",
  note: "メモ(却下の理由)",
  download: "原本をダウンロード",
  none: "申請はありません。",
  ownRequest: "自分の申請(別の管理者が判断します)",
  cancel: "戻る",
};
const en: Record<keyof typeof ja, string> = {
  releases: "Release requests for originals",
  original: "Original",
  requestOriginal: "Request the original",
  requestTitle: "Request the release of an original",
  requestHelp: "The original (the message exactly as received) may carry harmful content. Ask with a reason; a different administrator approves. Then only the requester can download it, within the window and as many times as allowed.",
  singlePerson: "With this configuration a request approves itself (originals.release.approvals: 1).",
  reason: "Reason (e.g. the staff member's request number)",
  submitRequest: "Request",
  requested: "Requested. A different administrator must approve it.",
  approved: "Approved.",
  refused: "Refused.",
  open: "waiting for approval",
  st_approved: "approved",
  st_refused: "refused",
  st_cancelled: "cancelled",
  st_expired: "expired undecided",
  cancelled: "Request cancelled.",
  withdraw: "Cancel the request",
  expired: "expired",
  usedUp: "used",
  requestId: "Request",
  auditId: "Audit ID",
  requester: "Requester",
  requestedAt: "Requested at",
  decidedBy: "Decided by",
  until: "Download until",
  downloads: "Downloads",
  state: "State",
  actions: "Actions",
  approve: "Approve",
  refuse: "Refuse",
  note: "Note (why refused)",
  download: "Download the original",
  none: "No requests.",
  ownRequest: "your own request (another administrator decides)",
  cancel: "Back",
};
type Key = keyof typeof ja;
const tr = (lang: Lang) => (key: Key) => (lang === "en" ? en[key] : ja[key]);

/** The message detail's line for the original (the hook messages.ts calls): a link to ask for it. */
export function originalSection(ctx: PageContext, auditId: string): Html {
  const t = tr(ctx.lang);
  return html`<dt>${t("original")}</dt><dd><a class="button small" href="${href(["messages", auditId, "release"])}">${t("requestOriginal")}</a></dd>`;
}

function stateOf(r: ReleaseRequest, usable: boolean, t: (k: Key) => string): Html {
  if (r.status === "open") return html`<span class="pill warn">${t("open")}</span>`;
  if (r.status === "refused") return html`<span class="pill bad">${t("st_refused")}</span>`;
  if (r.status === "cancelled") return html`<span class="pill">${t("st_cancelled")}</span>`;
  if (r.status === "expired") return html`<span class="pill">${t("st_expired")}</span>`;
  if (usable) return html`<span class="pill ok">${t("st_approved")}</span>`;
  return html`<span class="pill">${r.downloadsUsed >= r.downloadsAllowed ? t("usedUp") : t("expired")}</span>`;
}

export function requestPage(ctx: PageContext, auditId: string, approvals: 1 | 2, error?: string): Html {
  const t = tr(ctx.lang);
  return layout(
    ctx,
    t("requestTitle"),
    html`${error ? notice("error", error) : ""}<section class="card">
<p>${t("requestHelp")}</p>${approvals === 1 ? html`<p class="notice info">${t("singlePerson")}</p>` : ""}
<dl class="facts"><dt>${t("auditId")}</dt><dd class="mono"><a href="${href(["messages", auditId])}">${auditId}</a></dd></dl>
<form method="post" action="${href(["messages", auditId, "release"])}" class="stack">
  ${csrfField(ctx)}
  <label>${t("reason")}<input name="reason" required maxlength="500"></label>
  <div class="actions"><button type="submit" class="primary">${t("submitRequest")}</button> <a class="button" href="${href(["messages", auditId])}">${t("cancel")}</a></div>
</form>
</section>`,
  );
}

export function releasesPage(ctx: PageContext, requests: { request: ReleaseRequest; usable: boolean }[], me: string, flash?: { kind: "ok" | "error"; text: string }): Html {
  const t = tr(ctx.lang);
  const isAdmin = ctx.user !== undefined && roleAtLeast(ctx.user.role, "admin");
  const mine = (r: ReleaseRequest) => personOf(r.requester) === personOf(me);
  const actions = (r: ReleaseRequest, usable: boolean): Html | string => {
    if (r.status === "open" && isAdmin && !mine(r)) {
      return html`<form method="post" action="${href(["releases", r.id, "approve"])}" class="inline">${csrfField(ctx)}<button type="submit" class="primary small">${t("approve")}</button></form>
<form method="post" action="${href(["releases", r.id, "refuse"])}" class="inline">${csrfField(ctx)}<input name="note" required maxlength="500" placeholder="${t("note")}" aria-label="${t("note")}"><button type="submit" class="danger small">${t("refuse")}</button></form>`;
    }
    if (r.status === "open" && mine(r)) {
      return html`<span class="muted">${t("ownRequest")}</span>
<form method="post" action="${href(["releases", r.id, "cancel"])}" class="inline">${csrfField(ctx)}<button type="submit" class="small">${t("withdraw")}</button></form>`;
    }
    if (usable && mine(r)) {
      return html`<form method="post" action="${href(["releases", r.id, "download"])}" class="inline">${csrfField(ctx)}<button type="submit" class="primary small">${t("download")}</button></form>`;
    }
    return "";
  };
  return layout(
    ctx,
    t("releases"),
    html`${flash ? notice(flash.kind, flash.text) : ""}<section class="card">
${requests.length === 0
  ? html`<p>${t("none")}</p>`
  : html`<table class="list releases">
<thead><tr><th>${t("requestId")}</th><th>${t("state")}</th><th>${t("auditId")}</th><th>${t("requester")}</th><th>${t("reason")}</th><th>${t("requestedAt")}</th><th>${t("decidedBy")}</th><th>${t("until")}</th><th class="num">${t("downloads")}</th><th>${t("actions")}</th></tr></thead>
<tbody>${requests.map(
    ({ request: r, usable }) => html`<tr id="${r.id}">
<td class="mono nowrap">${r.id}</td>
<td>${stateOf(r, usable, t)}</td>
<td class="mono nowrap"><a href="${href(["messages", r.auditId])}">${r.auditId}</a></td>
<td>${r.requester}</td>
<td>${visible(r.reason)}${r.note ? html`<br><span class="muted">${visible(r.note)}</span>` : ""}</td>
<td class="nowrap">${formatJst(r.createdAt)}</td>
<td>${r.decidedBy ?? ""}</td>
<td class="nowrap">${r.expiresAt ? formatJst(r.expiresAt) : ""}</td>
<td class="num">${r.downloadsUsed} / ${r.downloadsAllowed}</td>
<td class="nowrap">${actions(r, usable)}</td>
</tr>`,
  )}</tbody></table>`}
</section>`,
  );
}

// ---- routes ------------------------------------------------------------------------------------

export interface ReleasesRoutesOptions {
  kit: PageKit;
  releases?: ReleaseDesk;
}

const FLASH = ["requested", "approved", "refused", "cancelled"] as const;

export const releasesRoutes: FastifyPluginAsync<ReleasesRoutesOptions> = async (app, { kit, releases }) => {
  const { ctxOf, send, fail, log } = kit;

  /** administrators (the approvers) see every request; an operator sees their own (reasons can name staff) */
  const listPage = (request: Parameters<PageKit["ctxOf"]>[0], flash?: { kind: "ok" | "error"; text: string }) => {
    const me = kit.actorOf(request);
    const admin = kit.state(request).user!.role === "admin";
    const rows = (releases?.list(200) ?? [])
      .filter((r) => admin || personOf(r.requester) === personOf(me))
      .map((r) => ({ request: r, usable: releases!.usable(r) }));
    return releasesPage(ctxOf(request), rows, me, flash);
  };
  const errorText = (error: unknown) => (error instanceof ReleaseError ? error.message : (error as Error).message);

  kit.route(app, "GET", "/releases", "operator", async (request, reply) => {
    const t = tr(kit.state(request).lang);
    const done = field(request.query, "done", 12);
    const req = field(request.query, "req", 32);
    const flash = (FLASH as readonly string[]).includes(done) && isRequestId(req) ? { kind: "ok" as const, text: `${t(done as Key)} ${req}` } : undefined;
    return send(reply, listPage(request, flash));
  });

  kit.route(app, "GET", "/messages/:id/release", "operator", async (request, reply) => {
    const id = (request.params as { id: string }).id;
    if (!isAuditId(id) || !releases) return fail(request, reply, 404, "notFound");
    return send(reply, requestPage(ctxOf(request), id, releases.approvals));
  });

  kit.route(app, "POST", "/messages/:id/release", "operator", async (request, reply) => {
    const id = (request.params as { id: string }).id;
    if (!isAuditId(id) || !releases) return fail(request, reply, 404, "notFound");
    try {
      const r = await releases.request(id, kit.actorOf(request), field(request.body, "reason", 2000));
      return reply.redirect(`/releases?done=${r.status === "approved" ? "approved" : "requested"}&req=${encodeURIComponent(r.id)}`, 303);
    } catch (error) {
      if (!(error instanceof ReleaseError)) throw error;
      return send(reply, requestPage(ctxOf(request), id, releases.approvals, error.message), 400);
    }
  });

  for (const decision of ["approve", "refuse"] as const) {
    kit.route(app, "POST", `/releases/:req/${decision}`, "admin", async (request, reply) => {
      const req = (request.params as { req: string }).req;
      if (!isRequestId(req) || !releases) return fail(request, reply, 404, "notFound");
      try {
        const actor = kit.actorOf(request);
        if (decision === "approve") releases.approve(req, actor, field(request.body, "note", 2000));
        else releases.refuse(req, actor, field(request.body, "note", 2000));
      } catch (error) {
        if (!(error instanceof ReleaseError)) throw error;
        return send(reply, listPage(request, { kind: "error", text: `${req}: ${errorText(error)}` }), error.code === "ENOREQUEST" ? 404 : 409);
      }
      return reply.redirect(`/releases?done=${decision === "approve" ? "approved" : "refused"}&req=${encodeURIComponent(req)}`, 303);
    });
  }

  // the requester withdraws their own open request (an operator may: they made it)
  kit.route(app, "POST", "/releases/:req/cancel", "operator", async (request, reply) => {
    const req = (request.params as { req: string }).req;
    if (!isRequestId(req) || !releases) return fail(request, reply, 404, "notFound");
    try {
      releases.cancel(req, kit.actorOf(request));
    } catch (error) {
      if (!(error instanceof ReleaseError)) throw error;
      return send(reply, listPage(request, { kind: "error", text: `${req}: ${errorText(error)}` }), error.code === "ENOREQUEST" ? 404 : 409);
    }
    return reply.redirect(`/releases?done=cancelled&req=${encodeURIComponent(req)}`, 303);
  });

  kit.route(app, "POST", "/releases/:req/download", "operator", async (request, reply) => {
    const req = (request.params as { req: string }).req;
    if (!isRequestId(req) || !releases) return fail(request, reply, 404, "notFound");
    let result: Awaited<ReturnType<ReleaseDesk["download"]>>;
    try {
      result = await releases.download(req, kit.actorOf(request));
    } catch (error) {
      if (error instanceof ReleaseError) return send(reply, listPage(request, { kind: "error", text: `${req}: ${errorText(error)}` }), error.code === "ENOREQUEST" ? 404 : 403);
      if (error instanceof OriginalNotFoundError || error instanceof OriginalKeyError) {
        log.warn({ err: error, request: req }, "admin console: original not available");
        return send(reply, listPage(request, { kind: "error", text: `${req}: ${error.message}` }), 404);
      }
      throw error;
    }
    // The file name is the audit id (checked when the request was made), never the subject.
    return reply
      .type("message/rfc822")
      .header("Content-Disposition", `attachment; filename="${result.request.auditId}.eml"`)
      .header("Cache-Control", "no-store")
      .send(result.stream);
  });
};
