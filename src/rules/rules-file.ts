/**
 * The rules file: YAML text → validated, compiled rules (parseRules), or a
 * RulesError listing every problem with file:line:column and what is wrong.
 *
 * The file is walked node by node (not converted to plain objects first) so
 * that every problem points at the line an operator has to fix. Unknown keys
 * are errors, with a "did you mean" when one is close: a typo must never
 * silently turn a rule off. There is no key that could let HTML, an
 * attachment or a raw header through; keys that look like an attempt to are
 * refused with an explanation of the safety invariant.
 *
 * SECURITY: the text is operator input (trusted to be well meant, not to be
 * well formed). Pure: no I/O except the loadTemplate callback the caller
 * passes, so it can run in a worker thread. YAML anchors/aliases are refused
 * (no alias expansion bombs, and rules stay readable top to bottom).
 */
import { EXTRACT_KINDS, type ExtractKind } from "../extract/extract-types.ts";
import { createHash } from "node:crypto";
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair, type Scalar, type YAMLMap } from "yaml";
import { languages, linkModes, type Language, type LinkMode } from "../config/schema.ts";
import { checkTemplate } from "../sanitize/index.ts";
import { createEngine, type CompiledRule, type Condition, type LoadedRules, type MatchContext, type RuleActions } from "./rules-engine.ts";
import {
  compileAddressPattern,
  compileNetworks,
  DAY_NAMES,
  fold,
  globMatch,
  inTimeRange,
  networkProblem,
  parseDay,
  parseSize,
  parseTimeRange,
  suggest,
  type AddressPattern,
  type SplitAddress,
} from "./rules-match.ts";

export interface RulesProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

export class RulesError extends Error {
  override name = "RulesError";
  readonly code = "ERULES";
  readonly problems: RulesProblem[];
  constructor(problems: RulesProblem[]) {
    super(problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`).join("\n"));
    this.problems = problems;
  }
}

export interface ParseRulesOptions {
  /** reads a notice template named in the file (path as written, relative to the rules file); throws when it cannot */
  loadTemplate?: (path: string) => string;
}

const TOP_KEYS = ["rules", "description"] as const;
const RULE_KEYS = ["name", "description", "enabled", "when", "if", "then"] as const;
const CONDITION_KEYS = [
  "all",
  "any",
  "not",
  "mail_from",
  "header_from",
  "from",
  "rcpt",
  "client_ip",
  "subject",
  "attachment",
  "has_attachment",
  "size_over",
  "size_under",
  "has_html",
  "day",
  "time",
] as const;
const ATTACHMENT_KEYS = ["name", "ext", "declared_type", "sniffed_type", "type_mismatch", "encrypted"] as const;
const SUBJECT_KEYS = ["contains", "glob"] as const;
const ACTION_KEYS = ["links", "language", "notice_template", "subject_tag", "inline_text", "extract_text", "hold", "reject", "stop"] as const;
const HOLD_KEYS = ["reason", "notify_recipients"] as const;
const REJECT_KEYS = ["reason", "dsn"] as const;

/**
 * Extensions whose attachments may be shown in the body as text: plain text
 * only. The core decodes them as text and makes them display-safe; anything
 * else (documents, archives, executables) is never inlined.
 */
export const INLINE_TEXT_EXTENSIONS = ["txt", "csv", "tsv", "log"] as const;

/** Keys that read like "let something through": refused with the reason, not just "unknown". */
const INVARIANT_RE = /attach|html|header|raw|sanitiz|bypass|passthrough|pass_through|allow|skip|original|keep_/i;
const INVARIANT_MESSAGE =
  "no rule can let attachments, HTML or original headers through: every message is rebuilt as text (the safety invariant). Rules may only make handling stricter or change presentation";

const RULE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** tags and reasons end up in a header or notice line: one line, bounded */
const MAX_TAG_CHARS = 40;
const MAX_REASON_CHARS = 200;
const MAX_PATTERN_CHARS = 256;
/** a notice template is a page of text, not a document */
const MAX_TEMPLATE_BYTES = 64 * 1024;
const SINGLE_LINE_RE = /^[^\p{Cc}\u2028\u2029\u202A-\u202E\u2066-\u2069]*$/u;

type Loc = Node | Pair | null | undefined;

class Walker {
  readonly problems: RulesProblem[] = [];
  readonly file: string;
  private readonly lines: LineCounter;
  constructor(file: string, lines: LineCounter) {
    this.file = file;
    this.lines = lines;
  }

  offsetOf(at: Loc): number {
    if (!at) return 0;
    const node = "range" in at ? at : ((at as Pair).key as Node | null);
    return (node as Node | null)?.range?.[0] ?? 0;
  }

  lineOf(at: Loc): number {
    return this.lines.linePos(this.offsetOf(at)).line;
  }

  err(at: Loc, message: string): void {
    const pos = this.lines.linePos(this.offsetOf(at));
    this.problems.push({ file: this.file, line: pos.line, column: pos.col, message });
  }

  /** A mapping's entries by key; reports unknown keys, duplicate and non-string keys. */
  map(node: unknown, what: string, allowed: readonly string[], special?: (key: string) => string | undefined): Map<string, { key: Scalar; value: Node | null }> | undefined {
    if (!isMap(node)) {
      const empty = node == null || (isScalar(node) && node.value === null);
      this.err(node as Loc, `${what} ${empty ? "is empty: write key: value lines below it, indented" : "must be a mapping (key: value lines)"}`);
      return undefined;
    }
    const entries = new Map<string, { key: Scalar; value: Node | null }>();
    for (const pair of (node as YAMLMap).items) {
      const key = pair.key as Node | null;
      if (!isScalar(key) || typeof key.value !== "string") {
        this.err(key ?? (node as Node), `${what}: keys must be words`);
        continue;
      }
      const name = key.value;
      if (!allowed.includes(name)) {
        const extra = special?.(name);
        if (extra) this.err(key, extra);
        else {
          const close = suggest(name, allowed);
          this.err(key, `unknown key "${name}" in ${what}${close ? ` — did you mean "${close}"?` : ""} (allowed: ${allowed.join(", ")})`);
        }
        continue;
      }
      entries.set(name, { key, value: (pair.value as Node | null) ?? null });
    }
    return entries;
  }

  scalar(node: Node | null, what: string): unknown {
    if (isScalar(node)) return node.value;
    this.err(node, `${what} must be a single value`);
    return undefined;
  }

  string(node: Node | null, what: string, max = MAX_PATTERN_CHARS): string | undefined {
    const v = isScalar(node) ? node.value : undefined;
    if (typeof v === "number") return String(v);
    if (typeof v !== "string" || v.trim() === "") {
      this.err(node, `${what} must be non-empty text`);
      return undefined;
    }
    if (!SINGLE_LINE_RE.test(v)) {
      this.err(node, `${what} must be one line without control or bidi characters`);
      return undefined;
    }
    if ([...v].length > max) {
      this.err(node, `${what} is longer than ${max} characters`);
      return undefined;
    }
    return v;
  }

  /** one string or a list of strings, each with its own node (for positions) */
  strings(node: Node | null, what: string, max = MAX_PATTERN_CHARS): { value: string; node: Node }[] | undefined {
    if (isSeq(node)) {
      if (node.items.length === 0) {
        this.err(node, `${what}: the list is empty`);
        return undefined;
      }
      const out: { value: string; node: Node }[] = [];
      let ok = true;
      for (const item of node.items) {
        const s = this.string(item as Node, what, max);
        if (s === undefined) ok = false;
        else out.push({ value: s, node: item as Node });
      }
      return ok ? out : undefined;
    }
    const s = this.string(node, what, max);
    return s === undefined ? undefined : [{ value: s, node: node as Node }];
  }

  boolean(node: Node | null, what: string): boolean | undefined {
    const v = isScalar(node) ? node.value : undefined;
    if (typeof v !== "boolean") {
      this.err(node, `${what} must be true or false`);
      return undefined;
    }
    return v;
  }

  choice<T extends string>(node: Node | null, what: string, choices: readonly T[], special?: (value: string) => string | undefined): T | undefined {
    const v = isScalar(node) ? node.value : undefined;
    if (typeof v === "string" && (choices as readonly string[]).includes(v)) return v as T;
    const extra = typeof v === "string" ? special?.(v) : undefined;
    this.err(node, extra ?? `${what} must be one of ${choices.join(", ")}${v === undefined ? "" : ` (got "${String(v)}")`}`);
    return undefined;
  }
}

function quote(list: { value: string }[]): string {
  return list.length === 1 ? list[0]!.value : `[${list.map((x) => x.value).join(", ")}]`;
}

function leaf(describe: string, test: (ctx: MatchContext) => boolean, observed?: (ctx: MatchContext) => string): Condition {
  const c: Condition = { kind: "leaf", describe, children: [], test };
  if (observed) c.observed = observed;
  return c;
}

function addressCondition(w: Walker, key: string, node: Node | null, pick: (ctx: MatchContext) => SplitAddress[]): Condition | undefined {
  const list = w.strings(node, key);
  if (!list) return undefined;
  const patterns: AddressPattern[] = [];
  for (const item of list) {
    const compiled = compileAddressPattern(item.value);
    if (typeof compiled === "string") w.err(item.node, `bad address pattern: ${compiled}`);
    else patterns.push(compiled);
  }
  if (patterns.length !== list.length) return undefined;
  return leaf(
    `${key}: ${quote(list)}`,
    (ctx) => pick(ctx).some((a) => patterns.some((p) => p.test(a))),
    (ctx) => {
      const seen = pick(ctx);
      return seen.length ? seen.map((a) => (a.address === "" ? "<>" : a.address)).join(", ") : "(none)";
    },
  );
}

function globs(w: Walker, node: Node | null, what: string): { source: string; folded: string }[] | undefined {
  const list = w.strings(node, what);
  return list?.map((x) => ({ source: x.value, folded: fold(x.value) }));
}

function attachmentCondition(w: Walker, node: Node | null): Condition | undefined {
  const m = w.map(node, "attachment", ATTACHMENT_KEYS);
  if (!m) return undefined;
  if (m.size === 0) {
    w.err(node, `attachment needs at least one of ${ATTACHMENT_KEYS.join(", ")} (or use has_attachment: true)`);
    return undefined;
  }
  const tests: ((a: MatchContext["attachments"][number]) => boolean)[] = [];
  const parts: string[] = [];
  let ok = true;
  for (const [key, { value }] of m) {
    if (key === "name" || key === "declared_type" || key === "sniffed_type") {
      const g = globs(w, value, `attachment ${key}`);
      if (!g) {
        ok = false;
        continue;
      }
      const field = key === "name" ? "name" : key === "declared_type" ? "declared" : "sniffed";
      tests.push((a) => g.some((p) => globMatch(p.folded, a[field])));
      parts.push(`${key} ${quote(g.map((x) => ({ value: x.source })))}`);
    } else if (key === "ext") {
      const list = w.strings(value, "attachment ext");
      if (!list) {
        ok = false;
        continue;
      }
      const exts = list.map((x) => fold(x.value).replace(/^\*?\./, ""));
      tests.push((a) => exts.includes(a.ext));
      parts.push(`ext ${quote(exts.map((value) => ({ value })))}`);
    } else {
      const b = w.boolean(value, `attachment ${key}`);
      if (b === undefined) {
        ok = false;
        continue;
      }
      const field = key === "type_mismatch" ? "mismatch" : "encrypted";
      tests.push((a) => a[field] === b);
      parts.push(`${key} ${b}`);
    }
  }
  if (!ok) return undefined;
  return leaf(
    `attachment: ${parts.join(", ")}`,
    (ctx) => ctx.attachments.some((a) => tests.every((t) => t(a))),
    (ctx) =>
      ctx.attachments.length
        ? ctx.attachments.map((a) => `${a.display || "(no name)"} [${a.declared}${a.sniffed ? `, sniffed ${a.sniffed}` : ""}${a.mismatch ? ", MISMATCH" : ""}]`).join("; ")
        : "(no attachments)",
  );
}

function subjectCondition(w: Walker, node: Node | null): Condition | undefined {
  let mode: "contains" | "glob" = "contains";
  let valueNode = node;
  if (isMap(node)) {
    const m = w.map(node, "subject", SUBJECT_KEYS, (k) =>
      /^(regex|regexp|re|pattern|matches)$/i.test(k)
        ? `"${k}": regular expressions are not accepted (a crafted subject could make one run for minutes); use contains: or glob: (* and ?)`
        : undefined,
    );
    if (!m) return undefined;
    if (m.size !== 1) {
      if (m.size > 1) w.err(node, "subject takes one of contains: or glob:, not both (use any: for either)");
      else if ((node as YAMLMap).items.length === 0) w.err(node, "subject needs contains: or glob:");
      return undefined;
    }
    const [k, v] = [...m][0]!;
    mode = k as "contains" | "glob";
    valueNode = v.value;
  }
  const list = w.strings(valueNode, `subject ${mode}`);
  if (!list) return undefined;
  const folded = list.map((x) => fold(x.value));
  const test =
    mode === "contains" ? (ctx: MatchContext) => folded.some((p) => ctx.subject.includes(p)) : (ctx: MatchContext) => folded.some((p) => globMatch(p, ctx.subject));
  return leaf(`subject ${mode}: ${quote(list)}`, test, (ctx) => JSON.stringify(ctx.subject));
}

function sizeCondition(w: Walker, key: "size_over" | "size_under", node: Node | null): Condition | undefined {
  const raw = w.scalar(node, key);
  if (raw === undefined) return undefined;
  const bytes = parseSize(raw);
  if (typeof bytes === "string") {
    w.err(node, `${key}: ${bytes}`);
    return undefined;
  }
  return leaf(
    `${key}: ${String(raw)} (${bytes} bytes)`,
    key === "size_over" ? (ctx) => ctx.size > bytes : (ctx) => ctx.size < bytes,
    (ctx) => `${ctx.size} bytes`,
  );
}

function condition(w: Walker, node: Node | null, what: string, depth: number): Condition | undefined {
  if (depth > 16) {
    w.err(node, "conditions are nested more than 16 deep");
    return undefined;
  }
  if (isAlias(node)) {
    w.err(node, "YAML aliases (*name) are not supported in rules files; write the condition out");
    return undefined;
  }
  const m = w.map(node, what, CONDITION_KEYS, (k) =>
    /^(and|or)$/i.test(k) ? `"${k}" is written ${k.toLowerCase() === "and" ? "all" : "any"}: (a list of conditions)` : undefined,
  );
  if (!m) return undefined;
  if (m.size === 0) {
    if ((node as YAMLMap).items.length === 0) w.err(node, `${what} is empty; leave "when" out to match every message`);
    return undefined;
  }
  const parts: Condition[] = [];
  let ok = true;
  for (const [key, { value }] of m) {
    const c = conditionEntry(w, key, value, depth);
    if (c) parts.push(c);
    else ok = false;
  }
  if (!ok) return undefined;
  if (parts.length === 1) return parts[0];
  return { kind: "all", describe: "all of", children: parts, test: (ctx) => parts.every((p) => p.test(ctx)) };
}

function conditionList(w: Walker, key: "all" | "any", value: Node | null, depth: number): Condition | undefined {
  if (!isSeq(value) || value.items.length === 0) {
    w.err(value, `${key} takes a list of conditions (lines starting with "- ")`);
    return undefined;
  }
  const children: Condition[] = [];
  let ok = true;
  for (const item of value.items) {
    const c = condition(w, item as Node, `a condition under ${key}`, depth + 1);
    if (c) children.push(c);
    else ok = false;
  }
  if (!ok) return undefined;
  return {
    kind: key,
    describe: `${key} of`,
    children,
    test: key === "all" ? (ctx) => children.every((c) => c.test(ctx)) : (ctx) => children.some((c) => c.test(ctx)),
  };
}

function conditionEntry(w: Walker, key: string, value: Node | null, depth: number): Condition | undefined {
  switch (key) {
    case "all":
    case "any":
      return conditionList(w, key, value, depth);
    case "not": {
      const inner = condition(w, value, "not", depth + 1);
      return inner && { kind: "not", describe: "not", children: [inner], test: (ctx) => !inner.test(ctx) };
    }
    case "mail_from":
      return addressCondition(w, key, value, (ctx) => [ctx.mailFrom]);
    case "header_from":
      return addressCondition(w, key, value, (ctx) => ctx.headerFrom);
    case "from":
      return addressCondition(w, key, value, (ctx) => [ctx.mailFrom, ...ctx.headerFrom.filter((a) => a.address !== ctx.mailFrom.address)]);
    case "rcpt":
      return addressCondition(w, key, value, (ctx) => ctx.rcpt);
    case "client_ip": {
      const list = w.strings(value, key);
      if (!list) return undefined;
      let ok = true;
      for (const item of list) {
        const problem = networkProblem(item.value);
        if (problem) {
          w.err(item.node, `bad network: ${problem}`);
          ok = false;
        }
      }
      if (!ok) return undefined;
      const nets = compileNetworks(list.map((x) => x.value));
      return leaf(`client_ip: ${quote(list)}`, (ctx) => nets.test(ctx.clientAddress), (ctx) => ctx.clientAddress || "(unknown)");
    }
    case "subject":
      return subjectCondition(w, value);
    case "attachment":
      return attachmentCondition(w, value);
    case "has_attachment": {
      const b = w.boolean(value, key);
      return b === undefined ? undefined : leaf(`has_attachment: ${b}`, (ctx) => ctx.attachments.length > 0 === b, (ctx) => `${ctx.attachments.length} attachment(s)`);
    }
    case "has_html": {
      const b = w.boolean(value, key);
      return b === undefined ? undefined : leaf(`has_html: ${b}`, (ctx) => ctx.hasHtml === b, (ctx) => (ctx.hasHtml ? "HTML present" : "no HTML"));
    }
    case "size_over":
    case "size_under":
      return sizeCondition(w, key, value);
    case "day": {
      const list = w.strings(value, key);
      if (!list) return undefined;
      const days = new Set<number>();
      let ok = true;
      for (const item of list) {
        const d = parseDay(item.value);
        if (typeof d === "string") {
          w.err(item.node, d);
          ok = false;
        } else d.forEach((x) => days.add(x));
      }
      if (!ok) return undefined;
      return leaf(`day: ${quote(list)}`, (ctx) => days.has(ctx.day), (ctx) => `${DAY_NAMES[ctx.day]} (Japan time)`);
    }
    case "time": {
      const list = w.strings(value, key);
      if (!list) return undefined;
      const ranges: { start: number; end: number }[] = [];
      for (const item of list) {
        const r = parseTimeRange(item.value);
        if (typeof r === "string") w.err(item.node, r);
        else ranges.push(r);
      }
      if (ranges.length !== list.length) return undefined;
      return leaf(
        `time: ${quote(list)} (Japan time)`,
        (ctx) => ranges.some((r) => inTimeRange(r, ctx.minute)),
        (ctx) => ctx.clock,
      );
    }
  }
  return undefined;
}

function reasonAndFlag(
  w: Walker,
  node: Node | null,
  what: "hold" | "reject",
  flagKey: "notify_recipients" | "dsn",
  flagDefault: boolean,
  ruleName: string,
): { reason: string; flag: boolean } | undefined {
  const fallback = `${what === "hold" ? "held" : "rejected"} by rule ${ruleName}`;
  if (isScalar(node) && node.value === true) return { reason: fallback, flag: flagDefault };
  if (isScalar(node) && node.value === false) {
    w.err(node, `${what}: false does nothing; remove the line`);
    return undefined;
  }
  if (isScalar(node)) {
    const reason = w.string(node, `${what} reason`, MAX_REASON_CHARS);
    return reason === undefined ? undefined : { reason, flag: flagDefault };
  }
  const m = w.map(node, what, what === "hold" ? HOLD_KEYS : REJECT_KEYS);
  if (!m) return undefined;
  let reason = fallback;
  let flag = flagDefault;
  const r = m.get("reason");
  if (r) {
    const s = w.string(r.value, `${what} reason`, MAX_REASON_CHARS);
    if (s === undefined) return undefined;
    reason = s;
  }
  const f = m.get(flagKey);
  if (f) {
    const b = w.boolean(f.value, `${what} ${flagKey}`);
    if (b === undefined) return undefined;
    flag = b;
  }
  return { reason, flag };
}

function actions(w: Walker, node: Node | null, ruleName: string, options: ParseRulesOptions): RuleActions | undefined {
  const m = w.map(node, "then (the actions)", ACTION_KEYS, (k) => (INVARIANT_RE.test(k) ? `"${k}" is not an action: ${INVARIANT_MESSAGE}` : undefined));
  if (!m) return undefined;
  const a: RuleActions = { subjectTags: [], inlineText: [], stop: false };
  if (m.size === 0 && (node as YAMLMap).items.length === 0) {
    w.err(node, `then has no actions (one or more of ${ACTION_KEYS.join(", ")})`);
    return undefined;
  }
  let ok = m.size === (node as YAMLMap).items.length;
  for (const [key, { value }] of m) {
    switch (key) {
      case "links": {
        const v = w.choice<LinkMode>(value, "links", linkModes, (got) =>
          /html|raw|original|clickable|active|on/i.test(got) ? `links: "${got}" is not allowed: links stay text (keep, defang or remove); ${INVARIANT_MESSAGE}` : undefined,
        );
        if (v) a.links = v;
        else ok = false;
        break;
      }
      case "language": {
        const v = w.choice<Language>(value, "language", languages);
        if (v) a.language = v;
        else ok = false;
        break;
      }
      case "notice_template": {
        const p = w.string(value, "notice_template");
        if (p === undefined) {
          ok = false;
          break;
        }
        if (!options.loadTemplate) {
          w.err(value, `notice_template "${p}" cannot be read here (no file access given to the parser)`);
          ok = false;
          break;
        }
        let text: string;
        try {
          text = options.loadTemplate(p);
        } catch (error) {
          const e = error as NodeJS.ErrnoException;
          w.err(value, `notice_template "${p}" cannot be read: ${e.code ?? e.message}`);
          ok = false;
          break;
        }
        if (Buffer.byteLength(text, "utf8") > MAX_TEMPLATE_BYTES) {
          w.err(value, `notice_template "${p}" is larger than ${MAX_TEMPLATE_BYTES / 1024} KB`);
          ok = false;
          break;
        }
        try {
          // the same template language the core renders: a broken template is refused here, not at the first message
          checkTemplate(text);
        } catch (error) {
          w.err(value, `notice_template "${p}" is not a valid template: ${(error as Error).message}`);
          ok = false;
          break;
        }
        a.noticeTemplate = text;
        a.noticeTemplateFile = p;
        break;
      }
      case "subject_tag": {
        const list = w.strings(value, "subject_tag", MAX_TAG_CHARS);
        if (list) a.subjectTags = list.map((x) => x.value.trim());
        else ok = false;
        break;
      }
      case "inline_text": {
        const list = w.strings(value, "inline_text");
        if (!list) {
          ok = false;
          break;
        }
        for (const item of list) {
          const ext = item.value.trim().toLowerCase().replace(/^\*?\./, "");
          if ((INLINE_TEXT_EXTENSIONS as readonly string[]).includes(ext)) {
            if (!a.inlineText.includes(ext)) a.inlineText.push(ext);
          } else {
            w.err(item.node, `inline_text: "${item.value}" is not a plain-text extension; only ${INLINE_TEXT_EXTENSIONS.join(", ")} can be shown as text (other files are always removed)`);
            ok = false;
          }
        }
        break;
      }
      case "extract_text": {
        // true: every kind; false: none; a list: those kinds (src/extract/: the text is display-safe text, the file is still removed)
        const node = value as Node | null;
        if (isScalar(node) && typeof node.value === "boolean") {
          a.extractText = node.value ? [...EXTRACT_KINDS] : [];
          break;
        }
        const list = w.strings(value, "extract_text");
        if (!list) {
          ok = false;
          break;
        }
        a.extractText = [];
        for (const item of list) {
          const kind = item.value.trim().toLowerCase().replace(/^\*?\./, "");
          if ((EXTRACT_KINDS as readonly string[]).includes(kind)) {
            if (!a.extractText.includes(kind as ExtractKind)) a.extractText.push(kind as ExtractKind);
          } else {
            w.err(item.node, `extract_text: "${item.value}" is not a document kind text can be extracted from (${EXTRACT_KINDS.join(", ")}), nor true / false`);
            ok = false;
          }
        }
        break;
      }
      case "hold": {
        const v = reasonAndFlag(w, value, "hold", "notify_recipients", true, ruleName);
        if (v) a.hold = { reason: v.reason, notifyRecipients: v.flag };
        else ok = false;
        break;
      }
      case "reject": {
        const v = reasonAndFlag(w, value, "reject", "dsn", false, ruleName);
        if (v) a.reject = { reason: v.reason, dsn: v.flag };
        else ok = false;
        break;
      }
      case "stop": {
        const b = w.boolean(value, "stop");
        if (b === undefined) ok = false;
        else a.stop = b;
        break;
      }
    }
  }
  return ok ? a : undefined;
}

function rule(w: Walker, node: Node, index: number, names: Map<string, number>, options: ParseRulesOptions): CompiledRule | undefined {
  const m = w.map(node, `rule #${index + 1}`, RULE_KEYS, (k) =>
    (ACTION_KEYS as readonly string[]).includes(k) || (CONDITION_KEYS as readonly string[]).includes(k)
      ? `"${k}" belongs under ${(ACTION_KEYS as readonly string[]).includes(k) ? "then:" : "when:"} (indent it below that key)`
      : INVARIANT_RE.test(k)
        ? `"${k}" is not a rule key: ${INVARIANT_MESSAGE}`
        : undefined,
  );
  if (!m) return undefined;
  const nameEntry = m.get("name");
  const name = nameEntry ? w.string(nameEntry.value, "name", 64) : undefined;
  if (!nameEntry) w.err(node, `rule #${index + 1} has no name (name: letters, digits, ".", "_", "-")`);
  else if (name !== undefined && !RULE_NAME_RE.test(name))
    w.err(nameEntry.value, `rule name "${name}" may contain only ASCII letters, digits, ".", "_", "-" (it is shown in a mail header); put free text in description`);
  else if (name !== undefined) {
    const first = names.get(name);
    if (first !== undefined) w.err(nameEntry.value, `rule name "${name}" is already used on line ${first}; names must be unique (the audit trail names rules)`);
    else names.set(name, w.lineOf(nameEntry.value));
  }
  const display = name ?? `#${index + 1}`;

  let description: string | undefined;
  const d = m.get("description");
  if (d && !(isScalar(d.value) && (d.value.value === null || typeof d.value.value === "string"))) w.err(d.value, "description must be text");
  else if (d && typeof (d.value as Scalar).value === "string") description = (d.value as Scalar<string>).value;

  let enabled = true;
  const e = m.get("enabled");
  if (e) enabled = w.boolean(e.value, "enabled") ?? true;

  const whenEntry = m.get("when");
  const ifEntry = m.get("if");
  if (whenEntry && ifEntry) w.err(ifEntry.key, `rule ${display} has both when: and if: (they mean the same; keep one)`);
  const cond = whenEntry ?? ifEntry;
  const when = cond ? condition(w, cond.value, `rule ${display} ${cond.key.value as string}`, 0) : undefined;

  const thenEntry = m.get("then");
  if (!thenEntry) w.err(node, `rule ${display} has no then: (what to do when it matches)`);
  const acts = thenEntry ? actions(w, thenEntry.value, display, options) : undefined;

  if (!name || !acts || (cond && !when) || !enabled) return undefined;
  const compiled: CompiledRule = { name, line: w.lineOf(node), actions: acts };
  if (description !== undefined) compiled.description = description;
  if (when) compiled.when = when;
  return compiled;
}

/** SHA-256 (hex) of the rules text as UTF-8 bytes: the engine's version, recorded in the audit trail. */
export function rulesVersion(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** Pure: YAML text → engine, or RulesError listing every problem with file:line:column and what is wrong. */
export function parseRules(text: string, fileName: string, options: ParseRulesOptions = {}): LoadedRules {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true });
  const w = new Walker(fileName, lines);
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const pos = lines.linePos(e.pos[0]);
      w.problems.push({ file: fileName, line: pos.line, column: pos.col, message: `YAML: ${e.message.split("\n")[0]}` });
    }
    throw new RulesError(w.problems);
  }
  const compiled: CompiledRule[] = [];
  const root = doc.contents as Node | null;
  if (root === null || (isScalar(root) && root.value === null)) {
    // an empty file is valid: no rules
  } else {
    const m = w.map(root, "the rules file", TOP_KEYS, (k) =>
      k === "name" || k === "when" || k === "then" ? `"${k}" belongs to a rule: write the rules under rules: as a list (- name: …)` : undefined,
    );
    const list = m?.get("rules");
    if (m && !list) w.err(root, "the rules file has no rules: list");
    if (list && !(isScalar(list.value) && list.value.value === null)) {
      if (!isSeq(list.value)) w.err(list.value, "rules must be a list (lines starting with \"- name: …\")");
      else {
        const names = new Map<string, number>();
        list.value.items.forEach((item, i) => {
          const r = rule(w, item as Node, i, names, options);
          if (r) compiled.push(r);
        });
      }
    }
    const d = m?.get("description");
    if (d && !isScalar(d.value)) w.err(d.value, "description must be text");
  }
  if (w.problems.length > 0) {
    w.problems.sort((a, b) => a.line - b.line || a.column - b.column);
    throw new RulesError(w.problems);
  }
  return createEngine(rulesVersion(text), compiled);
}
