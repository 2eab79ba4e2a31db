/**
 * Text of PDF files with pdf.js (`pdfjs-dist`, its Node "legacy" build): page
 * by page, in content order, with the Adobe CMaps that Japanese CID fonts
 * (embedded or not: 90ms-RKSJ-H, UniJIS-UCS2-H, Identity-H + ToUnicode)
 * need to decode without mojibake.
 *
 * pdf.js runs here in this thread ("fake worker": no worker thread of its
 * own, no fetch, no network): the CMaps come from the caller (`cmaps`), the
 * standard font data and WebAssembly decoders are not loaded (text needs
 * neither), no system fonts, no font faces, no XFA, no scripting. pdf.js 6
 * has no eval path any more (no `new Function` in its build); the
 * `isEvalSupported: false` option is still passed, so an older pdf.js would
 * be held to it too. JavaScript, OpenAction, forms and embedded files are only
 * looked for and listed.
 *
 * SECURITY: the PDF is the sender's. Before pdf.js sees it, every stream
 * whose filters can expand (Flate, LZW, RunLength, behind ASCIIHex/ASCII85
 * too) is decoded or counted here under the document's decompressed-bytes
 * budget (pdf-filters.ts), so a decompression bomb is refused without pdf.js
 * ever growing a buffer for it (its buffers live outside the V8 heap limit);
 * pages read are bounded (the rest counted as omitted), characters too. Time
 * and memory are bounded from outside (the extraction worker is stopped).
 * Pure apart from pdf.js's own module state: no I/O, no clock.
 */
import * as pdfjs from "pdfjs-dist/legacy/build/pdf.mjs";
import * as pdfjsWorker from "pdfjs-dist/legacy/build/pdf.worker.mjs";
import type { ActiveContent, ExtractedUnit, ExtractLimits, ExtractionOutput } from "./extract-types.ts";
import { ExtractError } from "./extract-error.ts";
import { cleanText, TextBudget } from "./text-budget.ts";
import { BombError, decodedSize, filtersOf } from "./pdf-filters.ts";

/** filters whose output can be far larger than their input (with their abbreviations in inline images) */
const EXPANDING = new Set(["FlateDecode", "Fl", "LZWDecode", "LZW", "RunLengthDecode", "RL"]);

// pdf.js looks for an in-thread worker here before it would start a worker of its own
(globalThis as { pdfjsWorker?: unknown }).pdfjsWorker = pdfjsWorker;

/** gives the bytes of a packed Adobe CMap ("UniJIS-UCS2-H.bcmap"); undefined when unknown */
export type CMapSource = (filename: string) => Uint8Array | undefined;

/** a stream dictionary sits just before its `stream` keyword: this much is looked at */
const DICT_WINDOW = 2048;

/** an action that does something on its own (not a plain "go to page" destination) */
const ACTION_RE = /\/S\s*\/(?:JavaScript|Launch|SubmitForm|ImportData|URI|GoToR|GoToE|Rendition|ResetForm|Hide|Named)\b/;

const MAX_OPEN_ACTIONS = 8;

/** Does the document's OpenAction run something? A destination (open at page 1, zoom) does not. */
function openActionRuns(text: string): boolean {
  const re = /\/OpenAction\s*(?:(<<[\s\S]{0,400}?>>)|(\d+)\s+(\d+)\s+R)/g;
  // a document has one OpenAction (a few with incremental updates): a hostile file with thousands costs no more
  let looked = 0;
  for (let m = re.exec(text); m && looked < MAX_OPEN_ACTIONS; m = re.exec(text), looked++) {
    if (m[1] !== undefined && ACTION_RE.test(m[1])) return true;
    if (m[2] !== undefined) {
      const obj = new RegExp(`(?:^|\\s)${m[2]}\\s+${m[3]}\\s+obj\\b([\\s\\S]{0,400}?)endobj`).exec(text);
      if (obj && ACTION_RE.test(obj[1] ?? "")) return true;
    }
  }
  return false;
}

/** Markers of content that is never run, only listed (in the file or in its decompressed object streams). */
function activeIn(text: string, found: Set<ActiveContent>): void {
  if (/\/(?:JavaScript|JS)\b/.test(text)) found.add("javascript");
  if (openActionRuns(text) || /\/AA\s*<</.test(text)) found.add("open-action");
  if (/\/EmbeddedFiles?\b/.test(text)) found.add("embedded-files");
  if (/\/AcroForm\b|\/XFA\b|\/SubmitForm\b/.test(text)) found.add("forms");
  if (/\/Launch\b|\/RichMedia\b/.test(text)) found.add("embedded-objects");
}

/** the last "N G obj" in a window (not "endobj"): where the stream's own object starts, and its number */
function objectHeader(window: string): { at: number; object: number } | undefined {
  for (let i = window.lastIndexOf("obj"); i > 0; i = window.lastIndexOf("obj", i - 1)) {
    if (/[A-Za-z]/.test(window[i - 1] ?? "")) continue; // "endobj"
    const m = /(\d+)\s+\d+\s+$/.exec(window.slice(Math.max(0, i - 24), i));
    if (m) return { at: i - m[0].length, object: Number(m[1]) };
  }
  return undefined;
}

/** a stream's /Length: a direct number, or an indirect one ("/Length 7 0 R" → "7 0 obj 1234 endobj") */
function streamLength(dict: string, numbers: () => Map<string, number>): number | undefined {
  const m = /\/Length\s+(\d+)(?:\s+(\d+)\s+R)?/.exec(dict);
  if (!m) return undefined;
  if (m[2] === undefined) return Number(m[1]);
  return numbers().get(`${m[1]} ${m[2]}`);
}

/** every "N G obj <integer> endobj" of the file, found in one pass (built on the first indirect /Length) */
function numberObjects(latin: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const m of latin.matchAll(/(?:^|[^0-9])(\d{1,10})\s+(\d{1,5})\s+obj\s*(\d{1,12})\s*endobj/g)) {
    const key = `${m[1]} ${m[2]}`;
    if (!map.has(key)) map.set(key, Number(m[3]));
  }
  return map;
}

/** the object numbers a page's /Contents refers to ("/Contents 12 0 R", "/Contents [12 0 R 13 0 R]") */
function contentRefs(text: string, into: Set<number>): void {
  for (const m of text.matchAll(/\/Contents\s*(\[[^\]]{0,2000}\]|\d+\s+\d+\s+R)/g)) {
    for (const ref of m[1]!.matchAll(/(\d+)\s+\d+\s+R/g)) into.add(Number(ref[1]));
  }
}

/**
 * Decodes (or counts) every expanding stream once, under the document's
 * budget: a bomb is refused before pdf.js runs. Returns what active content
 * the file shows.
 *
 * Images are left out (pdf.js reads no image to get text, and a Word export
 * full of screenshots must not pass for a bomb) — unless a page names the
 * stream as its content, which is how a bomb dressed as an image would be
 * read: such a stream is counted like any content. Pages inside object
 * streams are seen too (their decoded text is searched for /Contents).
 */
export function prescanPdf(bytes: Uint8Array, maxInflatedBytes: number): ActiveContent[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const latin = buf.toString("latin1");
  const found = new Set<ActiveContent>();
  activeIn(latin, found);
  const contents = new Set<number>();
  contentRefs(latin, contents);
  let inflated = 0;
  const images: { object: number; data: Buffer; filters: string[] }[] = [];
  const count = (data: Buffer, filters: string[]) => {
    try {
      const decoded = decodedSize(data, filters, maxInflatedBytes - inflated);
      inflated += decoded.size;
      return decoded;
    } catch (error) {
      if (error instanceof BombError) throw new ExtractError("decompression-bomb", `pdf: more than ${maxInflatedBytes} bytes once decompressed`);
      throw error;
    }
  };
  let numbers: Map<string, number> | undefined;
  const lookup = () => (numbers ??= numberObjects(latin));
  const streamRe = /stream\r?\n/g;
  for (let m = streamRe.exec(latin); m; m = streamRe.exec(latin)) {
    const dict = latin.slice(Math.max(0, m.index - DICT_WINDOW), m.index);
    const header = objectHeader(dict);
    const own = header ? dict.slice(header.at) : dict;
    const start = m.index + m[0].length;
    // the data's end as pdf.js finds it: by /Length (direct or an indirect number) when that lands
    // on "endstream", else by searching for the keyword (which the data itself may contain)
    const declared = streamLength(own, lookup);
    const byLength = declared !== undefined && /^\s*endstream/.test(latin.slice(start + declared, start + declared + 16)) ? start + declared : -1;
    const end = byLength >= 0 ? byLength : latin.indexOf("endstream", start);
    if (end < 0) break;
    // past "endstream" itself: its own "stream" must not be taken for the next stream's start
    streamRe.lastIndex = end + "endstream".length;
    const filters = filtersOf(own);
    if (!filters.some((f) => EXPANDING.has(f))) continue;
    if (/\/Subtype\s*\/Image\b/.test(own)) {
      images.push({ object: header?.object ?? -1, data: buf.subarray(start, end), filters });
      continue;
    }
    const decoded = count(buf.subarray(start, end), filters);
    if (decoded.bytes && /\/Type\s*\/ObjStm/.test(own)) {
      const text = decoded.bytes.toString("latin1");
      activeIn(text, found);
      contentRefs(text, contents);
    }
  }
  for (const image of images) if (contents.has(image.object)) count(image.data, image.filters);
  return [...found];
}

/** pdf.js asks this for CMaps (and for font data and wasm, which it does not get) */
function dataFactory(cmaps: CMapSource) {
  return class MumukaBinaryData {
    async fetch({ kind, filename }: { kind: string; filename: string }): Promise<Uint8Array> {
      if (kind === "cMapUrl") {
        const data = cmaps(filename);
        if (data) return data;
      }
      throw new Error(`${kind} ${filename} is not available`);
    }
  };
}

interface TextItemLike {
  str?: string;
  hasEOL?: boolean;
}

/**
 * `enough` is asked between pages (the caller's clock, not ours): once it says so, the pages read
 * so far are the result and the rest count as omitted, rather than losing everything to the
 * hard time limit.
 */
export async function extractPdf(bytes: Uint8Array, limits: ExtractLimits, cmaps: CMapSource, enough: () => boolean = () => false): Promise<ExtractionOutput> {
  const active = prescanPdf(bytes, limits.maxInflatedBytes);
  const params = {
    // a copy: pdf.js takes ownership of the buffer it is given
    data: new Uint8Array(bytes),
    useWorkerFetch: false,
    BinaryDataFactory: dataFactory(cmaps),
    cMapUrl: "mumuka-cmaps/",
    cMapPacked: true,
    useWasm: false,
    useSystemFonts: false,
    disableFontFace: true,
    isEvalSupported: false,
    enableXfa: false,
    isOffscreenCanvasSupported: false,
    isImageDecoderSupported: false,
    disableRange: true,
    disableStream: true,
    disableAutoFetch: true,
    stopAtErrors: false,
    verbosity: 0,
  };
  const task = pdfjs.getDocument(params as Parameters<typeof pdfjs.getDocument>[0]);
  let doc: Awaited<typeof task.promise>;
  try {
    doc = await task.promise;
  } catch (error) {
    const e = error as Error;
    await task.destroy().catch(() => {});
    if (e.name === "PasswordException") throw new ExtractError("encrypted", "pdf: password protected");
    throw new ExtractError("malformed", `pdf: ${e.name}: ${e.message.slice(0, 100)}`);
  }
  try {
    const budget = new TextBudget(limits.maxCharsPerFile);
    const total = doc.numPages;
    const units: ExtractedUnit[] = [];
    for (let n = 1; n <= Math.min(total, limits.maxPages) && !budget.spent && !(n > 1 && enough()); n++) {
      let text = "";
      try {
        const page = await doc.getPage(n);
        const content = await page.getTextContent();
        for (const item of content.items as TextItemLike[]) {
          text += (item.str ?? "") + (item.hasEOL ? "\n" : "");
        }
        page.cleanup();
      } catch (error) {
        // one unreadable page does not cost the others
        text = "";
        if (n === 1 && total === 1) throw new ExtractError("malformed", `pdf: ${(error as Error).message.slice(0, 100)}`);
      }
      units.push({ index: n, text: cleanText(budget.take(text)) });
    }
    if (total > 0 && units.every((u) => u.text === "")) {
      return { ok: true, unit: "page", total, units: [], truncated: false, active };
    }
    return { ok: true, unit: "page", total, units, truncated: budget.truncated, active };
  } finally {
    await task.destroy().catch(() => {});
  }
}
