/**
 * Text of OpenDocument files: text (.odt), spreadsheet (.ods) and
 * presentation (.odp). Unzip plus streaming XML of content.xml, text only.
 *
 * odt: paragraphs and headings as lines, tables as tab-separated rows. ods:
 * one section per sheet, rows tab-separated, the text the cell shows (dates
 * as their ISO value). odp: one section per page with its notes.
 *
 * SECURITY: the package is the sender's. ODF's repeat counts
 * (number-columns-repeated="16384") are a multiplication the sender
 * controls: empty repeats are dropped, and every repeated cell counts against
 * maxCells. Macros (Basic/, Scripts/) and embedded objects are listed, never
 * run. Pure: no I/O, no clock.
 */
import type { ExtractedUnit, ExtractLimits, ExtractionOutput } from "./extract-types.ts";
import { ExtractError } from "./extract-error.ts";
import { openZip, type ZipReader } from "./zip.ts";
import { parseXml, StopParsing } from "./xml.ts";
import { cellText, cleanText, TextBudget } from "./text-budget.ts";
import { activeContentOfZip } from "./ooxml.ts";

/** a run of spaces written as <text:s text:c="n"/>: more than this is layout, not text */
const MAX_SPACES = 100;
/** columns of one row shown (as in ooxml.ts) */
const MAX_COLUMNS = 256;
/** identical non-empty rows repeated by one element shown at most this often */
const MAX_ROW_REPEAT = 100;

export type OdfKind = "odt" | "ods" | "odp";

export function odfKindOf(zip: ZipReader): OdfKind | undefined {
  const mimetype = zip.has("mimetype") ? zip.read("mimetype")?.toString("latin1").trim() : undefined;
  if (mimetype === "application/vnd.oasis.opendocument.text") return "odt";
  if (mimetype === "application/vnd.oasis.opendocument.spreadsheet") return "ods";
  if (mimetype === "application/vnd.oasis.opendocument.presentation") return "odp";
  return undefined;
}

const count = (v: string | undefined, max: number) => Math.min(max, Math.max(1, Math.floor(Number(v ?? 1)) || 1));

export function extractOdf(kind: OdfKind, bytes: Uint8Array, limits: ExtractLimits): ExtractionOutput {
  const zip = openZip(bytes, limits.maxInflatedBytes);
  const content = zip.read("content.xml");
  if (!content) throw new ExtractError("malformed", `${kind}: no content.xml`);
  const budget = new TextBudget(limits.maxCharsPerFile);
  const units: ExtractedUnit[] = [];
  let total = 0;
  let truncated = false;
  let cells = 0;

  // the text being gathered: a paragraph, inside a cell, inside a row, inside a table
  let para = "";
  let paraDepth = 0;
  let skipDepth = 0;
  let lines: string[] = [];
  let notes: string[] | undefined;
  const tables: { rows: string[]; row: string[] | undefined; cell: string[] | undefined; cellRepeat: number; rowRepeat: number; date?: string }[] = [];
  const emit = (line: string) => {
    const table = tables.at(-1);
    if (table?.cell) table.cell.push(line);
    else if (notes) notes.push(line);
    else lines.push(line);
  };
  const startUnit = (name?: string) => {
    lines = [];
    total++;
    if (units.length >= (kind === "ods" ? limits.maxSheets : limits.maxPages) || budget.spent) {
      truncated = true;
      throw new StopParsing();
    }
    const unit: ExtractedUnit = { index: total, text: "" };
    if (name !== undefined) unit.name = cellText(name);
    units.push(unit);
  };
  const endUnit = () => {
    const unit = units.at(-1);
    if (unit) unit.text = cleanText(lines.join("\n"));
    lines = [];
  };

  try {
    parseXml(content, limits.maxXmlDepth, {
      open(name, a) {
        if (skipDepth > 0 || name === "text:tracked-changes" || name === "office:annotation" || name === "presentation:notes-placeholder") {
          skipDepth++;
          return;
        }
        switch (name) {
          case "text:p":
          case "text:h":
            if (paraDepth > 0 && para) emit(para);
            if (paraDepth === 0) para = "";
            paraDepth++;
            break;
          case "text:tab":
            para += "\t";
            break;
          case "text:line-break":
            para += "\n";
            break;
          case "text:s":
            para += " ".repeat(count(a["text:c"], MAX_SPACES));
            break;
          case "table:table":
            if (kind === "ods" && tables.length === 0) startUnit(a["table:name"] ?? "");
            tables.push({ rows: [], row: undefined, cell: undefined, cellRepeat: 1, rowRepeat: 1 });
            break;
          case "table:table-row":
            if (tables.at(-1)) Object.assign(tables.at(-1)!, { row: [], rowRepeat: count(a["table:number-rows-repeated"], 1_048_576) });
            break;
          case "table:table-cell":
          case "table:covered-table-cell": {
            const table = tables.at(-1);
            if (!table) break;
            table.cell = [];
            table.cellRepeat = count(a["table:number-columns-repeated"], 16_384);
            const date = a["office:date-value"] ?? a["office:time-value"];
            if (date !== undefined) table.date = date.replace("T00:00:00", "").replace("T", " ");
            else delete table.date;
            break;
          }
          case "draw:page":
            if (kind === "odp") startUnit();
            break;
          case "presentation:notes":
            if (kind === "odp") notes = [];
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
          case "text:p":
          case "text:h":
            paraDepth--;
            if (paraDepth === 0) {
              emit(para);
              para = "";
            }
            break;
          case "table:table-cell":
          case "table:covered-table-cell": {
            if (!table?.row || !table.cell) break;
            const text = cellText(table.date ?? table.cell.join(" "));
            // trailing empty repeats fill a sheet to its last column: they are not data
            const repeat = text === "" ? Math.min(table.cellRepeat, MAX_COLUMNS) : table.cellRepeat;
            for (let i = 0; i < repeat && table.row.length < MAX_COLUMNS; i++) {
              cells++;
              if (cells > limits.maxCells) {
                truncated = true;
                throw new StopParsing();
              }
              table.row.push(text);
            }
            table.cell = undefined;
            break;
          }
          case "table:table-row": {
            if (!table?.row) break;
            const line = table.row.join("\t").trimEnd();
            if (line) {
              for (let i = 0; i < Math.min(table.rowRepeat, MAX_ROW_REPEAT); i++) {
                cells += table.row.length;
                if (cells > limits.maxCells) {
                  truncated = true;
                  throw new StopParsing();
                }
                table.rows.push(budget.take(line));
                budget.check();
              }
            }
            table.row = undefined;
            break;
          }
          case "table:table":
            tables.pop();
            for (const row of table?.rows ?? []) emit(row);
            if (kind === "ods" && tables.length === 0) endUnit();
            break;
          case "draw:page":
            if (kind === "odp") endUnit();
            break;
          case "presentation:notes": {
            const unit = units.at(-1);
            const text = cleanText((notes ?? []).join("\n"));
            if (unit && text) unit.notes = text;
            notes = undefined;
            break;
          }
        }
      },
      text(t) {
        if (paraDepth === 0 || skipDepth > 0) return;
        para += budget.take(t);
        budget.check();
      },
    });
  } catch (error) {
    if (!(error instanceof StopParsing)) throw error;
  }
  if (kind === "odt") {
    if (para) emit(para);
    return { ok: true, unit: "document", total: 1, units: [{ index: 1, text: cleanText(lines.join("\n")) }], truncated: budget.truncated, active: activeContentOfZip(zip) };
  }
  const last = units.at(-1);
  if (last && last.text === "" && lines.length) endUnit();
  return { ok: true, unit: kind === "ods" ? "sheet" : "slide", total, units, truncated: truncated || budget.truncated, active: activeContentOfZip(zip) };
}
