/**
 * Extraction time per page (`node bench/extract-pages.ts [--pages 300]`): the
 * pure PDF extractor (src/extract/) in this thread, on a generated Japanese PDF
 * (30 lines a page, non-embedded CID font through the Adobe CMaps) and on a
 * 5,000-page PDF of one short Latin line a page. Prints milliseconds per page.
 * No network, no files written.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { extractDocument } from "../src/extract/extract.ts";
import { DEFAULT_EXTRACT_LIMITS } from "../src/extract/extract-types.ts";
import { japanesePdf, manyPagesPdf } from "../tests/helpers/documents.ts";
import { arg } from "./proc.ts";

const require = createRequire(import.meta.url);
const CMAPS = join(dirname(require.resolve("pdfjs-dist/package.json")), "cmaps");
const cmaps = (name: string) => {
  try {
    return new Uint8Array(readFileSync(join(CMAPS, name)));
  } catch {
    return undefined;
  }
};
const pages = Number(arg("pages", "300"));
const line = "令和８年度予算の執行状況について、各課の報告を取りまとめました。";
const japanese = japanesePdf(Array.from({ length: pages }, (_, p) => Array.from({ length: 30 }, (_, l) => `${p + 1}-${l + 1} ${line}`)));
const limits = { ...DEFAULT_EXTRACT_LIMITS, maxPages: 10_000, maxCharsPerFile: 100_000_000 };
await extractDocument("pdf", manyPagesPdf(10), limits, cmaps); // pdf.js loaded and compiled before measuring
for (const [name, pdf] of [[`Japanese, ${pages} pages of 30 lines`, japanese], ["Latin, 5000 pages of one line", manyPagesPdf(5000)]] as const) {
  const t0 = performance.now();
  const out = await extractDocument("pdf", pdf, limits, cmaps);
  const ms = performance.now() - t0;
  const n = out.ok ? out.units.length : 0;
  console.log(`${name}: ${Math.round(pdf.length / 1024)} KB, ${n} pages in ${Math.round(ms)} ms = ${(ms / Math.max(1, n)).toFixed(2)} ms/page`);
}
