/**
 * The pure text-producing core of extraction: one document's bytes and kind
 * plus the budgets → its text by page / sheet / slide, or a failure with a
 * reason code. No I/O, no clock: the CMaps are handed in, time and memory are
 * bounded by whoever runs this (the extraction worker, see runner.ts).
 *
 * SECURITY: the bytes are hostile; see pdf.ts, ooxml.ts, odf.ts, zip.ts and
 * xml.ts for each format's bounds. Whatever is thrown becomes a failure:
 * nothing here ends a message.
 */
import type { ExtractKind, ExtractLimits, ExtractionFailure, ExtractionOutput } from "./extract-types.ts";
import { ExtractError } from "./extract-error.ts";
import { extractOoxml } from "./ooxml.ts";
import { extractOdf } from "./odf.ts";
import type { CMapSource } from "./pdf.ts";

export async function extractDocument(
  kind: ExtractKind,
  bytes: Uint8Array,
  limits: ExtractLimits,
  cmaps: CMapSource,
  /** asked between pages: true once the caller's time is nearly up (the pages read so far are kept) */
  enough: () => boolean = () => false,
): Promise<ExtractionOutput | ExtractionFailure> {
  try {
    switch (kind) {
      case "pdf": {
        // loaded on first use: pdf.js is large, and a message without a PDF should not pay for it
        const { extractPdf } = await import("./pdf.ts");
        return await extractPdf(bytes, limits, cmaps, enough);
      }
      case "docx":
      case "xlsx":
      case "pptx":
        return extractOoxml(kind, bytes, limits);
      case "odt":
      case "ods":
      case "odp":
        return extractOdf(kind, bytes, limits);
    }
  } catch (error) {
    if (error instanceof ExtractError) return { ok: false, reason: error.reason, detail: error.message, active: [] };
    const e = error as Error;
    if (e instanceof RangeError && /call stack/i.test(e.message)) return { ok: false, reason: "xml-depth", detail: "nesting too deep", active: [] };
    return { ok: false, reason: "malformed", detail: `${e?.name ?? "Error"}: ${String(e?.message ?? e).slice(0, 100)}`, active: [] };
  }
}
