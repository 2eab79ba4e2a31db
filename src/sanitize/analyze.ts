/**
 * analyze(): raw message bytes → AnalyzedMessage (plain, structured-clone-able
 * data: the relay may analyze in a worker thread and render elsewhere).
 *
 * The input is streamed once: the whole-message SHA-256 and size are taken as
 * it passes; the splitter reports MIME nodes; each leaf's body is
 * transfer-decoded, hashed, sniffed and — only for text that will be shown —
 * kept up to a budget. Attachments are never held whole, so memory does not
 * grow with their size. Forwarded messages (message/rfc822) are decoded and fed
 * to a nested split session, depth-bounded.
 *
 * SECURITY: every byte is hostile. Bounds (Limits): nesting depth, number of
 * parts, header bytes (enforced by the splitter), text characters, HTML bytes,
 * and time (the AbortSignal). Past a bound the rest of the input is still read
 * and hashed, the structure stops growing, and the limit is named in
 * `limitsHit`. Nothing here throws on bad input; no clock, no I/O besides the
 * given stream, no randomness.
 */
import { createHash, type Hash } from "node:crypto";
import type { Readable } from "node:stream";
import type { Limits } from "../config/schema.ts";
import type {
  Address,
  AlternativeOption,
  AnalyzedContent,
  AnalyzedMessage,
  BodyBlock,
  CalendarEventSummary,
  RemovedPart,
} from "./sanitize-types.ts";
import { createSplitSession, type RawNode, type SplitSession } from "./mime-adapter.ts";
import { decodeText } from "./charset.ts";
import { blockTexts, linkDomains } from "./links.ts";
import { displaySafe } from "../lib/display-safe.ts";
import { bodySafe, fileNames, stripSentinels, truncateChars } from "./display-safe.ts";
import {
  decodeWords,
  extractMsgIds,
  firstField,
  formatDate,
  parseAddressList,
  parseDate,
  parseHeaderBlock,
  parseStructured,
  type HeaderField,
} from "./header-decode.ts";
import { createSniffer, extensionOf, isMismatch, type Sniffer } from "./sniff.ts";
import { transferDecoder, type TransferDecoder } from "./transfer-decode.ts";
import { htmlCharset, htmlToText } from "./html-text.ts";
import { parseCalendar } from "./calendar.ts";
import { extractEmbedded, type EmbeddedFile, type EmbeddedKind } from "./embedded.ts";
import { controlBytes } from "./byte-spellings.ts";
import { unflow } from "./flowed.ts";
import { createDocumentKeeper, type DocumentKeeper } from "../extract/keep.ts";

/** a display name or subject longer than this is cut: staff cannot read more in a header */
const MAX_HEADER_TEXT_CHARS = 1000;
/** UTF-8 needs at most 4 bytes a character: the byte budget that can fill the character budget */
const BYTES_PER_CHAR = 4;
/** the splitter's own node cap sits above ours, so our limit (which keeps hashing) triggers first */
const SPLITTER_NODE_SLACK = 16;
/** converting this much HTML takes long enough to check the time budget before converting more (a turn costs ~1 ms) */
const YIELD_AFTER_HTML_BYTES = 256 * 1024;
/**
 * Below these, analysing a message is a few milliseconds of work: too little to outrun any time
 * budget, so it ends without the timers turn (which costs a millisecond; see letTimersRun).
 */
const QUICK_BYTES = 256 * 1024;
const QUICK_PARTS = 64;
const QUICK_HTML_BYTES = 64 * 1024;
/** bytes of a multipart kept while none of its delimiters has matched, to recover it from (real preambles are tiny) */
const PROBE_BYTES = 1024 * 1024;
/** references kept: threading needs the last few, a hostile header may carry thousands */
const MAX_REFERENCES = 50;

type Role = "multipart" | "text" | "html" | "calendar" | "message" | "attachment" | "encrypted" | "reparse";

interface NodeRec {
  path: string;
  depth: number;
  parent: NodeRec | undefined;
  children: NodeRec[];
  childCount: number;
  contentType: string;
  params: Record<string, string>;
  disposition: string;
  /** the file name shown (display-safe, cut in the middle when long) */
  filename: string;
  /** the file name before that cut: what the extension and the type-mismatch check read */
  matchName: string;
  role: Role;
  /** header fields of a message root (top or forwarded) */
  fields?: HeaderField[];
  /** no usable Content-Type: "missing" or "invalid" (the content may then be sniffed as HTML) */
  typeUnsure?: "missing" | "invalid";
  /** the splitter found at least one part inside this multipart (kept or cut by a limit) */
  sawChild?: boolean;
  /** a root whose "header" lines were not headers at all: they are text */
  prefix?: string;
  /** multipart without a parsed child list: kept for the tree */
  multipart: boolean;
  decoder?: TransferDecoder;
  hash?: Hash;
  size: number;
  sniffer?: Sniffer;
  /** kept bytes of a text part (bounded) */
  kept: Buffer[];
  keptBytes: number;
  truncated: boolean;
  nested?: SessionState;
  /** results */
  removed?: RemovedPart;
  blocks: BodyBlock[];
  /** inner message root of a message/rfc822 leaf */
  inner?: NodeRec;
}

interface SessionState {
  split: SplitSession;
  recs: NodeRec[];
  byId: Map<number, NodeRec | null>;
  depthBase: number;
  holder: NodeRec | undefined;
}

interface Ctx {
  limits: Limits;
  signal: AbortSignal | undefined;
  parts: number;
  charsLeft: number;
  htmlBytesLeft: number;
  warnings: string[];
  limitsHit: Set<string>;
  charsets: Set<string>;
  calendar: CalendarEventSummary[];
  encrypted: { smime: boolean; pgp: boolean };
  forwarded: number;
  attachments: RemovedPart[];
  hasHtml: boolean;
  aborted: boolean;
  /** bytes of text (not HTML) that may still be kept while streaming */
  textBytesLeft: number;
  /** bytes of text attachments that may still be kept (shown only when a rule lists their extension) */
  attachmentTextBytesLeft: number;
  /** bytes that unsplit multiparts may still keep for recovery */
  probeBytesLeft: number;
  /** HTML bytes converted since the event loop last turned (see YIELD_AFTER_HTML_BYTES) */
  htmlSinceYield: number;
  /** files already cut out of each part's text (a part may be cut in several pieces) */
  embeddedCount: Map<NodeRec, number>;
  /** bytes of document attachments kept (bounded) for text extraction */
  documents: DocumentKeeper;
}

const TEXT_LIKE = new Set(["message/delivery-status", "message/disposition-notification", "text/rfc822-headers", "message/feedback-report", "text/enriched", "text/richtext"]);

function classify(rec: NodeRec): Role {
  const ct = rec.contentType;
  if (rec.multipart) return "multipart";
  const isAttachment = rec.disposition === "attachment" || rec.filename !== "";
  if (ct === "message/rfc822" || ct === "message/global") return "message";
  if (ct === "application/pkcs7-mime" || ct === "application/x-pkcs7-mime") return "encrypted";
  if (ct === "text/calendar") return "calendar";
  if (ct.startsWith("multipart/")) return isAttachment ? "attachment" : "text"; // no boundary: its words still count
  if (isAttachment) return "attachment";
  if (ct === "text/plain" || TEXT_LIKE.has(ct)) return "text";
  if (ct === "text/html") return "html";
  return "attachment";
}

function limitHit(ctx: Ctx, name: keyof Limits): void {
  ctx.limitsHit.add(name);
}

function openSession(ctx: Ctx, holder: NodeRec | undefined, depthBase: number): SessionState {
  const state: SessionState = {
    split: undefined as unknown as SplitSession,
    recs: [],
    byId: new Map(),
    depthBase,
    holder,
  };
  state.split = createSplitSession(
    {
      node: (raw) => onNode(ctx, state, raw),
      data: (id, chunk) => {
        const rec = state.byId.get(id);
        // a multipart whose delimiters never matched: keep the start, to try to recover it at the end
        if (rec && rec.role === "multipart" && !rec.sawChild && rec.keptBytes < PROBE_BYTES && ctx.probeBytesLeft > 0) {
          const take = chunk.subarray(0, Math.min(PROBE_BYTES - rec.keptBytes, ctx.probeBytesLeft));
          rec.kept.push(Buffer.from(take));
          rec.keptBytes += take.length;
          ctx.probeBytesLeft -= take.length;
          if (take.length < chunk.length) rec.truncated = true;
        }
      },
      body: (id, chunk) => {
        const rec = state.byId.get(id);
        if (!rec || !rec.decoder) return;
        return onDecoded(ctx, rec, rec.decoder.update(chunk));
      },
    },
    {
      maxHeaderBytes: ctx.limits.maxHeaderBytes,
      maxNodes: ctx.limits.maxParts + SPLITTER_NODE_SLACK,
      // a message of thousands of parts is split in steps: a spent time budget ends the split
      stop: () => {
        if (!ctx.aborted && ctx.signal?.aborted) {
          ctx.aborted = true;
          limitHit(ctx, "maxTimeMs");
        }
        return ctx.aborted;
      },
    },
  );
  return state;
}

function onNode(ctx: Ctx, state: SessionState, raw: RawNode): void {
  const parent = (raw.parentId === undefined ? state.holder : state.byId.get(raw.parentId)) ?? undefined;
  if (raw.parentId !== undefined && !parent) {
    state.byId.set(raw.id, null); // inside a part that was cut: not structure any more
    return;
  }
  if (parent && !parent.sawChild) {
    parent.sawChild = true;
    if (parent.role === "multipart" && parent.keptBytes > 0) {
      // it was only a preamble: nothing to recover, let the bytes go
      ctx.probeBytesLeft += parent.keptBytes;
      parent.kept = [];
      parent.keptBytes = 0;
    }
  }
  const depth = state.depthBase + raw.depth;
  if (depth > ctx.limits.maxDepth) {
    limitHit(ctx, "maxDepth");
    state.byId.set(raw.id, null);
    return;
  }
  if (ctx.parts >= ctx.limits.maxParts) {
    limitHit(ctx, "maxParts");
    state.byId.set(raw.id, null);
    return;
  }
  ctx.parts++;
  const junk: string[] = [];
  const fields = parseHeaderBlock(raw.header, ctx.warnings, junk);
  const ctRaw = firstField(fields, "content-type");
  const parentIsDigest = parent?.contentType === "multipart/digest";
  let ct = ctRaw ? parseStructured(ctRaw, ctx.charsets) : { value: parentIsDigest ? "message/rfc822" : "text/plain", params: {} };
  let typeUnsure: NodeRec["typeUnsure"] = ctRaw ? undefined : "missing";
  if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(ct.value)) {
    if (ctRaw) ctx.warnings.push(`invalid Content-Type ${JSON.stringify(ct.value.slice(0, 60))}: taken as text/plain`);
    ct = { value: "text/plain", params: ct.params };
    typeUnsure = "invalid";
  }
  const disp = parseStructured(firstField(fields, "content-disposition") ?? "", ctx.charsets);
  const rawName = disp.params.filename ?? ct.params.name ?? "";
  const names = fileNames(rawName);
  const cte = (firstField(fields, "content-transfer-encoding") ?? "").trim().toLowerCase();
  if (ct.params.charset) ctx.charsets.add(ct.params.charset.trim().toLowerCase().slice(0, 40));
  const rec: NodeRec = {
    path: "",
    depth,
    parent,
    children: [],
    childCount: 0,
    contentType: ct.value,
    params: ct.params,
    disposition: disp.value,
    filename: names.shown,
    matchName: names.full,
    role: "attachment",
    multipart: raw.multipart,
    size: 0,
    kept: [],
    keptBytes: 0,
    truncated: false,
    blocks: [],
  };
  if (typeUnsure) rec.typeUnsure = typeUnsure;
  if (raw.parentId === undefined) {
    rec.fields = fields;
    // no header at all: what the splitter took for header lines is the sender's text
    if (fields.length === 0 && junk.length > 0) rec.prefix = decodeText(Buffer.from(junk.join("\n"), "latin1"), undefined).text;
  }
  // paths as IMAP numbers them: the root multipart is "", its children 1, 2 …; a single-part root is "1"
  if (!parent) rec.path = raw.multipart ? "" : "1";
  else if (parent.role === "message" || parent.role === "reparse") rec.path = raw.multipart ? parent.path : `${parent.path}.1`;
  else {
    parent.childCount++;
    rec.path = parent.path ? `${parent.path}.${parent.childCount}` : String(parent.childCount);
  }
  if (parent && (parent.role === "message" || parent.role === "reparse")) parent.inner = rec;
  else parent?.children.push(rec);
  rec.role = classify(rec);
  if (rec.role !== "multipart") {
    if (cte && !["7bit", "8bit", "binary", "base64", "quoted-printable"].includes(cte)) {
      ctx.warnings.push(`unknown transfer encoding ${JSON.stringify(cte.slice(0, 40))} at part ${rec.path}: taken as is`);
    }
    rec.decoder = transferDecoder(cte);
    rec.hash = createHash("sha256");
    rec.sniffer = createSniffer();
    // Outlook bounces put `boundary=` on an unfolded line of its own: the splitter
    // sees no boundary. Recover it and split the content again with a header we write
    const lostBoundary = ct.value.startsWith("multipart/") && !raw.multipart && !ct.params.boundary
      ? /^[ \t]*boundary[ \t]*=[ \t]*"?([^"\s;]{1,200})"?/im.exec(junk.join("\n"))?.[1]
      : undefined;
    if (lostBoundary && depth + 1 <= ctx.limits.maxDepth) {
      ctx.warnings.push(`part ${rec.path || "1"}: boundary parameter on an unfolded line, recovered`);
      rec.role = "reparse";
      rec.nested = openSession(ctx, rec, depth + 1);
      void rec.nested.split.write(reparseHeader(ct.value, lostBoundary));
    } else if (rec.role === "message") {
      if (depth + 1 > ctx.limits.maxDepth) {
        limitHit(ctx, "maxDepth");
        rec.role = "attachment";
      } else rec.nested = openSession(ctx, rec, depth + 1);
    }
  }
  state.recs.push(rec);
  state.byId.set(raw.id, rec);
}

function keepsText(role: Role): boolean {
  // "reparse" keeps nothing itself: its nested session sees the bytes
  return role === "text" || role === "html" || role === "calendar";
}

function onDecoded(ctx: Ctx, rec: NodeRec, data: Buffer): Promise<void> | void {
  if (data.length === 0) return;
  rec.size += data.length;
  rec.hash?.update(data);
  rec.sniffer?.update(data);
  if (rec.role === "attachment") ctx.documents.update(rec, data);
  const textAttachment = rec.role === "attachment" && rec.contentType.startsWith("text/");
  if (keepsText(rec.role) || textAttachment) {
    // budgets are global, taken as bytes arrive: 500 text parts cannot each hold a full budget
    // (text attachments draw on a pool of their own, so they cannot starve the body text after them)
    const room =
      rec.role === "html"
        ? Math.min(ctx.limits.maxHtmlBytes - rec.keptBytes, ctx.htmlBytesLeft)
        : textAttachment
          ? ctx.attachmentTextBytesLeft
          : ctx.textBytesLeft;
    if (room > 0) {
      const take = data.length <= room ? data : data.subarray(0, room);
      rec.kept.push(Buffer.from(take));
      rec.keptBytes += take.length;
      if (rec.role === "html") ctx.htmlBytesLeft -= take.length;
      else if (textAttachment) ctx.attachmentTextBytesLeft -= take.length;
      else ctx.textBytesLeft -= take.length;
    }
    if (data.length > room) rec.truncated = true;
  }
  if (rec.nested && !ctx.aborted) return rec.nested.split.write(data);
}

/** Flushes the decoder of each leaf, then turns what was kept into blocks and report entries. */
async function endSession(ctx: Ctx, state: SessionState): Promise<void> {
  await state.split.end();
  if (state.split.failure) {
    limitHit(ctx, state.split.failure === "maxParts" ? "maxParts" : state.split.failure === "maxHeaderBytes" ? "maxHeaderBytes" : "maxParts");
    if (state.split.failure === "malformed") ctx.warnings.push("the MIME structure could not be followed to its end");
  }
  for (const rec of state.recs) {
    // a multipart none of whose delimiters matched, or one with no boundary at all
    const unsplit =
      (rec.role === "multipart" && !rec.sawChild && rec.keptBytes > 0) ||
      (rec.role === "text" && rec.contentType.startsWith("multipart/") && rec.keptBytes > 0);
    if (unsplit) {
      if (rec.decoder) {
        const tail = onDecoded(ctx, rec, rec.decoder.end());
        if (tail) await tail;
        rec.decoder = undefined;
      }
      await recoverMultipart(ctx, rec);
      if (rec.role === "reparse") {
        finishLeaf(ctx, rec);
        continue;
      }
    }
    if (rec.role === "multipart" || !rec.decoder) continue;
    const tail = onDecoded(ctx, rec, rec.decoder.end());
    if (tail) await tail;
    if (rec.nested) await endSession(ctx, rec.nested);
    if (rec.role === "html" && ctx.signal && !ctx.aborted && ctx.htmlSinceYield >= YIELD_AFTER_HTML_BYTES) {
      ctx.htmlSinceYield = 0;
      // conversions are synchronous: give an expired time budget the chance to be seen before the next one
      await letTimersRun();
      if (ctx.signal.aborted) {
        ctx.aborted = true;
        limitHit(ctx, "maxTimeMs");
      }
    }
    if (rec.role === "html") ctx.htmlSinceYield += rec.keptBytes;
    finishLeaf(ctx, rec);
  }
}

/** the boundary mumuka writes when it puts lost delimiters back (cannot clash: it is only used on text without delimiters) */
const RECOVERED_BOUNDARY = "=_mumuka_recovered_=";

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** "B--" seen where a part starts is a closing delimiter standing in for "B", unless "--B" itself occurs. */
function closingToOpening(found: string, text: string): string {
  if (!found.endsWith("--")) return found;
  const opening = found.slice(0, -2);
  return new RegExp(`^--${escapeRe(opening)}[ \\t]*\\r?$`, "m").test(text) ? found : opening;
}

/**
 * The header block we write in front of content split again (a recovered
 * boundary). Its values come from the sender's decoded headers, so they are
 * cut to what a media type and a boundary may hold before they become bytes:
 * a decoded character such as U+010A must not turn into a line feed (a new
 * header line for the internal parser) the way a latin1 narrowing would.
 */
export function reparseHeader(contentType: string, boundary: string): Buffer {
  const type = /^[A-Za-z0-9!#$&^_.+-]{1,64}\/[A-Za-z0-9!#$&^_.+-]{1,64}$/.test(contentType) ? contentType : "multipart/mixed";
  // a boundary found in the raw bytes (read as latin1) keeps its 8-bit bytes, so it still matches them
  const b = boundary.replace(/[^\x21-\x7e\x80-\xff]|"/g, "").slice(0, 200) || "mumuka-recovered";
  return Buffer.from(`Content-Type: ${type}; boundary="${b}"\r\n\r\n`, "latin1");
}

/**
 * A multipart whose declared boundary matches no line (one character off, a raw
 * 8-bit byte, none declared): the first line shaped like a delimiter and
 * followed by a header line gives the real boundary, and the kept bytes are
 * split again. Without such a line the content stays text.
 */
async function recoverMultipart(ctx: Ctx, rec: NodeRec): Promise<void> {
  const bytes = Buffer.concat(rec.kept);
  const latin = bytes.toString("latin1");
  // the boundary must be followed by a header line; "--" at its end may be a closing delimiter's
  const found = /^--([!-~]{1,200}?)[ \t]*\r?\n(?=[A-Za-z][A-Za-z0-9-]*:)/m.exec(latin)?.[1];
  let boundary = found ? closingToOpening(found, latin) : undefined;
  // no delimiter at all, but the content starts with a part's own header block (opening delimiter lost)
  const entity = boundary === undefined && /^(?:[ \t]*\r?\n)*Content-[A-Za-z-]+:/i.test(latin);
  if ((boundary === undefined && !entity) || rec.depth + 1 > ctx.limits.maxDepth || ctx.parts >= ctx.limits.maxParts) {
    if (rec.role === "multipart") {
      rec.role = "text"; // nothing to split: the words are still the sender's text
      rec.blocks = [];
      rec.hash = createHash("sha256");
      rec.decoder = transferDecoder("7bit");
    }
    rec.typeUnsure = "invalid"; // evidently HTML? then it is converted, not shown as tags
    return;
  }
  ctx.warnings.push(
    boundary !== undefined
      ? `part ${rec.path || "1"}: no delimiter matched the declared boundary; split again on "--${boundary.slice(0, 60)}"`
      : `part ${rec.path || "1"}: multipart without delimiters; its content read as one part`,
  );
  if (rec.truncated) limitHit(ctx, "maxTextChars");
  rec.role = "reparse";
  rec.hash = createHash("sha256");
  const nested = openSession(ctx, rec, rec.depth + 1);
  if (boundary !== undefined) {
    await nested.split.write(reparseHeader(rec.contentType, boundary));
  }
  let content = latin;
  if (entity) {
    // every header block after a blank line starts a part whose delimiter was lost: put one back
    boundary = RECOVERED_BOUNDARY;
    content = latin.replace(/^(?:[ \t]*\r?\n)+/, "").replace(/(^|\r?\n[ \t]*\r?\n)(?=Content-[A-Za-z-]+:)/gi, `$1--${boundary}\r\n`);
    await nested.split.write(reparseHeader(rec.contentType, boundary));
  }
  if (boundary !== undefined) {
    // only closing delimiters left (the opening ones were lost): one followed by a header block opens a part
    const b = escapeRe(boundary);
    content = content.replace(new RegExp(`^--${b}--([ \\t]*\\r?\\n)(?=[A-Za-z][A-Za-z0-9-]*:)`, "gm"), `--${boundary}$1`);
  }
  await nested.split.write(Buffer.from(content, "latin1"));
  rec.kept = [];
  rec.keptBytes = 0;
  await endSession(ctx, nested);
}

function decodeKept(ctx: Ctx, rec: NodeRec, html = false): string {
  const bytes = Buffer.concat(rec.kept);
  let label = rec.params.charset;
  if (html) {
    // a BOM or UTF-16's NUL bytes win over the label, then <meta> when there is no label (html-text.ts)
    const sniffed = htmlCharset(bytes, label);
    if (sniffed.warning) ctx.warnings.push(`part ${rec.path}: ${sniffed.warning}`);
    label = sniffed.label;
  }
  const decoded = decodeText(bytes, label);
  if (decoded.warning) ctx.warnings.push(`part ${rec.path}: ${decoded.warning}`);
  return decoded.text;
}

/** Takes at most the remaining character budget of the message. */
function budgetText(ctx: Ctx, rec: NodeRec, text: string): string {
  // the text of an attachment is only shown when a rule asks for it: cutting it is not a limit hit of the message
  const counts = rec.role !== "attachment";
  if (rec.truncated && counts) limitHit(ctx, rec.role === "html" ? "maxHtmlBytes" : "maxTextChars");
  if (text.length > ctx.charsLeft) {
    if (counts) limitHit(ctx, "maxTextChars");
    const cut = truncateChars(text, Math.max(0, ctx.charsLeft));
    ctx.charsLeft = 0;
    return cut;
  }
  ctx.charsLeft -= text.length;
  return text;
}

function removedPart(ctx: Ctx, rec: NodeRec): RemovedPart {
  const sniff = rec.sniffer?.finish() ?? { encrypted: false };
  const part: RemovedPart = {
    path: rec.path,
    filename: rec.filename,
    contentType: rec.contentType,
    typeMismatch: isMismatch(sniff.family, rec.contentType, rec.matchName),
    size: rec.size,
    sha256: rec.hash?.digest("hex") ?? "",
    encrypted: sniff.encrypted,
  };
  if (rec.matchName !== rec.filename) part.fullName = rec.matchName;
  if (sniff.sniffedType) part.sniffedType = sniff.sniffedType;
  return part;
}

/** NUL bytes or many control characters: not text, whatever the label says (a TNEF or .msg file fed as a message) */
function looksBinary(bytes: Buffer, label: string | undefined): boolean {
  // UTF-16/32 text is full of NUL bytes by nature
  if (/^(?:utf-?(?:16|32)|ucs-?[24]|unicode)/i.test((label ?? "").trim())) return false;
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return false;
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return false;
  // a NUL, or more than one byte in ten a control character: no charset makes that prose (a whole
  // part; the embedded-file test, on short decoded runs, is stricter: one in twenty)
  return controlBytes(bytes) * 10 > bytes.length;
}

const HTML_TAG = /<(?:html|body|head|br|p|div|font|table|td|span|a\s|img\s|center|b|i|u)\b[^<>]{0,200}>/gi;

/** Text with no usable Content-Type that is evidently HTML is converted as HTML rather than shown as tags. */
function looksHtml(bytes: Buffer, unsure: NodeRec["typeUnsure"]): boolean {
  if (!unsure) return false;
  const head = bytes.subarray(0, 64 * 1024).toString("latin1");
  if (/^\s*(?:<!doctype html|<html)/i.test(head)) return true;
  const tags = head.match(HTML_TAG)?.length ?? 0;
  return unsure === "invalid" ? tags >= 1 : tags >= 3;
}

/** a line that opens an HTML document (a doctype or the html element) */
const HTML_DOCUMENT_START = /^[ \t]*(?:<!doctype[ \t]+html|<html[\s>])/im;

/**
 * Where an HTML document sits in a text: from the line that opens it to its closing
 * `</html>` (or the end). A text part is converted there whatever its label said.
 */
function htmlDocumentIn(text: string): { start: number; end: number } | undefined {
  const start = HTML_DOCUMENT_START.exec(text)?.index;
  if (start === undefined) return undefined;
  const close = text.toLowerCase().lastIndexOf("</html>");
  return { start, end: close > start ? close + "</html>".length : text.length };
}

/** The type a file found inside the text is listed with: what its encoding says, or what its own part header declared. */
const EMBEDDED_TYPE: Record<EmbeddedKind, string> = {
  uuencode: "application/x-uuencode",
  yenc: "application/x-yenc",
  binhex: "application/mac-binhex40",
  base64: "application/octet-stream",
  hex: "application/octet-stream",
  "quoted-printable": "application/octet-stream",
  "mime-part": "application/octet-stream",
  base32: "application/octet-stream",
  base85: "application/octet-stream",
  decimal: "application/octet-stream",
  octal: "application/octet-stream",
  "binary digits": "application/octet-stream",
  "percent-encoded": "application/octet-stream",
  escaped: "application/octet-stream",
};

/**
 * Cuts files out of a text (uuencode / yEnc / BinHex blocks, MIME parts the splitter did not
 * follow, long base64 / hex / quoted-printable data) and lists them as removed parts. Their
 * path is the text part's with "#n": the notice says they were found inside the text.
 */
function withoutEmbedded(ctx: Ctx, rec: NodeRec, text: string): string {
  const { text: rest, files } = extractEmbedded(text, { maxHtmlBytes: ctx.limits.maxHtmlBytes, warnings: ctx.warnings });
  listEmbedded(ctx, rec, files);
  return rest;
}

/**
 * HTML source → text. Parts and uuencode / yEnc / BinHex blocks in the source (a boundary
 * switched inside an HTML part) are cut first: conversion would fold their lines into one
 * paragraph and hide them from the line-based scan. Each piece between them is converted.
 */
function convertHtml(ctx: Ctx, rec: NodeRec, source: string): string {
  // the sender's own sentinels go first, so only our markers split the source below
  const { text: cut, files } = extractEmbedded(stripSentinels(source).replace(/\r\n?/g, "\n"), { maxHtmlBytes: ctx.limits.maxHtmlBytes, warnings: ctx.warnings, announcedOnly: true });
  listEmbedded(ctx, rec, files);
  return cut
    .split(/(\uE005[^\uE006]*\uE006[^\uE007]*\uE007)/)
    .map((piece, i) => (i % 2 === 1 ? `\n${piece}\n` : piece.trim() ? htmlToText(piece, ctx.limits.maxHtmlBytes, ctx.warnings) : ""))
    .join("");
}

function listEmbedded(ctx: Ctx, rec: NodeRec, files: EmbeddedFile[]): void {
  const numbered = ctx.embeddedCount.get(rec) ?? 0;
  ctx.embeddedCount.set(rec, numbered + files.length);
  files.forEach((file, i) => {
    // files in text count against the part limit like parts do: 100,000 tiny blocks in a
    // text must not make a notice of 100,000 entries (they are still cut, the limit named)
    if (ctx.parts >= ctx.limits.maxParts) {
      limitHit(ctx, "maxParts");
      return;
    }
    ctx.parts++;
    const sniffer = createSniffer();
    sniffer.update(file.bytes);
    const sniff = sniffer.finish();
    const contentType = file.declaredType || EMBEDDED_TYPE[file.kind];
    const names = fileNames(file.filename);
    const part: RemovedPart = {
      path: `${rec.path || "1"}#${numbered + i + 1}`,
      filename: names.shown,
      contentType,
      typeMismatch: isMismatch(sniff.family, file.declaredType || "application/octet-stream", names.full),
      size: file.bytes.length,
      sha256: createHash("sha256").update(file.bytes).digest("hex"),
      encrypted: sniff.encrypted,
    };
    if (names.full !== names.shown) part.fullName = names.full;
    if (sniff.sniffedType) part.sniffedType = sniff.sniffedType;
    ctx.attachments.push(part);
    ctx.warnings.push(
      file.kind === "mime-part"
        ? `part ${rec.path || "1"}: a MIME part inside the text (its delimiter not followed) was removed`
        : `part ${rec.path || "1"}: a ${file.kind} file inside the text was removed`,
    );
  });
}

function finishLeaf(ctx: Ctx, rec: NodeRec): void {
  if (rec.role === "text" && rec.kept.length > 0) {
    const sample = Buffer.concat(rec.kept).subarray(0, 64 * 1024);
    if (looksBinary(sample, rec.params.charset)) {
      ctx.warnings.push(`part ${rec.path || "1"}: declared as text but binary: removed`);
      rec.role = "attachment";
    } else if (looksHtml(sample, rec.typeUnsure)) {
      ctx.warnings.push(`part ${rec.path || "1"}: no valid Content-Type and HTML content: converted as HTML`);
      rec.role = "html";
    }
  }
  const html = rec.role === "html";
  switch (rec.role) {
    case "text": {
      rec.hash?.digest();
      let decoded = bodySafe((rec.prefix ? `${rec.prefix}\n` : "") + decodeKept(ctx, rec));
      if ((rec.params.format ?? "").toLowerCase() === "flowed") decoded = unflow(decoded, (rec.params.delsp ?? "").toLowerCase() === "yes");
      const doc = htmlDocumentIn(decoded);
      if (!doc) {
        const text = budgetText(ctx, rec, withoutEmbedded(ctx, rec, decoded));
        if (text.includes("-----BEGIN PGP MESSAGE-----")) ctx.encrypted.pgp = true;
        rec.blocks = [{ kind: "text", path: rec.path, text }];
        return;
      }
      // an HTML document inside a part labelled text (its header lost or wrong): converted, never shown as markup
      ctx.hasHtml = true;
      ctx.warnings.push(`part ${rec.path || "1"}: an HTML document in a text part: converted as HTML`);
      rec.blocks = [];
      const before = decoded.slice(0, doc.start);
      if (before.trim()) rec.blocks.push({ kind: "text", path: rec.path, text: budgetText(ctx, rec, withoutEmbedded(ctx, rec, before)) });
      let converted = "";
      try {
        converted = convertHtml(ctx, rec, decoded.slice(doc.start, doc.end));
      } catch {
        ctx.warnings.push(`part ${rec.path}: HTML could not be converted`);
      }
      rec.blocks.push({ kind: "html", path: rec.path, text: budgetText(ctx, rec, withoutEmbedded(ctx, rec, bodySafe(converted, true))) });
      const after = decoded.slice(doc.end);
      if (after.trim()) rec.blocks.push({ kind: "text", path: rec.path, text: budgetText(ctx, rec, withoutEmbedded(ctx, rec, after)) });
      return;
    }
    case "html": {
      rec.hash?.digest();
      ctx.hasHtml = true;
      if (ctx.aborted) {
        rec.blocks = [];
        return;
      }
      const source = decodeKept(ctx, rec, html);
      let converted = "";
      try {
        converted = convertHtml(ctx, rec, source);
      } catch {
        ctx.warnings.push(`part ${rec.path}: HTML could not be converted`);
      }
      rec.blocks = [{ kind: "html", path: rec.path, text: budgetText(ctx, rec, withoutEmbedded(ctx, rec, bodySafe(converted, true))) }];
      return;
    }
    case "calendar": {
      const text = decodeKept(ctx, rec);
      ctx.calendar.push(
        ...parseCalendar(text, ctx.warnings).map((e) => {
          const safe: CalendarEventSummary = { summary: displaySafe(e.summary) };
          if (e.start) safe.start = e.start;
          if (e.end) safe.end = e.end;
          if (e.location) safe.location = displaySafe(e.location);
          if (e.organizer) safe.organizer = displaySafe(e.organizer);
          return safe;
        }),
      );
      rec.removed = removedPart(ctx, rec);
      ctx.attachments.push(rec.removed);
      return;
    }
    case "encrypted": {
      const smimeType = (rec.params["smime-type"] ?? "").toLowerCase();
      if (smimeType !== "signed-data" && smimeType !== "certs-only") ctx.encrypted.smime = true;
      rec.blocks = [{ kind: "unreadable", path: rec.path, what: "smime" }];
      rec.removed = removedPart(ctx, rec);
      ctx.attachments.push(rec.removed);
      return;
    }
    case "reparse": {
      rec.hash?.digest();
      rec.blocks = rec.inner ? blocksOf(ctx, rec.inner) : [];
      return;
    }
    case "message": {
      ctx.forwarded++;
      rec.removed = removedPart(ctx, rec);
      ctx.attachments.push(rec.removed);
      const inner = rec.inner;
      const fields = inner?.fields ?? [];
      const from = parseAddressList(firstField(fields, "from"), ctx.charsets).map(formatAddressForText).join(", ");
      const date = firstField(fields, "date") ?? "";
      const subject = decodeWords(firstField(fields, "subject") ?? "", ctx.charsets);
      rec.blocks = [
        {
          kind: "forwarded",
          path: rec.path,
          from: truncateChars(displaySafe(from), MAX_HEADER_TEXT_CHARS),
          date: truncateChars(displaySafe(date), 200),
          subject: truncateChars(displaySafe(subject), MAX_HEADER_TEXT_CHARS),
          blocks: inner ? blocksOf(ctx, inner) : [],
        },
      ];
      return;
    }
    default: {
      rec.removed = removedPart(ctx, rec);
      ctx.attachments.push(rec.removed);
      ctx.documents.finish(rec, rec.removed);
      if (rec.contentType.startsWith("text/") && rec.filename) {
        const text = budgetText(ctx, rec, withoutEmbedded(ctx, rec, bodySafe(decodeKept(ctx, rec))));
        rec.blocks = [{ kind: "attachmentText", path: rec.path, filename: rec.filename, extension: extensionOf(rec.matchName), text }];
      }
    }
  }
}

export function formatAddressForText(a: Address): string {
  if (a.name && a.address) return `${a.name} <${a.address}>`;
  return a.name || a.address;
}

function flavorOf(blocks: BodyBlock[]): AlternativeOption["flavor"] {
  let flavor: AlternativeOption["flavor"] = "other";
  const visit = (list: BodyBlock[]): void => {
    for (const b of list) {
      if (b.kind === "html") flavor = "html";
      else if (b.kind === "text" && flavor === "other") flavor = "text";
      else if (b.kind === "alternative") b.options.forEach((o) => visit(o.blocks));
    }
  };
  visit(blocks);
  return flavor;
}

/** The body blocks of a subtree, in message order. */
function blocksOf(ctx: Ctx, rec: NodeRec): BodyBlock[] {
  if (rec.role !== "multipart") return rec.blocks;
  const sub = rec.contentType;
  if (sub === "multipart/alternative") {
    const options = rec.children.map((c) => {
      const blocks = blocksOf(ctx, c);
      return { flavor: flavorOf(blocks), blocks };
    });
    return options.length ? [{ kind: "alternative", path: rec.path, options }] : [];
  }
  if (sub === "multipart/signed") {
    // the first part is the signed content; the rest (the signature) is removed like any part
    const [content] = rec.children;
    return content ? blocksOf(ctx, content) : [];
  }
  if (sub === "multipart/encrypted") {
    ctx.encrypted.pgp = ctx.encrypted.pgp || /pgp/i.test(rec.params.protocol ?? "pgp");
    return [{ kind: "unreadable", path: rec.path, what: /pkcs7/i.test(rec.params.protocol ?? "") ? "smime" : "pgp" }];
  }
  return rec.children.flatMap((c) => blocksOf(ctx, c));
}

function headerText(value: string | undefined, charsets: Set<string>): string {
  return truncateChars(displaySafe(decodeWords(value ?? "", charsets)), MAX_HEADER_TEXT_CHARS);
}

function cleanAddresses(list: Address[]): Address[] {
  return list.map((a) => ({ name: truncateChars(displaySafe(a.name), MAX_HEADER_TEXT_CHARS), address: displaySafe(a.address) }));
}

const ABORTED = Symbol("aborted");

/** once the time budget is spent, a read that takes longer than this counts as stalled (a file read is far quicker) */
const STALL_GRACE_MS = 1000;

/**
 * The next chunk. While the budget lasts, a read waits as long as it takes but
 * the abort ends the wait; once the budget is spent, reads that complete within
 * STALL_GRACE_MS are still taken (so the message hash covers the whole input),
 * and a read that does not is ABORTED: a stalled input cannot hang us.
 */
async function nextChunk(it: AsyncIterator<Buffer>, signal: AbortSignal | undefined): Promise<IteratorResult<Buffer> | typeof ABORTED> {
  const pending = it.next();
  // if we stop waiting (stalled input, destroyed below), a late rejection must not go unhandled
  pending.catch(() => undefined);
  if (!signal) return pending;
  if (!signal.aborted) {
    let onAbort = (): void => {};
    const aborted = new Promise<typeof ABORTED>((resolve) => {
      onAbort = () => resolve(ABORTED);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    const first = await Promise.race([pending, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
    if (first !== ABORTED) return first;
  }
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<typeof ABORTED>((resolve) => {
    timer = setTimeout(() => resolve(ABORTED), STALL_GRACE_MS);
  });
  return Promise.race([pending, stalled]).finally(() => clearTimeout(timer));
}

/**
 * Synchronous work (an HTML conversion) keeps a timeout signal from firing until
 * the event loop turns; one turn through the timers phase lets an expired
 * budget be seen. No clock is read. A turn costs a millisecond of wall time
 * (the timers' least delay), so it is taken only after enough work to matter.
 */
function letTimersRun(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

async function* chunksOf(input: Readable | Buffer): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(input)) {
    // whole: the splitter finds every boundary in the one buffer and hands parts on as views of it
    yield input;
    return;
  }
  for await (const chunk of input) yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
}

export async function analyze(input: Readable | Buffer, limits: Limits, signal?: AbortSignal): Promise<AnalyzedMessage> {
  const ctx: Ctx = {
    limits,
    signal,
    parts: 0,
    charsLeft: limits.maxTextChars,
    htmlBytesLeft: limits.maxHtmlBytes * 4,
    warnings: [],
    limitsHit: new Set(),
    charsets: new Set(),
    calendar: [],
    encrypted: { smime: false, pgp: false },
    forwarded: 0,
    attachments: [],
    hasHtml: false,
    aborted: false,
    htmlSinceYield: 0,
    embeddedCount: new Map(),
    textBytesLeft: limits.maxTextChars * BYTES_PER_CHAR,
    probeBytesLeft: PROBE_BYTES * 4,
    attachmentTextBytesLeft: limits.maxTextChars * BYTES_PER_CHAR,
    documents: createDocumentKeeper(),
  };
  const rawHash = createHash("sha256");
  let rawSize = 0;
  const top = openSession(ctx, undefined, 0);
  // Input errors (an unreadable stream) are the caller's: they propagate. Anything
  // thrown while building structure is our bug or an unforeseen shape: the rest of
  // the input is still hashed and the message comes out with what was built so far.
  let internal: Error | undefined;
  const chunks = chunksOf(input)[Symbol.asyncIterator]();
  for (;;) {
    const next = await nextChunk(chunks, signal);
    if (next === ABORTED) {
      // a stalled input (an SMTP client that stopped sending, a hung disk): stop reading it
      ctx.aborted = true;
      limitHit(ctx, "maxTimeMs");
      if (!Buffer.isBuffer(input)) input.destroy();
      break;
    }
    if (next.done) break;
    const chunk = next.value;
    rawHash.update(chunk);
    rawSize += chunk.length;
    if (!ctx.aborted && signal?.aborted) {
      ctx.aborted = true;
      limitHit(ctx, "maxTimeMs");
    }
    if (ctx.aborted || internal) continue;
    try {
      await top.split.write(chunk);
    } catch (error) {
      internal = error as Error;
    }
  }
  // a large message was split without the event loop turning (one write, few parts): before the
  // conversions, let a spent time budget be seen (mailsplit's own turns used to give it the chance)
  if (signal && !ctx.aborted && rawSize > QUICK_BYTES) {
    await letTimersRun();
    if (signal.aborted) {
      ctx.aborted = true;
      limitHit(ctx, "maxTimeMs");
    }
  }
  if (!internal) {
    try {
      await endSession(ctx, top);
    } catch (error) {
      internal = error as Error;
    }
  }
  const quick = rawSize <= QUICK_BYTES && ctx.parts <= QUICK_PARTS && ctx.htmlSinceYield <= QUICK_HTML_BYTES;
  if (signal && !signal.aborted && !quick) await letTimersRun();
  if (internal) ctx.warnings.push(`the structure could not be analysed to its end (${internal.name}: ${internal.message.slice(0, 200)})`);
  if (!ctx.aborted && signal?.aborted) limitHit(ctx, "maxTimeMs");

  const root = top.recs[0];
  const fields = root?.fields ?? [];
  if (!root) ctx.warnings.push("no message structure found");
  const date = parseDate(firstField(fields, "date"));
  if (firstField(fields, "date") !== undefined && !date) ctx.warnings.push("invalid Date header replaced");
  const [messageId] = extractMsgIds(firstField(fields, "message-id"), 1);
  if (firstField(fields, "message-id") !== undefined && !messageId) ctx.warnings.push("invalid Message-ID replaced");
  const headers: AnalyzedContent["headers"] = {
    from: cleanAddresses(parseAddressList(firstField(fields, "from"), ctx.charsets)),
    to: cleanAddresses(fields.filter((f) => f.name === "to").flatMap((f) => parseAddressList(f.value, ctx.charsets))),
    cc: cleanAddresses(fields.filter((f) => f.name === "cc").flatMap((f) => parseAddressList(f.value, ctx.charsets))),
    replyTo: cleanAddresses(parseAddressList(firstField(fields, "reply-to"), ctx.charsets)),
    subject: headerText(firstField(fields, "subject"), ctx.charsets),
    inReplyTo: extractMsgIds(firstField(fields, "in-reply-to"), 1),
    references: extractMsgIds(firstField(fields, "references"), 1000).slice(-MAX_REFERENCES),
  };
  if (date) headers.date = formatDate(date.epoch, date.offset);
  if (messageId) headers.messageId = messageId;
  let blocks: BodyBlock[] = [];
  try {
    blocks = root && !internal ? blocksOf(ctx, root) : [];
  } catch (error) {
    ctx.warnings.push(`the text could not be assembled (${(error as Error).message.slice(0, 200)})`);
  }

  const sha256 = rawHash.digest("hex");
  const content: AnalyzedContent = {
    headers,
    blocks,
    charsets: [...ctx.charsets].filter(Boolean).sort(),
    warnings: [...new Set(ctx.warnings)].slice(0, 200),
    limitsHit: [...ctx.limitsHit].sort(),
    calendar: ctx.calendar,
    forwarded: ctx.forwarded,
    encrypted: ctx.encrypted,
  };
  if (ctx.documents.documents.length > 0) content.documents = ctx.documents.documents;
  const message: AnalyzedMessage = {
    facts: {
      from: headers.from,
      to: headers.to,
      cc: headers.cc,
      replyTo: headers.replyTo,
      subject: headers.subject,
      size: rawSize,
      sha256,
      hasHtml: ctx.hasHtml,
      attachments: ctx.attachments,
    },
    content,
  };
  if (headers.messageId) message.facts.messageId = headers.messageId;
  if (headers.date) message.facts.date = headers.date;
  // for rules on link domains (link_domain:); the blocks are already bounded by the text budget
  message.facts.linkDomains = linkDomains([message.facts.subject, ...blockTexts(blocks)]);
  return message;
}
