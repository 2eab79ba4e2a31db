/**
 * The queue page and the confirmation page of a queue action. Pure renderers;
 * the action itself is a POST the server checks (role, CSRF) and audits.
 *
 * SECURITY: envelope addresses, hold reasons and remote servers' replies are
 * sender- or network-controlled: escaped by `html``` and made visible by
 * visible(); form actions are built by href() from an audit id.
 */
import type { QueueEntry, QueueState } from "../../spool/queue-types.ts";
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
