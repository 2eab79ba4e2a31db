/**
 * The page frame shared by every console page: navigation by role, the user,
 * logout (a POST form with the CSRF token), the language switch. Pure.
 */
import { html, type Html } from "./html.ts";
import type { Lang, Translate } from "./i18n.ts";
import { roleAtLeast, type Role } from "./user-store.ts";

export interface PageContext {
  t: Translate;
  lang: Lang;
  user?: { name: string; role: Role };
  csrf: string;
  /** the current path, for the navigation highlight */
  path: string;
  /** the current URL with the other language selected */
  otherLangHref: string;
}

export function csrfField(ctx: PageContext): Html {
  return html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;
}

export function layout(ctx: PageContext, title: string, body: Html | Html[]): Html {
  const { t, user } = ctx;
  const nav: { href: string; key: Parameters<Translate>[0]; role: Role }[] = [
    { href: "/", key: "dashboard", role: "viewer" },
    { href: "/messages", key: "messages", role: "viewer" },
    { href: "/incident", key: "incident", role: "viewer" },
    { href: "/report", key: "report", role: "viewer" },
    { href: "/queue", key: "queue", role: "viewer" },
    { href: "/rules", key: "rules", role: "viewer" },
    { href: "/releases", key: "releases", role: "operator" },
    { href: "/users", key: "users", role: "admin" },
  ];
  const current = (href: string) => (href === "/" ? ctx.path === "/" : ctx.path.startsWith(href));
  return html`<!doctype html>
<html lang="${ctx.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${title} — ${t("title")}</title>
<link rel="stylesheet" href="/static/console.css">
</head>
<body>
<header class="topbar">
  <a class="brand" href="/"><span class="mark">無</span><span>mumuka</span><small>${t("consoleName")}</small></a>
  ${user
    ? html`<nav>${nav
        .filter((n) => roleAtLeast(user.role, n.role))
        .map((n) => html`<a href="${n.href}"${current(n.href) ? html` class="current" aria-current="page"` : ""}>${t(n.key)}</a>`)}</nav>`
    : html`<span class="spacer"></span>`}
  <div class="who">
    <a class="lang" href="${ctx.otherLangHref}">${t("language")}</a>
    ${user
      ? html`<span class="user" title="${t("loggedInAs")}">${user.name} <span class="role role-${user.role}">${t(user.role)}</span></span>
    <form method="post" action="/logout" class="inline">${csrfField(ctx)}<button type="submit" class="link">${t("logout")}</button></form>`
      : ""}
  </div>
</header>
<main>
<h1>${title}</h1>
${body}
</main>
<footer>mumuka · ${t("japanTime")} (JST)</footer>
</body>
</html>
`;
}

export function notice(kind: "ok" | "error" | "info", text: string): Html {
  return html`<p class="notice ${kind}" role="${kind === "error" ? "alert" : "status"}">${text}</p>`;
}
