/**
 * The admin console's HTTP server (fastify): routes, authentication,
 * authorization by role, CSRF, security headers.
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
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { isAuditId } from "../lib/ids.ts";
import type { DailyCounts, VerifyResult } from "../audit/audit-types.ts";
import type { QueueEntry, QueueState } from "../spool/queue-types.ts";
import type { AdminDeps, RuleTrial } from "./admin-types.ts";
import { CONSOLE_CSS } from "./console-css.ts";
import { html, type Html } from "./html.ts";
import { field, parseCookies, parseSearch, safeNext, serializeCookie } from "./http-fns.ts";
import { translator, type Lang, type Translate } from "./i18n.ts";
import { formatJst, jstDay, jstDayStart, jstWeekStart } from "../lib/japan-time.ts";
import { type PageContext } from "./layout.ts";
import { dashboardPage } from "./pages/dashboard.ts";
import { errorPage, loginPage } from "./pages/login.ts";
import { detailPage, searchPage } from "./pages/messages.ts";
import { confirmPage, isQueueAction, queueActionsFor, queuePage, type QueueAction } from "./pages/queue.ts";
import { rulesPage, type TryForm } from "./pages/rules.ts";
import { removeUserPage, usersPage } from "./pages/users.ts";
import { dummyHash, verifyPassword } from "./password.ts";
import { ACCOUNT_LIMIT, createFailureLimiter, createGate, HASH_GATE, IP_LIMIT } from "./rate-limit.ts";
import { createSessionStore, tokenEquals, type Session } from "./sessions.ts";
import { isRole, isUserName, openUserStore, roleAtLeast, UserError, type Role, type UserStore } from "./user-store.ts";

export const CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Form bodies: 64 KiB is plenty for every form but "try a message". */
const FORM_BODY_LIMIT = 64 * 1024;
/** "Try a message": a pasted message source, like the SMTP size limit of a typical test mail. */
const TRY_BODY_LIMIT = 10 * 1024 * 1024;
/** Verifying the whole audit chain is not free; the dashboard shows a result at most this old. */
const CHAIN_CACHE_MS = 60_000;
/** The first dashboard after a start waits this long for a verification before showing "unknown". */
const CHAIN_FIRST_WAIT_MS = 2_000;
const DAY_MS = 86_400_000;

interface RequestState {
  lang: Lang;
  t: Translate;
  session?: Session;
  user?: { name: string; role: Role };
  setCookies: string[];
}

type Access = "public" | Role;

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
  const ipLimiter = createFailureLimiter({ ...IP_LIMIT, now });
  const accountLimiter = createFailureLimiter({ ...ACCOUNT_LIMIT, now });
  const dummy = dummyHash(deps.scryptCost);
  const hashGate = createGate(HASH_GATE.concurrent, HASH_GATE.queued);
  const log = deps.logger.child({ component: "admin" });

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

  const states = new WeakMap<FastifyRequest, RequestState>();
  /**
   * The password hash each logged-in session was opened with: when it is no
   * longer the account's (`mumuka admin passwd` in another process, after a
   * leak), the session ends at its next request instead of at its timeout.
   */
  const openedWith = new WeakMap<Session, string>();
  const state = (request: FastifyRequest): RequestState => states.get(request)!;

  app.addHook("onRequest", async (request, reply) => {
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
    states.set(request, s);
    void reply;
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
    const s = states.get(request);
    if (s && s.setCookies.length > 0) {
      const existing = reply.getHeader("set-cookie");
      const list = Array.isArray(existing) ? existing.map(String) : existing === undefined ? [] : [String(existing)];
      reply.header("set-cookie", [...list, ...s.setCookies]);
    }
    return payload;
  });

  const ctxOf = (request: FastifyRequest): PageContext => {
    const s = state(request);
    const url = new URL(request.url, "http://console.invalid");
    url.searchParams.set("lang", s.lang === "ja" ? "en" : "ja");
    const ctx: PageContext = {
      t: s.t,
      lang: s.lang,
      csrf: s.session?.csrf ?? "",
      path: url.pathname,
      // "/.//evil.example" parses to the path "//evil.example": one leading slash, or the link would leave the console
      otherLangHref: url.pathname.replace(/^\/+/, "/") + url.search,
    };
    if (s.user) ctx.user = s.user;
    return ctx;
  };

  const send = (reply: FastifyReply, page: Html, status = 200) => reply.code(status).type("text/html; charset=utf-8").send(page.value);
  const actorOf = (request: FastifyRequest) => `admin:${state(request).user?.name ?? "?"}`;
  const setSessionCookie = (request: FastifyRequest, session: Session | undefined) => {
    state(request).setCookies.push(
      session ? serializeCookie(cookieName, session.id, { secure }) : serializeCookie(cookieName, "", { secure, maxAgeSeconds: 0 }),
    );
  };
  const fail = (request: FastifyRequest, reply: FastifyReply, status: number, key: "forbidden" | "notFound" | "badRequest" | "csrfFailed" | "notInQueue") => {
    const ctx = ctxOf(request);
    return send(reply, errorPage(ctx, `${status}`, ctx.t(key)), status);
  };

  /** Same-origin check of the browser's own headers (absent headers are left to the token). */
  const sameOrigin = (request: FastifyRequest): boolean => {
    const site = request.headers["sec-fetch-site"];
    if (site !== undefined && site !== "same-origin" && site !== "none") return false;
    const origin = request.headers.origin;
    if (origin === undefined) return true;
    return origin === `${secure ? "https" : "http"}://${request.headers.host ?? ""}`;
  };

  const csrfOk = (request: FastifyRequest): boolean => {
    const session = state(request).session;
    if (!session || !sameOrigin(request)) return false;
    return tokenEquals((request.body as Record<string, unknown> | undefined)?._csrf, session.csrf);
  };

  /** Registers a route behind its access rule: login, role, and CSRF for POST. */
  const route = (
    method: "GET" | "POST",
    url: string,
    access: Access,
    handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
    options: { bodyLimit?: number } = {},
  ) => {
    app.route({
      method,
      url,
      ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}),
      preHandler: async (request, reply) => {
        if (access === "public") return;
        const s = state(request);
        if (!s.user) {
          const next = method === "GET" ? safeNext(request.url) : undefined;
          return reply.redirect(next ? `/login?next=${encodeURIComponent(next)}` : "/login", 303);
        }
        if (!roleAtLeast(s.user.role, access)) return fail(request, reply, 403, "forbidden");
        if (method === "POST" && !csrfOk(request)) {
          log.warn({ url: request.routeOptions.url, user: s.user.name }, "admin console: CSRF check failed");
          return fail(request, reply, 403, "csrfFailed");
        }
      },
      handler,
    });
  };

  // ---- static, health, metrics -------------------------------------------------------------
  route("GET", "/static/console.css", "public", async (_request, reply) =>
    reply.type("text/css; charset=utf-8").header("Cache-Control", "public, max-age=3600").send(CONSOLE_CSS),
  );

  route("GET", "/healthz", "public", async (_request, reply) => {
    try {
      const health = await deps.health();
      return reply.code(health.ok ? 200 : 503).type("application/json").send(health);
    } catch (error) {
      log.error({ err: error }, "admin console: health check threw");
      return reply.code(503).send({ ok: false, checks: { health: { ok: false, detail: "health check failed" } } });
    }
  });

  if (deps.config.metrics) {
    route("GET", "/metrics", "public", async (_request, reply) => {
      const body = await deps.metrics.registry.metrics();
      return reply.type(deps.metrics.registry.contentType).send(body);
    });
  }

  // ---- login / logout ----------------------------------------------------------------------
  route("GET", "/login", "public", async (request, reply) => {
    const s = state(request);
    if (s.user) return reply.redirect("/", 303);
    let session = s.session;
    if (!session) {
      session = sessions.create();
      s.session = session;
      setSessionCookie(request, session);
    }
    const query = request.query as Record<string, unknown>;
    const next = safeNext(field(query, "next", 2048));
    const ctx = ctxOf(request);
    const message = field(query, "bye", 1) ? { kind: "ok" as const, text: ctx.t("loggedOut") } : undefined;
    return send(reply, loginPage(ctx, { ...(message ? { message } : {}), ...(next ? { next } : {}) }));
  });

  route("POST", "/login", "public", async (request, reply) => {
    const s = state(request);
    const body = request.body as Record<string, unknown> | undefined;
    const name = field(body, "username", 64);
    const password = typeof body?.password === "string" ? body.password : "";
    const next = safeNext(field(body, "next", 2048));
    const again = (status: number, key: "loginFailed" | "loginLimited" | "sessionExpired") => {
      if (!s.session || key === "sessionExpired") {
        const fresh = sessions.create();
        s.session = fresh;
        setSessionCookie(request, fresh);
      }
      const ctx = ctxOf(request);
      return send(reply, loginPage(ctx, { message: { kind: "error", text: ctx.t(key) }, username: name, ...(next ? { next } : {}) }), status);
    };
    if (s.user) return reply.redirect(next ?? "/", 303); // already logged in (e.g. a second tab's login form)
    if (!s.session || s.session.user !== undefined || !sameOrigin(request) || !tokenEquals(body?._csrf, s.session.csrf)) {
      return again(403, "sessionExpired");
    }
    const ip = request.ip;
    const accountKey = name.toLowerCase();
    const actor = `admin:${isUserName(name) ? name : "?"}`;
    if (ipLimiter.blocked(ip) || accountLimiter.blocked(accountKey)) {
      return again(429, "loginLimited");
    }
    const user = users.get(name);
    const ok = await hashGate.run(() => verifyPassword(password, user?.passwordHash ?? dummy));
    if (ok === undefined) return again(429, "loginLimited"); // too many logins in flight: not counted as a failure
    if (!user || !ok) {
      const ipHit = ipLimiter.fail(ip);
      const accountHit = accountLimiter.fail(accountKey);
      deps.audit.record({
        type: "login-failed",
        actor,
        data: { ip, reason: user ? "bad-password" : "unknown-user", ...(ipHit || accountHit ? { rateLimited: ipHit ? "ip" : "account" } : {}) },
      });
      return again(401, "loginFailed");
    }
    accountLimiter.reset(accountKey);
    sessions.destroy(s.session.id); // a new id after login: a planted pre-login id is worthless
    const session = sessions.create(user.name);
    openedWith.set(session, user.passwordHash);
    s.session = session;
    setSessionCookie(request, session);
    deps.audit.record({ type: "login", actor: `admin:${user.name}`, data: { ip, role: user.role } });
    return reply.redirect(next ?? "/", 303);
  });

  route("POST", "/logout", "viewer", async (request, reply) => {
    const s = state(request);
    deps.audit.record({ type: "admin", actor: actorOf(request), data: { action: "logout", ip: request.ip } });
    if (s.session) sessions.destroy(s.session.id);
    setSessionCookie(request, undefined);
    return reply.redirect("/login?bye=1", 303);
  });

  // ---- dashboard ---------------------------------------------------------------------------
  // Verifying the whole chain reads every event: it runs in the background, one run at a time,
  // and the dashboard shows the latest result (waiting briefly only when there is none yet).
  let chainCache: { at: number; result: VerifyResult } | undefined;
  let chainRun: Promise<void> | undefined;
  const refreshChain = (): Promise<void> =>
    (chainRun ??= deps.audit
      .verify()
      .then(
        (result) => {
          chainCache = { at: now(), result };
        },
        (error: unknown) => log.error({ err: error }, "admin console: audit verify failed"),
      )
      .finally(() => {
        chainRun = undefined;
      }));
  const chain = async (): Promise<{ result: VerifyResult; at: number } | undefined> => {
    if (!chainCache || now() - chainCache.at >= CHAIN_CACHE_MS) {
      const run = refreshChain();
      if (!chainCache) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([run, new Promise<void>((resolve) => (timer = setTimeout(resolve, CHAIN_FIRST_WAIT_MS)))]);
        clearTimeout(timer);
      }
    }
    return chainCache;
  };

  const zero = (day: string): DailyCounts => ({ day, received: 0, delivered: 0, attachmentsRemoved: 0, held: 0, deferred: 0, bounced: 0, rejected: 0 });

  route("GET", "/", "viewer", async (request, reply) => {
    const at = new Date(now());
    const firstDay = jstDay(new Date(at.getTime() - 13 * DAY_MS));
    const weekStart = jstWeekStart(at);
    const [counts, queueEntries, health, verified] = await Promise.all([
      deps.audit.dailyCounts(jstDayStart(firstDay)!, at).catch((error: unknown) => {
        log.error({ err: error }, "admin console: daily counts failed");
        return [] as DailyCounts[];
      }),
      deps.queue.list().catch(() => undefined),
      deps.health().catch(() => undefined),
      chain(),
    ]);
    const byDay = new Map(counts.map((c) => [c.day, c]));
    const days: DailyCounts[] = [];
    for (let i = 13; i >= 0; i--) {
      const day = jstDay(new Date(at.getTime() - i * DAY_MS));
      days.push(byDay.get(day) ?? zero(day));
    }
    const week = zero(weekStart);
    for (const d of days) {
      if (d.day < weekStart) continue;
      for (const k of ["received", "delivered", "attachmentsRemoved", "held", "deferred", "bounced", "rejected"] as const) week[k] += d[k];
    }
    let queue: Record<QueueState, number> | undefined;
    if (queueEntries) {
      queue = { incoming: 0, active: 0, deferred: 0, held: 0, corrupt: 0 };
      for (const e of queueEntries) queue[e.state] = (queue[e.state] ?? 0) + 1;
    }
    const ctx = ctxOf(request);
    return send(
      reply,
      dashboardPage(ctx, {
        today: days[days.length - 1]!,
        week,
        days,
        queue,
        health,
        chain: verified?.result,
        ...(verified ? { chainCheckedAt: formatJst(new Date(verified.at)) } : {}),
      }),
    );
  });

  // ---- messages ----------------------------------------------------------------------------
  route("GET", "/messages", "viewer", async (request, reply) => {
    const ctx = ctxOf(request);
    const { form, audit, error } = parseSearch(request.query);
    if (error) return send(reply, searchPage(ctx, form, undefined, `${ctx.t("badRequest")} (${error})`), 400);
    const result = await deps.audit.search(audit);
    return send(reply, searchPage(ctx, form, result));
  });

  route("GET", "/messages/:id", "viewer", async (request, reply) => {
    const id = (request.params as { id: string }).id;
    if (!isAuditId(id)) return fail(request, reply, 404, "notFound");
    const [events, found, entry] = await Promise.all([
      deps.audit.story(id),
      deps.audit.search({ auditId: id, limit: 1 }),
      deps.queue.get(id).catch(() => undefined),
    ]);
    const summary = found.rows.find((r) => r.auditId === id);
    if (events.length === 0 && !summary) return fail(request, reply, 404, "notFound");
    const ctx = ctxOf(request);
    const admin = state(request).user!.role === "admin";
    return send(reply, detailPage(ctx, id, summary, events, entry, admin && deps.originals !== undefined));
  });

  route("GET", "/messages/:id/original", "admin", async (request, reply) => {
    const id = (request.params as { id: string }).id;
    if (!isAuditId(id) || !deps.originals) return fail(request, reply, 404, "notFound");
    const actor = actorOf(request);
    let stream: NodeJS.ReadableStream;
    try {
      stream = await deps.originals.get(id, actor);
    } catch (error) {
      log.warn({ err: error, auditId: id }, "admin console: original not available");
      return fail(request, reply, 404, "notFound");
    }
    deps.audit.record({ type: "admin", auditId: id, actor, data: { action: "original-download", ip: request.ip } });
    // The file name is the audit id (checked above), never the subject: nothing a sender wrote reaches a header.
    return reply
      .type("message/rfc822")
      .header("Content-Disposition", `attachment; filename="${id}.eml"`)
      .send(stream);
  });

  // ---- queue -------------------------------------------------------------------------------
  const QUEUE_SHOWN: QueueState[] = ["held", "deferred", "corrupt"];
  const queueList = async (): Promise<QueueEntry[]> => {
    const all = await deps.queue.list();
    return all
      .filter((e) => QUEUE_SHOWN.includes(e.state))
      .sort((a, b) => QUEUE_SHOWN.indexOf(a.state) - QUEUE_SHOWN.indexOf(b.state) || a.receivedAt.localeCompare(b.receivedAt));
  };

  route("GET", "/queue", "viewer", async (request, reply) => {
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
    const entry = await deps.queue.get(id);
    if (!entry || !queueActionsFor(entry.state).includes(action)) {
      await fail(request, reply, 409, "notInQueue");
      return undefined;
    }
    return { entry, action };
  };

  route("GET", "/queue/:id/:action", "operator", async (request, reply) => {
    const target = await queueTarget(request, reply);
    if (!target) return reply;
    return send(reply, confirmPage(ctxOf(request), target.entry, target.action));
  });

  route("POST", "/queue/:id/:action", "operator", async (request, reply) => {
    const target = await queueTarget(request, reply);
    if (!target) return reply;
    const { entry, action } = target;
    const actor = actorOf(request);
    const reason = field(request.body, "reason", 200);
    try {
      if (action === "retry") await deps.queue.retry(entry.id, actor);
      else if (action === "hold") await deps.queue.hold(entry.id, actor, reason || undefined);
      else if (action === "release") await deps.queue.release(entry.id, actor);
      else await deps.queue.delete(entry.id, actor);
    } catch (error) {
      log.warn({ err: error, auditId: entry.id, action }, "admin console: queue action failed");
      const ctx = ctxOf(request);
      return send(reply, queuePage(ctx, await queueList(), { kind: "error", text: `${ctx.t(action)} ${entry.id}: ${(error as Error).message}` }), 409);
    }
    deps.audit.record({ type: "admin", auditId: entry.id, actor, data: { action: `queue-${action}`, ...(reason ? { reason } : {}) } });
    return reply.redirect(`/queue?done=${action}&id=${encodeURIComponent(entry.id)}`, 303);
  });

  // ---- rules -------------------------------------------------------------------------------
  const rulesView = () => {
    const status = deps.rules?.status();
    return {
      ...(status ? { status } : {}),
      canTry: deps.sanitizeText !== undefined,
      canReload: deps.rules?.reload !== undefined,
    };
  };

  route("GET", "/rules", "viewer", async (request, reply) => send(reply, rulesPage(ctxOf(request), rulesView())));

  route(
    "POST",
    "/rules/try",
    "operator",
    async (request, reply) => {
      const body = request.body as Record<string, unknown>;
      const form: TryForm = {
        source: typeof body.source === "string" ? body.source : "",
        mailFrom: field(body, "mailFrom", 256),
        rcptTo: field(body, "rcptTo", 1024),
      };
      const ctx = ctxOf(request);
      if (!deps.sanitizeText) return send(reply, rulesPage(ctx, rulesView(), { form, error: ctx.t("unavailable") }), 501);
      if (!form.source.trim()) return send(reply, rulesPage(ctx, rulesView(), { form, error: ctx.t("badRequest") }), 400);
      const raw = Buffer.from(form.source.replace(/\r?\n/g, "\r\n"), "utf8");
      const rcptTo = form.rcptTo.split(/[\s,]+/).filter(Boolean);
      let result: RuleTrial;
      try {
        result = await deps.sanitizeText(raw, { mailFrom: form.mailFrom, rcptTo, clientAddress: request.ip, clientHelo: "admin-console" });
      } catch (error) {
        return send(reply, rulesPage(ctx, rulesView(), { form, error: `${ctx.t("badRequest")} ${(error as Error).message}` }), 422);
      }
      deps.audit.record({ type: "admin", actor: actorOf(request), data: { action: "rules-try", size: raw.length, decision: result.decision.action } });
      return send(reply, rulesPage(ctx, rulesView(), { form, result }));
    },
    { bodyLimit: TRY_BODY_LIMIT },
  );

  route("POST", "/rules/reload", "operator", async (request, reply) => {
    const ctx = ctxOf(request);
    if (!deps.rules?.reload) return fail(request, reply, 404, "notFound");
    const actor = actorOf(request);
    const result = await deps.rules.reload("admin");
    deps.audit.record({ type: "admin", actor, data: { action: "rules-reload", ok: result.ok, version: result.version } });
    const problems = (result.problems ?? []).map((p) => `${p.line}:${p.column}: ${p.message}`).join(" / ");
    return send(
      reply,
      rulesPage(ctx, rulesView(), undefined, result.ok ? { kind: "ok", text: `${ctx.t("done")}: ${ctx.t("reload")}` } : { kind: "error", text: `${ctx.t("invalid")}: ${problems}` }),
      result.ok ? 200 : 422,
    );
  });

  // ---- users -------------------------------------------------------------------------------
  route("GET", "/users", "admin", async (request, reply) => {
    const ctx = ctxOf(request);
    const query = request.query as Record<string, unknown>;
    const done = field(query, "done", 10);
    const flash = done === "add" || done === "remove" ? { kind: "ok" as const, text: `${ctx.t("done")}: ${ctx.t(done === "add" ? "addUser" : "removeUser")}` } : undefined;
    return send(reply, usersPage(ctx, users.list(), flash));
  });

  route("POST", "/users", "admin", async (request, reply) => {
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
    deps.audit.record({ type: "admin", actor: actorOf(request), data: { action: "user-add", user: name, role } });
    return reply.redirect("/users?done=add", 303);
  });

  const userTarget = async (request: FastifyRequest, reply: FastifyReply) => {
    const name = (request.params as { name: string }).name;
    const user = users.get(name);
    if (!user) {
      await fail(request, reply, 404, "notFound");
      return undefined;
    }
    if (user.name.toLowerCase() === state(request).user!.name.toLowerCase()) {
      await fail(request, reply, 409, "forbidden"); // removing yourself: use another administrator's account
      return undefined;
    }
    return user;
  };

  route("GET", "/users/:name/remove", "admin", async (request, reply) => {
    const user = await userTarget(request, reply);
    if (!user) return reply;
    return send(reply, removeUserPage(ctxOf(request), user));
  });

  route("POST", "/users/:name/remove", "admin", async (request, reply) => {
    const user = await userTarget(request, reply);
    if (!user) return reply;
    try {
      users.remove(user.name);
    } catch (error) {
      if (error instanceof UserError) return send(reply, usersPage(ctxOf(request), users.list(), { kind: "error", text: error.message }), 409);
      throw error;
    }
    sessions.destroyUser(user.name);
    deps.audit.record({ type: "admin", actor: actorOf(request), data: { action: "user-remove", user: user.name } });
    return reply.redirect("/users?done=remove", 303);
  });

  // ---- errors ------------------------------------------------------------------------------
  app.setNotFoundHandler(async (request, reply) => fail(request, reply, 404, "notFound"));
  app.setErrorHandler(async (error, request, reply) => {
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) log.error({ err: error, url: request.routeOptions.url }, "admin console: request failed");
    if (!states.has(request)) states.set(request, { lang: "ja", t: translator("ja"), setCookies: [] });
    const ctx = ctxOf(request);
    const text = status === 415 || status === 413 || status === 400 ? ctx.t("badRequest") : status === 404 ? ctx.t("notFound") : ctx.t("serverError");
    return send(reply, errorPage(ctx, `${status >= 400 && status < 600 ? status : 500}`, text), status >= 400 && status < 600 ? status : 500);
  });

  return {
    app,
    users,
    async close() {
      await app.close();
      await chainRun; // the store may close right after us
      users.close();
    },
  };
}
