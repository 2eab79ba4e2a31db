/**
 * The admin console's HTTP server (fastify): the hooks every request passes
 * (language and session, security headers, errors) and the wiring of the
 * pages, each a plugin with its own routes (pages/*.ts, service-routes.ts)
 * registered behind its access rule by the page kit (page-kit.ts).
 *
 * Every reply is the console's, also the ones fastify and Node's HTTP parser
 * give before any hook runs (a bad percent-encoding, a path parameter over
 * maxParamLength, a request line or headers Node cannot parse): the same
 * security headers and error page (edge-replies.ts). Every refused request is
 * an audit event, rate-limited (refusals.ts).
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
import type { Socket } from "node:net";
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { AdminDeps } from "./admin-types.ts";
import { bareErrorPage, errorStatus, errorText, rawErrorResponse, securityHeaders } from "./edge-replies.ts";
import { field, parseCookies, serializeCookie } from "./http-fns.ts";
import { translator, type Lang } from "./i18n.ts";
import { createPageKit, type RequestState } from "./page-kit.ts";
import { dashboardRoutes } from "./pages/dashboard.ts";
import { errorPage, loginRoutes, type LoginSessions } from "./pages/login.ts";
import { messagesRoutes } from "./pages/messages.ts";
import { incidentRoutes } from "./pages/incident.ts";
import { reportRoutes } from "./pages/report.ts";
import { queueRoutes } from "./pages/queue.ts";
import { releasesRoutes } from "./pages/releases.ts";
import { rulesReplayRoutes } from "./pages/rules-replay.ts";
import { rulesRoutes } from "./pages/rules.ts";
import { usersRoutes } from "./pages/users.ts";
import { createRefusalRecorder, WINDOW_MS, type Refusal, type RefusalReason } from "./refusals.ts";
import { serviceRoutes } from "./service-routes.ts";
import { createSessionStore, type Session } from "./sessions.ts";
import { openUserStore, type UserStore } from "./user-store.ts";

export { CSP } from "./edge-replies.ts";

/** Form bodies: 64 KiB is plenty for every form but "try a message" (which sets its own limit). */
const FORM_BODY_LIMIT = 64 * 1024;

/** The refusals among the error replies that fastify and Node's parser give on their own (the rest are malformed requests). */
const EDGE_REFUSALS: Partial<Record<number, RefusalReason>> = {
  413: "body-too-large",
  414: "uri-too-long",
  415: "unsupported-media-type",
  431: "headers-too-large",
};

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
  // read before anything is opened: a missing or unreadable file then leaves nothing to close
  const https = tls ? { cert: readFileSync(tls.cert), key: readFileSync(tls.key) } : undefined;
  const users = openUserStore(deps.dataDir, deps.scryptCost ? { cost: deps.scryptCost } : {});
  const sessions = createSessionStore(deps.config.sessionMinutes, now);
  const log = deps.logger.child({ component: "admin" });
  const refusals = createRefusalRecorder({ audit: deps.audit, now });
  // a summary of suppressed refusals is written even when the flood stops
  const sweeper = setInterval(() => refusals.sweep(), WINDOW_MS);
  sweeper.unref();
  const kit = createPageKit({ secure, cookieName, log, now, refused: refusals.refused });
  /**
   * The password hash each logged-in session was opened with: when it is no
   * longer the account's (`mumuka admin passwd` in another process, after a
   * leak), the session ends at its next request instead of at its timeout.
   */
  const openedWith = new WeakMap<Session, string>();

  /** The language (cookie or ?lang=) and the session of a request. */
  const readState = (request: FastifyRequest, query: unknown): RequestState => {
    const cookies = parseCookies(request.headers.cookie);
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
    return s;
  };

  /**
   * Errors fastify's router meets before any hook runs (FST_ERR_BAD_URL: a bad
   * percent-encoding; FST_ERR_MAX_PARAM_LENGTH: a path parameter over 100
   * characters): the console's page and headers, not fastify's JSON, which
   * echoed the path. The reply skips the onSend hook, so the headers are set here.
   * It runs inside the router, outside any promise: nothing may escape it.
   */
  const frameworkError = (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const status = errorStatus(error.statusCode);
    let page;
    try {
      if (status >= 500) log.error({ err: error }, "admin console: router failed");
      const search = request.url.includes("?") ? request.url.slice(request.url.indexOf("?") + 1) : "";
      kit.setState(request, readState(request, Object.fromEntries(new URLSearchParams(search))));
      const reason = EDGE_REFUSALS[status];
      if (reason) kit.refuse(request, reason, status);
      const ctx = kit.ctxOf(request);
      page = errorPage(ctx, `${status}`, ctx.t(errorText(status)));
    } catch (failure) {
      log.error({ err: failure }, "admin console: early error page failed"); // e.g. the account store unreadable
      page = bareErrorPage(status);
    }
    return reply.headers(securityHeaders(secure, false)).code(status).type("text/html; charset=utf-8").send(page.value);
  };

  const app = Fastify({
    loggerInstance: log,
    // no per-request log lines: URLs carry search terms a sender wrote; errors are logged where they happen
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: false,
    bodyLimit: FORM_BODY_LIMIT,
    requestTimeout: 60_000,
    return503OnClosing: true,
    ...(https ? { https } : {}),
    frameworkErrors: frameworkError,
    clientErrorHandler: (error: Error & { code?: string }, socket: Socket) => clientError(refusals.refused, error, socket, secure),
  }) as unknown as FastifyInstance;

  // Only urlencoded forms: no JSON (a cross-site JSON POST would need CORS anyway), no multipart.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.addHook("onRequest", async (request) => {
    kit.setState(request, readState(request, request.query));
  });

  app.addHook("onSend", async (request, reply, payload) => {
    reply.headers(securityHeaders(secure, request.url.startsWith("/static/")));
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
  // Body errors (413 too large, 415 not a form, 400 a broken body) come here after onRequest, so the state is there.
  app.setErrorHandler(async (error, request, reply) => {
    const status = errorStatus((error as { statusCode?: number }).statusCode);
    if (status >= 500) log.error({ err: error, url: request.routeOptions.url }, "admin console: request failed");
    kit.stateOrDefault(request);
    const reason = EDGE_REFUSALS[status];
    if (reason) kit.refuse(request, reason, status);
    const ctx = kit.ctxOf(request);
    return kit.send(reply, errorPage(ctx, `${status}`, ctx.t(errorText(status))), status);
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

  await app.register(serviceRoutes, { kit, health: deps.health, registry: deps.config.metrics ? deps.metrics.registry : undefined });
  await app.register(loginRoutes, { kit, users, sessions: loginSessions, audit: deps.audit, scryptCost: deps.scryptCost });
  await app.register(dashboardRoutes, { kit, audit: deps.audit, queue: deps.queue, health: deps.health });
  await app.register(messagesRoutes, { kit, audit: deps.audit, queue: deps.queue, releasable: deps.releases !== undefined });
  await app.register(releasesRoutes, { kit, ...(deps.releases ? { releases: deps.releases } : {}) });
  await app.register(incidentRoutes, { kit, audit: deps.audit });
  await app.register(reportRoutes, { kit, audit: deps.audit });
  await app.register(queueRoutes, { kit, queue: deps.queue, audit: deps.audit });
  await app.register(rulesRoutes, {
    kit,
    audit: deps.audit,
    ...(deps.rules ? { rules: deps.rules } : {}),
    ...(deps.sanitizeText ? { sanitizeText: deps.sanitizeText } : {}),
  });
  await app.register(rulesReplayRoutes, {
    kit,
    audit: deps.audit,
    ...(deps.rulesReplay ? { replay: deps.rulesReplay } : {}),
    ...(deps.rules ? { liveSource: () => deps.rules!.status().source } : {}),
  });
  await app.register(usersRoutes, { kit, users, endSessionsOf: (name) => sessions.destroyUser(name), audit: deps.audit });

  return {
    app,
    users,
    async close() {
      await app.close(); // the dashboard's chain verification, if one is running, ends within (its onClose hook)
      clearInterval(sweeper);
      refusals.sweep(true); // the last summaries, before the audit store closes after us
      users.close();
    },
  };
}

/**
 * A request Node's HTTP parser refused (a bad request line, headers over
 * Node's limit, invalid header characters, a broken chunked body, a request
 * that did not arrive in time): there is no request object, so the reply is
 * written to the socket as it is, with the console's headers and page. Same
 * status mapping as fastify's default handler; headers over the limit are a
 * refusal, recorded with the address and what can be read of the request line.
 */
function clientError(refused: (refusal: Refusal) => void, error: Error & { code?: string; rawPacket?: Buffer }, socket: Socket, secure: boolean): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const status = error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : error.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
  const reason = EDGE_REFUSALS[status];
  if (reason) {
    // only the first line of what was received, and only when it looks like a request line
    const head = error.rawPacket ? error.rawPacket.subarray(0, 512).toString("latin1") : "";
    const line = /^([A-Z]{1,16}) (\S{1,400})/.exec(head);
    refused({ reason, status, ip: socket.remoteAddress ?? "?", method: line?.[1] ?? "?", path: line?.[2] ?? "?" });
  }
  if (socket.writable) socket.write(rawErrorResponse(status, secure));
  socket.destroy();
}
