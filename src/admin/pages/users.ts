/** Account management (administrators only). Pure renderers. */
import { href, html, type Html } from "../html.ts";
import { formatJst } from "../../lib/japan-time.ts";
import { csrfField, layout, notice, type PageContext } from "../layout.ts";
import { roles, type User } from "../user-store.ts";

export function usersPage(ctx: PageContext, users: User[], flash?: { kind: "ok" | "error"; text: string }): Html {
  const { t } = ctx;
  return layout(
    ctx,
    t("usersTitle"),
    html`${flash ? notice(flash.kind, flash.text) : ""}
<section class="card">
<table class="list"><thead><tr><th>${t("username")}</th><th>${t("role")}</th><th>${t("created")}</th><th>${t("actions")}</th></tr></thead>
<tbody>${users.map(
      (u) => html`<tr><td>${u.name}</td><td><span class="role role-${u.role}">${t(u.role)}</span></td><td>${formatJst(u.createdAt)}</td>
<td>${u.name === ctx.user?.name ? "" : html`<a class="button small danger" href="${href(["users", u.name, "remove"])}">${t("delete")}</a>`}</td></tr>`,
    )}</tbody></table>
</section>
<section class="card">
<h2>${t("addUser")}</h2>
<form method="post" action="/users" class="search">
  ${csrfField(ctx)}
  <label>${t("username")}<input name="name" required maxlength="64" pattern="[A-Za-z0-9][A-Za-z0-9._@\\-]{0,63}" autocomplete="off"></label>
  <label>${t("role")}<select name="role">${roles.map((r) => html`<option value="${r}">${t(r)}</option>`)}</select></label>
  <label>${t("password")} <span class="muted">(${t("passwordHint")})</span><input name="password" type="password" required minlength="12" maxlength="1024" autocomplete="new-password"></label>
  <div class="actions"><button type="submit" class="primary">${t("addUser")}</button></div>
</form>
</section>`,
  );
}

export function removeUserPage(ctx: PageContext, user: User): Html {
  const { t } = ctx;
  return layout(
    ctx,
    `${t("confirm")}: ${t("removeUser")}`,
    html`<section class="card">
<p class="question">${t("confirmQuestion")} <strong>${t("removeUser")}</strong></p>
<dl class="facts"><dt>${t("username")}</dt><dd>${user.name}</dd><dt>${t("role")}</dt><dd>${t(user.role)}</dd></dl>
<form method="post" action="${href(["users", user.name, "remove"])}" class="stack">
  ${csrfField(ctx)}
  <div class="actions"><button type="submit" class="danger">${t("execute")}: ${t("removeUser")}</button> <a class="button" href="/users">${t("cancel")}</a></div>
</form>
</section>`,
  );
}
