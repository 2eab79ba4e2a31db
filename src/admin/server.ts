/**
 * The admin console's HTTP server (fastify): the hooks every request passes
 * (language and session, security headers, errors) and the wiring of the
 * pages, each a plugin with its own routes (pages/*.ts, service-routes.ts)
 * registered behind its access rule by the page kit (page-kit.ts).
 *
 * SECURITY: everything a request carries is untrusted (cookies, form fields,
 * query strings, path parameters); audit ids in paths are checked with
 * isAuditId() before use, forms are parsed by one bounded urlencoded parser
 * (no JSON, no multipart). Everything shown that a mail sender wrote goes
 * through `html```. State-changing requests are POST only and need a logged-in
 * session of the right role, the session's CSRF token in `_csrf` and, when the
 * browser sends them, a same-origin Origin / Sec-Fetch-Site.
 * A crash leaves nothing half-done here: sessions are in memory, accounts are
 * single SQLite statements, queue actions are the spool's own atomic moves.
 */
import { readFileSync } from "node:fs";
import Fastify, { LogController, type FastifyInstance } from "fastify";
import type { AdminDeps } from "./admin-types.ts";
import { field, parseCookies, serializeCookie } from "./http-fns.ts";
import { translator, type Lang } from "./i18n.ts";
import { createPageKit, type RequestState } from "./page-kit.ts";
import { dashboardRoutes } from "./pages/dashboard.ts";
import { errorPage, loginRoutes, type LoginSessions } from "./pages/login.ts";
import { messagesRoutes } from "./pages/messages.ts";
import { queueRoutes } from "./pages/queue.ts";
import { rulesRoutes } from "./pages/rules.ts";
import { usersRoutes } from "./pages/users.ts";
import { serviceRoutes } from "./service-routes.ts";
import { createSessionStore, type Session } from "./sessions.ts";
import { openUserStore, type UserStore } from "./user-store.ts";

export const CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Form bodies: 64 KiB is plenty for every form but "try a message" (which sets its own limit). */
const FORM_BODY_LIMIT = 64 * 1024;

export interface AdminApp {
  app: FastifyInstance;
  users: UserStore;
  close(): Promise<void>;
}

export async function buildAdminApp(deps: AdminDeps): Promise<AdminApp> {
  const tls = deps.config.tls;
  const secure = tls !== undefined;
  const cookieName = secure ? "__Host-mumuka_session" : "mumuka_session";
  const now = deps.now ?? Date.now;
  const users = openUserStore(deps.dataDir, deps.scryptCost ? { cost: deps.scryptCost } : {});
  const sessions = createSessionStore(deps.config.sessionMinutes, now);
  const log = deps.logger.child({ component: "admin" });
  const kit = createPageKit({ secure, cookieName, log, now });

  const app = Fastify({
    loggerInstance: log,
    // no per-request log lines: URLs carry search terms a sender wrote; errors are logged where they happen
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: false,
    bodyLimit: FORM_BODY_LIMIT,
    requestTimeout: 60_000,
    return503OnClosing: true,
    ...(tls ? { https: { cert: readFileSync(tls.cert), key: readFileSync(tls.key) } } : {}),
  }) as unknown as FastifyInstance;

  // Only urlencoded forms: no JSON (a cross-site JSON POST would need CORS anyway), no multipart.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  /**
   * The password hash each logged-in session was opened with: when it is no
   * longer the account's (`mumuka admin passwd` in another process, after a
   * leak), the session ends at its next request instead of at its timeout.
   */
  const openedWith = new WeakMap<Session, string>();

  app.addHook("onRequest", async (request) => {
    const cookies = parseCookies(request.headers.cookie);
    const query = request.query as Record<string, unknown>;
    const setCookies: string[] = [];
    let lang: Lang = cookies.mumuka_lang === "en" ? "en" : "ja";
    const asked = field(query, "lang", 2);
    if (asked === "ja" || asked === "en") {
      lang = asked;
      setCookies.push(serializeCookie("mumuka_lang", asked, { secure, maxAgeSeconds: 365 * 24 * 3600, httpOnly: false }));
    }
    const s: RequestState = { lang, t: translator(lang), setCookies };
    const session = sessions.get(cookies[cookieName]);
    if (session) {
      s.session = session;
      if (session.user !== undefined) {
        const user = users.get(session.user);
        if (user && openedWith.get(session) === user.passwordHash) s.user = { name: user.name, role: user.role };
        else sessions.destroy(session.id); // the account was removed or its password changed: the session ends with it
      }
    }
    kit.setState(request, s);
  });

  app.addHook("onSend", async (request, reply, payload) => {
    reply.header("Content-Security-Policy", CSP);
    reply.header("X-Content-Type-Options", "nosniff");
    // same-origin, not no-referrer: under no-referrer browsers send "Origin: null" on form posts, defeating the Origin check;
    // URLs (which carry search terms) still never leave for another site
    reply.header("Referrer-Policy", "same-origin");
    reply.header("X-Frame-Options", "DENY");
    reply.header("Cross-Origin-Opener-Policy", "same-origin");
    reply.header("Cross-Origin-Resource-Policy", "same-origin");
    if (secure) reply.header("Strict-Transport-Security", "max-age=31536000");
    if (!request.url.startsWith("/static/")) reply.header("Cache-Control", "no-store");
    const s = kit.stateOrDefault(request);
    if (s.setCookies.length > 0) {
      const existing = reply.getHeader("set-cookie");
      const list = Array.isArray(existing) ? existing.map(String) : existing === undefined ? [] : [String(existing)];
      reply.header("set-cookie", [...list, ...s.setCookies]);
    }
    return payload;
  });

  // ---- errors (set before the pages are registered, so every page inherits them) --------------
  app.setNotFoundHandler(async (request, reply) => kit.fail(request, reply, 404, "notFound"));
  app.setErrorHandler(async (error, request, reply) => {
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) log.error({ err: error, url: request.routeOptions.url }, "admin console: request failed");
    kit.stateOrDefault(request);
    const ctx = kit.ctxOf(request);
    const text = status === 415 || status === 413 || status === 400 ? ctx.t("badRequest") : status === 404 ? ctx.t("notFound") : ctx.t("serverError");
    return kit.send(reply, errorPage(ctx, `${status >= 400 && status < 600 ? status : 500}`, text), status >= 400 && status < 600 ? status : 500);
  });

  // ---- pages -----------------------------------------------------------------------------------
  const loginSessions: LoginSessions = {
    anonymous(request) {
      const session = sessions.create();
      kit.state(request).session = session;
      kit.setSessionCookie(request, session);
      return session;
    },
    signIn(request, user) {
      const s = kit.state(request);
      if (s.session) sessions.destroy(s.session.id); // a new id after login: a planted pre-login id is worthless
      const session = sessions.create(user.name);
      openedWith.set(session, user.passwordHash);
      s.session = session;
      kit.setSessionCookie(request, session);
    },
    signOut(request) {
      const s = kit.state(request);
      if (s.session) sessions.destroy(s.session.id);
      kit.setSessionCookie(request, undefined);
    },
  };

  await app.register(serviceRoutes, { kit, health: deps.health, metrics: deps.config.metrics ? deps.metrics : undefined });
  await app.register(loginRoutes, { kit, users, sessions: loginSessions, audit: deps.audit, scryptCost: deps.scryptCost });
  await app.register(dashboardRoutes, { kit, audit: deps.audit, queue: deps.queue, health: deps.health });
  await app.register(messagesRoutes, { kit, audit: deps.audit, queue: deps.queue, ...(deps.originals ? { originals: deps.originals } : {}) });
  await app.register(queueRoutes, { kit, queue: deps.queue, audit: deps.audit });
  await app.register(rulesRoutes, {
    kit,
    audit: deps.audit,
    ...(deps.rules ? { rules: deps.rules } : {}),
    ...(deps.sanitizeText ? { sanitizeText: deps.sanitizeText } : {}),
  });
  await app.register(usersRoutes, { kit, users, endSessionsOf: (name) => sessions.destroyUser(name), audit: deps.audit });

  return {
    app,
    users,
    async close() {
      await app.close(); // the dashboard's chain verification, if one is running, ends within (its onClose hook)
      users.close();
    },
  };
}
