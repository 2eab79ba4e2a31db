/**
 * What every page's routes get from the console server: the request's state
 * (language, session, user) that the server's onRequest hook reads, page
 * replies (`send`, `fail`), and `route()`, which registers a route behind its
 * access rule (login, role, and the CSRF token plus a same-origin check for
 * every POST), recording each refusal in the audit trail (refusals.ts). Each
 * page file (pages/*.ts) is a fastify plugin that takes this kit and its own
 * narrow dependencies.
 *
 * SECURITY: `route()` is the one place a route's access rule is enforced; a
 * page registers its routes only through it. Request input read here: the
 * body's `_csrf` field and the Origin / Sec-Fetch-Site / Host headers, only
 * compared, never echoed.
 * A crash leaves nothing: the state lives on the request.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "../lib/logger.ts";
import { errorPage } from "./pages/login.ts";
import type { Html } from "./html.ts";
import { safeNext, serializeCookie } from "./http-fns.ts";
import { translator, type Lang, type Translate } from "./i18n.ts";
import type { PageContext } from "./layout.ts";
import type { Refusal, RefusalReason } from "./refusals.ts";
import { tokenEquals, type Session } from "./sessions.ts";
import { roleAtLeast, type Role } from "./user-store.ts";

export interface RequestState {
  lang: Lang;
  t: Translate;
  session?: Session;
  user?: { name: string; role: Role };
  setCookies: string[];
}

export type Access = "public" | Role;
export type FailKey = "forbidden" | "notFound" | "badRequest" | "csrfFailed" | "notInQueue";
export type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export interface PageKit {
  /** registers a route on `app` behind its access rule: login, role, and CSRF for POST */
  route(app: FastifyInstance, method: "GET" | "POST", url: string, access: Access, handler: Handler, options?: { bodyLimit?: number }): void;
  state(request: FastifyRequest): RequestState;
  /** the state of a request the onRequest hook may not have seen (fastify refused it earlier): Japanese, no session */
  stateOrDefault(request: FastifyRequest): RequestState;
  setState(request: FastifyRequest, state: RequestState): void;
  ctxOf(request: FastifyRequest): PageContext;
  send(reply: FastifyReply, page: Html, status?: number): FastifyReply;
  fail(request: FastifyRequest, reply: FastifyReply, status: number, key: FailKey): FastifyReply;
  /** "admin:<user>" of the logged-in user */
  actorOf(request: FastifyRequest): string;
  /** sets the session cookie for this reply, or clears it */
  setSessionCookie(request: FastifyRequest, session: Session | undefined): void;
  /** the browser's own same-origin headers agree (absent headers are left to the token) */
  sameOrigin(request: FastifyRequest): boolean;
  /** records a refused request in the audit trail (rate-limited): who, from where, what, and why */
  refuse(request: FastifyRequest, reason: RefusalReason, status: number, account?: string): void;
  log: Logger;
  now: () => number;
}

export function createPageKit(options: {
  secure: boolean;
  cookieName: string;
  log: Logger;
  now: () => number;
  refused: (refusal: Refusal) => void;
}): PageKit {
  const { secure, cookieName, log, now } = options;
  const states = new WeakMap<FastifyRequest, RequestState>();

  const state = (request: FastifyRequest): RequestState => states.get(request)!;
  const stateOrDefault = (request: FastifyRequest): RequestState => {
    let s = states.get(request);
    if (!s) {
      s = { lang: "ja", t: translator("ja"), setCookies: [] };
      states.set(request, s);
    }
    return s;
  };

  const refuse = (request: FastifyRequest, reason: RefusalReason, status: number, account?: string) => {
    options.refused({
      reason,
      status,
      ip: request.ip ?? "?",
      method: request.method,
      route: request.routeOptions?.url,
      path: request.url,
      user: states.get(request)?.user?.name,
      account,
    });
  };

  const ctxOf = (request: FastifyRequest): PageContext => {
    const s = state(request);
    let url: URL;
    try {
      url = new URL(request.url, "http://console.invalid");
    } catch {
      url = new URL("/", "http://console.invalid"); // a request target no URL parser accepts (refused before any route)
    }
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
  const fail = (request: FastifyRequest, reply: FastifyReply, status: number, key: FailKey) => {
    const ctx = ctxOf(request);
    return send(reply, errorPage(ctx, `${status}`, ctx.t(key)), status);
  };

  const sameOrigin = (request: FastifyRequest): boolean => {
    const site = request.headers["sec-fetch-site"];
    if (site !== undefined && site !== "same-origin" && site !== "none") return false;
    const origin = request.headers.origin;
    if (origin === undefined) return true;
    return origin === `${secure ? "https" : "http"}://${request.headers.host ?? ""}`;
  };

  /** why a POST fails the CSRF check, or undefined when it passes */
  const csrfRefusal = (request: FastifyRequest): RefusalReason | undefined => {
    if (!sameOrigin(request)) return "cross-origin";
    const session = state(request).session;
    if (!session || !tokenEquals((request.body as Record<string, unknown> | undefined)?._csrf, session.csrf)) return "csrf-token";
    return undefined;
  };

  return {
    route(app, method, url, access, handler, routeOptions = {}) {
      app.route({
        method,
        url,
        ...(routeOptions.bodyLimit ? { bodyLimit: routeOptions.bodyLimit } : {}),
        preHandler: async (request, reply) => {
          if (access === "public") return;
          const s = state(request);
          if (!s.user) {
            // a GET without a login is how every visit starts (a bookmark, an expired session): shown the login page, not recorded;
            // a POST without one is a refused action
            if (method === "POST") refuse(request, "no-session", 303);
            const next = method === "GET" ? safeNext(request.url) : undefined;
            return reply.redirect(next ? `/login?next=${encodeURIComponent(next)}` : "/login", 303);
          }
          if (!roleAtLeast(s.user.role, access)) {
            refuse(request, "role", 403);
            return fail(request, reply, 403, "forbidden");
          }
          const csrf = method === "POST" ? csrfRefusal(request) : undefined;
          if (csrf) {
            log.warn({ url: request.routeOptions.url, user: s.user.name, reason: csrf }, "admin console: CSRF check failed");
            refuse(request, csrf, 403);
            return fail(request, reply, 403, "csrfFailed");
          }
        },
        handler,
      });
    },
    state,
    stateOrDefault,
    setState(request, s) {
      states.set(request, s);
    },
    ctxOf,
    send,
    fail,
    actorOf: (request) => `admin:${state(request).user?.name ?? "?"}`,
    setSessionCookie(request, session) {
      state(request).setCookies.push(
        session ? serializeCookie(cookieName, session.id, { secure }) : serializeCookie(cookieName, "", { secure, maxAgeSeconds: 0 }),
      );
    },
    sameOrigin,
    refuse,
    log,
    now,
  };
}
