/**
 * The rules engine: compiled, ordered rules → a RuleDecision for one message.
 *
 * decide() runs for every message, synchronously, with no I/O: everything a
 * rule needs (templates included) was loaded when the file was parsed. Each
 * matching rule contributes its actions; how they combine is fixed here and
 * documented in docs/rules.md:
 * - links: the strictest wins (remove > defang > keep);
 * - language and notice template: the first matching rule that sets one wins
 *   (rules higher in the file take precedence, as with `stop`);
 * - subject tags accumulate in rule order (each tag once);
 * - inline_text extensions accumulate;
 * - reject beats hold, hold beats deliver; the reason is the first one given
 *   for the winning action; notify/dsn are true when any rule of the winning
 *   action asks for it;
 * - stop: no rule below is evaluated.
 *
 * SECURITY: the facts and envelope are sender-controlled; matchers are bounded
 * (see rules-match.ts). The decision type has no field that could let HTML, an
 * attachment or a raw header through, so no rule can switch off the safety
 * invariant.
 */
import type { AuthVerdict } from "../authenticate/auth-types.ts";
import type { ExtractKind } from "../extract/extract-types.ts";
import type { LinkMode, Language } from "../config/schema.ts";
import type { MessageFacts } from "../sanitize/sanitize-types.ts";
import { windowsName } from "../sanitize/sniff.ts";
import type { Envelope, RuleDecision, RuleListMatch, RulesEngine } from "./rules-types.ts";
import { asciiDomain, type ListEntry, type ListKind } from "./rules-lists.ts";
import type { ListFileInfo } from "./rules-file.ts";
import { fold, japanClock, japanClockLabel, splitAddress, type SplitAddress } from "./rules-match.ts";
import { dayFacts, DEFAULT_CALENDAR, type DayFacts, type OfficeCalendar } from "./rules-calendar.ts";

/** What conditions look at, computed once per message. */
export interface MatchContext {
  /** split once per message: conditions compare folded addresses and domains */
  mailFrom: SplitAddress;
  headerFrom: SplitAddress[];
  rcpt: SplitAddress[];
  /** the original client (Envelope.clientAddress) */
  clientAddress: string;
  /** the TCP peer (Envelope.peerAddress, else clientAddress) */
  peerAddress: string;
  /** folded (NFKC, lower case, capped) */
  subject: string;
  size: number;
  hasHtml: boolean;
  attachments: {
    /** folded file name */
    name: string;
    /** folded extension without dot, "" when none */
    ext: string;
    declared: string;
    sniffed: string;
    mismatch: boolean;
    encrypted: boolean;
    display: string;
  }[];
  /** attachments' SHA-256 (lower-case hex) with their file names */
  attachmentHashes: { sha256: string; name: string }[];
  /** link hosts (lower-case ASCII) */
  linkDomains: string[];
  /** the envelope sender's and header From domains, lower-case ASCII, each once */
  senderDomains: string[];
  day: number;
  minute: number;
  /** the Japan-time day in the rules file's office calendar (holiday, closure) */
  calendarDay: DayFacts;
  clock: string;
  /** sender authentication of the original; absent when it is off */
  auth?: AuthVerdict;
}

export interface Condition {
  /** "all" / "any" / "not" combine children; "leaf" is one test */
  kind: "all" | "any" | "not" | "leaf";
  /** how the operator wrote it, e.g. `header_from: *@city.example.lg.jp` */
  describe: string;
  children: Condition[];
  test(ctx: MatchContext): boolean;
  /** for a leaf: what it saw in this message (for `rules test`) */
  observed?(ctx: MatchContext): string;
  /** for a list leaf: the entry that matched and what matched it */
  hit?(ctx: MatchContext): { kind: ListKind; entry: ListEntry; seen: string } | undefined;
}

/** The list entries behind a matching condition: list leaves that hold, not under a `not`. */
function listHits(c: Condition, ctx: MatchContext, rule: string, out: RuleListMatch[]): void {
  if (c.kind === "not") return;
  if (c.hit) {
    const h = c.hit(ctx);
    if (h) out.push({ rule, condition: h.kind, entry: h.entry.value, source: h.entry.source, seen: h.seen });
    return;
  }
  for (const child of c.children) listHits(child, ctx, rule, out);
}

export interface RuleActions {
  links?: LinkMode;
  language?: Language;
  /** template text, loaded at parse time */
  noticeTemplate?: string;
  noticeTemplateFile?: string;
  subjectTags: string[];
  inlineText: string[];
  /** extract_text: the document kinds whose text is extracted ([] = off); the first rule that says wins */
  extractText?: ExtractKind[];
  hold?: { reason: string; notifyRecipients: boolean };
  reject?: { reason: string; dsn: boolean };
  stop: boolean;
}

export interface CompiledRule {
  name: string;
  description?: string;
  /** line of the rule in its file (1-based) */
  line: number;
  /** absent: the rule applies to every message */
  when?: Condition;
  /** some condition is a list (attachment_sha256, link_domain, sender_domain): the decision names the entry */
  hasLists?: boolean;
  actions: RuleActions;
}

export interface ConditionTrace {
  describe: string;
  result: boolean;
  observed?: string;
  children: ConditionTrace[];
}

export interface RuleTrace {
  name: string;
  line: number;
  /** false when an earlier rule said stop */
  evaluated: boolean;
  matched: boolean;
  condition?: ConditionTrace;
}

/** The engine parseRules() returns: the shared contract plus what the CLI and console show. */
export interface LoadedRules extends RulesEngine {
  readonly rules: readonly CompiledRule[];
  /** the office calendar of the rules file (year-end closure, closure days) */
  readonly calendar: OfficeCalendar;
  /** the list files the rules read (attachment_sha256, link_domain, sender_domain with file:) */
  readonly lists: readonly ListFileInfo[];
  /** decide(), and why: every rule with each condition's result */
  explain(facts: MessageFacts, envelope: Envelope, now: Date): { decision: RuleDecision; trace: RuleTrace[]; clock: string };
}

const LINK_STRICTNESS: Record<LinkMode, number> = { keep: 0, defang: 1, remove: 2 };

/** The extension Windows would open the file by: after the last dot, trailing dots and spaces dropped first ("a.exe." is an .exe). */
function extensionOf(name: string): string {
  const opened = windowsName(name);
  const dot = opened.lastIndexOf(".");
  return dot > 0 && dot < opened.length - 1 ? opened.slice(dot + 1) : "";
}

/**
 * The context of one message. The subject and the attachment list are folded
 * only when a condition first asks for them: a message may carry hundreds of
 * attachments, and most rules never look at them.
 */
export function matchContext(facts: MessageFacts, envelope: Envelope, now: Date, calendar: OfficeCalendar = DEFAULT_CALENDAR): MatchContext {
  const clock = japanClock(now);
  let subject: string | undefined;
  let calendarDay: DayFacts | undefined;
  let senderDomains: string[] | undefined;
  let hashes: MatchContext["attachmentHashes"] | undefined;
  let attachments: MatchContext["attachments"] | undefined;
  return {
    mailFrom: splitAddress(envelope.mailFrom),
    headerFrom: facts.from.filter((a) => a.address !== "").map((a) => splitAddress(a.address)),
    rcpt: envelope.rcptTo.map((r) => splitAddress(r)),
    clientAddress: envelope.clientAddress,
    peerAddress: envelope.peerAddress ?? envelope.clientAddress,
    ...(envelope.auth ? { auth: envelope.auth } : {}),
    get subject() {
      return (subject ??= fold(facts.subject));
    },
    size: facts.size,
    hasHtml: facts.hasHtml,
    get attachments() {
      return (attachments ??= facts.attachments.map((a) => {
        const name = fold(a.fullName ?? a.filename);
        return {
          name,
          ext: extensionOf(name),
          declared: fold(a.contentType),
          sniffed: fold(a.sniffedType ?? ""),
          mismatch: a.typeMismatch,
          encrypted: a.encrypted,
          display: a.filename,
        };
      }));
    },
    get attachmentHashes() {
      return (hashes ??= facts.attachments.map((a) => ({ sha256: a.sha256.toLowerCase(), name: a.filename })));
    },
    get linkDomains() {
      return facts.linkDomains ?? [];
    },
    get senderDomains() {
      return (senderDomains ??= [...new Set([this.mailFrom, ...this.headerFrom].map((a) => asciiDomain(a.domain)).filter((d) => d !== ""))]);
    },
    day: clock.day,
    minute: clock.minute,
    get calendarDay() {
      return (calendarDay ??= dayFacts(now, calendar));
    },
    get clock() {
      return japanClockLabel(now);
    },
  };
}

function traceCondition(c: Condition, ctx: MatchContext): ConditionTrace {
  const children = c.children.map((child) => traceCondition(child, ctx));
  const result = c.test(ctx);
  const t: ConditionTrace = { describe: c.describe, result, children };
  if (c.observed) t.observed = c.observed(ctx);
  return t;
}

class Engine implements LoadedRules {
  readonly version: string;
  readonly rules: readonly CompiledRule[];
  readonly calendar: OfficeCalendar;
  readonly lists: readonly ListFileInfo[];

  constructor(version: string, rules: CompiledRule[], calendar: OfficeCalendar, lists: ListFileInfo[]) {
    this.version = version;
    this.rules = Object.freeze(rules);
    this.calendar = calendar;
    this.lists = Object.freeze(lists);
  }

  decide(facts: MessageFacts, envelope: Envelope, now: Date): RuleDecision {
    return this.run(matchContext(facts, envelope, now, this.calendar), undefined);
  }

  explain(facts: MessageFacts, envelope: Envelope, now: Date) {
    const ctx = matchContext(facts, envelope, now, this.calendar);
    const trace: RuleTrace[] = [];
    const decision = this.run(ctx, trace);
    return { decision, trace, clock: ctx.clock };
  }

  private run(ctx: MatchContext, trace: RuleTrace[] | undefined): RuleDecision {
    let links: LinkMode | undefined;
    let language: Language | undefined;
    let noticeTemplate: string | undefined;
    const subjectTags: string[] = [];
    const inlineText: string[] = [];
    let extractText: ExtractKind[] | undefined;
    const applied: string[] = [];
    const matches: RuleListMatch[] = [];
    let hold: { reason: string; notifyRecipients: boolean } | undefined;
    let reject: { reason: string; dsn: boolean } | undefined;
    let stopped = false;

    for (const rule of this.rules) {
      if (stopped) {
        trace?.push({ name: rule.name, line: rule.line, evaluated: false, matched: false });
        continue;
      }
      const matched = rule.when ? rule.when.test(ctx) : true;
      if (trace) {
        const t: RuleTrace = { name: rule.name, line: rule.line, evaluated: true, matched };
        if (rule.when) t.condition = traceCondition(rule.when, ctx);
        trace.push(t);
      }
      if (!matched) continue;
      applied.push(rule.name);
      if (rule.when && rule.hasLists) listHits(rule.when, ctx, rule.name, matches);
      const a = rule.actions;
      if (a.links && (links === undefined || LINK_STRICTNESS[a.links] > LINK_STRICTNESS[links])) links = a.links;
      if (a.language && language === undefined) language = a.language;
      if (a.noticeTemplate !== undefined && noticeTemplate === undefined) noticeTemplate = a.noticeTemplate;
      for (const tag of a.subjectTags) if (!subjectTags.includes(tag)) subjectTags.push(tag);
      for (const ext of a.inlineText) if (!inlineText.includes(ext)) inlineText.push(ext);
      if (a.extractText && extractText === undefined) extractText = a.extractText;
      if (a.hold) hold = hold ? { reason: hold.reason, notifyRecipients: hold.notifyRecipients || a.hold.notifyRecipients } : { ...a.hold };
      if (a.reject) reject = reject ? { reason: reject.reason, dsn: reject.dsn || a.reject.dsn } : { ...a.reject };
      if (a.stop) stopped = true;
    }

    const render: RuleDecision["render"] = { subjectTags };
    if (links !== undefined) render.links = links;
    if (language !== undefined) render.language = language;
    if (noticeTemplate !== undefined) render.noticeTemplate = noticeTemplate;
    if (inlineText.length > 0) render.inlineText = inlineText;
    if (extractText !== undefined) render.extractText = extractText;
    const listed = matches.length > 0 ? { matches } : {};
    if (reject) return { action: "reject", reason: reject.reason, notifyRecipients: false, dsn: reject.dsn, render, rulesApplied: applied, ...listed };
    if (hold) return { action: "hold", reason: hold.reason, notifyRecipients: hold.notifyRecipients, dsn: false, render, rulesApplied: applied, ...listed };
    return { action: "deliver", notifyRecipients: false, dsn: false, render, rulesApplied: applied, ...listed };
  }
}

export function createEngine(
  version: string,
  rules: CompiledRule[],
  calendar: OfficeCalendar = DEFAULT_CALENDAR,
  lists: ListFileInfo[] = [],
): LoadedRules {
  return new Engine(version, rules, calendar, lists);
}

/** No rules file: every message is delivered with the configured defaults. */
export const noRules: LoadedRules = createEngine("", []);
