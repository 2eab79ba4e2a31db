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
// from its own file: the sanitizer index would load analyze/render into the main isolate
import { checkTemplate } from "../sanitize/notice-template.ts";
import { authCondition } from "./rules-auth.ts";
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
import { compileList, matchDomain, MAX_LIST_BYTES, normaliseEntry, parseListText, type EntryList, type ListEntry, type ListKind } from "./rules-lists.ts";
import { DEFAULT_CALENDAR, isClosedDay, parseDate, parseMonthDay, type DayFacts, type OfficeCalendar } from "./rules-calendar.ts";

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
  /**
   * reads a list file named in the file (path as written, relative to the rules file): its bytes as
   * strict UTF-8 text, and the name problems are reported under; throws when it cannot
   */
  loadList?: (path: string) => { text: string; file: string; sha256: string };
}

const TOP_KEYS = ["rules", "description", "calendar"] as const;
const CALENDAR_KEYS = ["year_end", "closed"] as const;
const YEAR_END_KEYS = ["from", "to"] as const;
/** declared closure days: a few per year for some years ahead, not a second holiday table */
const MAX_CLOSED_DAYS = 400;
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
  "peer_ip",
  "subject",
  "attachment",
  "has_attachment",
  "size_over",
  "size_under",
  "has_html",
  "day",
  "time",
  "attachment_sha256",
  "link_domain",
  "sender_domain",
  "auth",
] as const;
const LIST_KEYS = ["file"] as const;
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
  /** list files read so far (path as written + kind → compiled), so a file used twice is read once */
  readonly lists = new Map<string, EntryList | undefined>();
  /** the list files the rules use, for the holder (to watch them) and the audit trail */
  readonly listFiles: ListFileInfo[] = [];
  /** set while walking a rule that has a list condition */
  ruleHasLists = false;
  options: ParseRulesOptions = {};
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
    case "auth":
      return authCondition(w, value);
    // client_ip: the original client (XFORWARD/XCLIENT, a trusted Received hop); peer_ip: the TCP peer
    case "client_ip":
    case "peer_ip": {
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
      const address = key === "client_ip" ? (ctx: MatchContext) => ctx.clientAddress : (ctx: MatchContext) => ctx.peerAddress;
      return leaf(`${key}: ${quote(list)}`, (ctx) => nets.test(address(ctx)), (ctx) => address(ctx) || "(unknown)");
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
      const kinds = new Set<CalendarDayKind>();
      let ok = true;
      for (const item of list) {
        const kind = CALENDAR_DAYS[item.value.trim().toLowerCase()];
        if (kind) {
          kinds.add(kind);
          continue;
        }
        const d = parseDay(item.value);
        if (typeof d === "string") {
          w.err(item.node, `${d.slice(0, -1)}, holiday/祝日, year_end/年末年始, closed/閉庁日, open/開庁日)`);
          ok = false;
        } else d.forEach((x) => days.add(x));
      }
      if (!ok) return undefined;
      const kindList = [...kinds];
      return leaf(
        `day: ${quote(list)}`,
        (ctx) => days.has(ctx.day) || (kindList.length > 0 && kindList.some((k) => CALENDAR_TESTS[k](ctx.calendarDay))),
        (ctx) => describeDay(ctx.calendarDay),
      );
    }
    case "attachment_sha256":
    case "link_domain":
    case "sender_domain":
      return listCondition(w, key, value);
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

/**
 * A list condition: `link_domain: [example.com, …]` inline, or `link_domain: { file: lists/phishing.txt }`.
 * Problems in a list file are reported as that file's file:line.
 */
function listCondition(w: Walker, kind: ListKind, node: Node | null): Condition | undefined {
  w.ruleHasLists = true;
  let list: EntryList | undefined;
  let describe: string;
  if (isMap(node)) {
    const m = w.map(node, kind, LIST_KEYS);
    const f = m?.get("file");
    if (!m || !f) {
      if (m) w.err(node, `${kind} takes a list of entries, or file: PATH (one entry a line, # for comments)`);
      return undefined;
    }
    const p = w.string(f.value, `${kind} file`);
    if (p === undefined) return undefined;
    const key = `${kind}\0${p}`;
    if (!w.lists.has(key)) w.lists.set(key, loadListFile(w, kind, p, f.value, w.options));
    list = w.lists.get(key);
    describe = `${kind}: file ${p}${list ? ` (${list.entries.size} entries)` : ""}`;
  } else {
    const items = w.strings(node, kind, 512);
    if (!items) return undefined;
    const entries: ListEntry[] = [];
    for (const item of items) {
      const v = normaliseEntry(kind, item.value);
      if (typeof v === "string") entries.push({ value: v, source: `${w.file}:${w.lineOf(item.node)}` });
      else w.err(item.node, `${kind}: ${v.problem}`);
    }
    if (entries.length !== items.length) return undefined;
    list = compileList(kind, entries);
    describe = `${kind}: ${quote(items.length > 5 ? [...items.slice(0, 5), { value: `… ${items.length - 5} more` }] : items)}`;
  }
  if (!list) return undefined;
  const entries = list;
  const hit = listHit(kind, entries);
  return {
    kind: "leaf",
    describe,
    children: [],
    test: (ctx) => hit(ctx) !== undefined,
    hit: (ctx) => {
      const h = hit(ctx);
      return h && { kind, entry: h.entry, seen: h.seen };
    },
    observed: (ctx) => {
      const h = hit(ctx);
      if (h) return `${h.seen} (entry ${h.entry.value} at ${h.entry.source})`;
      const seen = kind === "attachment_sha256" ? ctx.attachmentHashes.map((a) => a.sha256.slice(0, 12)) : kind === "link_domain" ? ctx.linkDomains : ctx.senderDomains;
      return seen.length ? `${seen.slice(0, 10).join(", ")}${seen.length > 10 ? ", …" : ""}` : "(none)";
    },
  };
}

function listHit(kind: ListKind, list: EntryList): (ctx: MatchContext) => { entry: ListEntry; seen: string } | undefined {
  if (kind === "attachment_sha256") {
    return (ctx) => {
      for (const a of ctx.attachmentHashes) {
        const entry = list.entries.get(a.sha256);
        if (entry) return { entry, seen: a.name || "(no name)" };
      }
      return undefined;
    };
  }
  return (ctx) => {
    for (const d of kind === "link_domain" ? ctx.linkDomains : ctx.senderDomains) {
      const entry = matchDomain(list, d);
      if (entry) return { entry, seen: d };
    }
    return undefined;
  };
}

function loadListFile(w: Walker, kind: ListKind, p: string, at: Node | null, options: ParseRulesOptions): EntryList | undefined {
  if (!options.loadList) {
    w.err(at, `${kind} file "${p}" cannot be read here (no file access given to the parser)`);
    return undefined;
  }
  let loaded: { text: string; file: string; sha256: string };
  try {
    loaded = options.loadList(p);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    w.err(at, `${kind} file "${p}" cannot be read: ${e.code ?? e.message}`);
    return undefined;
  }
  if (loaded.text.length > MAX_LIST_BYTES) {
    w.err(at, `${kind} file "${p}" is larger than ${MAX_LIST_BYTES / 1024 / 1024} MB`);
    return undefined;
  }
  const { entries, problems } = parseListText(kind, loaded.text, loaded.file);
  for (const problem of problems) w.problems.push({ file: loaded.file, ...problem });
  if (problems.length > 0) {
    w.err(at, `${kind} file "${p}" has ${problems.length}${problems.length >= 50 ? "+" : ""} problem(s) (listed under ${loaded.file})`);
    return undefined;
  }
  w.listFiles.push({ file: loaded.file, path: p, kind, entries: entries.length, sha256: loaded.sha256 });
  return compileList(kind, entries);
}

type CalendarDayKind = "holiday" | "closure" | "closed" | "open";

/** `day:` words that name a kind of day in the office calendar rather than a weekday */
const CALENDAR_DAYS: Record<string, CalendarDayKind> = {
  holiday: "holiday",
  holidays: "holiday",
  祝日: "holiday",
  祝休日: "holiday",
  year_end: "closure",
  closure: "closure",
  年末年始: "closure",
  closed: "closed",
  閉庁日: "closed",
  open: "open",
  開庁日: "open",
};

const CALENDAR_TESTS: Record<CalendarDayKind, (d: DayFacts) => boolean> = {
  holiday: (d) => d.holiday !== undefined,
  closure: (d) => d.closure,
  closed: isClosedDay,
  open: (d) => !isClosedDay(d),
};

/** "wed 2026-05-06 (こどもの日 振替休日, Japan time)" */
function describeDay(d: DayFacts): string {
  const notes = [d.holiday, d.closure ? "closure 閉庁" : undefined].filter(Boolean);
  return `${DAY_NAMES[d.weekday]} ${d.date} (${notes.length ? `${notes.join(", ")}, ` : ""}Japan time)`;
}

/** The `calendar:` section: the year-end closure (default 12-29 … 01-03, `year_end: false` for none) and extra closure days. */
function calendarSection(w: Walker, node: Node | null): OfficeCalendar | undefined {
  const m = w.map(node, "calendar", CALENDAR_KEYS);
  if (!m) return undefined;
  let yearEnd: OfficeCalendar["yearEnd"] = DEFAULT_CALENDAR.yearEnd;
  const closed = new Set<string>();
  let ok = m.size === (node as YAMLMap).items.length;
  const y = m.get("year_end");
  if (y && isScalar(y.value) && y.value.value === false) yearEnd = undefined;
  else if (y) {
    const ym = w.map(y.value, "calendar year_end", YEAR_END_KEYS);
    const from = ym?.get("from");
    const to = ym?.get("to");
    if (ym && (!from || !to)) {
      w.err(y.value, 'year_end needs from: and to: (MM-DD, e.g. from: "12-29", to: "01-03"), or year_end: false for no closure');
      ok = false;
    } else if (from && to) {
      const a = parseMonthDay(String(w.scalar(from.value, "year_end from") ?? ""));
      const b = parseMonthDay(String(w.scalar(to.value, "year_end to") ?? ""));
      if (typeof a === "string") w.err(from.value, a);
      if (typeof b === "string") w.err(to.value, b);
      if (typeof a === "number" && typeof b === "number") yearEnd = { from: a, to: b };
      else ok = false;
    } else ok = false;
  }
  const c = m.get("closed");
  // an empty list is a valid "no extra closure days" (the example file has one to fill in)
  if (c && !(isSeq(c.value) && c.value.items.length === 0)) {
    const list = w.strings(c.value, "calendar closed");
    if (!list) ok = false;
    else if (list.length > MAX_CLOSED_DAYS) {
      w.err(c.value, `calendar closed lists ${list.length} days; at most ${MAX_CLOSED_DAYS} (public holidays come from the holiday data, not from this list)`);
      ok = false;
    } else
      for (const item of list) {
        const d = parseDate(item.value);
        if (typeof d === "string") closed.add(d);
        else {
          w.err(item.node, d.problem);
          ok = false;
        }
      }
  }
  if (!ok) return undefined;
  const calendar: OfficeCalendar = { closed };
  if (yearEnd) calendar.yearEnd = yearEnd;
  return calendar;
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
  w.ruleHasLists = false;
  const when = cond ? condition(w, cond.value, `rule ${display} ${cond.key.value as string}`, 0) : undefined;
  const hasLists = w.ruleHasLists;

  const thenEntry = m.get("then");
  if (!thenEntry) w.err(node, `rule ${display} has no then: (what to do when it matches)`);
  const acts = thenEntry ? actions(w, thenEntry.value, display, options) : undefined;

  if (!name || !acts || (cond && !when) || !enabled) return undefined;
  const compiled: CompiledRule = { name, line: w.lineOf(node), actions: acts };
  if (description !== undefined) compiled.description = description;
  if (when) compiled.when = when;
  if (hasLists) compiled.hasLists = true;
  return compiled;
}

/** A list file the rules read. */
export interface ListFileInfo {
  /** as the problems name it (the holder gives the absolute path) */
  file: string;
  /** as written in the rules file */
  path: string;
  kind: ListKind;
  entries: number;
  sha256: string;
}

/**
 * The version of rules that read list files: one SHA-256 over the rules
 * file's SHA-256 and each list's (by the path written in the rules), so an
 * edit of a list is a new version in the audit trail just as an edit of the
 * rules is. Without lists the version is the rules file's own SHA-256.
 */
export function combinedVersion(rulesSha256: string, lists: readonly { path: string; sha256: string }[]): string {
  if (lists.length === 0) return rulesSha256;
  const seen = new Map<string, string>();
  for (const l of lists) seen.set(l.path, l.sha256);
  const lines = [...seen].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([p, sha]) => `${sha} ${p}`);
  return createHash("sha256").update(`${rulesSha256}\n${lines.join("\n")}\n`, "utf8").digest("hex");
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
  w.options = options;
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const pos = lines.linePos(e.pos[0]);
      w.problems.push({ file: fileName, line: pos.line, column: pos.col, message: `YAML: ${e.message.split("\n")[0]}` });
    }
    throw new RulesError(w.problems);
  }
  const compiled: CompiledRule[] = [];
  let calendar: OfficeCalendar = DEFAULT_CALENDAR;
  const root = doc.contents as Node | null;
  if (root === null || (isScalar(root) && root.value === null)) {
    // an empty file is valid: no rules
  } else {
    const m = w.map(root, "the rules file", TOP_KEYS, (k) =>
      k === "name" || k === "when" || k === "then" ? `"${k}" belongs to a rule: write the rules under rules: as a list (- name: …)` : undefined,
    );
    // the calendar first: day conditions of the rules read it
    const cal = m?.get("calendar");
    if (cal) calendar = calendarSection(w, cal.value) ?? DEFAULT_CALENDAR;
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
    // the rules file's problems first, then each list file's, each in line order
    const rank = (p: RulesProblem) => (p.file === fileName ? "" : p.file);
    w.problems.sort((a, b) => (rank(a) < rank(b) ? -1 : rank(a) > rank(b) ? 1 : 0) || a.line - b.line || a.column - b.column);
    throw new RulesError(w.problems);
  }
  return createEngine(combinedVersion(rulesVersion(text), w.listFiles), compiled, calendar, w.listFiles);
}
