/**
 * Account management (administrators only): pure renderers and their routes.
 *
 * SECURITY: a new account's name and role are checked by the user store
 * (isUserName, isRole) before anything is written; an account name in a path
 * is only looked up, never used as given. An administrator cannot remove
 * their own account here. A crash leaves nothing half-done: each change is
 * one SQLite statement.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import type { AuditSink } from "../../audit/audit-types.ts";
import { field } from "../http-fns.ts";
import type { PageKit } from "../page-kit.ts";
import { href, html, type Html } from "../html.ts";
import { formatJst } from "../../lib/japan-time.ts";
import { csrfField, layout, notice, type PageContext } from "../layout.ts";
import { isRole, roles, UserError, type User, type UserStore } from "../user-store.ts";

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

// ---- routes ------------------------------------------------------------------------------------

export interface UsersRoutesOptions {
  kit: PageKit;
  users: Pick<UserStore, "list" | "get" | "add" | "remove">;
  /** ends every session of a removed account at once */
  endSessionsOf(name: string): void;
  audit: Pick<AuditSink, "record">;
}

export const usersRoutes: FastifyPluginAsync<UsersRoutesOptions> = async (app, { kit, users, endSessionsOf, audit }) => {
  const { ctxOf, send, fail } = kit;

  kit.route(app, "GET", "/users", "admin", async (request, reply) => {
    const ctx = ctxOf(request);
    const query = request.query as Record<string, unknown>;
    const done = field(query, "done", 10);
    const flash = done === "add" || done === "remove" ? { kind: "ok" as const, text: `${ctx.t("done")}: ${ctx.t(done === "add" ? "addUser" : "removeUser")}` } : undefined;
    return send(reply, usersPage(ctx, users.list(), flash));
  });

  kit.route(app, "POST", "/users", "admin", async (request, reply) => {
    const body = request.body as Record<string, unknown>;
    const name = field(body, "name", 64);
    const role = field(body, "role", 10);
    const password = typeof body.password === "string" ? body.password : "";
    const ctx = ctxOf(request);
    try {
      if (!isRole(role)) throw new UserError("EBADROLE", "the role must be viewer, operator or admin");
      await users.add(name, role, password);
    } catch (error) {
      if (error instanceof UserError) return send(reply, usersPage(ctx, users.list(), { kind: "error", text: error.message }), 400);
      throw error;
    }
    audit.record({ type: "admin", actor: kit.actorOf(request), data: { action: "user-add", user: name, role } });
    return reply.redirect("/users?done=add", 303);
  });

  const userTarget = async (request: FastifyRequest, reply: FastifyReply) => {
    const name = (request.params as { name: string }).name;
    const user = users.get(name);
    if (!user) {
      await fail(request, reply, 404, "notFound");
      return undefined;
    }
    if (user.name.toLowerCase() === kit.state(request).user!.name.toLowerCase()) {
      await fail(request, reply, 409, "forbidden"); // removing yourself: use another administrator's account
      return undefined;
    }
    return user;
  };

  kit.route(app, "GET", "/users/:name/remove", "admin", async (request, reply) => {
    const user = await userTarget(request, reply);
    if (!user) return reply;
    return send(reply, removeUserPage(ctxOf(request), user));
  });

  kit.route(app, "POST", "/users/:name/remove", "admin", async (request, reply) => {
    const user = await userTarget(request, reply);
    if (!user) return reply;
    try {
      users.remove(user.name);
    } catch (error) {
      if (error instanceof UserError) return send(reply, usersPage(ctxOf(request), users.list(), { kind: "error", text: error.message }), 409);
      throw error;
    }
    endSessionsOf(user.name);
    audit.record({ type: "admin", actor: kit.actorOf(request), data: { action: "user-remove", user: user.name } });
    return reply.redirect("/users?done=remove", 303);
  });
};
