/**
 * What every console reply carries, including the ones fastify or Node's HTTP
 * parser give before the console's hooks run: the security headers, and an
 * error page in the console's own words (never a framework's JSON, a stack
 * trace or the request echoed back).
 *
 * SECURITY: built from constants and the status only; the only request
 * input an error page shows is its own path in the language link, escaped by
 * `html```. Raw replies (a request Node could not parse) are written to the
 * socket from an allow-listed status and fixed header lines. Pure; no state.
 */
import { STATUS_CODES } from "node:http";
import type { Html } from "./html.ts";
import { translator, type MessageKey } from "./i18n.ts";
import type { PageContext } from "./layout.ts";
import { errorPage } from "./pages/login.ts";

export const CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** The headers of every console reply. `cacheable`: the stylesheet only; every page is no-store (pages hold mail metadata). */
export function securityHeaders(secure: boolean, cacheable: boolean): Record<string, string> {
  return {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    // same-origin, not no-referrer: under no-referrer browsers send "Origin: null" on form posts, defeating the Origin check;
    // URLs (which carry search terms) still never leave for another site
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    ...(secure ? { "Strict-Transport-Security": "max-age=31536000" } : {}),
    ...(cacheable ? {} : { "Cache-Control": "no-store" }),
  };
}

/** An error reply's status: 4xx and 5xx as they are, anything else (an error without one) 500. */
export function errorStatus(status: number | undefined): number {
  return status !== undefined && Number.isInteger(status) && status >= 400 && status < 600 ? status : 500;
}

/** What the error page says for a status. */
export function errorText(status: number): MessageKey {
  switch (status) {
    case 403:
      return "forbidden";
    case 404:
      return "notFound";
    case 408:
      return "requestTimeout";
    case 413:
      return "tooLarge";
    case 414:
      return "uriTooLong";
    case 415:
      return "unsupportedType";
    case 431:
      return "headersTooLarge";
    default:
      return status < 500 ? "badRequest" : "serverError";
  }
}

/** The error page for a request the console knows nothing about (not even its language): Japanese, with the English link. */
export function bareErrorPage(status: number): Html {
  const t = translator("ja");
  const ctx: PageContext = { t, lang: "ja", csrf: "", path: "/", otherLangHref: "/?lang=en" };
  return errorPage(ctx, `${status}`, t(errorText(status)));
}

/**
 * A whole HTTP/1.1 response for a request Node's parser refused (bad request
 * line, headers too large, a broken chunked body, a timeout): the socket
 * closes after it.
 */
export function rawErrorResponse(status: number, secure: boolean): string {
  const body = Buffer.from(bareErrorPage(status).value, "utf8");
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}`,
    "Content-Type: text/html; charset=utf-8",
    `Content-Length: ${body.length}`,
    "Connection: close",
    ...Object.entries(securityHeaders(secure, false)).map(([name, value]) => `${name}: ${value}`),
  ];
  return `${lines.join("\r\n")}\r\n\r\n${body.toString("utf8")}`;
}
