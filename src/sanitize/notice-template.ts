/**
 * The notice template language: a small Mustache-like subset, enough for an
 * operator to reword the notice without touching code.
 *
 *   {{name}}                 a value (already display-safe; inserted as is)
 *   {{#name}} … {{/name}}    a section: repeated for each item of a list (the
 *                            item's fields become visible), shown once for any
 *                            other truthy value, skipped for false / 0 / "" / []
 *   {{^name}} … {{/name}}    an inverted section: shown when the value is falsy
 *   {{! comment }}           ignored
 *
 * A tag alone on its line removes the whole line, so sections can be written
 * one per line. Unknown names render as "". Nothing is evaluated: the template
 * cannot call code or read files.
 *
 * SECURITY: the template is operator input; values come from mumuka (made
 * display-safe before they get here). Rendering is linear in the template size
 * times list lengths; sections nest at most MAX_NESTING deep.
 */

export type TemplateValue = string | number | boolean | undefined | TemplateScope | TemplateScope[];
export interface TemplateScope {
  [key: string]: TemplateValue;
}

const MAX_NESTING = 16;

interface Node {
  type: "text" | "var" | "section" | "inverted";
  value: string;
  children: Node[];
}

export class TemplateError extends Error {
  override name = "TemplateError";
}

function parse(template: string): Node[] {
  // standalone tags: a line holding only a section tag (and blanks) vanishes with its line break
  const src = template.replace(/\r\n?/g, "\n").replace(/^[ \t]*(\{\{[#^/!][^}]*\}\})[ \t]*\n/gm, "$1");
  const root: Node = { type: "section", value: "", children: [] };
  const stack: Node[] = [root];
  const re = /\{\{\s*([#^/!]?)\s*([^}]*?)\s*\}\}/g;
  let last = 0;
  for (const m of src.matchAll(re)) {
    const top = stack[stack.length - 1]!;
    const index = m.index ?? 0;
    if (index > last) top.children.push({ type: "text", value: src.slice(last, index), children: [] });
    last = index + m[0].length;
    const sigil = m[1] ?? "";
    const name = m[2] ?? "";
    if (sigil === "!") continue;
    if (sigil === "#" || sigil === "^") {
      if (stack.length > MAX_NESTING) throw new TemplateError(`sections nested deeper than ${MAX_NESTING}`);
      const node: Node = { type: sigil === "#" ? "section" : "inverted", value: name, children: [] };
      top.children.push(node);
      stack.push(node);
    } else if (sigil === "/") {
      if (stack.length === 1 || top.value !== name) throw new TemplateError(`unexpected {{/${name}}}`);
      stack.pop();
    } else top.children.push({ type: "var", value: name, children: [] });
  }
  if (stack.length > 1) throw new TemplateError(`unclosed {{#${stack[stack.length - 1]!.value}}}`);
  if (last < src.length) root.children.push({ type: "text", value: src.slice(last), children: [] });
  return root.children;
}

function lookup(scopes: TemplateScope[], name: string): TemplateValue {
  for (let i = scopes.length - 1; i >= 0; i--) {
    const scope = scopes[i]!;
    if (Object.prototype.hasOwnProperty.call(scope, name)) return scope[name];
  }
  return undefined;
}

function truthy(value: TemplateValue): boolean {
  if (Array.isArray(value)) return value.length > 0;
  return Boolean(value);
}

function renderNodes(nodes: Node[], scopes: TemplateScope[]): string {
  let out = "";
  for (const node of nodes) {
    if (node.type === "text") out += node.value;
    else if (node.type === "var") {
      const v = lookup(scopes, node.value);
      out += typeof v === "string" || typeof v === "number" ? String(v) : typeof v === "boolean" ? (v ? "true" : "") : "";
    } else {
      const v = lookup(scopes, node.value);
      if (node.type === "inverted") {
        if (!truthy(v)) out += renderNodes(node.children, scopes);
      } else if (Array.isArray(v)) {
        for (const item of v) out += renderNodes(node.children, [...scopes, item]);
      } else if (truthy(v)) {
        out += renderNodes(node.children, typeof v === "object" ? [...scopes, v] : scopes);
      }
    }
  }
  return out;
}

/** Checks a template's syntax; throws TemplateError with a reason. */
export function checkTemplate(template: string): void {
  parse(template);
}

/**
 * Parsed templates, by their text: a gateway renders one or two templates for
 * every message, and parsing was a tenth of sanitizing a small one. Bounded:
 * an operator has a handful of templates, not thousands.
 */
const parsed = new Map<string, Node[]>();
const MAX_PARSED = 32;

export function renderTemplate(template: string, scope: TemplateScope): string {
  let nodes = parsed.get(template);
  if (!nodes) {
    nodes = parse(template);
    if (parsed.size >= MAX_PARSED) parsed.clear();
    parsed.set(template, nodes);
  }
  return renderNodes(nodes, [scope]);
}
