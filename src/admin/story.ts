/**
 * Reads a message's audit story (its events, oldest first) into what the
 * detail page shows: removed parts, rules applied, delivery attempts, the
 * sanitized text, and tells each event as a sentence. Pure.
 *
 * SECURITY: event data holds sender-controlled strings (file names, subjects,
 * replies of remote servers). Nothing here escapes; the page renders all of it
 * through `html```. Here we only pick fields by name and check their types, so
 * an event written by an older or newer gateway shows what it can, never crashes.
 */
import type { AuditEvent } from "../audit/audit-types.ts";
import { defangUrl } from "../sanitize/links.ts";

export interface PartView {
  path?: string;
  filename: string;
  contentType: string;
  sniffedType?: string;
  typeMismatch: boolean;
  size?: number;
  sha256: string;
  encrypted: boolean;
}

export interface AttemptView {
  ts: string;
  type: string;
  host?: string;
  result?: string;
  reply?: string;
  recipients?: string[];
}

/** the sender-authentication verdict of the sanitized event (src/authenticate/auth-types.ts), as far as it could be read */
export interface AuthView {
  spf: string;
  dkim: string;
  dmarc: string;
  arc: string;
  fromDomain: string;
  policy: string;
  alignedDomain: string;
  client: string;
  clientSource: string;
}

export interface StoryView {
  removedParts: PartView[];
  rulesApplied: string[];
  attempts: AttemptView[];
  sanitizedText?: string;
  auth?: AuthView;
}

/** the verdict words of an event's `auth` object, each a plain word or "" (never throws on an odd shape) */
function toAuth(v: unknown): AuthView | undefined {
  if (!isObj(v)) return undefined;
  const result = (o: unknown) => (isObj(o) ? (str(o.result) ?? "") : "");
  const dkim = Array.isArray(v.dkim) ? v.dkim.filter(isObj) : [];
  const dmarc = isObj(v.dmarc) ? v.dmarc : {};
  const client = isObj(v.client) ? v.client : {};
  return {
    spf: result(v.spf),
    dkim: dkim.length === 0 ? "none" : dkim.some((d) => d.result === "pass") ? "pass" : (str(dkim[0]!.result) ?? ""),
    dmarc: result(v.dmarc),
    arc: result(v.arc),
    fromDomain: str(dmarc.domain) ?? "",
    policy: str(dmarc.policy) ?? "",
    alignedDomain: str(dmarc.alignedDomain) ?? "",
    client: str(client.address) ?? "",
    clientSource: str(client.source) ?? "",
  };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : typeof v === "number" ? String(v) : undefined);
const strings = (v: unknown): string[] | undefined =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : undefined;

/** Looks for `key` in the event data and in its usual nested objects (report, decision, result). */
function find(data: Obj, key: string): unknown {
  if (key in data) return data[key];
  for (const nest of ["report", "decision", "result", "facts"]) {
    const inner = data[nest];
    if (isObj(inner) && key in inner) return inner[key];
  }
  return undefined;
}

function toPart(v: unknown): PartView | undefined {
  if (!isObj(v)) return undefined;
  const sha256 = str(v.sha256) ?? "";
  const part: PartView = {
    filename: str(v.filename) ?? str(v.name) ?? "",
    contentType: str(v.contentType) ?? str(v.type) ?? "",
    typeMismatch: v.typeMismatch === true,
    sha256,
    encrypted: v.encrypted === true,
  };
  const path = str(v.path);
  if (path !== undefined) part.path = path;
  const sniffed = str(v.sniffedType);
  if (sniffed !== undefined) part.sniffedType = sniffed;
  if (typeof v.size === "number") part.size = v.size;
  return part;
}

export function readStory(events: readonly AuditEvent[]): StoryView {
  const view: StoryView = { removedParts: [], rulesApplied: [], attempts: [] };
  for (const event of events) {
    const data = isObj(event.data) ? event.data : {};
    const parts = find(data, "attachments") ?? find(data, "removedParts");
    if (Array.isArray(parts) && view.removedParts.length === 0) {
      view.removedParts = parts.map(toPart).filter((p): p is PartView => p !== undefined);
    }
    const rules = strings(find(data, "rulesApplied"));
    if (rules && rules.length > 0) view.rulesApplied = rules;
    const text = str(data.sanitizedText) ?? str(data.text);
    if (text !== undefined && event.type === "sanitized") view.sanitizedText = text;
    const auth = event.type === "sanitized" ? toAuth(data.auth) : undefined;
    if (auth) view.auth = auth;
    if (event.type === "delivery-attempt") {
      const attempt: AttemptView = { ts: event.ts, type: event.type };
      const host = str(data.host) ?? str(data.server) ?? str(data.mx);
      if (host !== undefined) attempt.host = str(data.port) ? `${host}:${str(data.port)}` : host;
      const result = str(data.result) ?? str(data.outcome) ?? str(data.status) ?? (typeof data.ok === "boolean" ? (data.ok ? "ok" : "failed") : undefined);
      if (result !== undefined) attempt.result = result;
      const reply = str(data.reply) ?? str(data.response) ?? str(data.error);
      if (reply !== undefined) attempt.reply = reply;
      const rcpts = strings(data.recipients) ?? strings(data.rcptTo);
      if (rcpts) attempt.recipients = rcpts;
      view.attempts.push(attempt);
    }
  }
  return view;
}

// ---- the timeline as sentences -----------------------------------------------------------------

/** Who did it, as a reader says it: the gateway, an administrator of the console, a command run on the host. */
export function actorPhrase(actor: string | undefined, lang: "ja" | "en"): string {
  const a = actor ?? "gateway";
  if (a === "gateway") return lang === "ja" ? "ゲートウェイ" : "the gateway";
  if (a === "system") return lang === "ja" ? "システム" : "the system";
  const m = /^(admin|cli):(.*)$/s.exec(a);
  if (!m) return a;
  if (m[1] === "admin") return lang === "ja" ? `管理者 ${m[2]}` : `administrator ${m[2]}`;
  return lang === "ja" ? `コマンド実行者 ${m[2]}` : `command-line user ${m[2]}`;
}

const ADMIN_ACTION: Record<string, [string, string]> = {
  "original-download": ["原本をダウンロードしました", "downloaded the original"],
  "queue-retry": ["再送を指示しました", "asked for a retry"],
  "queue-hold": ["保留にしました", "held the message"],
  "queue-release": ["保留を解除しました", "released the message"],
  "queue-delete": ["削除しました", "deleted the message"],
  retry: ["再送を指示しました", "asked for a retry"],
  // the two-person release of an original (src/originals/release-desk.ts)
  "original-release-requested": ["原本の取り出しを申請しました", "requested the original"],
  "original-release-approved": ["原本の取り出しの申請を承認しました", "approved the release of the original"],
  "original-release-refused": ["原本の取り出しの申請を却下しました", "refused the release of the original"],
  "original-release-download-refused": ["原本の取り出しを試みましたが、断られました", "tried to download the original and was refused"],
  "original-release-self-decision-refused": ["自分の申請を判断しようとして、断られました", "tried to decide their own request and was refused"],
  "original-release-cancelled": ["原本の取り出しの申請を取り消しました", "cancelled their request for the original"],
  "original-release-expired": ["原本の取り出しの申請は判断されないまま期限が切れました", "the request for the original expired undecided"],
  "original-break-glass": ["緊急手順で承認なしに原本を取り出しました", "took the original out without approval (break-glass)"],
};

function count(n: number, lang: "ja" | "en", ja: string, en: string): string {
  return lang === "ja" ? `${n} ${ja}` : `${n} ${en}${n === 1 ? "" : "s"}`;
}

function listOf(values: string[], lang: "ja" | "en", max = 3): string {
  const shown = values.slice(0, max).join(", ");
  const more = values.length - max;
  return more > 0 ? `${shown}${lang === "ja" ? ` ほか ${more} 件` : ` and ${more} more`}` : shown;
}

/** What the sanitizer did, as one clause list: removed parts, converted HTML, disarmed links, limits. */
function sanitizedClauses(data: Obj, lang: "ja" | "en"): string[] {
  const ja = lang === "ja";
  const report = isObj(data.report) ? data.report : undefined;
  const facts = isObj(data.facts) ? data.facts : undefined;
  const clauses: string[] = [];
  const atts = report?.attachments ?? facts?.attachments;
  if (Array.isArray(atts) && atts.length > 0) {
    const names = atts.map((a) => (isObj(a) ? (str(a.filename) ?? "") : "")).map((n) => n || (ja ? "（名前なし）" : "(no name)"));
    clauses.push(ja ? `添付ファイル ${atts.length} 件（${listOf(names, lang)}）を削除` : `removed ${count(atts.length, lang, "", "attachment").trim()} (${listOf(names, lang)})`);
  }
  if (report && isObj(report.html) && report.html.converted === true) clauses.push(ja ? "HTML をテキストに変換" : "turned the HTML into text");
  if (report && isObj(report.links) && typeof report.links.disarmed === "number" && report.links.disarmed > 0) {
    const n = report.links.disarmed;
    clauses.push(ja ? `リンク ${n} 件を無効化` : `disarmed ${n} link${n === 1 ? "" : "s"}`);
  }
  const limits = strings(report?.limitsHit ?? data.limitsHit);
  if (limits?.length) clauses.push(ja ? `上限（${limits.join(", ")}）に達したため一部を省略` : `stopped at a limit (${limits.join(", ")})`);
  return clauses;
}

/**
 * One event as a sentence in the page's language: what happened, to whom, who did it and why.
 * Unknown event types (a newer gateway) fall back to the type and its actor; the raw fields stay
 * one click away on the page.
 */
export function eventSentence(event: AuditEvent, lang: "ja" | "en"): string {
  const ja = lang === "ja";
  const d = isObj(event.data) ? event.data : {};
  const who = actorPhrase(event.actor, lang);
  const reason = str(d.reason);
  const because = reason ? (ja ? `（理由: ${reason}）` : ` (reason: ${reason})`) : "";
  const rcpts = strings(d.rcptTo) ?? [];
  switch (event.type) {
    case "received": {
      const from = str(d.mailFrom);
      const sender = from === undefined ? "" : from === "" ? (ja ? "空の差出人（<>）" : "the null sender (<>)") : from;
      const helo = str(d.clientHelo) ?? str(d.helo);
      const ip = str(d.clientAddress);
      const client = helo && ip ? `${helo}, ${ip}` : (helo ?? ip);
      const size = typeof d.size === "number" ? `${(d.size / 1024).toFixed(1)} KiB` : "";
      return ja
        ? `${sender ? `${sender} から ` : ""}${rcpts.length ? `${listOf(rcpts, lang)} 宛ての` : ""}メール${size ? `（${size}）` : ""}を受信しました${client ? `（接続元 ${client}）` : ""}。`
        : `Received a message${sender ? ` from ${sender}` : ""}${rcpts.length ? ` to ${listOf(rcpts, lang)}` : ""}${size ? `, ${size}` : ""}${client ? ` (connection from ${client})` : ""}.`;
    }
    case "sanitized": {
      const rules = strings(d.rulesApplied) ?? [];
      const ruleText = rules.length ? (ja ? `ルール「${rules.join("」「")}」を適用し、` : `Applied rule${rules.length === 1 ? "" : "s"} ${rules.map((r) => `"${r}"`).join(", ")}; `) : "";
      const action = str(d.action);
      if (action === "hold" || action === "reject") {
        const verb = action === "hold" ? (ja ? "保留" : "held") : ja ? "拒否" : "rejected";
        const notice = d.notice === true ? (ja ? "宛先には保留のお知らせだけを届けます。" : " The recipients get a notice only.") : "";
        return ja ? `${ruleText}${verb}と判定しました${because}。${notice}` : `${ruleText}the message is ${verb}${because}.${notice}`;
      }
      const clauses = sanitizedClauses(d, lang);
      const released = d.released === true ? (ja ? "保留解除により、" : "Released by an administrator: ") : "";
      if (ja) return `${released}${ruleText}無害化しました${clauses.length ? `：${clauses.join("、")}` : "（削除したものはありません）"}。`;
      return `${released}${ruleText}${ruleText ? "s" : "S"}anitized${clauses.length ? `: ${clauses.join(", ")}` : " (nothing needed removing)"}.`;
    }
    case "delivery-attempt": {
      const host = str(d.host) ?? "?";
      const reply = str(d.reply);
      const ok = d.ok === true;
      const notice = d.notice === true ? (ja ? "（保留のお知らせ）" : " (the hold notice)") : "";
      if (ja) return `${host} へ配送を試み${ok ? "、受け付けられました" : "ましたが、受け付けられませんでした"}${notice}${reply ? `：${reply}` : ""}`;
      return `Tried ${host}${notice}: ${ok ? "accepted" : "not accepted"}${reply ? ` (${reply})` : ""}.`;
    }
    case "delivered": {
      const host = str(d.host);
      return ja
        ? `${rcpts.length ? `${listOf(rcpts, lang)} 宛てに` : ""}配送しました${host ? `（配送先 ${host}）` : ""}。`
        : `Delivered${rcpts.length ? ` to ${listOf(rcpts, lang)}` : ""}${host ? ` via ${host}` : ""}.`;
    }
    case "deferred": {
      const next = str(d.nextAttemptAt);
      const when = next ? formatJstShort(next) : undefined;
      return ja
        ? `配送できなかったため、再送を待ちます${when ? `（次回 ${when}）` : ""}${because}。`
        : `Could not deliver yet; will try again${when ? ` at ${when} JST` : ""}${because}.`;
    }
    case "bounced": {
      const list = Array.isArray(d.recipients) ? d.recipients.filter(isObj).map((r) => str(r.rcpt) ?? "?") : rcpts;
      return ja ? `${list.length ? `${listOf(list, lang)} への` : ""}配送が拒否されました（不達）。` : `Delivery${list.length ? ` to ${listOf(list, lang)}` : ""} was refused (bounced).`;
    }
    case "dsn-sent": {
      const to = str(d.to);
      return ja ? `差出人${to ? ` ${to}` : ""} に不達通知を送りました。` : `Sent a delivery status notification to the sender${to ? ` ${to}` : ""}.`;
    }
    case "held":
      return ja ? `${who}が保留にしました${because}。` : `Held by ${who}${because}.`;
    case "released":
      return ja ? `${who}が保留を解除しました${because}。` : `Released by ${who}${because}.`;
    case "rejected":
      return ja ? `拒否しました${because}。` : `Rejected${because}.`;
    case "expired":
      return ja ? `配送の期限を過ぎたため、配送をあきらめました${because}。` : `Gave up: the delivery period ran out${because}.`;
    case "deleted":
      return ja ? `${who}が削除しました${because}。` : `Deleted by ${who}${because}.`;
    case "original-retrieved":
      return ja ? `${who}が原本を取り出しました。` : `${cap(who)} retrieved the original.`;
    case "admin": {
      const action = str(d.action) ?? "";
      const known = ADMIN_ACTION[action];
      return ja ? `${who}が${known ? known[0] : `管理操作「${action}」を行いました`}${because}。` : `${cap(who)} ${known ? known[1] : `performed "${action}"`}${because}.`;
    }
    default:
      return ja ? `${event.type}（${who}）` : `${event.type} (${who})`;
  }
}

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** "11/24 10:00" in Japan time, for a sentence (the full time is the event's own). */
function formatJstShort(iso: string): string | undefined {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return undefined;
  const j = new Date(t + 9 * 3600 * 1000);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${j.getUTCMonth() + 1}/${j.getUTCDate()} ${p(j.getUTCHours())}:${p(j.getUTCMinutes())}`;
}

/** The links a message carried, as the sanitizer recorded them (the first sanitized event that lists them). */
export function linksOf(events: readonly AuditEvent[]): string[] {
  for (const e of events) {
    if (e.type !== "sanitized" || !isObj(e.data)) continue;
    const report = e.data.report;
    if (isObj(report) && isObj(report.links)) {
      const urls = strings(report.links.urls);
      if (urls && urls.length) return urls;
    }
  }
  return [];
}

/**
 * An event's raw fields, flattened to "path: value" lines (for the fold-out beside each sentence).
 * Long values are cut; the recorded link URLs are shown disarmed, as everywhere on the page.
 */
export function rawFields(event: AuditEvent, maxLines = 60, maxChars = 300): string[] {
  // who, as recorded (the sentence says it in words)
  const out: string[] = [`actor: ${event.actor ?? "gateway"}`];
  const walk = (prefix: string, v: unknown, depth: number): void => {
    if (out.length >= maxLines) return;
    if (prefix.endsWith(".urls") && Array.isArray(v)) v = v.map((u) => (typeof u === "string" ? defangUrl(u) : u));
    if (isObj(v) && depth < 4) {
      for (const [k, x] of Object.entries(v)) if (k !== "text") walk(prefix ? `${prefix}.${k}` : k, x, depth + 1);
      return;
    }
    if (Array.isArray(v) && depth < 4 && v.some((x) => typeof x === "object" && x !== null)) {
      v.forEach((x, i) => walk(`${prefix}[${i}]`, x, depth + 1));
      return;
    }
    const shown = typeof v === "string" ? v : JSON.stringify(v) ?? "";
    out.push(`${prefix}: ${shown.length > maxChars ? `${shown.slice(0, maxChars)}…` : shown}`);
  };
  walk("", event.data, 0);
  out.push(`seq: ${event.seq}`, `hash: ${event.hash}`);
  return out;
}
