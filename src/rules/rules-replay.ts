/**
 * Rules replay: what a candidate rules file would change, measured on the
 * mail the gateway actually received. For each message of a window (found
 * through the audit store's search) whose original is still retained, the
 * original is analyzed ONCE, in worker threads, and both the live rules and
 * the candidate decide on the same facts, envelope and time of arrival. The
 * report counts outcome changes (deliver → hold …), rules that fire more or
 * less, render options that change (links, language, inline text, subject
 * tags, notice template) and keeps a sample of changed messages.
 *
 * Nothing is delivered, held, rendered or written here: this module only
 * reads (the audit search, the retained originals without recording a
 * retrieval each). The command records one audit event for the whole replay.
 * Messages whose original is gone (retention) are counted as not replayable,
 * never silently skipped; a message the analyzer cannot finish is counted as
 * failed, with its reason.
 *
 * SECURITY: originals are hostile; they are only parsed inside the worker
 * threads (resource limits, a time budget per message; a stuck worker is
 * killed and replaced). What comes back is the analyzer's facts. Sender text
 * in the report (subject, addresses) must be made display-safe by whoever
 * prints it. Memory is bounded: messages are in flight two per worker, the
 * audit search is paged, and only the sample of changed messages is kept.
 */
import { jstDay } from "../lib/japan-time.ts";
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { AuditReader, MessageSummary } from "../audit/audit-types.ts";
import type { Language, Limits, LinkMode } from "../config/schema.ts";
import type { OriginalStore, RetainedOriginal } from "../originals/index.ts";
import type { MessageFacts } from "../sanitize/sanitize-types.ts";
import type { LoadedRules } from "./rules-engine.ts";
import { parseRules, RulesError, type RulesProblem } from "./rules-file.ts";
import { MAX_LIST_BYTES } from "./rules-lists.ts";
import { rulesEnvelope } from "./rules-envelope.ts";
import type { Envelope, RuleDecision } from "./rules-types.ts";
import type { ReplayJob } from "./replay-worker.ts";

export interface ReplayDeps {
  audit: Pick<AuditReader, "search" | "story">;
  originals: Pick<OriginalStore, "retained">;
  limits: Limits;
  /** the SMTP size limit: no retained original can be larger (a guard against a damaged store) */
  maxMessageBytes: number;
  /** the configuration's render defaults, so a rule that sets what is already the default is no change */
  defaults: { links: LinkMode; language: Language };
  /** worker threads; default 2 */
  workers?: number;
}

export interface ReplayOptions {
  live: LoadedRules;
  candidate: LoadedRules;
  since: Date;
  until: Date;
  /** substring of the envelope sender or header From (as `audit search --from`) */
  sender?: string;
  /** at most this many messages, the newest first */
  limit?: number;
  /** changed messages kept for the report; default 20 */
  sampleSize?: number;
  onProgress?: (progress: { done: number; total: number }) => void;
  /** every changed message, as it is found (for --json lines) */
  onChanged?: (change: ChangedMessage) => void;
}

/** What one rule set decided for a message, as the report shows it. */
export interface DecisionView {
  action: RuleDecision["action"];
  reason?: string;
  rules: string[];
  links: LinkMode;
  language: Language;
  inlineText: string[];
  subjectTags: string[];
  /** "default", or "rules" when a rule gives a notice template */
  noticeTemplate: "default" | "rules";
}

export type ChangeKind = "outcome" | "links" | "language" | "inlineText" | "subjectTags" | "noticeTemplate";

export interface ChangedMessage {
  auditId: string;
  receivedAt: string;
  from: string;
  subject: string;
  changes: ChangeKind[];
  live: DecisionView;
  candidate: DecisionView;
}

export interface ReplayReport {
  /** messages of the window (after --limit) */
  examined: number;
  /** analyzed and decided by both rule sets */
  replayed: number;
  /** the original is gone (past retention, never kept) */
  notReplayable: number;
  notReplayableIds: string[];
  /** the analyzer could not finish (time budget, memory, unreadable file, wrong key) */
  failed: number;
  failures: { auditId: string; reason: string }[];
  /** messages whose outcome or a render option changes */
  changed: number;
  /** "deliver → hold": count, for messages whose outcome changes */
  outcomes: Record<string, number>;
  /** how often each rule fires under each rule set, for rules whose count differs */
  rules: { name: string; live: number; candidate: number; delta: number }[];
  /** per render option, "before → after": count */
  render: Record<Exclude<ChangeKind, "outcome">, Record<string, number>>;
  sample: ChangedMessage[];
  /** changed messages per day of arrival (Japan time, YYYY-MM-DD), for the console's chart */
  changedByDay: Record<string, number>;
  /** replayed messages per day of arrival, the chart's context */
  replayedByDay: Record<string, number>;
}

/** search pages while collecting the window (MAX_SEARCH_LIMIT of the stores) */
const PAGE = 1000;
/** jobs in flight per worker: one running, one waiting, so a worker never idles on a round trip */
const IN_FLIGHT_PER_WORKER = 2;
/** how long past the analyzer's own budget before a worker is killed */
const GRACE_MS = 2_000;
const WORKER_HEAP_MB = 512;
/** failures and gone ids listed in the report; the counts are always complete */
const MAX_LISTED = 50;

function view(d: RuleDecision, defaults: ReplayDeps["defaults"]): DecisionView {
  const v: DecisionView = {
    action: d.action,
    rules: d.rulesApplied,
    links: d.render.links ?? defaults.links,
    language: d.render.language ?? defaults.language,
    inlineText: [...(d.render.inlineText ?? [])].sort(),
    subjectTags: d.render.subjectTags,
    noticeTemplate: d.render.noticeTemplate === undefined ? "default" : "rules",
  };
  if (d.reason !== undefined) v.reason = d.reason;
  return v;
}

const listText = (xs: string[]) => (xs.length ? xs.join(" ") : "(none)");

function changesOf(a: DecisionView, b: DecisionView): { kind: ChangeKind; label: string }[] {
  const out: { kind: ChangeKind; label: string }[] = [];
  if (a.action !== b.action) out.push({ kind: "outcome", label: `${a.action} → ${b.action}` });
  if (a.links !== b.links) out.push({ kind: "links", label: `${a.links} → ${b.links}` });
  if (a.language !== b.language) out.push({ kind: "language", label: `${a.language} → ${b.language}` });
  if (a.inlineText.join(" ") !== b.inlineText.join(" ")) out.push({ kind: "inlineText", label: `${listText(a.inlineText)} → ${listText(b.inlineText)}` });
  if (a.subjectTags.join(" ") !== b.subjectTags.join(" ")) out.push({ kind: "subjectTags", label: `${listText(a.subjectTags)} → ${listText(b.subjectTags)}` });
  if (a.noticeTemplate !== b.noticeTemplate) out.push({ kind: "noticeTemplate", label: `${a.noticeTemplate} → ${b.noticeTemplate}` });
  return out;
}

interface Slot {
  worker: Worker;
  job?: { id: number; resolve: (r: { facts: MessageFacts } | { error: string }) => void; timer: NodeJS.Timeout };
}

/** A small pool of analyzer workers; each job ends with facts or an error, never a throw. */
function createAnalyzerPool(size: number, limits: Limits) {
  const url = new URL(import.meta.url.endsWith(".ts") ? "./replay-worker.ts" : "./replay-worker.js", import.meta.url);
  const slots: Slot[] = [];
  const waiting: { job: Omit<ReplayJob, "limits">; resolve: (r: { facts: MessageFacts } | { error: string }) => void }[] = [];
  let closed = false;

  const spawn = (): Slot => {
    const worker = new Worker(url, {
      name: "mumuka-replay",
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 16, stackSizeMb: 8 },
    });
    const slot: Slot = { worker };
    worker.on("message", (msg: { id: number; facts?: MessageFacts; error?: string }) => {
      const job = slot.job;
      if (!job || job.id !== msg.id) return;
      finish(slot, msg.facts ? { facts: msg.facts } : { error: msg.error ?? "unknown error" }, false);
    });
    worker.on("error", (error) => {
      const oom = (error as NodeJS.ErrnoException).code === "ERR_WORKER_OUT_OF_MEMORY";
      if (slot.job) finish(slot, { error: oom ? "the analyzer ran out of memory" : `the analyzer failed: ${error.message}` }, true);
    });
    worker.on("exit", (code) => {
      if (slot.job) finish(slot, { error: `the analyzer exited (code ${code})` }, true);
    });
    return slot;
  };

  function finish(slot: Slot, result: { facts: MessageFacts } | { error: string }, broken: boolean): void {
    const job = slot.job!;
    slot.job = undefined;
    clearTimeout(job.timer);
    job.resolve(result);
    let next = slot;
    if (broken && !closed) {
      void slot.worker.terminate().catch(() => {});
      next = spawn();
      slots[slots.indexOf(slot)] = next;
    }
    const queued = waiting.shift();
    if (queued) start(next, queued.job, queued.resolve);
  }

  function start(slot: Slot, job: Omit<ReplayJob, "limits">, resolve: (r: { facts: MessageFacts } | { error: string }) => void): void {
    const timer = setTimeout(() => finish(slot, { error: `analysis time budget exceeded (${limits.maxTimeMs} ms)` }, true), limits.maxTimeMs + GRACE_MS);
    slot.job = { id: job.id, resolve, timer };
    const transfer = job.bytes ? [job.bytes.buffer as ArrayBuffer] : [];
    slot.worker.postMessage({ ...job, limits } satisfies ReplayJob, transfer);
  }

  for (let i = 0; i < size; i++) slots.push(spawn());

  return {
    analyze(job: Omit<ReplayJob, "limits">): Promise<{ facts: MessageFacts } | { error: string }> {
      return new Promise((resolve) => {
        const free = slots.find((s) => !s.job);
        if (free) start(free, job, resolve);
        else waiting.push({ job, resolve });
      });
    },
    async close(): Promise<void> {
      closed = true;
      await Promise.all(slots.map((s) => s.worker.terminate().catch(() => 0)));
    },
  };
}

/** The messages of the window, newest first, page by page (the window's end is fixed, so new arrivals cannot shift pages). */
async function* windowRows(audit: ReplayDeps["audit"], options: ReplayOptions): AsyncGenerator<MessageSummary, void, undefined> {
  let offset = 0;
  let left = options.limit ?? Infinity;
  while (left > 0) {
    const page = await audit.search({
      since: options.since,
      until: options.until,
      ...(options.sender ? { from: options.sender } : {}),
      limit: Math.min(PAGE, left),
      offset,
    });
    for (const row of page.rows) yield row;
    if (page.rows.length === 0 || page.rows.length < Math.min(PAGE, left)) return;
    offset += page.rows.length;
    left -= page.rows.length;
  }
}

/** The total the window will have (for the progress bar), without reading it. */
async function windowTotal(audit: ReplayDeps["audit"], options: ReplayOptions): Promise<number> {
  const first = await audit.search({ since: options.since, until: options.until, ...(options.sender ? { from: options.sender } : {}), limit: 1 });
  return Math.min(first.total, options.limit ?? Infinity);
}

/** The envelope the gateway decided with: the retained record's, else the received event's and the summary's. */
async function envelopeOf(row: MessageSummary, retained: RetainedOriginal, audit: ReplayDeps["audit"]): Promise<Envelope> {
  if (retained.envelope) {
    // as the relay builds it, without a verdict: `auth:` conditions do not match in a replay (docs/rules.md)
    return rulesEnvelope(retained.envelope, undefined);
  }
  const received = (await audit.story(row.auditId)).find((e) => e.type === "received")?.data ?? {};
  const text = (v: unknown) => (typeof v === "string" ? v : "");
  return { mailFrom: row.mailFrom, rcptTo: row.rcptTo, clientAddress: text(received.clientAddress), clientHelo: text(received.clientHelo) };
}

async function bytesOf(retained: RetainedOriginal, maxMessageBytes: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  // a retained original is at most what SMTP accepted; the cap guards against a damaged store
  const cap = Math.max(maxMessageBytes, retained.size) + 64 * 1024;
  for await (const chunk of retained.open() as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > cap) throw new Error("the retained original is larger than the gateway accepts");
    chunks.push(chunk);
  }
  const all = Buffer.concat(chunks);
  // a copy that owns its ArrayBuffer, so it can be transferred to the worker
  return new Uint8Array(all);
}

export async function replayRules(deps: ReplayDeps, options: ReplayOptions): Promise<ReplayReport> {
  const workers = Math.max(1, deps.workers ?? 2);
  const sampleSize = options.sampleSize ?? 20;
  const report: ReplayReport = {
    examined: 0,
    replayed: 0,
    notReplayable: 0,
    notReplayableIds: [],
    failed: 0,
    failures: [],
    changed: 0,
    outcomes: {},
    rules: [],
    render: { links: {}, language: {}, inlineText: {}, subjectTags: {}, noticeTemplate: {} },
    sample: [],
    changedByDay: {},
    replayedByDay: {},
  };
  const fired = new Map<string, { live: number; candidate: number }>();
  const count = (name: string, which: "live" | "candidate") => {
    const c = fired.get(name) ?? { live: 0, candidate: 0 };
    c[which]++;
    fired.set(name, c);
  };
  const total = await windowTotal(deps.audit, options);
  let done = 0;
  const progress = () => options.onProgress?.({ done, total });
  progress();

  const pool = createAnalyzerPool(workers, deps.limits);
  const inFlight = new Set<Promise<void>>();
  let nextId = 0;

  const fail = (auditId: string, reason: string) => {
    report.failed++;
    if (report.failures.length < MAX_LISTED) report.failures.push({ auditId, reason });
  };

  async function one(row: MessageSummary): Promise<void> {
    try {
      const retained = await deps.originals.retained(row.auditId);
      if (!retained) {
        report.notReplayable++;
        if (report.notReplayableIds.length < MAX_LISTED) report.notReplayableIds.push(row.auditId);
        return;
      }
      const envelope = await envelopeOf(row, retained, deps.audit);
      const job: Omit<ReplayJob, "limits"> = { id: nextId++ };
      if (retained.region) job.region = retained.region;
      else job.bytes = await bytesOf(retained, deps.maxMessageBytes);
      const result = await pool.analyze(job);
      if ("error" in result) return fail(row.auditId, result.error);
      // the time of arrival, as the gateway decided: day and time conditions see the same clock
      const at = new Date(retained.envelope?.receivedAt ?? row.receivedAt);
      const live = view(options.live.decide(result.facts, envelope, at), deps.defaults);
      const candidate = view(options.candidate.decide(result.facts, envelope, at), deps.defaults);
      report.replayed++;
      const day = jstDay(at);
      report.replayedByDay[day] = (report.replayedByDay[day] ?? 0) + 1;
      for (const r of live.rules) count(r, "live");
      for (const r of candidate.rules) count(r, "candidate");
      const changes = changesOf(live, candidate);
      if (changes.length === 0) return;
      report.changed++;
      report.changedByDay[day] = (report.changedByDay[day] ?? 0) + 1;
      for (const c of changes) {
        const bucket = c.kind === "outcome" ? report.outcomes : report.render[c.kind];
        bucket[c.label] = (bucket[c.label] ?? 0) + 1;
      }
      const change: ChangedMessage = {
        auditId: row.auditId,
        receivedAt: row.receivedAt,
        from: row.mailFrom || row.headerFrom,
        subject: row.subject,
        changes: changes.map((c) => c.kind),
        live,
        candidate,
      };
      if (report.sample.length < sampleSize) report.sample.push(change);
      options.onChanged?.(change);
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      fail(row.auditId, e.message || e.code || String(error));
    } finally {
      done++;
      progress();
    }
  }

  try {
    for await (const row of windowRows(deps.audit, options)) {
      report.examined++;
      const p = one(row).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= workers * IN_FLIGHT_PER_WORKER) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  } finally {
    await pool.close();
  }
  report.rules = [...fired]
    .map(([name, c]) => ({ name, live: c.live, candidate: c.candidate, delta: c.candidate - c.live }))
    .filter((r) => r.delta !== 0)
    .sort((a, b) => Math.abs(b.delta) - Math.abs(a.delta) || a.name.localeCompare(b.name));
  // the sample newest first, whatever order the workers finished in
  report.sample.sort((a, b) => b.receivedAt.localeCompare(a.receivedAt) || a.auditId.localeCompare(b.auditId));
  return report;
}

/** What the console's "この変更で何が変わるか" page runs: candidate rules as text against the live ones. */
export interface TextReplayDeps extends ReplayDeps {
  /** the live rules: the holder's current engine, and its file (lists and templates of the candidate resolve beside it) */
  rules: { current(): LoadedRules; status(): { file?: string } };
}

export type TextReplay = (
  candidateText: string,
  options: Omit<ReplayOptions, "live" | "candidate" | "onChanged">,
) => Promise<{ report: ReplayReport; candidateVersion: string; liveVersion: string } | { problems: RulesProblem[] }>;

/**
 * A replay of candidate rules given as text (the console's form): parsed like
 * the rules file (templates and list files resolved beside the live rules
 * file), refused with every problem when invalid, else replayed against the
 * rules in force. One replay at a time per gateway: a second is refused
 * (`busy`), so an operator cannot queue up CPU the gateway needs for mail.
 */
export function createTextReplay(deps: TextReplayDeps): TextReplay & { readonly busy: boolean } {
  let running = false;
  const run: TextReplay = async (candidateText, options) => {
    if (running) throw Object.assign(new Error("a replay is already running"), { code: "EBUSY" });
    running = true;
    try {
      const file = deps.rules.status().file;
      const dir = file ? path.dirname(file) : process.cwd();
      let candidate: LoadedRules;
      try {
        candidate = parseRules(candidateText, "candidate.yaml", {
          loadTemplate: (p) => readFileSync(path.resolve(dir, p), "utf8"),
          loadList: (p) => {
            const abs = path.resolve(dir, p);
            if (statSync(abs).size > MAX_LIST_BYTES) throw new Error(`larger than ${MAX_LIST_BYTES / 1024 / 1024} MB`);
            const bytes = readFileSync(abs);
            return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes), file: p, sha256: createHash("sha256").update(bytes).digest("hex") };
          },
        });
      } catch (error) {
        if (error instanceof RulesError) return { problems: error.problems };
        throw error;
      }
      const live = deps.rules.current();
      const report = await replayRules(deps, { ...options, live, candidate });
      return { report, candidateVersion: candidate.version, liveVersion: live.version };
    } finally {
      running = false;
    }
  };
  return Object.defineProperty(run, "busy", { get: () => running }) as TextReplay & { readonly busy: boolean };
}
