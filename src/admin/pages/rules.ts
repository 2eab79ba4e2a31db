/**
 * The rules page: rules in force, validation state, the "try a message" form
 * and its result (a pure renderer), and its routes: the page, the trial
 * (operators; its engine is `sanitizeText`, see rule-trial.ts) and the reload.
 *
 * SECURITY: the tried message is hostile (its subject, file names and text
 * are shown through `html``` and visible()); the rules source is operator
 * text, escaped the same way.
 */
import type { FastifyPluginAsync } from "fastify";
import type { AuditSink } from "../../audit/audit-types.ts";
import type { AdminDeps, RuleTrial } from "../admin-types.ts";
import { field } from "../http-fns.ts";
import type { PageKit } from "../page-kit.ts";
import type { RulesStatus } from "../../rules/index.ts";
import { html, visible, type Html } from "../html.ts";
import { formatBytes } from "../i18n.ts";
import { formatJst } from "../../lib/japan-time.ts";
import { csrfField, layout, notice, type PageContext } from "../layout.ts";
import { roleAtLeast } from "../user-store.ts";
import { MAX_ASSUMED_CHARS, parseAssumedVerdict } from "../../authenticate/auth-assume.ts";

export interface TryForm {
  source: string;
  mailFrom: string;
  rcptTo: string;
  /** a verdict to assume for `auth:` conditions (auth-assume.ts), "" for none */
  auth: string;
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
${operator ? html`<p><a href="/rules/replay">${t("replayLink")}</a></p>` : ""}
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
  <label>${t("assumedAuth")}<input name="auth" value="${trial?.form.auth ?? ""}" maxlength="${MAX_ASSUMED_CHARS}" class="mono"></label>
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

// ---- routes ------------------------------------------------------------------------------------

/** "Try a message": a pasted message source, like the SMTP size limit of a typical test mail. */
const TRY_BODY_LIMIT = 10 * 1024 * 1024;

export interface RulesRoutesOptions {
  kit: PageKit;
  rules?: AdminDeps["rules"];
  sanitizeText?: AdminDeps["sanitizeText"];
  audit: Pick<AuditSink, "record">;
}

export const rulesRoutes: FastifyPluginAsync<RulesRoutesOptions> = async (app, { kit, rules, sanitizeText, audit }) => {
  const { ctxOf, send, fail } = kit;
  const rulesView = () => {
    const status = rules?.status();
    return {
      ...(status ? { status } : {}),
      canTry: sanitizeText !== undefined,
      canReload: rules?.reload !== undefined,
    };
  };

  kit.route(app, "GET", "/rules", "viewer", async (request, reply) => send(reply, rulesPage(ctxOf(request), rulesView())));

  kit.route(
    app,
    "POST",
    "/rules/try",
    "operator",
    async (request, reply) => {
      const body = request.body as Record<string, unknown>;
      const form: TryForm = {
        source: typeof body.source === "string" ? body.source : "",
        mailFrom: field(body, "mailFrom", 256),
        rcptTo: field(body, "rcptTo", 1024),
        auth: field(body, "auth", MAX_ASSUMED_CHARS),
      };
      const ctx = ctxOf(request);
      if (!sanitizeText) return send(reply, rulesPage(ctx, rulesView(), { form, error: ctx.t("unavailable") }), 501);
      if (!form.source.trim()) return send(reply, rulesPage(ctx, rulesView(), { form, error: ctx.t("badRequest") }), 400);
      const raw = Buffer.from(form.source.replace(/\r?\n/g, "\r\n"), "utf8");
      const rcptTo = form.rcptTo.split(/[\s,]+/).filter(Boolean);
      // no DNS here: `auth:` conditions see the verdict the operator states, or none
      const auth = form.auth.trim() ? parseAssumedVerdict(form.auth) : undefined;
      if (typeof auth === "string") return send(reply, rulesPage(ctx, rulesView(), { form, error: `${ctx.t("badRequest")} ${auth}` }), 400);
      let result: RuleTrial;
      try {
        result = await sanitizeText(raw, { mailFrom: form.mailFrom, rcptTo, clientAddress: request.ip, clientHelo: "admin-console", ...(auth ? { auth } : {}) });
      } catch (error) {
        return send(reply, rulesPage(ctx, rulesView(), { form, error: `${ctx.t("badRequest")} ${(error as Error).message}` }), 422);
      }
      audit.record({ type: "admin", actor: kit.actorOf(request), data: { action: "rules-try", size: raw.length, decision: result.decision.action } });
      return send(reply, rulesPage(ctx, rulesView(), { form, result }));
    },
    { bodyLimit: TRY_BODY_LIMIT },
  );

  kit.route(app, "POST", "/rules/reload", "operator", async (request, reply) => {
    const ctx = ctxOf(request);
    if (!rules?.reload) return fail(request, reply, 404, "notFound");
    const actor = kit.actorOf(request);
    const result = await rules.reload("admin");
    audit.record({ type: "admin", actor, data: { action: "rules-reload", ok: result.ok, version: result.version } });
    const problems = (result.problems ?? []).map((p) => `${p.line}:${p.column}: ${p.message}`).join(" / ");
    return send(
      reply,
      rulesPage(ctx, rulesView(), undefined, result.ok ? { kind: "ok", text: `${ctx.t("done")}: ${ctx.t("reload")}` } : { kind: "error", text: `${ctx.t("invalid")}: ${problems}` }),
      result.ok ? 200 : 422,
    );
  });
};
