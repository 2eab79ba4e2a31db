/**
 * Extraction through the sanitizer as the relay runs it: analyze (keeps the
 * document bytes) → extractInto (a real extraction worker thread) → render.
 * The promises: the documents' words follow the message text, one section per
 * attachment in message order; the files are still removed and listed with
 * their SHA-256; every hostile document ends as a note while the rest of the
 * message is delivered; a time or memory overrun costs only that document.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { analyze, render } from "../../src/sanitize/index.ts";
import { createExtractRunner, extractInto, type ExtractRunner } from "../../src/extract/index.ts";
import type { RenderOptions } from "../../src/sanitize/sanitize-types.ts";
import { attachment, message, multipart, part } from "../helpers/mime-builders.ts";
import { testOptions } from "../helpers/options.ts";
import { assertSanitized } from "../helpers/invariant.ts";
import { billionLaughsDocx, bombPdf, bombXlsx, docx, manyPagesPdf } from "../helpers/documents.ts";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/extract/${name}`, import.meta.url));
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const runner = createExtractRunner();
afterAll(() => runner.close());

function mail(text: string, files: [string, string, Buffer][]): Buffer {
  return message({
    subject: "資料送付",
    entity: multipart("mixed", [
      part({ contentType: "text/plain; charset=utf-8", encoding: "8bit", body: text }),
      ...files.map(([name, type, bytes]) => attachment(name, type, bytes)),
    ]),
  });
}

async function sanitizeWithExtraction(raw: Buffer, overrides: Partial<RenderOptions> = {}, using: ExtractRunner = runner) {
  const { limits, signal: _signal, ...options } = testOptions();
  const render_: RenderOptions = { ...options, ...overrides };
  const analyzed = await analyze(raw, limits);
  await extractInto(analyzed, render_, using, () => performance.now());
  const result = render(analyzed, render_);
  return { result, text: result.text ?? "" };
}

describe("extraction in the sanitized body", () => {
  it("puts a Japanese PDF's and a workbook's words after the message text, in attachment order, and still removes the files", async () => {
    const pdf = fixture("jp-cid-nonembedded.pdf");
    const xls = fixture("multi-sheet.xlsx");
    const { result, text } = await sanitizeWithExtraction(
      mail("お世話になっております。資料を送ります。", [
        ["見積書.pdf", "application/pdf", pdf],
        ["売上.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", xls],
      ]),
    );
    const order = ["資料を送ります。", "添付ファイル 見積書.pdf の内容（テキストのみ・書式や画像は含みません）", "－－ 1 ページ －－", "見積書\n株式会社サンプル", "合計金額", "－－ 2 ページ －－", "令和８年１２月２５日", "添付ファイル 売上.xlsx の内容", "－－ シート 1「売上」 －－", "りんご\t120\t150.5\t2026-12-01", "－－ シート 2「メモ」 －－"];
    const positions = order.map((s) => text.indexOf(s));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    // the files themselves: removed and listed with their hashes, as before
    expect(result.report.attachments.map((a) => a.sha256)).toEqual([sha256(pdf), sha256(xls)]);
    expect(text).toContain(sha256(pdf));
    expect(result.message.toString("latin1")).not.toMatch(/Content-Disposition|multipart/i);
    expect(result.report.extraction).toEqual([
      expect.objectContaining({ filename: "見積書.pdf", kind: "pdf", status: "extracted", unit: "page", pages: 2, shown: 2 }),
      expect.objectContaining({ filename: "売上.xlsx", kind: "xlsx", status: "extracted", unit: "sheet", pages: 2, shown: 2 }),
    ]);
    expect(result.report.extraction![0]!.chars).toBeGreaterThan(40);
    // the message with the sections still keeps every promise of the safety invariant
    await assertSanitized(result);
  });

  it("decides by the bytes: a workbook named .txt is read as a workbook, a text file named .pdf is not read", async () => {
    const { result, text } = await sanitizeWithExtraction(
      mail("本文", [
        ["data.txt", "text/plain", fixture("multi-sheet.xlsx")],
        ["fake.pdf", "application/pdf", Buffer.from("not a pdf at all, only words")],
      ]),
    );
    expect(result.report.extraction).toEqual([expect.objectContaining({ filename: "data.txt", kind: "xlsx", status: "extracted" })]);
    expect(text).toContain("みかん\t80");
  });

  it("disarms links and shows control characters in extracted text like in any other text", async () => {
    const { text } = await sanitizeWithExtraction(mail("本文", [["a.docx", "application/octet-stream", docx(["ログイン https://evil.example/login", "x\u202Eexe.pdf"])]]));
    expect(text).not.toContain("https://evil.example/login");
    expect(text).toContain("hxxps[://]evil[.]example/login");
    expect(text).toContain("x<U+202E>exe.pdf");
  });

  it("adds nothing when extraction is turned off, and the report says why", async () => {
    const { result, text } = await sanitizeWithExtraction(mail("本文", [["見積書.pdf", "application/pdf", fixture("jp-cid-nonembedded.pdf")]]), { extractText: [] });
    expect(text).not.toContain("見積書\n");
    expect(text).not.toContain("の内容");
    expect(result.report.extraction).toEqual([expect.objectContaining({ status: "skipped", reason: "disabled", chars: 0 })]);
  });

  it("extracts only the kinds asked for", async () => {
    const { result } = await sanitizeWithExtraction(
      mail("本文", [
        ["a.pdf", "application/pdf", fixture("jp-cid-nonembedded.pdf")],
        ["b.xlsx", "application/octet-stream", fixture("multi-sheet.xlsx")],
      ]),
      { extractText: ["xlsx"] },
    );
    expect(result.report.extraction!.map((e) => [e.kind, e.status, e.reason])).toEqual([
      ["pdf", "skipped", "disabled"],
      ["xlsx", "extracted", undefined],
    ]);
  });

  it("shows nothing of a withheld message's documents", async () => {
    const { result, text } = await sanitizeWithExtraction(mail("本文", [["a.pdf", "application/pdf", fixture("jp-cid-nonembedded.pdf")]]), { withheld: { reason: "規則" } });
    expect(text).not.toContain("見積書");
    expect(result.report.extraction).toEqual([expect.objectContaining({ status: "skipped", reason: "withheld" })]);
  });

  it("lists a legacy .doc as not extracted and leaves a password-protected PDF to the notice (PPAP, as before)", async () => {
    const ole = Buffer.concat([Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]), Buffer.alloc(2048)]);
    const lockedPdf = Buffer.from(fixture("malformed-xref.pdf").toString("latin1").replace("/Size 6", "/Size 6 /Encrypt << /Filter /Standard /V 2 /R 3 >>"), "latin1");
    const { result, text } = await sanitizeWithExtraction(mail("本文", [["古い.doc", "application/msword", ole], ["locked.pdf", "application/pdf", lockedPdf]]));
    expect(result.report.extraction).toEqual([
      expect.objectContaining({ filename: "古い.doc", kind: "legacy-office", status: "skipped", reason: "legacy-format" }),
      expect.objectContaining({ filename: "locked.pdf", kind: "pdf", status: "skipped", reason: "encrypted" }),
    ]);
    expect(text).toContain("旧形式の Office ファイル（.doc / .xls / .ppt）のため、内容は取り出していません");
    expect(result.report.encrypted.protectedFiles).toBe(1);
    expect(text).not.toContain("Recovered despite the xref");
  });

  it("costs a message without documents nothing: the extraction worker is not even asked", async () => {
    let calls = 0;
    const counting: ExtractRunner = { run: (...args) => (calls++, runner.run(...args)), close: async () => {} };
    const { result } = await sanitizeWithExtraction(mail("本文だけ", [["photo.png", "image/png", Buffer.from("\x89PNG\r\n\x1a\nxxxx", "latin1")]]), {}, counting);
    expect(calls).toBe(0);
    expect(result.report.extraction).toBeUndefined();
  });
});

describe("hostile documents end as notes; the rest of the message is delivered", () => {
  it("handles a stream bomb PDF, a zip bomb workbook, a billion-laughs docx, a JavaScript PDF, a broken xref and 5,000 pages in one message", async () => {
    const files: [string, string, Buffer][] = [
      ["bomb.pdf", "application/pdf", bombPdf(200)],
      ["bomb.xlsx", "application/octet-stream", bombXlsx(200)],
      ["lol.docx", "application/octet-stream", billionLaughsDocx()],
      ["script.pdf", "application/pdf", fixture("hostile-javascript.pdf")],
      ["xref.pdf", "application/pdf", fixture("malformed-xref.pdf")],
      ["5000.pdf", "application/pdf", manyPagesPdf(5000)],
      ["売上.xlsx", "application/octet-stream", fixture("multi-sheet.xlsx")],
    ];
    const { result, text } = await sanitizeWithExtraction(mail("本文は届きます。", files), {
      extractLimits: { ...testOptions().extractLimits!, maxPages: 30 },
    });
    const byName = Object.fromEntries(result.report.extraction!.map((e) => [e.filename, e]));
    expect(byName["bomb.pdf"]).toMatchObject({ status: "failed", reason: "decompression-bomb" });
    expect(byName["bomb.xlsx"]).toMatchObject({ status: "failed", reason: "decompression-bomb" });
    expect(byName["lol.docx"]).toMatchObject({ status: "failed", reason: "xml-entities" });
    expect(byName["script.pdf"]).toMatchObject({ status: "extracted", active: expect.arrayContaining(["javascript", "open-action"]) });
    expect(byName["xref.pdf"]).toMatchObject({ status: "extracted" });
    expect(byName["5000.pdf"]).toMatchObject({ status: "extracted", pages: 5000, shown: 30 });
    expect(byName["売上.xlsx"]).toMatchObject({ status: "extracted" });
    expect(text).toContain("本文は届きます。");
    expect(text).toContain("圧縮爆弾の疑い");
    expect(text).toContain("XML の実体宣言");
    expect(text).toContain("JavaScript を含むファイルです（実行していません）");
    expect(text).toContain("…（以下 4970 ページ省略）");
    expect(text).toContain("Recovered despite the xref");
    expect(text).toContain("みかん\t80");
    expect(result.report.attachments).toHaveLength(files.length);
    await assertSanitized(result);
  });

  it("stops a document past its time budget, replaces the worker, and reads the next document", async () => {
    const limits = { ...testOptions().extractLimits!, maxTimeMsPerFile: 1 };
    const { result } = await sanitizeWithExtraction(
      mail("本文", [
        ["5000.pdf", "application/pdf", manyPagesPdf(5000)],
        ["b.docx", "application/octet-stream", docx(["二つ目の文書"])],
      ]),
      { extractLimits: limits },
    );
    expect(result.report.extraction![0]).toMatchObject({ status: "failed", reason: "time-budget" });
    // the second has the same 1 ms: it may fail on time too, but never because the first broke the worker
    expect(["extracted", "failed"]).toContain(result.report.extraction![1]!.status);
    expect(result.report.extraction![1]!.reason ?? "time-budget").toBe("time-budget");
    const again = await sanitizeWithExtraction(mail("本文", [["b.docx", "application/octet-stream", docx(["三つ目の文書"])]]));
    expect(again.text).toContain("三つ目の文書");
  });

  it("skips what is left once the message's budget is spent", async () => {
    let now = 0;
    const { limits, signal: _s, ...options } = testOptions();
    const analyzed = await analyze(mail("本文", [["a.docx", "application/octet-stream", docx(["一"])], ["b.docx", "application/octet-stream", docx(["二"])]]), limits);
    const slow: ExtractRunner = {
      run: async (...args) => {
        const out = await runner.run(...args);
        now += 60_000; // each document takes a minute on this clock
        return out;
      },
      close: async () => {},
    };
    await extractInto(analyzed, options, slow, () => now);
    const result = render(analyzed, options);
    expect(result.report.extraction!.map((e) => [e.status, e.reason])).toEqual([
      ["extracted", undefined],
      ["skipped", "message-budget"],
    ]);
  });

  it("turns an extraction worker that runs out of memory into a failed document, and goes on", async () => {
    const hog = createExtractRunner(new URL("../helpers/extract-hog-worker.ts", import.meta.url));
    try {
      const out = await hog.run("docx", new Uint8Array(4), { ...testOptions().extractLimits!, maxMemoryMb: 32, maxTimeMsPerFile: 60_000 }, 60_000);
      expect(out).toMatchObject({ ok: false, reason: "memory-budget" });
    } finally {
      await hog.close();
    }
    const { text } = await sanitizeWithExtraction(mail("本文", [["b.docx", "application/octet-stream", docx(["その後の文書"])]]));
    expect(text).toContain("その後の文書");
  });
});

describe("section layout", () => {
  it("marks pages only when there are several, and always names a sheet", async () => {
    const { text } = await sanitizeWithExtraction(
      mail("本文", [
        ["one.pdf", "application/pdf", fixture("malformed-xref.pdf")],
        ["book.ods", "application/octet-stream", fixture("sheet.ods")],
      ]),
    );
    expect(text).not.toContain("－－ 1 ページ －－");
    expect(text).toContain("Recovered despite the xref");
    expect(text).toContain("－－ シート 1「集計」 －－\n地区\t日付");
  });

  it("speaks English when the notice does", async () => {
    const { text } = await sanitizeWithExtraction(mail("body", [["q.pdf", "application/pdf", fixture("jp-cid-nonembedded.pdf")]]), { language: "en" });
    expect(text).toContain("---------- Content of attachment q.pdf (text only, without formatting or images) ----------\n-- page 1 --\n見積書");
  });
});
