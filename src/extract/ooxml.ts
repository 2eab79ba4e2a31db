/**
 * Text of Office Open XML documents: Word (.docx), Excel (.xlsx) and
 * PowerPoint (.pptx). Unzip (zip.ts) plus streaming XML (xml.ts): the parts
 * are read in the order the package declares (workbook sheets, presentation
 * slides), text only — no formatting, images, formulas or fields.
 *
 * Word: paragraphs as lines, tables as tab-separated rows. Excel: one section
 * per sheet, rows tab-separated, shared strings resolved (phonetic guides
 * left out), dates by the cell's number format as YYYY-MM-DD. PowerPoint: one
 * section per slide with its speaker notes.
 *
 * SECURITY: the package is the sender's. Bounds: sheets, cells, pages
 * (slides), characters, decompressed bytes, XML depth; macros (vbaProject),
 * embedded objects and ActiveX are never run, only listed. Pure: no I/O, no
 * clock.
 */
import type { ActiveContent, ExtractedUnit, ExtractLimits, ExtractionOutput } from "./extract-types.ts";
import { ExtractError } from "./extract-error.ts";
import { openZip, type ZipReader } from "./zip.ts";
import { local, parseXml, StopParsing } from "./xml.ts";
import { cellText, cleanText, TextBudget } from "./text-budget.ts";

/** columns of one row shown: beyond this a sheet is a data dump, not something staff read in mail */
const MAX_COLUMNS = 256;
/** shared strings kept, in characters, relative to the characters a document may show */
const SHARED_STRING_FACTOR = 4;

export function activeContentOfZip(zip: ZipReader): ActiveContent[] {
  const found = new Set<ActiveContent>();
  for (const name of zip.entries.keys()) {
    if (/(^|\/)vbaProject\.bin$|(^|\/)vbaData\.xml$|^(Basic|Scripts)\/.+\.(xml|xba|js|py|bsh)$/i.test(name)) found.add("macros");
    if (/\/(embeddings|activeX)\//i.test(name) || /^Object \d+\//.test(name)) found.add("embedded-objects");
  }
  return [...found];
}

/** a relationship target resolved against the part that refers to it ("xl/workbook.xml" + "worksheets/sheet1.xml") */
export function resolvePart(from: string, target: string): string {
  if (target.startsWith("/")) return target.slice(1);
  const parts = from.split("/").slice(0, -1);
  for (const seg of target.split("/")) {
    if (seg === "..") parts.pop();
    else if (seg !== "." && seg !== "") parts.push(seg);
  }
  return parts.join("/");
}

function relsOf(zip: ZipReader, part: string, limits: ExtractLimits): Map<string, { target: string; type: string }> {
  const dir = part.split("/").slice(0, -1).join("/");
  const relsName = `${dir ? `${dir}/` : ""}_rels/${part.split("/").pop()}.rels`;
  const rels = new Map<string, { target: string; type: string }>();
  const bytes = zip.read(relsName);
  if (!bytes) return rels;
  parseXml(bytes, limits.maxXmlDepth, {
    open(name, a) {
      if (local(name) === "Relationship" && a.Id && a.Target && a.TargetMode !== "External") {
        rels.set(a.Id, { target: resolvePart(part, a.Target), type: a.Type ?? "" });
      }
    },
  });
  return rels;
}

/** Runs a parse that may stop early on the budget; a stop is not an error. */
function parseBounded(bytes: Buffer, limits: ExtractLimits, handlers: Parameters<typeof parseXml>[2]): void {
  try {
    parseXml(bytes, limits.maxXmlDepth, handlers);
  } catch (error) {
    if (!(error instanceof StopParsing)) throw error;
  }
}

// ---------------------------------------------------------------- Word

/**
 * Paragraphs and tables of a WordprocessingML body. Elements in `skip` are left
 * out with their content (the fallback copy of a text box, deleted text).
 */
function wordText(bytes: Buffer, limits: ExtractLimits, budget: TextBudget): string {
  const lines: string[] = [];
  let para = "";
  let inText = false;
  let skipDepth = 0;
  const tables: { row: string[] | undefined; cell: string[] | undefined; rows: string[] }[] = [];
  const emit = (line: string) => {
    const table = tables.at(-1);
    if (table?.cell) table.cell.push(line);
    else lines.push(line);
  };
  parseBounded(bytes, limits, {
    open(name) {
      if (skipDepth > 0 || name === "mc:Fallback" || name === "w:del" || name === "w:instrText") {
        skipDepth++;
        return;
      }
      switch (name) {
        case "w:t":
          inText = true;
          break;
        case "w:tab":
          para += "\t";
          break;
        case "w:br":
        case "w:cr":
          para += "\n";
          break;
        case "w:tbl":
          if (para) emit(para);
          para = "";
          tables.push({ row: undefined, cell: undefined, rows: [] });
          break;
        case "w:tr":
          if (tables.at(-1)) tables.at(-1)!.row = [];
          break;
        case "w:tc":
          if (tables.at(-1)) tables.at(-1)!.cell = [];
          break;
      }
    },
    close(name) {
      if (skipDepth > 0) {
        skipDepth--;
        return;
      }
      const table = tables.at(-1);
      switch (name) {
        case "w:t":
          inText = false;
          break;
        case "w:p":
          emit(para);
          para = "";
          break;
        case "w:tc":
          if (table?.row && table.cell) table.row.push(cellText(table.cell.join(" ")));
          if (table) table.cell = undefined;
          break;
        case "w:tr":
          if (table?.row) table.rows.push(table.row.join("\t").trimEnd());
          if (table) table.row = undefined;
          break;
        case "w:tbl":
          tables.pop();
          for (const row of table?.rows ?? []) emit(row);
          break;
      }
    },
    text(t) {
      if (!inText || skipDepth > 0) return;
      para += budget.take(t);
      budget.check();
    },
  });
  if (para) emit(para);
  for (const table of tables) for (const row of table.rows) lines.push(row);
  return lines.join("\n");
}

function docx(zip: ZipReader, limits: ExtractLimits, budget: TextBudget): ExtractionOutput {
  const main = zip.read("word/document.xml");
  if (!main) throw new ExtractError("malformed", "docx: no word/document.xml");
  const text = cleanText(wordText(main, limits, budget));
  return { ok: true, unit: "document", total: 1, units: [{ index: 1, text }], truncated: budget.truncated, active: activeContentOfZip(zip) };
}

// ---------------------------------------------------------------- Excel

/** built-in number formats that show a date or time (ECMA-376 18.8.30, with the Japanese-locale ones 27–36, 50–58) */
const BUILTIN_DATE_FORMATS = new Set([14, 15, 16, 17, 18, 19, 20, 21, 22, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 45, 46, 47, 50, 51, 52, 53, 54, 55, 56, 57, 58]);

/** What a custom number format shows: a date, a time of day, or a number (quoted text, escapes and locale tags ignored). */
export function isDateFormat(code: string): { date: boolean; time: boolean; timeOnly: boolean } {
  const none = { date: false, time: false, timeOnly: false };
  const bare = code
    .split(";")[0]!
    .replace(/"[^"]*"/g, "")
    .replace(/\\./g, "")
    .replace(/_./g, "")
    .replace(/\[(?![hms]+\])[^\]]*\]/gi, "")
    .replace(/[eE][+-]/g, "");
  if (/^\s*general\s*$/i.test(bare) || bare.trim() === "") return none;
  // y, d, and the Japanese era letters g / e: a calendar date
  const day = /[ydge]/i.test(bare);
  const time = /[hs]/i.test(bare);
  // m is a month unless it sits among hours and seconds only (h:mm)
  const month = /m/i.test(bare) && !time;
  if (!day && !time && !month) return none;
  return { date: true, time, timeOnly: time && !day };
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** An Excel serial date as text: calendar arithmetic only (UTC), no clock. */
export function excelDate(serial: number, date1904: boolean, withTime: boolean, timeOnly: boolean): string {
  // 1900 system: day 1 is 1900-01-01 and Excel counts a 29 February 1900 that never was (serial 60)
  const epoch = date1904 ? Date.UTC(1904, 0, 1) : serial < 60 ? Date.UTC(1899, 11, 31) : Date.UTC(1899, 11, 30);
  const ms = Math.round(serial * 86_400) * 1000;
  const d = new Date(epoch + ms);
  if (Number.isNaN(d.getTime())) return String(serial);
  const day = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}${d.getUTCSeconds() ? `:${pad(d.getUTCSeconds())}` : ""}`;
  if (timeOnly && serial < 1) return time;
  return withTime && ms % 86_400_000 !== 0 ? `${day} ${time}` : day;
}

/** a number as a person reads it: at most 15 significant digits (binary noise such as 0.30000000000000004 gone) */
export function numberText(v: string): string {
  const n = Number(v);
  if (!Number.isFinite(n)) return v.trim();
  return String(Number(n.toPrecision(15)));
}

/** "AB12" → 27 (0-based column index); -1 when absent */
export function columnOf(ref: string | undefined): number {
  const m = /^([A-Z]{1,3})/.exec(ref ?? "");
  if (!m) return -1;
  let col = 0;
  for (const ch of m[1]!) col = col * 26 + (ch.charCodeAt(0) - 64);
  return col - 1;
}

function sharedStrings(zip: ZipReader, limits: ExtractLimits): { strings: string[]; cut: boolean } {
  const strings: string[] = [];
  const bytes = zip.read("xl/sharedStrings.xml");
  if (!bytes) return { strings, cut: false };
  let room = limits.maxCharsPerFile * SHARED_STRING_FACTOR;
  let cut = false;
  let current: string | undefined;
  let inT = false;
  let inPhonetic = 0;
  parseBounded(bytes, limits, {
    open(name) {
      const n = local(name);
      if (n === "si") current = "";
      else if (n === "rPh") inPhonetic++;
      else if (n === "t") inT = true;
    },
    close(name) {
      const n = local(name);
      if (n === "si") {
        strings.push(current ?? "");
        current = undefined;
        if (strings.length >= limits.maxCells) {
          cut = true;
          throw new StopParsing();
        }
      } else if (n === "rPh") inPhonetic--;
      else if (n === "t") inT = false;
    },
    text(t) {
      if (!inT || inPhonetic > 0 || current === undefined) return;
      const take = t.slice(0, Math.max(0, room));
      if (take.length < t.length) cut = true;
      room -= take.length;
      current += take;
    },
  });
  return { strings, cut };
}

interface DateStyles {
  /** style index → date format */
  styles: Map<number, { time: boolean; timeOnly: boolean }>;
}

function dateStyles(zip: ZipReader, limits: ExtractLimits): DateStyles {
  const custom = new Map<number, string>();
  const styles = new Map<number, { time: boolean; timeOnly: boolean }>();
  const bytes = zip.read("xl/styles.xml");
  if (!bytes) return { styles };
  let inXfs = false;
  let index = 0;
  parseBounded(bytes, limits, {
    open(name, a) {
      const n = local(name);
      if (n === "numFmt" && a.numFmtId !== undefined && a.formatCode !== undefined) custom.set(Number(a.numFmtId), a.formatCode);
      else if (n === "cellXfs") inXfs = true;
      else if (n === "xf" && inXfs) {
        const id = Number(a.numFmtId ?? 0);
        const code = custom.get(id);
        if (code !== undefined) {
          const f = isDateFormat(code);
          if (f.date) styles.set(index, { time: f.time, timeOnly: f.timeOnly });
        } else if (BUILTIN_DATE_FORMATS.has(id)) {
          const timeOnly = (id >= 18 && id <= 21) || (id >= 45 && id <= 47) || id === 32 || id === 33 || id === 34 || id === 35;
          styles.set(index, { time: id === 22 || timeOnly, timeOnly });
        }
        index++;
      }
    },
    close(name) {
      if (local(name) === "cellXfs") inXfs = false;
    },
  });
  return { styles };
}

function xlsx(zip: ZipReader, limits: ExtractLimits, budget: TextBudget): ExtractionOutput {
  const workbookPart = "xl/workbook.xml";
  const workbook = zip.read(workbookPart);
  if (!workbook) throw new ExtractError("malformed", "xlsx: no xl/workbook.xml");
  const sheets: { name: string; id: string }[] = [];
  let date1904 = false;
  parseBounded(workbook, limits, {
    open(name, a) {
      const n = local(name);
      if (n === "workbookPr" && (a.date1904 === "1" || a.date1904 === "true")) date1904 = true;
      if (n === "sheet") sheets.push({ name: a.name ?? "", id: a["r:id"] ?? Object.entries(a).find(([k]) => k.endsWith(":id"))?.[1] ?? "" });
    },
  });
  const rels = relsOf(zip, workbookPart, limits);
  const { strings, cut } = sharedStrings(zip, limits);
  const { styles } = dateStyles(zip, limits);
  let cells = 0;
  let truncated = cut;
  const units: ExtractedUnit[] = [];
  for (const [i, sheet] of sheets.entries()) {
    if (units.length >= limits.maxSheets || budget.spent || cells >= limits.maxCells) break;
    const part = rels.get(sheet.id)?.target;
    const bytes = part ? zip.read(part) : undefined;
    const rows: string[] = [];
    if (bytes) {
      let row: string[] = [];
      let col = -1;
      let type = "";
      let style = -1;
      let value = "";
      let inValue = false;
      let inInline = 0;
      let inPhonetic = 0;
      parseBounded(bytes, limits, {
        open(name, a) {
          const n = local(name);
          if (n === "row") row = [];
          else if (n === "c") {
            cells++;
            if (cells > limits.maxCells) {
              truncated = true;
              throw new StopParsing();
            }
            const ref = columnOf(a.r);
            col = ref >= 0 ? ref : row.length;
            type = a.t ?? "n";
            style = a.s !== undefined ? Number(a.s) : -1;
            value = "";
          } else if (n === "v") inValue = true;
          else if (n === "is") inInline++;
          else if (n === "rPh") inPhonetic++;
          else if (n === "t" && inInline > 0) inValue = true;
        },
        close(name) {
          const n = local(name);
          if (n === "v" || n === "t") inValue = false;
          else if (n === "is") inInline--;
          else if (n === "rPh") inPhonetic--;
          else if (n === "c") {
            if (col >= MAX_COLUMNS) return;
            let shown = value;
            if (type === "s") shown = strings[Number(value)] ?? "";
            else if (type === "b") shown = value === "1" ? "TRUE" : "FALSE";
            else if (type === "n" && value !== "") {
              const date = styles.get(style);
              shown = date ? excelDate(Number(value), date1904, date.time, date.timeOnly) : numberText(value);
            }
            while (row.length < col) row.push("");
            row[col] = cellText(shown);
          } else if (n === "row") {
            const line = row.join("\t").trimEnd();
            if (line) {
              rows.push(budget.take(line));
              budget.check();
            }
          }
        },
        text(t) {
          if (inValue && inPhonetic === 0) value += t;
        },
      });
    }
    units.push({ index: i + 1, name: cellText(sheet.name), text: cleanText(rows.join("\n")) });
  }
  return { ok: true, unit: "sheet", total: sheets.length, units, truncated: truncated || budget.truncated, active: activeContentOfZip(zip) };
}

// ---------------------------------------------------------------- PowerPoint

/** DrawingML text of one slide or notes page: paragraphs as lines, table cells tab-separated */
function drawingText(bytes: Buffer, limits: ExtractLimits, budget: TextBudget): string {
  let out = "";
  let inText = false;
  let skipDepth = 0;
  parseBounded(bytes, limits, {
    open(name, a) {
      if (skipDepth > 0 || name === "mc:Fallback" || (local(name) === "fld" && a.type === "slidenum")) {
        skipDepth++;
        return;
      }
      const n = local(name);
      if (n === "t") inText = true;
      else if (n === "br") out += "\n";
    },
    close(name) {
      if (skipDepth > 0) {
        skipDepth--;
        return;
      }
      const n = local(name);
      if (n === "t") inText = false;
      else if (n === "p") out += "\n";
      else if (n === "tc") out = `${out.replace(/\n+$/, "")}\t`;
      else if (n === "tr") out = `${out.replace(/\t$/, "")}\n`;
    },
    text(t) {
      if (!inText || skipDepth > 0) return;
      out += budget.take(t);
      budget.check();
    },
  });
  return out;
}

function pptx(zip: ZipReader, limits: ExtractLimits, budget: TextBudget): ExtractionOutput {
  const presentationPart = "ppt/presentation.xml";
  const presentation = zip.read(presentationPart);
  if (!presentation) throw new ExtractError("malformed", "pptx: no ppt/presentation.xml");
  const ids: string[] = [];
  parseBounded(presentation, limits, {
    open(name, a) {
      if (local(name) === "sldId") ids.push(a["r:id"] ?? Object.entries(a).find(([k]) => k.endsWith(":id"))?.[1] ?? "");
    },
  });
  const rels = relsOf(zip, presentationPart, limits);
  const units: ExtractedUnit[] = [];
  for (const [i, id] of ids.entries()) {
    if (units.length >= limits.maxPages || budget.spent) break;
    const part = rels.get(id)?.target;
    const bytes = part ? zip.read(part) : undefined;
    if (!part || !bytes) continue;
    const unit: ExtractedUnit = { index: i + 1, text: cleanText(drawingText(bytes, limits, budget)) };
    const notesPart = [...relsOf(zip, part, limits).values()].find((r) => r.type.endsWith("/notesSlide"))?.target;
    const notesBytes = notesPart && !budget.spent ? zip.read(notesPart) : undefined;
    if (notesBytes) {
      const notes = cleanText(drawingText(notesBytes, limits, budget));
      if (notes) unit.notes = notes;
    }
    units.push(unit);
  }
  return { ok: true, unit: "slide", total: ids.length, units, truncated: budget.truncated, active: activeContentOfZip(zip) };
}

export type OoxmlKind = "docx" | "xlsx" | "pptx";

/** Which OOXML document a package is, by its parts (never by the file name). */
export function ooxmlKindOf(zip: ZipReader): OoxmlKind | undefined {
  if (zip.has("word/document.xml")) return "docx";
  if (zip.has("xl/workbook.xml")) return "xlsx";
  if (zip.has("ppt/presentation.xml")) return "pptx";
  return undefined;
}

export function extractOoxml(kind: OoxmlKind, bytes: Uint8Array, limits: ExtractLimits): ExtractionOutput {
  const zip = openZip(bytes, limits.maxInflatedBytes);
  const budget = new TextBudget(limits.maxCharsPerFile);
  if (kind === "docx") return docx(zip, limits, budget);
  if (kind === "xlsx") return xlsx(zip, limits, budget);
  return pptx(zip, limits, budget);
}
