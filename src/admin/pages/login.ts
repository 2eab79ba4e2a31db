/** The login page and the error pages. Pure renderers. */
import { html, type Html } from "../html.ts";
import { csrfField, layout, notice, type PageContext } from "../layout.ts";

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
