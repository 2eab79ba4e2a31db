/**
 * The contract of text extraction from attachments (PDF, OOXML, ODF): what
 * analyze keeps of a document, the budgets an extraction runs under, and the
 * plain-data result render shows and the report / audit trail record.
 *
 * Everything here is structured-clone-able: documents travel from the
 * sanitizer worker to its extraction worker and results come back.
 *
 * SECURITY: the kept bytes are the sender's file, hostile. Only the
 * extractors (pdf.ts, ooxml.ts, odf.ts) read them, inside the extraction
 * worker; what comes out is text made display-safe plus counts.
 */

/** the document kinds text can be extracted from (the values of `sanitize.extractText`) */
export const EXTRACT_KINDS = ["pdf", "docx", "xlsx", "pptx", "odt", "ods", "odp"] as const;
export type ExtractKind = (typeof EXTRACT_KINDS)[number];

/** what a document was recognised as from its bytes: an extractable kind, or a legacy binary Office file */
export type DocumentKind = ExtractKind | "legacy-office";

/** An attachment analyze recognised (by its bytes) as a document and kept, within bounds, for extraction. */
export interface KeptDocument {
  /** MIME path of the part, as in RemovedPart */
  path: string;
  /** display-safe file name ("" when none) */
  filename: string;
  /** what its bytes say it is */
  kind: DocumentKind;
  /** sniffed type (RemovedPart.sniffedType) */
  sniffedType: string;
  /** a password-protected document (PPAP): not extracted, reported as the notice already does */
  encrypted: boolean;
  /** decoded size in bytes */
  size: number;
  /** the decoded bytes; absent when the file was larger than the keep budget (then `tooLarge`) */
  bytes?: Uint8Array;
  tooLarge?: "file" | "message";
}

/** Budgets of extraction (config `sanitize.extractLimits`). Past any of them the result says what was cut. */
export interface ExtractLimits {
  /** pages (PDF), slides (pptx/odp) read from one document; the rest are counted as omitted */
  maxPages: number;
  /** sheets read from one workbook */
  maxSheets: number;
  /** cells read from one workbook (all sheets) */
  maxCells: number;
  /** characters of text shown for one document */
  maxCharsPerFile: number;
  /** characters of extracted text shown for one message (all documents) */
  maxCharsTotal: number;
  /** decompressed bytes one document may produce (zip entries, PDF streams): a bomb is refused past it */
  maxInflatedBytes: number;
  /** nesting depth of XML elements */
  maxXmlDepth: number;
  /** wall-clock budget of one document, milliseconds (the extraction worker is stopped past it) */
  maxTimeMsPerFile: number;
  /** wall-clock budget of all documents of one message, milliseconds */
  maxTimeMsPerMessage: number;
  /** V8 heap of the extraction worker, MiB (an out-of-memory stops only that document) */
  maxMemoryMb: number;
}

export const DEFAULT_EXTRACT_LIMITS: ExtractLimits = {
  maxPages: 200,
  maxSheets: 30,
  maxCells: 200_000,
  maxCharsPerFile: 100_000,
  maxCharsTotal: 300_000,
  maxInflatedBytes: 128 * 1024 * 1024,
  maxXmlDepth: 200,
  maxTimeMsPerFile: 10_000,
  maxTimeMsPerMessage: 20_000,
  maxMemoryMb: 256,
};

/** why a document was not extracted, or why extraction failed (stable codes: the report and audit trail carry them) */
export type ExtractReason =
  | "disabled" // not in sanitize.extractText (or turned off by a rule)
  | "encrypted" // password-protected (PPAP)
  | "legacy-format" // .doc / .xls / .ppt (binary Office): not extracted
  | "too-large" // larger than the bytes analyze keeps for extraction
  | "message-budget" // the message's time or character budget was spent by earlier documents
  | "withheld" // the message is withheld by a rule: no text of it is shown
  | "time-budget" // the document ran past its own time budget
  | "memory-budget" // the extraction worker ran out of memory
  | "decompression-bomb" // decompressed data past maxInflatedBytes (zip bomb, PDF stream bomb)
  | "xml-entities" // an XML entity declaration (billion laughs, external entity): refused
  | "xml-depth" // XML nested past maxXmlDepth
  | "malformed" // the file could not be read as its type
  | "no-text" // read, but no text in it (a scanned PDF)
  | "worker-failed"; // the extraction worker died for another reason

/** something in the document that is never run, only listed */
export type ActiveContent = "macros" | "javascript" | "open-action" | "embedded-objects" | "embedded-files" | "forms";

/** one page / sheet / slide of extracted text */
export interface ExtractedUnit {
  /** 1-based number of the page, sheet or slide */
  index: number;
  /** sheet name (display-safe), for sheets */
  name?: string;
  text: string;
  /** speaker notes of a slide */
  notes?: string;
}

/** What one extractor returns (pure: the same bytes and limits give the same result). */
export interface ExtractionOutput {
  ok: true;
  unit: "page" | "sheet" | "slide" | "document";
  /** units in the document (as it declares them) */
  total: number;
  units: ExtractedUnit[];
  /** characters were cut at maxCharsPerFile */
  truncated: boolean;
  active: ActiveContent[];
}

export interface ExtractionFailure {
  ok: false;
  reason: ExtractReason;
  /** a short technical detail for administrators (never the document's text) */
  detail?: string;
  active: ActiveContent[];
}

/** The result for one document attachment: what render shows and the report records. */
export interface ExtractedText {
  path: string;
  filename: string;
  kind: DocumentKind;
  status: "extracted" | "skipped" | "failed";
  reason?: ExtractReason;
  detail?: string;
  unit?: ExtractionOutput["unit"];
  /** units in the document */
  total?: number;
  /** units shown */
  shown?: number;
  /** characters shown */
  chars: number;
  truncated?: boolean;
  active: ActiveContent[];
  units: ExtractedUnit[];
}

/** The per-attachment line of the report and the audit trail (no text). */
export interface ExtractionReportEntry {
  path: string;
  filename: string;
  kind: DocumentKind;
  status: ExtractedText["status"];
  reason?: ExtractReason;
  detail?: string;
  unit?: ExtractedText["unit"];
  pages?: number;
  shown?: number;
  chars: number;
  active?: ActiveContent[];
}
