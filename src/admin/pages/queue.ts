/**
 * The queue page and the confirmation page of a queue action (pure
 * renderers), and their routes: an action is a POST behind the operator role
 * and the CSRF check, done by the spool's own atomic move, then audited.
 *
 * SECURITY: envelope addresses, hold reasons and remote servers' replies are
 * sender- or network-controlled: escaped by `html``` and made visible by
 * visible(); form actions are built by href() from an audit id.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import type { AuditSink } from "../../audit/audit-types.ts";
import { isAuditId } from "../../lib/ids.ts";
import type { QueueAdmin, QueueEntry, QueueState } from "../../spool/queue-types.ts";
import { field } from "../http-fns.ts";
import type { PageKit } from "../page-kit.ts";
import { href, html, visible, type Html } from "../html.ts";
import { formatBytes, statusLabel } from "../i18n.ts";
import { formatJst } from "../../lib/japan-time.ts";
import { csrfField, layout, notice, type PageContext } from "../layout.ts";
import { roleAtLeast } from "../user-store.ts";

export const queueActions = ["retry", "hold", "release", "delete"] as const;
export type QueueAction = (typeof queueActions)[number];

export function isQueueAction(value: string): value is QueueAction {
  return (queueActions as readonly string[]).includes(value);
}

/** Which actions make sense in which state (the spool refuses the others anyway). */
export function queueActionsFor(state: QueueState): QueueAction[] {
  switch (state) {
    case "deferred":
      return ["retry", "hold", "delete"];
    case "held":
      return ["release", "retry", "delete"];
    case "corrupt":
      return ["delete"];
    default:
      return [];
  }
}

function entryFacts(ctx: PageContext, e: QueueEntry): Html {
  const { t } = ctx;
  return html`<dl class="facts">
<dt>${t("auditId")}</dt><dd class="mono"><a href="${href(["messages", e.id])}">${e.id}</a></dd>
<dt>${t("state")}</dt><dd><span class="pill st-${e.state}">${statusLabel(t, e.state)}</span></dd>
<dt>${t("sender")}</dt><dd>${visible(e.mailFrom)}</dd>
<dt>${t("recipient")}</dt><dd>${visible(e.rcptTo.join(", "))}</dd>
<dt>${t("receivedAt")}</dt><dd>${formatJst(e.receivedAt)}</dd>
<dt>${t("attempts")}</dt><dd>${e.attempts}</dd>
${e.lastError ? html`<dt>${t("lastError")}</dt><dd class="mono reply">${visible(e.lastError)}</dd>` : ""}
${e.holdReason ? html`<dt>${t("holdReason")}</dt><dd>${visible(e.holdReason)}</dd>` : ""}
</dl>`;
}

export function queuePage(ctx: PageContext, entries: QueueEntry[], flash?: { kind: "ok" | "error"; text: string }): Html {
  const { t, user } = ctx;
  const canAct = user !== undefined && roleAtLeast(user.role, "operator");
  return layout(
    ctx,
    t("queueTitle"),
    html`${flash ? notice(flash.kind, flash.text) : ""}
<section class="card">
${entries.length === 0
  ? html`<p>${t("queueEmpty")}</p>`
  : html`<table class="list">
<thead><tr><th>${t("auditId")}</th><th>${t("state")}</th><th>${t("sender")}</th><th>${t("recipient")}</th><th class="num">${t("attempts")}</th><th>${t("nextAttempt")}</th><th>${t("lastError")} / ${t("holdReason")}</th>${canAct ? html`<th>${t("actions")}</th>` : ""}</tr></thead>
<tbody>${entries.map(
    (e) => html`<tr>
<td class="mono nowrap"><a href="${href(["messages", e.id])}">${e.id}</a></td>
<td><span class="pill st-${e.state}">${statusLabel(t, e.state)}</span></td>
<td class="addr">${visible(e.mailFrom)}</td>
<td class="addr">${visible(e.rcptTo.join(", "))}</td>
<td class="num">${e.attempts}</td>
<td class="nowrap">${formatJst(e.nextAttemptAt)}</td>
<td class="reply">${e.holdReason ? html`<strong>${visible(e.holdReason)}</strong><br>` : ""}<span class="${e.holdReason ? "muted" : ""}">${visible(e.lastError ?? "")}</span></td>
${canAct ? html`<td class="nowrap">${queueActionsFor(e.state).map((a) => html`<a class="button small${a === "delete" ? " danger" : ""}" href="${href(["queue", e.id, a])}">${t(a)}</a> `)}</td>` : ""}
</tr>`,
  )}</tbody></table>`}
</section>`,
  );
}

export function confirmPage(ctx: PageContext, entry: QueueEntry, action: QueueAction): Html {
  const { t } = ctx;
  return layout(
    ctx,
    `${t("confirm")}: ${t(action)}`,
    html`<section class="card">
<p class="question">${t("confirmQuestion")} <strong>${t(action)}</strong></p>
${entryFacts(ctx, entry)}
<form method="post" action="${href(["queue", entry.id, action])}" class="stack">
  ${csrfField(ctx)}
  ${action === "hold" ? html`<label>${t("holdReason")}<input name="reason" maxlength="200"></label>` : ""}
  <div class="actions"><button type="submit" class="${action === "delete" ? "danger" : "primary"}">${t("execute")}: ${t(action)}</button> <a class="button" href="/queue">${t("cancel")}</a></div>
</form>
</section>`,
  );
}

// ---- routes ------------------------------------------------------------------------------------

export interface QueueRoutesOptions {
  kit: PageKit;
  queue: QueueAdmin;
  audit: Pick<AuditSink, "record">;
}

/** The states the queue page lists, in this order (incoming and active ones are moving on their own). */
const QUEUE_SHOWN: QueueState[] = ["held", "deferred", "corrupt"];

export const queueRoutes: FastifyPluginAsync<QueueRoutesOptions> = async (app, { kit, queue, audit }) => {
  const { ctxOf, send, fail, log } = kit;
  const queueList = async (): Promise<QueueEntry[]> => {
    const all = await queue.list();
    return all
      .filter((e) => QUEUE_SHOWN.includes(e.state))
      .sort((a, b) => QUEUE_SHOWN.indexOf(a.state) - QUEUE_SHOWN.indexOf(b.state) || a.receivedAt.localeCompare(b.receivedAt));
  };

  kit.route(app, "GET", "/queue", "viewer", async (request, reply) => {
    const ctx = ctxOf(request);
    const query = request.query as Record<string, unknown>;
    const done = field(query, "done", 10);
    const id = field(query, "id", 64);
    const flash = isQueueAction(done) && isAuditId(id) ? { kind: "ok" as const, text: `${ctx.t("done")}: ${ctx.t(done)} ${id}` } : undefined;
    return send(reply, queuePage(ctx, await queueList(), flash));
  });

  const queueTarget = async (request: FastifyRequest, reply: FastifyReply): Promise<{ entry: QueueEntry; action: QueueAction } | undefined> => {
    const { id, action } = request.params as { id: string; action: string };
    if (!isAuditId(id) || !isQueueAction(action)) {
      await fail(request, reply, 404, "notFound");
      return undefined;
    }
    const entry = await queue.get(id);
    if (!entry || !queueActionsFor(entry.state).includes(action)) {
      await fail(request, reply, 409, "notInQueue");
      return undefined;
    }
    return { entry, action };
  };

  kit.route(app, "GET", "/queue/:id/:action", "operator", async (request, reply) => {
    const target = await queueTarget(request, reply);
    if (!target) return reply;
    return send(reply, confirmPage(ctxOf(request), target.entry, target.action));
  });

  kit.route(app, "POST", "/queue/:id/:action", "operator", async (request, reply) => {
    const target = await queueTarget(request, reply);
    if (!target) return reply;
    const { entry, action } = target;
    const actor = kit.actorOf(request);
    const reason = field(request.body, "reason", 200);
    try {
      if (action === "retry") await queue.retry(entry.id, actor);
      else if (action === "hold") await queue.hold(entry.id, actor, reason || undefined);
      else if (action === "release") await queue.release(entry.id, actor);
      else await queue.delete(entry.id, actor);
    } catch (error) {
      log.warn({ err: error, auditId: entry.id, action }, "admin console: queue action failed");
      const ctx = ctxOf(request);
      return send(reply, queuePage(ctx, await queueList(), { kind: "error", text: `${ctx.t(action)} ${entry.id}: ${(error as Error).message}` }), 409);
    }
    audit.record({ type: "admin", auditId: entry.id, actor, data: { action: `queue-${action}`, ...(reason ? { reason } : {}) } });
    return reply.redirect(`/queue?done=${action}&id=${encodeURIComponent(entry.id)}`, 303);
  });
};
