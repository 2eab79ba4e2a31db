/**
 * The login page and the error pages (pure renderers), and the login / logout
 * routes.
 *
 * SECURITY: the user name and password are attacker input: the name is a
 * bounded field, shown back only through `html```; the password is only
 * handed to scrypt. Failures are limited per client address and per account
 * before any password is checked, and at most HASH_GATE verifications run at
 * once. A crash leaves nothing: sessions and limits are in memory.
 */
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import type { AuditSink } from "../../audit/audit-types.ts";
import { html, type Html } from "../html.ts";
import { field, safeNext } from "../http-fns.ts";
import { csrfField, layout, notice, type PageContext } from "../layout.ts";
import type { PageKit } from "../page-kit.ts";
import { dummyHash, verifyPassword, type ScryptCost } from "../password.ts";
import { ACCOUNT_LIMIT, createFailureLimiter, createGate, HASH_GATE, IP_LIMIT } from "../rate-limit.ts";
import { tokenEquals, type Session } from "../sessions.ts";
import { isUserName, type User, type UserStore } from "../user-store.ts";

export function loginPage(ctx: PageContext, opts: { message?: { kind: "ok" | "error" | "info"; text: string }; next?: string; username?: string }): Html {
  const { t } = ctx;
  return layout(
    ctx,
    t("login"),
    html`<section class="card narrow">
${opts.message ? notice(opts.message.kind, opts.message.text) : ""}
<form method="post" action="/login" class="stack">
  ${csrfField(ctx)}
  ${opts.next ? html`<input type="hidden" name="next" value="${opts.next}">` : ""}
  <label>${t("username")}<input name="username" autocomplete="username" required maxlength="64" value="${opts.username ?? ""}" autofocus></label>
  <label>${t("password")}<input name="password" type="password" autocomplete="current-password" required maxlength="1024"></label>
  <button type="submit" class="primary">${t("login")}</button>
</form>
</section>`,
  );
}

export function errorPage(ctx: PageContext, title: string, text: string): Html {
  return layout(ctx, title, html`<section class="card">${notice("error", text)}<p><a href="/">${ctx.t("back")}</a></p></section>`);
}

// ---- routes ------------------------------------------------------------------------------------

/** The console's session operations the login routes need (the server owns the session store). */
export interface LoginSessions {
  /** a new anonymous session (it carries the login form's CSRF token), with its cookie set on this reply */
  anonymous(request: FastifyRequest): Session;
  /** ends the login form's session and opens a logged-in one under a new id, cookie set */
  signIn(request: FastifyRequest, user: User): void;
  /** ends the request's session and clears its cookie */
  signOut(request: FastifyRequest): void;
}

export interface LoginRoutesOptions {
  kit: PageKit;
  users: Pick<UserStore, "get">;
  sessions: LoginSessions;
  audit: Pick<AuditSink, "record">;
  /** tests only: a cheap scrypt cost for the dummy hash unknown names are checked against */
  scryptCost?: ScryptCost | undefined;
}

/** GET/POST /login, POST /logout: password checks behind per-address and per-account limits, and a gate on scrypt's memory. */
export const loginRoutes: FastifyPluginAsync<LoginRoutesOptions> = async (app, { kit, users, sessions, audit, scryptCost }) => {
  const { state, ctxOf, send } = kit;
  const ipLimiter = createFailureLimiter({ ...IP_LIMIT, now: kit.now });
  const accountLimiter = createFailureLimiter({ ...ACCOUNT_LIMIT, now: kit.now });
  const dummy = dummyHash(scryptCost);
  const hashGate = createGate(HASH_GATE.concurrent, HASH_GATE.queued);

  kit.route(app, "GET", "/login", "public", async (request, reply) => {
    const s = state(request);
    if (s.user) return reply.redirect("/", 303);
    if (!s.session) sessions.anonymous(request);
    const query = request.query as Record<string, unknown>;
    const next = safeNext(field(query, "next", 2048));
    const ctx = ctxOf(request);
    const message = field(query, "bye", 1) ? { kind: "ok" as const, text: ctx.t("loggedOut") } : undefined;
    return send(reply, loginPage(ctx, { ...(message ? { message } : {}), ...(next ? { next } : {}) }));
  });

  kit.route(app, "POST", "/login", "public", async (request, reply) => {
    const s = state(request);
    const body = request.body as Record<string, unknown> | undefined;
    const name = field(body, "username", 64);
    const password = typeof body?.password === "string" ? body.password : "";
    const next = safeNext(field(body, "next", 2048));
    const again = (status: number, key: "loginFailed" | "loginLimited" | "sessionExpired") => {
      if (!s.session || key === "sessionExpired") sessions.anonymous(request);
      const ctx = ctxOf(request);
      return send(reply, loginPage(ctx, { message: { kind: "error", text: ctx.t(key) }, username: name, ...(next ? { next } : {}) }), status);
    };
    if (s.user) return reply.redirect(next ?? "/", 303); // already logged in (e.g. a second tab's login form)
    const account = isUserName(name) ? name : undefined;
    if (!kit.sameOrigin(request)) {
      kit.refuse(request, "cross-origin", 403, account);
      return again(403, "sessionExpired");
    }
    if (!s.session || s.session.user !== undefined || !tokenEquals(body?._csrf, s.session.csrf)) {
      kit.refuse(request, "csrf-token", 403, account);
      return again(403, "sessionExpired");
    }
    const ip = request.ip;
    const accountKey = name.toLowerCase();
    const actor = `admin:${account ?? "?"}`;
    if (ipLimiter.blocked(ip) || accountLimiter.blocked(accountKey)) {
      kit.refuse(request, "login-limited", 429, account);
      return again(429, "loginLimited");
    }
    const user = users.get(name);
    const ok = await hashGate.run(() => verifyPassword(password, user?.passwordHash ?? dummy));
    if (ok === undefined) {
      kit.refuse(request, "login-busy", 429, account); // too many logins in flight: not counted as a failure
      return again(429, "loginLimited");
    }
    if (!user || !ok) {
      const ipHit = ipLimiter.fail(ip);
      const accountHit = accountLimiter.fail(accountKey);
      audit.record({
        type: "login-failed",
        actor,
        data: { ip, reason: user ? "bad-password" : "unknown-user", ...(ipHit || accountHit ? { rateLimited: ipHit ? "ip" : "account" } : {}) },
      });
      return again(401, "loginFailed");
    }
    accountLimiter.reset(accountKey);
    sessions.signIn(request, user);
    audit.record({ type: "login", actor: `admin:${user.name}`, data: { ip, role: user.role } });
    return reply.redirect(next ?? "/", 303);
  });

  kit.route(app, "POST", "/logout", "viewer", async (request, reply) => {
    audit.record({ type: "admin", actor: kit.actorOf(request), data: { action: "logout", ip: request.ip } });
    sessions.signOut(request);
    return reply.redirect("/login?bye=1", 303);
  });
};
