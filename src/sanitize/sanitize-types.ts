/**
 * The contract of the sanitizer core, shared by every stage that calls it
 * (the CLI, the relay, the rules engine, the audit trail).
 *
 * The core is pure: `analyze()` reads the raw message (a stream; attachments are
 * hashed as they pass and never kept whole) into an AnalyzedMessage, and
 * `render()` builds the one safe text/plain message from it. The same input,
 * options, time and id give byte-identical output.
 *
 * RenderOptions deliberately has no field that could let HTML, an attachment or
 * a raw header through: rules can only make handling stricter or change how the
 * text is presented. Keep it that way.
 */
import type { AuthVerdict } from "../authenticate/auth-types.ts";
import type { AlternativeChoice, Language, Limits, LinkMode, OutputCharset } from "../config/schema.ts";
import type { ExtractedText, ExtractionReportEntry, ExtractKind, ExtractLimits, KeptDocument } from "../extract/extract-types.ts";

export interface Address {
  /** display name, decoded; "" when absent */
  name: string;
  /** addr-spec, decoded; "" when unparseable */
  address: string;
}

/** One part that was not delivered as text: attachments, inline images, HTML bodies' files, signatures … */
export interface RemovedPart {
  /** MIME path of the part, e.g. "2.1" */
  path: string;
  /** file name as the sender gave it (decoded, RFC 2231 joined), made display-safe, a long one cut in the middle keeping its extension; "" when none */
  filename: string;
  /** the name before that cut (at most 4,096 characters), only when it was cut: what rules match on */
  fullName?: string;
  /** declared Content-Type, lower-cased, without parameters */
  contentType: string;
  /** type recognised from the first bytes, when it could be recognised */
  sniffedType?: string;
  /** true when the sniffed type contradicts the declared type or the file name's extension */
  typeMismatch: boolean;
  /** decoded size in bytes */
  size: number;
  /** SHA-256 of the decoded content, lower-case hex */
  sha256: string;
  /** a password-protected archive or document (PPAP) */
  encrypted: boolean;
}

/** What is known of a message after analysis: what rules match on and the audit trail records. */
export interface MessageFacts {
  from: Address[];
  to: Address[];
  cc: Address[];
  replyTo: Address[];
  /** decoded Subject; "" when absent */
  subject: string;
  messageId?: string;
  date?: string;
  /** size of the raw input in bytes */
  size: number;
  /** SHA-256 of the raw input, lower-case hex */
  sha256: string;
  /** an HTML body or alternative was present */
  hasHtml: boolean;
  attachments: RemovedPart[];
  /** distinct hosts of the links in the text (HTML targets included), lower case, IDN as punycode; at most 500 */
  linkDomains?: string[];
}

/** The parsed message, ready to be rendered any number of times with different options. */
export interface AnalyzedMessage {
  facts: MessageFacts;
  /**
   * What render() needs beyond the facts (text blocks, decoded headers, defects).
   * Plain data, structured-clone-able. Optional so that a message built from
   * facts alone (e.g. in a rules test) still renders: as headers and notice only.
   */
  content?: AnalyzedContent;
}

/** Decoded headers of the original, before display-safety and re-encoding. */
export interface AnalyzedHeaders {
  from: Address[];
  to: Address[];
  cc: Address[];
  replyTo: Address[];
  subject: string;
  /** RFC 5322 date re-formatted from the parsed original; absent when missing or invalid */
  date?: string;
  /** valid msg-id without angle brackets; absent when missing or invalid */
  messageId?: string;
  inReplyTo: string[];
  references: string[];
}

/** A piece of the body, in message order. Text is already display-safe body text. */
export type BodyBlock =
  | { kind: "text"; path: string; text: string }
  /** converted HTML; may carry the converter's link markers (private-use sentinels) */
  | { kind: "html"; path: string; text: string }
  /** multipart/alternative: render picks one option */
  | { kind: "alternative"; path: string; options: AlternativeOption[] }
  | { kind: "forwarded"; path: string; from: string; date: string; subject: string; blocks: BodyBlock[] }
  /** a text attachment whose text render shows when its extension is in inlineText */
  | { kind: "attachmentText"; path: string; filename: string; extension: string; text: string }
  /** a part that could not be read (encrypted S/MIME or PGP) */
  | { kind: "unreadable"; path: string; what: "smime" | "pgp" };

export interface AlternativeOption {
  flavor: "text" | "html" | "other";
  blocks: BodyBlock[];
}

export interface AnalyzedContent {
  headers: AnalyzedHeaders;
  blocks: BodyBlock[];
  charsets: string[];
  warnings: string[];
  limitsHit: string[];
  calendar: CalendarEventSummary[];
  forwarded: number;
  encrypted: { smime: boolean; pgp: boolean };
  /** document attachments kept (bounded) for text extraction: src/extract/ */
  documents?: KeptDocument[];
  /** their extracted text, filled between analysis and rendering (src/extract/index.ts) */
  extracted?: ExtractedText[];
}

/** Trace information for mumuka's own Received header. */
export interface Trace {
  clientAddress?: string;
  clientHelo?: string;
  /** "ESMTP", "ESMTPS", … */
  protocol?: string;
}

export interface RenderOptions {
  charset: OutputCharset;
  links: LinkMode;
  language: Language;
  /** notice template text (not a path: the core reads no files); absent: the built-in one */
  noticeTemplate?: string;
  alternative: AlternativeChoice;
  /** prepended to the subject, in order, e.g. ["[外部]"] */
  subjectTags: string[];
  /** extensions (lower case, no dot) of text attachments whose text is shown in the body */
  inlineText: string[];
  /** document kinds whose text is extracted into the body (sanitize.extractText, a rule's extract_text); absent: none */
  extractText?: ExtractKind[];
  /** budgets of that extraction (sanitize.extractLimits) */
  extractLimits?: ExtractLimits;
  /** held or rejected by a rule: the message says so and carries no text of the original */
  withheld?: { reason: string };
  /** names of the rules that applied, shown in X-Mumuka-Rules */
  rulesApplied: string[];
  /** the message's audit id: in the notice and in X-Mumuka-Id */
  auditId: string;
  /** the time of sanitization (Date header fallback, Received line) */
  now: Date;
  /** this gateway's host name (Received line, generated Message-ID) */
  hostname: string;
  trace?: Trace;
  /** sender authentication of the original (verified before sanitizing): Authentication-Results, X-Mumuka-Auth, the notice's warning */
  authentication?: AuthVerdict;
}

export interface SanitizeOptions extends RenderOptions {
  limits: Limits;
  /** aborts a sanitization that runs over its time budget; the result is then a "limit hit" outcome */
  signal?: AbortSignal;
}

export interface CalendarEventSummary {
  summary: string;
  /** ISO 8601 in Japan time (+09:00) */
  start?: string;
  end?: string;
  location?: string;
  organizer?: string;
}

export interface SanitizeReport {
  auditId: string;
  input: { size: number; sha256: string };
  output: { size: number; sha256: string; charset: string; transferEncoding: string };
  headers: {
    from: Address[];
    to: Address[];
    cc: Address[];
    subject: string;
    messageId?: string;
    date?: string;
  };
  html: { present: boolean; converted: boolean };
  /** which body of a multipart/alternative was shown, when there was a choice */
  alternative?: "text" | "html";
  attachments: RemovedPart[];
  /** urls: the links as written in the original (at most 200, each at most 2048 characters), for the audit trail's link search */
  links: { found: number; disarmed: number; mode: LinkMode; urls?: string[] };
  /** charsets declared in the input, lower case, as seen */
  charsets: string[];
  forwarded: number;
  calendar: CalendarEventSummary[];
  encrypted: { smime: boolean; pgp: boolean; protectedFiles: number };
  /** names of the limits that were reached (keys of Limits) */
  limitsHit: string[];
  /** defects found in the input, for administrators */
  warnings: string[];
  rulesApplied: string[];
  withheld?: string;
  /** per document attachment: extracted / skipped / failed, with the reason, pages and characters */
  extraction?: ExtractionReportEntry[];
}

export interface SanitizeResult {
  /** the complete sanitized message, CRLF line endings */
  message: Buffer;
  report: SanitizeReport;
  /** the body as staff read it (notice and text), before transfer encoding: what the audit trail shows */
  text?: string;
}
