/**
 * Every hostile shape is a class: the committed documents, truncated and with
 * bytes flipped at random places, never make an extractor throw or hang — each
 * gives text or a failure with a reason code. (The extraction worker's time and
 * memory limits are tested in pipeline.test.ts; this is the pure core.)
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { extractDocument } from "../../src/extract/extract.ts";
import { DEFAULT_EXTRACT_LIMITS, EXTRACT_KINDS, type ExtractKind } from "../../src/extract/extract-types.ts";

const require = createRequire(import.meta.url);
const CMAPS = join(dirname(require.resolve("pdfjs-dist/package.json")), "cmaps");
const cmaps = (name: string) => {
  try {
    return new Uint8Array(readFileSync(join(CMAPS, name)));
  } catch {
    return undefined;
  }
};
const FIXTURES: [string, ExtractKind][] = [
  ["jp-cid-nonembedded.pdf", "pdf"],
  ["jp-cid-embedded.pdf", "pdf"],
  ["tables.docx", "docx"],
  ["multi-sheet.xlsx", "xlsx"],
  ["notes.pptx", "pptx"],
  ["report.odt", "odt"],
  ["sheet.ods", "ods"],
  ["slides.odp", "odp"],
];
const bytesOf = new Map(FIXTURES.map(([name]) => [name, readFileSync(new URL(`../fixtures/extract/${name}`, import.meta.url))]));
const REASONS = new Set(["malformed", "decompression-bomb", "xml-entities", "xml-depth", "encrypted", "worker-failed"]);
const limits = { ...DEFAULT_EXTRACT_LIMITS, maxInflatedBytes: 4 * 1024 * 1024 };

describe("damaged documents", () => {
  it("give text or a reason, never an exception, whatever bytes are cut or flipped (and whatever kind they are taken for)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...FIXTURES),
        fc.constantFrom(...EXTRACT_KINDS),
        fc.boolean(),
        fc.double({ min: 0.05, max: 1, noNaN: true }),
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
        async ([name, ownKind], otherKind, swapKind, keep, flips) => {
          const original = bytesOf.get(name)!;
          const bytes = Buffer.from(original.subarray(0, Math.max(8, Math.floor(original.length * keep))));
          for (const [at, value] of flips) bytes[Math.floor(at * (bytes.length - 1))] = value;
          const out = await extractDocument(swapKind ? otherKind : ownKind, bytes, limits, cmaps);
          if (out.ok) {
            expect(out.units.every((u) => typeof u.text === "string" && !/[\u202A-\u202E\u0000-\u0008]/.test(u.text))).toBe(true);
          } else {
            expect(REASONS.has(out.reason)).toBe(true);
          }
        },
      ),
      { numRuns: 150, seed: 15 },
    );
  });
});
