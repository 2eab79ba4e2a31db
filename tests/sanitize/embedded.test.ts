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

describe("the other spellings of a file: byte lists, escapes, pieces, base32 and base85 (byte-spellings.ts)", () => {
  /** the spellings added with byte-spellings.ts: each of them passed the detector before */
  const OTHER = Object.keys(encodings).slice(Object.keys(encodings).indexOf("C array of hex bytes")) as Array<keyof typeof encodings>;

  it.each(OTHER)("cuts an executable spelled as %s out of the prose and lists its exact bytes", (name) => {
    const block = encodings[name](EXE).replace(/\r\n/g, "\n");
    const { text: rest, files } = extractEmbedded(`前文です。\n${block}\n後文です。`);
    expect(files.map((f) => sha(f.bytes))).toEqual([sha(EXE)]);
    expect(rest.startsWith("前文です。\n")).toBe(true);
    expect(rest.endsWith("\n後文です。")).toBe(true);
    // what stays of the block is its frame (a variable name, brackets), never a run of its data
    const left = rest.replace(/\uE005[^\uE007]*\uE007/g, "").replace(/前文です。|後文です。|\s/g, "");
    expect(left.length).toBeLessThan(40);
  });

  it.each(OTHER)("cuts %s through the whole sanitizer, in a reply quoted with '> ', and the invariant check agrees", async (name) => {
    const quoted = encodings[name](EXE).split("\r\n").map((l) => `> ${l}`).join("\n");
    const { result } = await run(message({ subject: name, entity: text(`お世話になります。\n${quoted}\nよろしくお願いします。`) }));
    expect(result.report.attachments.map((a) => a.sha256)).toContain(sha(EXE));
  });

  it("cuts spellings spread over HTML elements (a cell, a span or a paragraph per piece)", async () => {
    const b64 = EXE.toString("base64").match(/.{1,12}/g)!;
    const hex = [...EXE].map((b) => b.toString(16).padStart(2, "0"));
    for (const html of [
      `<table><tr>${b64.map((p) => `<td>${p}</td>`).join("")}</tr></table>`,
      `<p>${b64.map((p) => `<span>${p}</span>`).join(" ")}</p>`,
      b64.map((p) => `<p>${p}</p>`).join(""),
      `<div>${hex.map((h) => `<b>${h}</b>`).join(", ")}</div>`,
    ]) {
      const entity = part({ contentType: "text/html; charset=utf-8", encoding: "8bit", body: `<html><body><p>資料です</p>${html}<p>以上</p></body></html>` });
      const { result, view } = await run(message({ subject: "html", entity }));
      expect(result.report.attachments.length).toBeGreaterThan(0);
      expect(view.text).toContain("以上");
    }
  });

  it("keeps what ordinary mail writes in these alphabets: links, mojibake, tables, specs, headers, prose", () => {
    const sentence = "The committee met on 12 May 2026 at 10:00 in Room 3B and approved 14 of the 17 items on the agenda. ";
    const keep = [
      // a percent-encoded Japanese link, and its tail wrapped onto the next line by a mail client
      `https://ja.wikipedia.org/wiki/${encodeURIComponent("日本の地方公共団体一覧と行政区画の詳しい説明".repeat(3))}`,
      encodeURIComponent("地方公共団体の一覧と詳しい説明".repeat(6)),
      // quoted-printable Japanese that arrived undecoded, and Python's repr of UTF-8 Japanese
      [...Buffer.from("会議資料を送付いたします。ご確認ください。".repeat(6))].map((b) => `=${b.toString(16).toUpperCase()}`).join(""),
      `b'${[...Buffer.from("会議資料を送付いたします。".repeat(10))].map((b) => `\\x${b.toString(16)}`).join("")}'`,
      // a table of 200 small counts, and a CSV with years and amounts
      Array.from({ length: 200 }, (_, i) => (i * 7) % 100).join(", "),
      Array.from({ length: 60 }, (_, i) => `2026,${i % 12},${(i * 37) % 250},${(i * 11) % 90}`).join("\n"),
      // a firewall request's IPv4 addresses, times of day
      Array.from({ length: 40 }, (_, i) => `192.168.${i}.${200 - i}`).join(", "),
      Array.from({ length: 70 }, (_, i) => `${9 + (i % 9)}:${(i * 7) % 60}`).join(", "),
      // PC specifications, UUIDs, IPv6 addresses
      Array.from({ length: 12 }, (_, i) => `Core i5-1235U/16GB/512GB SSD/Win11Pro 15.6inch No.${i} 89800`).join("\n"),
      Array.from({ length: 12 }, (_, i) => `550e8400-e29b-41d4-a716-44665544000${i % 10}`).join("\n"),
      Array.from({ length: 20 }, (_, i) => `2001:db8:85a3::8a2e:370:${7000 + i}`).join("\n"),
      // a bounce quoting Received lines and a DKIM-Signature's tags
      Array.from({ length: 6 }, (_, i) => `Received: from SG2APC01FT0${i}.eop-APC01.prod.protection.outlook.com\n (10.152.250.${i}) by SG2APC01HT2${i}.eop-APC01.prod.protection.outlook.com\n (10.152.251.118) with Microsoft SMTP Server (version=TLS1_2,\n cipher=TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384) id 15.20.696.${i}`).join("\n"),
      // ISO-2022-JP read as ASCII (its escapes lost): "$" every other character
      "$B2q5D;qNA$rAwIU$$$?$7$^$9!#$43NG'$/$@$5$$!#(B".repeat(8),
      // English prose, an all-capitals disclaimer, product codes one per line
      sentence.repeat(6),
      "THIS MESSAGE AND ANY ATTACHMENTS ARE CONFIDENTIAL AND INTENDED ONLY FOR THE ADDRESSEE 2026 ".repeat(4),
      Array.from({ length: 40 }, (_, i) => `ABC${1000 + i}`).join("\n"),
    ];
    for (const body of keep) {
      const { files, text: rest } = extractEmbedded(`前文\n${body}\n後文`);
      expect({ body: body.slice(0, 60), files: files.map((f) => f.kind) }).toEqual({ body: body.slice(0, 60), files: [] });
      expect(rest).toBe(`前文\n${body}\n後文`);
    }
  });

  it("keeps the armour lines of an OpenPGP block while cutting its data", () => {
    const block = `-----BEGIN PGP SIGNATURE-----\n\n${(pseudoRandom(300, "pgp").toString("base64").match(/.{1,64}/g) ?? []).join("\n")}\n=zoKi\n-----END PGP SIGNATURE-----`;
    const { files, text: rest } = extractEmbedded(block);
    expect(files.map((f) => f.kind)).toEqual(["base64"]);
    expect(rest).toMatch(/^-----BEGIN PGP SIGNATURE-----\n/);
    expect(rest).toMatch(/-----END PGP SIGNATURE-----$/);
  });

  it(`keeps a byte list and base64 in pieces one byte short of ${MIN_DATA_BYTES} bytes, and cuts them at ${MIN_DATA_BYTES}`, () => {
    const data = Buffer.concat([SIGNATURES.MZ, pseudoRandom(MIN_DATA_BYTES, "edge")]).subarray(0, MIN_DATA_BYTES);
    const list = (b: Buffer) => [...b].map((x) => `0x${x.toString(16).padStart(2, "0")}`).join(", ");
    const pieces = (b: Buffer) => b.toString("base64").match(/.{1,8}/g)!.join("\n");
    expect(extractEmbedded(`x ${list(data.subarray(0, -1))} y`).files).toEqual([]);
    expect(extractEmbedded(`x ${list(data)} y`).files.map((f) => sha(f.bytes))).toEqual([sha(data)]);
    expect(extractEmbedded(`x\n${pieces(data.subarray(0, -3))}\ny`).files).toEqual([]);
    expect(extractEmbedded(`x\n${pieces(data)}\ny`).files.map((f) => sha(f.bytes))).toEqual([sha(data)]);
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
    // the other spellings (byte-spellings.ts)
    ["3 MB of C byte lists one byte short of a file", () => `${"0x4d, ".repeat(127)}x\n`.repeat(Math.floor((3 * MB) / 765))],
    ["3 MB of one decimal byte list on one line", () => "77,".repeat(MB)],
    ["3 MB of \\x escapes on one line", () => "\\x4d".repeat((3 * MB) / 4)],
    ["3 MB of percent escapes among letters on one line", () => "%4DZ".repeat((3 * MB) / 4)],
    ["3 MB of short base64 pieces separated by spaces, one block", () => "Ab1x ".repeat((3 * MB) / 5)],
    ["3 MB of short pieces with mixed separators (a block ends every few pieces)", () => "Ab1x; Qz9 (Rt7) ".repeat((3 * MB) / 17)],
    ["3 MB of base32-looking 8-column lines", () => "MZXW6YTB\n".repeat((3 * MB) / 9)],
    ["3 MB of '<~' without an end", () => `<~${"9j3V".repeat((3 * MB) / 4)}`],
    ["3 MB of '<~' repeated", () => "<~".repeat((3 * MB) / 2)],
    ["3 MB of base85-looking text, one line", () => "o<iRU0@@r3".repeat((3 * MB) / 10)],
    ["3 MB of base85-looking 40-character lines", () => `${"o<iRU0@@r3".repeat(4)}\n`.repeat((3 * MB) / 41)],
  ])("%s: a bounded number of steps per character", (_name, make) => {
    const steps = cost(make());
    expect(steps).toBeGreaterThanOrEqual(1); // every character was looked at
    // seven scans (announced blocks, data runs, data lines, byte lists, separated runs, Ascii85,
    // base85), each looking at a character a bounded number of times
    expect(steps).toBeLessThan(20);
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
