/**
 * No file bytes reach staff as text (issue 10 §1): a file hidden in a text part —
 * behind a broken or switched boundary, as a part header block inside the text, or
 * as a long block of base64, hex, uuencode, yEnc, BinHex or quoted-printable data —
 * is cut out and listed like a removed attachment (type sniffed, size, SHA-256,
 * "found inside the text"); a text part that is an HTML document is converted.
 * Ordinary short tokens stay. Every test here fails on the code before the fix.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sanitize } from "../../src/sanitize/index.ts";
import { extractEmbedded, MIN_DATA_BYTES } from "../../src/sanitize/embedded.ts";
import { assertSanitized } from "../helpers/invariant.ts";
import { encodeText, encodings, EXE, message, multipart, part, pseudoRandom, SIGNATURES, type Charset } from "../helpers/mime-builders.ts";
import { testOptions } from "../helpers/options.ts";


const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
const text = (body: string, charset: Charset = "utf-8") =>
  part({ contentType: `text/plain; charset=${charset}`, encoding: charset === "iso-2022-jp" ? "7bit" : "8bit", body: encodeText(body.replace(/\r?\n/g, "\r\n"), charset) });

async function run(input: Buffer, overrides = {}) {
  const result = await sanitize(input, testOptions(overrides));
  const view = await assertSanitized(result, input);
  return { result, view, flat: view.text.replace(/\s+/g, "") };
}

/** the first 60 characters of the exe's base64: the bytes staff must never receive */
const EXE_B64 = EXE.toString("base64");

describe("parts the splitter did not follow", () => {
  it("cuts an executable behind a boundary that switches part-way, and lists it by name", async () => {
    const raw =
      `From: a@example.jp\r\nTo: b@example.lg.jp\r\nSubject: switched\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="AAA"\r\n\r\n` +
      `--AAA\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n請求書を送ります。\r\n` +
      `--BBB\r\nContent-Type: application/octet-stream; name="invoice.exe"\r\nContent-Transfer-Encoding: base64\r\n\r\n${encodings.base64(EXE)}\r\n--BBB--\r\n--AAA--\r\n`;
    const input = Buffer.from(raw, "utf8");
    const { result, view, flat } = await run(input);
    expect(flat).not.toContain(EXE_B64.slice(0, 60));
    expect(view.text).toContain("請求書を送ります。");
    expect(view.text).not.toMatch(/^Content-Type: application/im);
    const listed = result.report.attachments.find((a) => a.sha256 === sha(EXE));
    expect(listed).toMatchObject({ filename: "invoice.exe", sniffedType: "application/x-msdownload", size: EXE.length, path: "1#1" });
    expect(view.text).toContain("本文の中に文字（符号化されたデータ）として埋め込まれていたものです。");
  });

  it("cuts the parts of a message declared text/plain (its multipart header lost) and shows their text", async () => {
    const entity = part({
      contentType: "text/plain; charset=utf-8",
      encoding: "8bit",
      body: `--never-declared\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n本文はこちら\r\n--never-declared\r\nContent-Type: application/pdf; name="a.pdf"\r\nContent-Disposition: attachment; filename="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n${encodings.base64(EXE)}\r\n--never-declared--\r\n`,
    });
    const { result, view, flat } = await run(message({ subject: "lost", entity }));
    expect(flat).not.toContain(EXE_B64.slice(0, 60));
    expect(view.text).toContain("本文はこちら");
    expect(view.text).not.toContain("--never-declared");
    expect(result.report.attachments.find((a) => a.filename === "a.pdf")).toMatchObject({ sha256: sha(EXE), typeMismatch: true });
  });

  it("cuts a part header block written inside the text of a well-formed text part", async () => {
    const entity = multipart("mixed", [text(`ご確認ください。\n------=_Part_0\nContent-Type: application/x-msdownload\nContent-Transfer-Encoding: base64\n\n${encodings.base64(EXE)}\n\n以上です。`)]);
    const { result, view, flat } = await run(message({ subject: "inside", entity }));
    expect(flat).not.toContain(EXE_B64.slice(0, 60));
    expect(view.text).toContain("ご確認ください。");
    expect(view.text).toContain("以上です。");
    expect(result.report.attachments.map((a) => a.sha256)).toContain(sha(EXE));
  });
});

describe("encoded data anywhere in a text", () => {
  it.each(Object.keys(encodings))("cuts a %s block of an executable out of Japanese prose and lists it", async (name) => {
    const block = encodings[name as keyof typeof encodings](EXE);
    const { result, view } = await run(message({ subject: name, entity: text(`前文です。\n${block}\n後文です。`) }));
    expect(view.text).toContain("前文です。");
    expect(view.text).toContain("後文です。");
    const noBreaks = view.text.replace(/\r\n/g, "");
    for (const line of block.split(/\r?\n/).filter((l) => l.length >= 40)) expect(noBreaks).not.toContain(line.slice(0, 40));
    expect(result.report.attachments.length).toBeGreaterThan(0);
    expect(result.report.attachments.every((a) => a.path.includes("#"))).toBe(true);
  });

  it("cuts base64 without line breaks from the middle of a sentence, keeping the sentence", async () => {
    const { result, view, flat } = await run(message({ subject: "inline", entity: text(`鍵はこちら ${EXE_B64} です。よろしく。`) }));
    expect(flat).not.toContain(EXE_B64.slice(0, 60));
    expect(view.text).toMatch(/鍵はこちら \[本文中の添付ファイル（base64）（名前なし） を削除しました\] です。/);
    expect(result.report.attachments[0]).toMatchObject({ sha256: sha(EXE), sniffedType: "application/x-msdownload", contentType: "application/octet-stream" });
  });

  it("cuts an unnamed uuencode block (begin 644 and no file name)", async () => {
    const block = encodings.uuencode(EXE).replace("begin 644 tool.exe", "begin 644 ");
    const { result, view } = await run(message({ subject: "uu", entity: text(`a\n${block}\nb`) }));
    expect(view.text).not.toContain("begin 644");
    expect(result.report.attachments[0]).toMatchObject({ sha256: sha(EXE), contentType: "application/x-uuencode" });
  });

  it("cuts a block quoted in a reply (\"> \" before every line) and one inside ISO-2022-JP text", async () => {
    const quoted = encodings.base64(EXE).split("\r\n").map((l) => `> ${l}`).join("\n");
    const a = await run(message({ subject: "q", entity: text(`> 元のメール:\n${quoted}\n> 以上`) }));
    expect(a.flat).not.toContain(EXE_B64.slice(4, 60));
    const b = await run(message({ subject: "jis", entity: text(`資料です。\n${encodings.hex(EXE)}\nよろしくお願いします。`, "iso-2022-jp") }));
    expect(b.result.report.attachments.map((x) => x.sha256)).toContain(sha(EXE));
    expect(b.view.text).toContain("よろしくお願いします。");
  });

  it("keeps ordinary short tokens: an API key, a SHA-512 in hex, a key fingerprint, a tracking link", async () => {
    const sha512 = createHash("sha512").update("x").digest("hex");
    const token = Buffer.from("token-for-the-meeting-room-booking").toString("base64");
    const tracking = `https://click.example.com/ls/click?upn=${pseudoRandom(200).toString("base64url")}`;
    const body = `APIキー: ${token}\nSHA-512: ${sha512}\n指紋: 7A3C 9F21 0B4D E5F6 1234 5678 9ABC DEF0 1122 3344\n${tracking}\n`;
    const { result, view, flat } = await run(message({ subject: "tokens", entity: text(body) }));
    expect(result.report.attachments).toEqual([]);
    expect(view.text).toContain(token);
    expect(flat).toContain(sha512);
  });

  it(`keeps a base64 run one byte short of ${MIN_DATA_BYTES} bytes and cuts one of ${MIN_DATA_BYTES}`, () => {
    const data = pseudoRandom(MIN_DATA_BYTES);
    expect(extractEmbedded(`x ${data.subarray(0, MIN_DATA_BYTES - 3).toString("base64")} y`).files).toEqual([]);
    expect(extractEmbedded(`x ${data.toString("base64")} y`).files.map((f) => sha(f.bytes))).toEqual([sha(data)]);
  });

  it("cuts an executable hidden in a URL parameter (a known file signature), not a random tracking token", () => {
    const url = `https://evil.example/d?f=${EXE.toString("base64url")}`;
    expect(extractEmbedded(`see ${url}`).files.map((f) => f.kind)).toEqual(["base64"]);
  });
});

describe("HTML documents labelled as text", () => {
  it("converts a text/plain part that is an HTML document (declared charset, so not 'unsure')", async () => {
    const html = "<!DOCTYPE html>\n<html><head><style>p{color:red}</style></head><body><p>会議は<b>午後3時</b>からです。</p><script>x()</script></body></html>";
    const { result, view } = await run(message({ subject: "html", entity: text(html) }));
    expect(view.text).toContain("会議は午後3時からです。");
    expect(view.text).not.toMatch(/<html|<body|<p>|color:red|x\(\)/i);
    expect(result.report.html).toMatchObject({ present: true, converted: true });
  });

  it("converts an HTML document that starts after a line of prose, keeping the prose", async () => {
    const { view } = await run(message({ subject: "html2", entity: text("転送します。\n<html>\n<body><p>中身の文章</p></body>\n</html>\nおわり") }));
    expect(view.text).toContain("転送します。");
    expect(view.text).toContain("中身の文章");
    expect(view.text).toContain("おわり");
    expect(view.text).not.toMatch(/<html|<body|<p>/i);
  });
});

describe("linear work (no ReDoS, no quadratic rescans)", () => {
  const cost = (input: string): number => {
    const work = { steps: 0 };
    extractEmbedded(input, { maxHtmlBytes: 1024, work });
    return work.steps / input.length;
  };
  const MB = 1024 * 1024;
  it.each([
    ["a 3 MB single line of prose with a base64 block in it", () => `${"あいう abc. ".repeat(150_000)}${EXE_B64}${" end".repeat(100_000)}`],
    ["10 MB of base64-looking text, one line", () => "QUJD".repeat((10 * MB) / 4)],
    ["10 MB of 76-character base64 lines", () => `${"QUJD".repeat(19)}\n`.repeat(Math.floor((10 * MB) / 77))],
    ["10 MB of runs just under the threshold", () => `${"Ab1".repeat(56)}.`.repeat(Math.floor((10 * MB) / 169))],
    ["10 MB of 16-character data lines each followed by a header-like line", () => "Ab1Ab1Ab1Ab1Ab1A\nX-Header-Name: v\n".repeat(Math.floor((10 * MB) / 34))],
    ["3 MB of quoted-printable escapes on one line", () => "=4D=5A=90=00".repeat((3 * MB) / 12)],
    ["3 MB of boundary-like lines each followed by a part header", () => "--b\nContent-Type: text/plain\n".repeat(Math.floor((3 * MB) / 29))],
    ["3 MB of begin lines and full uuencode lines", () => `begin 644 x\nM${"A".repeat(60)}\n`.repeat(Math.floor((3 * MB) / 74))],
    ["3 MB of spaced hex dump lines", () => `${"4d 5a ".repeat(16)}\n`.repeat(Math.floor((3 * MB) / 97))],
  ])("%s: a bounded number of steps per character", (_name, make) => {
    const steps = cost(make());
    expect(steps).toBeGreaterThanOrEqual(1); // every character was looked at
    expect(steps).toBeLessThan(6);
  }, 60_000);
});

describe("shapes the fuzz mode found (fuzz.test.ts, 'files hidden in text')", () => {
  const noBytesLeft = (flat: string, block: string) => {
    for (const line of block.split("\r\n").filter((l) => l.length >= 40)) expect(flat).not.toContain(line.slice(8, 32));
  };

  it("a part header block and BinHex lines quoted in a reply ('> ' before every line)", async () => {
    const block = `--inner-X\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${encodings.BinHex(EXE)}`;
    const quoted = block.split("\r\n").map((l) => `> ${l}`).join("\n");
    const { result, flat } = await run(message({ subject: "q", entity: text(`予算案の件\n${quoted}\n予算案の件`, "shift_jis") }));
    noBytesLeft(flat, encodings.BinHex(EXE));
    expect(result.report.attachments.length).toBeGreaterThan(0);
  });

  it("a uuencoded part behind a switched boundary inside an HTML part (conversion folds lines)", async () => {
    const html = part({ contentType: "text/html; charset=utf-8", encoding: "8bit", body: "<html><body><p>ご確認ください</p></body></html>" }).toString("latin1");
    const raw = `Content-Type: multipart/mixed; boundary="A"\r\n\r\n--A\r\n${html}\r\n--B\r\nContent-Type: application/octet-stream; name="tool.bin"\r\n\r\n${encodings.uuencode(EXE)}\r\n--B--\r\n--A--\r\n`;
    const { result, view, flat } = await run(message({ subject: "h", entity: Buffer.from(raw, "latin1") }));
    noBytesLeft(flat, encodings.uuencode(EXE));
    expect(view.text).toContain("ご確認ください");
    expect(result.report.attachments.map((a) => a.filename)).toContain("tool.bin");
  });

  it("bare uuencode lines in an HTML <pre> whose last line starts with '>' (a length character, not a quote)", () => {
    // 30 bytes in the last line: its length character is ">"
    const data = Buffer.concat([SIGNATURES.OLE, pseudoRandom(45 * 4 + 30 - SIGNATURES.OLE.length, "gt")]);
    const block = encodings["uuencode data lines alone"](data).replace(/\r\n/g, "\n");
    expect(block.split("\n").at(-2)!.startsWith(">")).toBe(true);
    const { files, text: rest } = extractEmbedded(`a\n${block}\nb`);
    expect(files.map((f) => sha(f.bytes))).toEqual([sha(data)]);
    expect(rest).not.toContain(">");
  });

  it("quoted-printable of random bytes that holds no NUL is still binary", () => {
    let data = pseudoRandom(240, "qp");
    for (let i = 0; data.includes(0); i++) data = pseudoRandom(240, `qp${i}`);
    const { files } = extractEmbedded(`前文\n${encodings["quoted-printable"](data).replace(/\r\n/g, "\n")}\n後文`);
    expect(files.map((f) => sha(f.bytes))).toEqual([sha(data)]);
  });
});

describe("bounds", () => {
  it("cuts 5,000 small files from one text but lists no more than maxParts, naming the limit", async () => {
    const one = `--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n${pseudoRandom(30).toString("base64")}\n`;
    const { result, view } = await run(message({ subject: "many", entity: text(`はじめ\n${one.repeat(5000)}おわり`) }), { limits: { maxParts: 50 } });
    expect(result.report.attachments.length).toBeLessThanOrEqual(50);
    expect(result.report.limitsHit).toContain("maxParts");
    expect(view.text).toContain("おわり");
    expect(view.text).not.toMatch(/^Content-Type: application/m);
  }, 60_000);
});
