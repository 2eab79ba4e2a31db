/**
 * The console's one HTML rendering path: a tagged template that escapes every
 * interpolated value unless it is already `Html` (built by this module).
 *
 * SECURITY: subjects, addresses, file names and SMTP replies shown by the
 * console are written by possible attackers. They only ever enter a page as an
 * interpolated value of `html```, which escapes & < > " ' and `, and templates
 * always quote attribute values. URLs with such values are built by `href()`,
 * which percent-encodes every path segment and query value. `raw()` exists for
 * trusted, constant fragments only (never call it on data).
 */
import { textSafe } from "../lib/display-safe.ts";

/** A fragment of HTML that is safe to emit as is. */
export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

function render(value: unknown): string {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(String(value));
}

/** Tagged template: `html\`<td>${subject}</td>\`` escapes `subject`. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) {
    out += render(values[i]) + (strings[i + 1] ?? "");
  }
  return new Html(out);
}

/** A trusted constant fragment. Never pass anything derived from a request or a message. */
export function raw(trusted: string): Html {
  return new Html(trusted);
}

/**
 * A same-origin URL: each path segment and every query value percent-encoded.
 * Empty and undefined query values are left out (so search forms stay tidy).
 */
export function href(segments: readonly string[], query: Record<string, string | number | undefined> = {}): string {
  const path = "/" + segments.map((s) => encodeURIComponent(s)).join("/");
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === "") continue;
    params.append(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/**
 * Makes control and bidi-override characters visible (e.g. U+202E → "<U+202E>")
 * so a file name like "invoice\u202Efdp.exe" cannot deceive the reader.
 * Escaping is still done by `html`; this only changes what the text says.
 */
export function visible(text: string): string {
  return textSafe(text); // the same definition of "unsafe" as the sanitizer and the CLI; TAB, CR and LF kept
}
