/**
 * The pure extractors (src/extract/extract.ts) on the committed fixtures and on
 * hostile files built at run time: Japanese PDFs decode without mojibake in
 * reading order, Office and OpenDocument files give their text by sheet,
 * slide and table row, and every hostile shape ends as a reason, bounded.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { extractDocument } from "../../src/extract/extract.ts";
import { documentKindOf } from "../../src/extract/detect.ts";
import { DEFAULT_EXTRACT_LIMITS, type ExtractionFailure, type ExtractionOutput, type ExtractKind, type ExtractLimits } from "../../src/extract/extract-types.ts";
import { excelDate, isDateFormat } from "../../src/extract/ooxml.ts";
import { billionLaughsDocx, bombPdf, bombXlsx, buildPdf, buildZip, deflateBomb, docx, manyPagesPdf, ods, pdfStream, xlsx } from "../helpers/documents.ts";

const require = createRequire(import.meta.url);
const CMAPS = join(dirname(require.resolve("pdfjs-dist/package.json")), "cmaps");
const cmaps = (name: string): Uint8Array | undefined => {
  try {
    return new Uint8Array(readFileSync(join(CMAPS, name)));
  } catch {
    return undefined;
  }
};
const fixture = (name: string) => readFileSync(new URL(`../fixtures/extract/${name}`, import.meta.url));

async function extract(bytes: Uint8Array, limits: Partial<ExtractLimits> = {}): Promise<ExtractionOutput | ExtractionFailure> {
  const kind = documentKindOf(bytes);
  expect(kind).toBeDefined();
  return extractDocument(kind as ExtractKind, bytes, { ...DEFAULT_EXTRACT_LIMITS, ...limits }, cmaps);
}

async function ok(bytes: Uint8Array, limits: Partial<ExtractLimits> = {}): Promise<ExtractionOutput> {
  const out = await extract(bytes, limits);
  if (!out.ok) throw new Error(`expected text, got ${out.reason}: ${out.detail}`);
  return out;
}

describe("PDF", () => {
  it("decodes a Japanese PDF whose CID font is not embedded (90ms-RKSJ-H) through the Adobe CMaps, page by page", async () => {
    const out = await ok(fixture("jp-cid-nonembedded.pdf"));
    expect(out.unit).toBe("page");
    expect(out.total).toBe(2);
    expect(out.units.map((u) => u.text)).toEqual([
      "見積書\n株式会社サンプル 御中\n合計金額 １２３，４５６円（税込）",
      "納期：令和８年１２月２５日\n備考：ご不明な点はお問い合わせください。",
    ]);
  });

  it("decodes a Japanese PDF with an embedded subset font (Identity-H + ToUnicode)", async () => {
    const out = await ok(fixture("jp-cid-embedded.pdf"));
    expect(out.units[0]!.text).toBe("請求書（埋め込みフォント）\n東京都千代田区霞が関一丁目\nご請求金額 ８８，０００円");
  });

  it("reads vertical text (UniJIS-UCS2-V) column by column, right to left", async () => {
    const out = await ok(fixture("jp-vertical.pdf"));
    expect(out.units[0]!.text).toBe("縦書きの一行目です\n二行目も縦書き");
  });

  it("lists JavaScript and an OpenAction and still gives the text (nothing is run)", async () => {
    const out = await ok(fixture("hostile-javascript.pdf"));
    expect(out.units[0]!.text).toBe("Quarterly report text");
    expect(out.active).toEqual(expect.arrayContaining(["javascript", "open-action"]));
  });

  it("recovers a PDF whose xref table points at the wrong places", async () => {
    const out = await ok(fixture("malformed-xref.pdf"));
    expect(out.units[0]!.text).toBe("Recovered despite the xref");
  });

  it("refuses a content stream that inflates past the budget before pdf.js decodes it", async () => {
    const out = await extract(bombPdf(64), { maxInflatedBytes: 16 * 1024 * 1024 });
    expect(out).toMatchObject({ ok: false, reason: "decompression-bomb" });
  });

  it("refuses the same bomb behind ASCIIHex or ASCII85 (a filter chain), and a RunLength bomb", async () => {
    for (const shape of ["hex", "a85", "runlength"] as const) {
      const out = await extract(bombPdf(32, shape), { maxInflatedBytes: 8 * 1024 * 1024 });
      expect(out, shape).toMatchObject({ ok: false, reason: "decompression-bomb" });
    }
  });

  it("still reads text behind a filter chain that is not a bomb", async () => {
    const { deflateSync } = await import("node:zlib");
    const content = deflateSync(Buffer.from("BT /F1 12 Tf 72 760 Td (Behind two filters) Tj ET"));
    const pdf = buildPdf([
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
      pdfStream("/Filter [/ASCIIHexDecode /FlateDecode]", `${content.toString("hex")}>`),
      "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]);
    expect((await ok(pdf)).units[0]!.text).toBe("Behind two filters");
  });

  it("finds a bomb stream right after another stream (the \"stream\" inside \"endstream\" is not a start)", async () => {
    const zlibData = Buffer.concat([Buffer.from([0x78, 0xda]), deflateBomb(32), Buffer.from([0, 0, 0, 0])]);
    const pdf = buildPdf([
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents [4 0 R 5 0 R] >>",
      pdfStream("", "BT ET"),
      pdfStream("/Filter /FlateDecode", zlibData),
    ]);
    const out = await extract(pdf, { maxInflatedBytes: 8 * 1024 * 1024 });
    expect(out).toMatchObject({ ok: false, reason: "decompression-bomb" });
  });

  it("finds a bomb whose data carries a false \"endstream\", by its /Length as pdf.js does", async () => {
    // a stored deflate block holding the bytes "\nendstream\n", then the bomb's blocks: valid data in
    // which a keyword search would end the stream after a dozen bytes
    const fake = Buffer.from("\nendstream\n");
    const stored = Buffer.concat([Buffer.from([0x00, fake.length, 0, ~fake.length & 0xff, 0xff]), fake]);
    const data = Buffer.concat([Buffer.from([0x78, 0xda]), stored, deflateBomb(32), Buffer.from([0, 0, 0, 0])]);
    const pdf = buildPdf([
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
      Buffer.concat([Buffer.from(`<< /Filter /FlateDecode /Length 5 0 R >>\nstream\n`), data, Buffer.from("\nendstream")]),
      String(data.length),
    ]);
    const out = await extract(pdf, { maxInflatedBytes: 8 * 1024 * 1024 });
    expect(out).toMatchObject({ ok: false, reason: "decompression-bomb" });
  });

  it("reads at most maxPages of a 5,000-page PDF and counts the rest", async () => {
    const out = await ok(manyPagesPdf(5000), { maxPages: 20 });
    expect(out.total).toBe(5000);
    expect(out.units).toHaveLength(20);
    expect(out.units.every((u) => u.text === "Page text")).toBe(true);
  });

  it("keeps the pages read so far when the caller says time is nearly up", async () => {
    let asked = 0;
    const out = await extractDocument("pdf", manyPagesPdf(50), DEFAULT_EXTRACT_LIMITS, cmaps, () => ++asked > 3);
    if (!out.ok) throw new Error(out.reason);
    expect(out.total).toBe(50);
    expect(out.units).toHaveLength(4);
  });

  it("calls garbage with a PDF header malformed", async () => {
    const out = await extract(Buffer.from("%PDF-1.7\nthis is not a PDF at all\n%%EOF\n"));
    expect(out.ok).toBe(false);
  });
});

describe("Office Open XML", () => {
  it("gives a Word document's paragraphs and its table as tab-separated rows", async () => {
    const out = await ok(fixture("tables.docx"));
    expect(out.unit).toBe("document");
    expect(out.units[0]!.text).toBe("議事録\n日時：２０２６年１２月１日\n項目\t担当\t期限\n予算案の作成\t総務課\t１２月１０日\n住民説明会\t企画課\t１２月２０日\n以上");
  });

  it("gives each sheet of a workbook as tab-separated rows, with numbers, dates and no phonetic guides", async () => {
    const out = await ok(fixture("multi-sheet.xlsx"));
    expect(out.unit).toBe("sheet");
    expect(out.units.map((u) => [u.name, u.text])).toEqual([
      ["売上", "品名\t数量\t単価\t納品日\nりんご\t120\t150.5\t2026-12-01\nみかん\t80\t98\t2026-12-02\n合計\t200"],
      ["メモ", "備考\n\t二列目だけの行"],
    ]);
    expect(JSON.stringify(out)).not.toContain("フリガナ");
  });

  it("shows a sheet name's controls and bidi overrides and drops converter sentinels (xlsx and ods)", async () => {
    const hostile = "請求\u202Efdp.exe\u0007\u001b[31m\uE005exe\uE006invoice.pdf\uE007";
    for (const bytes of [xlsx([{ name: hostile, rows: [["a"]] }]), ods([{ name: hostile, rows: [["a"]] }])]) {
      const out = await ok(bytes);
      const name = out.units[0]!.name!;
      expect(name).toBe("請求<U+202E>fdp.exe<U+0007><U+001B>[31mexeinvoice.pdf");
      expect(name).not.toMatch(/[\u0000-\u001f\u202e\ue000-\ue00f]/);
    }
  });

  it("gives each slide with its speaker notes, without the slide-number field", async () => {
    const out = await ok(fixture("notes.pptx"));
    expect(out.units).toEqual([
      { index: 1, text: "令和８年度 事業計画\n市民課", notes: "冒頭で挨拶をする" },
      { index: 2, text: "重点施策\n窓口のデジタル化", notes: "予算額に触れる" },
    ]);
  });

  it("refuses a document that declares XML entities (billion laughs) without expanding them", async () => {
    const out = await extract(billionLaughsDocx());
    expect(out).toMatchObject({ ok: false, reason: "xml-entities" });
  });

  it("never resolves an external entity: the declaration alone refuses the document", async () => {
    const xml = `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><w:document xmlns:w="x"><w:body><w:p><w:r><w:t>&xxe;</w:t></w:r></w:p></w:body></w:document>`;
    const out = await extract(docx([], [], xml));
    expect(out).toMatchObject({ ok: false, reason: "xml-entities" });
    expect(JSON.stringify(out)).not.toContain("root:");
  });

  it("refuses a zip bomb dressed as a workbook, whatever size its directory claims", async () => {
    const out = await extract(bombXlsx(64), { maxInflatedBytes: 8 * 1024 * 1024 });
    expect(out).toMatchObject({ ok: false, reason: "decompression-bomb" });
  });

  it("refuses XML nested past maxXmlDepth", async () => {
    const deep = `<?xml version="1.0"?><w:document xmlns:w="x"><w:body>${"<w:p>".repeat(500)}${"</w:p>".repeat(500)}</w:body></w:document>`;
    const out = await extract(docx([], [], deep));
    expect(out).toMatchObject({ ok: false, reason: "xml-depth" });
  });

  it("lists macros and embedded objects, never reads them", async () => {
    const bytes = docx(["本文"], [
      { name: "word/vbaProject.bin", data: Buffer.from("Attribute VB_Name = \"x\"") },
      { name: "word/embeddings/oleObject1.bin", data: Buffer.from("ole") },
    ]);
    const out = await ok(bytes);
    expect(out.units[0]!.text).toBe("本文");
    expect(out.active).toEqual(expect.arrayContaining(["macros", "embedded-objects"]));
  });

  it("stops a workbook at maxCells and says it was cut", async () => {
    const rows = Array.from({ length: 300 }, (_, r) => [`行${r}`, r]);
    const out = await ok(xlsx([{ name: "S", rows }]), { maxCells: 100 });
    expect(out.truncated).toBe(true);
    expect(out.units[0]!.text.split("\n").length).toBeLessThanOrEqual(50);
  });

  it("cuts a document's text at maxCharsPerFile", async () => {
    const out = await ok(docx(Array.from({ length: 100 }, (_, i) => `段落${i}の文章です。`.repeat(10))), { maxCharsPerFile: 500 });
    expect(out.truncated).toBe(true);
    expect(out.units[0]!.text.length).toBeLessThanOrEqual(600);
  });

  it("shows control and bidi characters from a document as visible marks", async () => {
    const out = await ok(docx(["invoice\u202Efdp.exe\u0007"]));
    expect(out.units[0]!.text).toBe("invoice<U+202E>fdp.exe<U+0007>");
  });

  it("calls a package with an encrypted entry encrypted", async () => {
    const zip = buildZip([{ name: "word/document.xml", data: "<x/>" }]);
    zip.writeUInt16LE(0x0801, 6); // local header: encrypted flag
    const cd = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    zip.writeUInt16LE(0x0801, cd + 8);
    const out = await extract(zip);
    expect(out).toMatchObject({ ok: false, reason: "encrypted" });
  });
});

describe("OpenDocument", () => {
  it("gives an odt's headings, paragraphs and table rows", async () => {
    const out = await ok(fixture("report.odt"));
    expect(out.units[0]!.text).toBe("報告書\n本文の一段落目です。\n二段落目です。\n地区\t件数\n北区\t12");
  });

  it("gives an ods sheet by name, dates as ISO, ignoring a million empty repeated rows", async () => {
    const out = await ok(fixture("sheet.ods"));
    expect(out.units).toEqual([{ index: 1, name: "集計", text: "地区\t日付\n南区\t2026-12-01" }]);
  });

  it("gives an odp's pages with their notes", async () => {
    const out = await ok(fixture("slides.odp"));
    expect(out.units).toEqual([{ index: 1, text: "はじめに\n概要の説明", notes: "ゆっくり話す" }]);
  });
});

describe("what a document is, from its bytes", () => {
  it("is never decided by the name: a renamed workbook is a workbook, a text file named .pdf is nothing", () => {
    expect(documentKindOf(fixture("multi-sheet.xlsx"))).toBe("xlsx");
    expect(documentKindOf(Buffer.from("just text, named report.pdf"))).toBeUndefined();
    expect(documentKindOf(buildZip([{ name: "readme.txt", data: "plain archive" }]))).toBeUndefined();
    expect(documentKindOf(Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0, 0]))).toBe("legacy-office");
  });
});

describe("Excel dates", () => {
  it("reads serials in both date systems, with the 1900 leap-year bug", () => {
    expect(excelDate(46357, false, false, false)).toBe("2026-12-01");
    expect(excelDate(1, false, false, false)).toBe("1900-01-01");
    expect(excelDate(61, false, false, false)).toBe("1900-03-01");
    expect(excelDate(0, true, false, false)).toBe("1904-01-01");
    expect(excelDate(46357.5, false, true, false)).toBe("2026-12-01 12:00");
    expect(excelDate(0.75, false, true, true)).toBe("18:00");
  });

  it("tells date formats from number formats", () => {
    expect(isDateFormat('yyyy"年"m"月"d"日"').date).toBe(true);
    expect(isDateFormat("[$-411]ggge年m月d日").date).toBe(true);
    expect(isDateFormat("h:mm").timeOnly).toBe(true);
    expect(isDateFormat("#,##0").date).toBe(false);
    expect(isDateFormat("0.00E+00").date).toBe(false);
    expect(isDateFormat("General").date).toBe(false);
    expect(isDateFormat('#,##0"円"').date).toBe(false);
  });
});

describe("what a PDF would run", () => {
  it("does not call an OpenAction that only opens a page active content", async () => {
    const pdf = buildPdf([
      "<< /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
      pdfStream("", "BT /F1 12 Tf 72 760 Td (Plain) Tj ET"),
      "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]);
    const out = await ok(pdf);
    expect(out.active).toEqual([]);
  });
});

describe("images in the pre-scan", () => {
  const zlibBomb = (mib: number) => Buffer.concat([Buffer.from([0x78, 0xda]), deflateBomb(mib), Buffer.from([0, 0, 0, 0])]);
  const page = (contents: string) =>
    buildPdf([
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >> /Contents ${contents} >>`,
      pdfStream("", "BT /F1 12 Tf 72 760 Td (Text beside a big picture) Tj ET"),
      "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
      pdfStream("/Type /XObject /Subtype /Image /Width 4096 /Height 4096 /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode", zlibBomb(48)),
    ]);

  it("does not count a large image against the budget: pdf.js reads no image for text", async () => {
    const out = await ok(page("4 0 R"), { maxInflatedBytes: 8 * 1024 * 1024 });
    expect(out.units[0]!.text).toBe("Text beside a big picture");
  });

  it("counts a stream dressed as an image when a page names it as its content", async () => {
    const out = await extract(page("[4 0 R 6 0 R]"), { maxInflatedBytes: 8 * 1024 * 1024 });
    expect(out).toMatchObject({ ok: false, reason: "decompression-bomb" });
  });
});
