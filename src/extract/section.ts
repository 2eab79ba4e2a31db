/**
 * How extracted text reads in the sanitized body (render's side): one section
 * per document attachment after the message text, with page / sheet / slide
 * markers, what was omitted, and notes for what was not run or could not be
 * read; and the per-attachment lines of the report and audit trail.
 *
 * The text in the sections was made display-safe by the extractors; render
 * passes the whole body through link disarming afterwards, as every text.
 * Pure; no state.
 */
import type { Language } from "../config/schema.ts";
import type { ActiveContent, ExtractedText, ExtractionReportEntry, ExtractReason } from "./extract-types.ts";

interface SectionWords {
  title(name: string): string;
  noteTitle(name: string): string;
  end: string;
  marker(unit: ExtractedText["unit"], index: number, name?: string): string;
  notes: string;
  omitted(unit: ExtractedText["unit"], n: number): string;
  cut: string;
  active: Record<ActiveContent, string>;
  reasons: Partial<Record<ExtractReason, string>>;
  failed(reason: string): string;
}

const UNIT_JA = { page: "ページ", sheet: "シート", slide: "スライド", document: "ページ" } as const;
const UNIT_EN = { page: "page", sheet: "sheet", slide: "slide", document: "page" } as const;

const WORDS: Record<Language, SectionWords> = {
  ja: {
    title: (name) => `---------- 添付ファイル ${name} の内容（テキストのみ・書式や画像は含みません） ----------`,
    noteTitle: (name) => `---------- 添付ファイル ${name} の内容 ----------`,
    end: "---------- 添付ファイルの内容ここまで ----------",
    marker: (unit, index, name) => (unit === "sheet" ? `－－ シート ${index}${name ? `「${name}」` : ""} －－` : `－－ ${index} ${UNIT_JA[unit ?? "page"]} －－`),
    notes: "（ノート）",
    omitted: (unit, n) => `…（以下 ${n} ${UNIT_JA[unit ?? "page"]}省略）`,
    cut: "…（文字数の上限のため以下省略）",
    active: {
      macros: "マクロを含むファイルです（実行していません）",
      javascript: "JavaScript を含むファイルです（実行していません）",
      "open-action": "開いたときに動作する設定（OpenAction）を含みます（実行していません）",
      "embedded-objects": "埋め込みオブジェクトを含みます（取り出していません）",
      "embedded-files": "埋め込みファイルを含みます（取り出していません）",
      forms: "入力フォームを含みます（送信・実行していません）",
    },
    reasons: {
      "legacy-format": "旧形式の Office ファイル（.doc / .xls / .ppt）のため、内容は取り出していません",
      "too-large": "ファイルが大きすぎるため、内容は取り出していません",
      "message-budget": "このメッセージの取り出しの上限（時間・文字数）に達したため、内容は取り出していません",
      "no-text": "テキストが含まれていません（画像だけの PDF など）",
      "time-budget": "処理時間の上限を超えたため、内容を取り出せませんでした",
      "memory-budget": "メモリの上限を超えたため、内容を取り出せませんでした",
      "decompression-bomb": "展開後の大きさが上限を超えるため（圧縮爆弾の疑い）、内容を取り出せませんでした",
      "xml-entities": "XML の実体宣言（エンティティ）を含むため（攻撃の疑い）、内容を取り出せませんでした",
      "xml-depth": "XML の入れ子が深すぎるため、内容を取り出せませんでした",
      malformed: "ファイルが壊れているか形式が正しくないため、内容を取り出せませんでした",
      "worker-failed": "取り出し処理が異常終了したため、内容を取り出せませんでした",
    },
    failed: (reason) => `[${reason}]`,
  },
  en: {
    title: (name) => `---------- Content of attachment ${name} (text only, without formatting or images) ----------`,
    noteTitle: (name) => `---------- Content of attachment ${name} ----------`,
    end: "---------- End of attachment content ----------",
    marker: (unit, index, name) => (unit === "sheet" ? `-- sheet ${index}${name ? ` "${name}"` : ""} --` : `-- ${UNIT_EN[unit ?? "page"]} ${index} --`),
    notes: "(notes)",
    omitted: (unit, n) => `... (${n} more ${UNIT_EN[unit ?? "page"]}${n === 1 ? "" : "s"} omitted)`,
    cut: "... (the rest was cut at the character limit)",
    active: {
      macros: "The file contains macros (not run)",
      javascript: "The file contains JavaScript (not run)",
      "open-action": "The file contains an action run on opening (OpenAction; not run)",
      "embedded-objects": "The file contains embedded objects (not extracted)",
      "embedded-files": "The file contains embedded files (not extracted)",
      forms: "The file contains forms (not submitted or run)",
    },
    reasons: {
      "legacy-format": "Legacy Office file (.doc / .xls / .ppt): its content was not extracted",
      "too-large": "The file is too large: its content was not extracted",
      "message-budget": "The extraction budget of this message (time, characters) was spent: not extracted",
      "no-text": "The file contains no text (an image-only PDF, for example)",
      "time-budget": "The content could not be extracted within the time limit",
      "memory-budget": "The content could not be extracted within the memory limit",
      "decompression-bomb": "The content decompresses past the limit (a suspected compression bomb): not extracted",
      "xml-entities": "The file declares XML entities (a suspected attack): not extracted",
      "xml-depth": "The file's XML is nested too deeply: not extracted",
      malformed: "The file is damaged or not of its type: its content could not be extracted",
      "worker-failed": "The extraction stopped abnormally: not extracted",
    },
    failed: (reason) => `[${reason}]`,
  },
};

/** skips that need no line in the body: the operator's choice, or already in the notice (PPAP), or no text at all */
const SILENT: ReadonlySet<ExtractReason> = new Set(["disabled", "encrypted", "withheld"]);

/** The sections to append after the message text, in attachment order. */
export function extractedSections(list: readonly ExtractedText[] | undefined, language: Language): string[] {
  if (!list?.length) return [];
  const w = WORDS[language] ?? WORDS.ja;
  const out: string[] = [];
  for (const doc of list) {
    const name = doc.filename || (language === "en" ? "(no name)" : "（名前なし）");
    const notes = doc.active.map((a) => w.failed(w.active[a]));
    if (doc.status !== "extracted") {
      if (doc.reason && SILENT.has(doc.reason)) continue;
      const why = (doc.reason && w.reasons[doc.reason]) ?? w.reasons.malformed!;
      out.push([w.noteTitle(name), ...notes, w.failed(why)].join("\n"));
      continue;
    }
    const lines = [w.title(name), ...notes];
    // a sheet is always named; a page or slide is marked when there is more than one
    const markers = doc.unit === "sheet" || (doc.unit !== "document" && (doc.total ?? doc.units.length) > 1);
    for (const unit of doc.units) {
      if (markers) lines.push(w.marker(doc.unit, unit.index, unit.name));
      if (unit.text) lines.push(unit.text);
      if (unit.notes) lines.push(w.notes, unit.notes);
    }
    const omitted = Math.max(0, (doc.total ?? 0) - (doc.units.at(-1)?.index ?? 0));
    if (omitted > 0 && doc.unit !== "document") lines.push(w.omitted(doc.unit, omitted));
    else if (doc.truncated) lines.push(w.cut);
    lines.push(w.end);
    out.push(lines.join("\n"));
  }
  return out;
}

/** The report's and audit trail's line per document attachment (no text). */
export function extractionReport(list: readonly ExtractedText[] | undefined): ExtractionReportEntry[] | undefined {
  if (!list?.length) return undefined;
  return list.map((d) => {
    const e: ExtractionReportEntry = { path: d.path, filename: d.filename, kind: d.kind, status: d.status, chars: d.chars };
    if (d.reason) e.reason = d.reason;
    if (d.detail) e.detail = d.detail;
    if (d.unit) e.unit = d.unit;
    if (d.total !== undefined) e.pages = d.total;
    if (d.shown !== undefined) e.shown = d.shown;
    if (d.active.length) e.active = d.active;
    return e;
  });
}
