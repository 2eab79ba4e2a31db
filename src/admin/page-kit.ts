/**
 * What every page's routes get from the console server: the request's state
 * (language, session, user) that the server's onRequest hook reads, page
 * replies (`send`, `fail`), and `route()`, which registers a route behind its
 * access rule (login, role, and the CSRF token plus a same-origin check for
 * every POST). Each page file (pages/*.ts) is a fastify plugin that takes this
 * kit and its own narrow dependencies.
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
  log: Logger;
  now: () => number;
}

export function createPageKit(options: { secure: boolean; cookieName: string; log: Logger; now: () => number }): PageKit {
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

  const csrfOk = (request: FastifyRequest): boolean => {
    const session = state(request).session;
    if (!session || !sameOrigin(request)) return false;
    return tokenEquals((request.body as Record<string, unknown> | undefined)?._csrf, session.csrf);
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
    log,
    now,
  };
}
