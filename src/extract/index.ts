/**
 * Text extraction from attachments (issue 15): the door.
 *
 *   analyze → keeps document bytes (keep.ts: createDocumentKeeper)
 *   rules decide → RenderOptions.extractText / extractLimits
 *   extractInto(analyzed, options, runner, clock) → content.extracted   (this file)
 *   render → appends extractedSections() after the message text, the report gets extractionReport()
 *
 * extractInto decides per document — withheld, encrypted, legacy format, not
 * in the list, too large, over the message's budget: skipped with the reason —
 * and runs the rest through the runner (an extraction worker thread under its
 * own time and memory limits). A message without documents costs nothing.
 *
 * SECURITY: see runner.ts and the extractors. The clock is injected (the
 * worker's), so this step stays testable with fake time.
 */
import type { AnalyzedMessage, RenderOptions } from "../sanitize/sanitize-types.ts";
import { DEFAULT_EXTRACT_LIMITS, type ExtractedText, type ExtractKind, type ExtractReason, type KeptDocument } from "./extract-types.ts";
import type { ExtractRunner } from "./runner.ts";

export { createDocumentKeeper, type DocumentKeeper } from "./keep.ts";
export { createExtractRunner, type ExtractRunner } from "./runner.ts";
export { extractedSections, extractionReport } from "./section.ts";
export * from "./extract-types.ts";

function skipped(doc: KeptDocument, reason: ExtractReason): ExtractedText {
  return { path: doc.path, filename: doc.filename, kind: doc.kind, status: "skipped", reason, chars: 0, active: [], units: [] };
}

function whySkip(doc: KeptDocument, options: RenderOptions): ExtractReason | undefined {
  if (options.withheld) return "withheld";
  if (doc.encrypted) return "encrypted";
  if (doc.kind === "legacy-office") return "legacy-format";
  if (!(options.extractText ?? []).includes(doc.kind)) return "disabled";
  if (doc.tooLarge || !doc.bytes) return "too-large";
  return undefined;
}

/**
 * Extracts the text of the message's kept documents into `content.extracted`
 * (and lets go of their bytes). `deadlineMs` (on the clock's scale): the
 * sanitization's own time budget, which extraction must leave room within.
 */
export async function extractInto(
  analyzed: AnalyzedMessage,
  options: RenderOptions,
  runner: ExtractRunner,
  clock: () => number,
  deadlineMs = Number.POSITIVE_INFINITY,
): Promise<void> {
  const content = analyzed.content;
  const documents = content?.documents;
  if (!content || !documents?.length) return;
  delete content.documents;
  const limits = options.extractLimits ?? DEFAULT_EXTRACT_LIMITS;
  const end = Math.min(clock() + limits.maxTimeMsPerMessage, deadlineMs);
  let charsLeft = limits.maxCharsTotal;
  const results: ExtractedText[] = [];
  for (const doc of documents) {
    const skip = whySkip(doc, options);
    if (skip) {
      results.push(skipped(doc, skip));
      continue;
    }
    const timeLeft = end - clock();
    if (timeLeft <= 0 || charsLeft <= 0) {
      results.push(skipped(doc, "message-budget"));
      continue;
    }
    const kind = doc.kind as ExtractKind;
    const out = await runner.run(kind, doc.bytes!, { ...limits, maxCharsPerFile: Math.min(limits.maxCharsPerFile, charsLeft) }, Math.min(limits.maxTimeMsPerFile, timeLeft));
    const base = { path: doc.path, filename: doc.filename, kind: doc.kind };
    if (!out.ok) {
      const failed: ExtractedText = { ...base, status: "failed", reason: out.reason, chars: 0, active: out.active, units: [] };
      if (out.detail) failed.detail = out.detail;
      results.push(failed);
      continue;
    }
    const chars = out.units.reduce((n, u) => n + u.text.length + (u.notes?.length ?? 0), 0);
    charsLeft -= chars;
    if (chars === 0 && out.unit === "page") {
      results.push({ ...base, status: "skipped", reason: "no-text", unit: out.unit, total: out.total, shown: 0, chars: 0, active: out.active, units: [] });
      continue;
    }
    results.push({ ...base, status: "extracted", unit: out.unit, total: out.total, shown: out.units.length, chars, truncated: out.truncated, active: out.active, units: out.units });
  }
  content.extracted = results;
}
