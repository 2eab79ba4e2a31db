/**
 * The invariant check itself can fail: a hand-written safe message passes,
 * and each way an output could break the promise is caught. Without this,
 * a corpus run that "passes" could be a check that sees nothing.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { SanitizeReport, SanitizeResult } from "../../src/sanitize/sanitize-types.ts";
import { checkSanitized } from "../helpers/invariant.ts";
import { encodings, pseudoRandom, SIGNATURES } from "../helpers/mime-builders.ts";

const ID = "20261126T100000Z-0123456789ABCDEF";
const HASH = "a".repeat(64);

function result(head: string[], body: string | Buffer, overrides: Partial<SanitizeReport> = {}, charset = "utf-8"): SanitizeResult {
  const message = Buffer.concat([Buffer.from(`${head.join("\r\n")}\r\n\r\n`, "latin1"), typeof body === "string" ? Buffer.from(body, "utf8") : body]);
  const report = {
    auditId: ID,
    input: { size: 0, sha256: "" },
    output: { size: message.length, sha256: createHash("sha256").update(message).digest("hex"), charset, transferEncoding: "8bit" },
    headers: { from: [], to: [], cc: [], subject: "" },
    html: { present: false, converted: false },
    attachments: [{ path: "2", filename: "a.pdf", contentType: "application/pdf", typeMismatch: false, size: 1, sha256: HASH, encrypted: false }],
    links: { found: 0, disarmed: 0, mode: "defang" },
    charsets: [],
    forwarded: 0,
    calendar: [],
    encrypted: { smime: false, pgp: false, protectedFiles: 0 },
    limitsHit: [],
    warnings: [],
    rulesApplied: [],
    ...overrides,
  } as SanitizeReport;
  return { message, report };
}

const GOOD_HEAD = [
  "Received: from mx.example.jp by mumuka.test; Thu, 26 Nov 2026 19:00:00 +0900",
  "From: =?UTF-8?B?5bGx55Sw?= <yamada@example.jp>",
  "To: staff@example.lg.jp",
  "Subject: =?UTF-8?B?5Lya6K2w?=",
  "Date: Thu, 26 Nov 2026 18:00:00 +0900",
  "Message-ID: <x@example.jp>",
  "MIME-Version: 1.0",
  "Content-Type: text/plain; charset=utf-8",
  "Content-Transfer-Encoding: 8bit",
  `X-Mumuka-Id: ${ID}`,
];
const GOOD_BODY = `添付を削除しました: a.pdf SHA-256 ${HASH}\r\n\r\n会議の本文 a < b\r\n`;

async function violations(r: SanitizeResult, input?: Buffer) {
  if (input) r.report.input = { size: input.length, sha256: createHash("sha256").update(input).digest("hex") };
  return (await checkSanitized(r, { input, auditId: ID })).violations;
}

describe("the invariant check", () => {
  it("passes a safe message and decodes its headers and body", async () => {
    const { violations: v, view } = await checkSanitized(result(GOOD_HEAD, GOOD_BODY), { auditId: ID });
    expect(v).toEqual([]);
    expect(view?.get("Subject")).toBe("会議");
    expect(view?.text).toContain("会議の本文");
  });

  it.each<[string, string[], string | Buffer, RegExp]>([
    ["a header not on the allow-list", [...GOOD_HEAD, "Bcc: x@example.jp"], GOOD_BODY, /not allow-listed: Bcc/],
    ["two Subject headers", [...GOOD_HEAD, "Subject: again"], GOOD_BODY, /subject appears 2 times/],
    ["no From", GOOD_HEAD.filter((h) => !h.startsWith("From")), GOOD_BODY, /from appears 0 times/],
    ["multipart", GOOD_HEAD.map((h) => (h.startsWith("Content-Type") ? 'Content-Type: multipart/mixed; boundary="b"' : h)), GOOD_BODY, /not text\/plain/],
    ["text/html", GOOD_HEAD.map((h) => (h.startsWith("Content-Type") ? "Content-Type: text/html; charset=utf-8" : h)), GOOD_BODY, /not text\/plain/],
    ["no charset", GOOD_HEAD.map((h) => (h.startsWith("Content-Type") ? "Content-Type: text/plain" : h)), GOOD_BODY, /charset is ""/],
    ["a name parameter", GOOD_HEAD.map((h) => (h.startsWith("Content-Type") ? 'Content-Type: text/plain; charset=utf-8; name="x.exe"' : h)), GOOD_BODY, /parameter name/],
    ["8-bit bytes in a header", [...GOOD_HEAD.slice(0, 3), "Subject: 会議", ...GOOD_HEAD.slice(4)], GOOD_BODY, /non-ASCII/],
    ["a line over 998 octets", GOOD_HEAD, `${GOOD_BODY}${"x".repeat(999)}\r\n`, /> 998/],
    ["a bare LF", GOOD_HEAD, `${GOOD_BODY}bare\nLF\r\n`, /bare LF/],
    ["invalid UTF-8", GOOD_HEAD, Buffer.concat([Buffer.from(GOOD_BODY), Buffer.from([0xff, 0xfe, 0x0d, 0x0a])]), /does not decode/],
    ["an encoded word split inside a character", GOOD_HEAD.map((h) => (h.startsWith("Subject") ? "Subject: =?UTF-8?B?5Lo=?=" : h)), GOOD_BODY, /split inside a character/],
    ["an encoded word hiding CRLF", GOOD_HEAD.map((h) => (h.startsWith("Subject") ? "Subject: =?UTF-8?Q?a=0D=0ABcc:_x?=" : h)), GOOD_BODY, /control character/],
    ["a wrong X-Mumuka-Id", GOOD_HEAD.map((h) => (h.startsWith("X-Mumuka-Id") ? "X-Mumuka-Id: other" : h)), GOOD_BODY, /X-Mumuka-Id/],
    ["a removed part missing from the notice", GOOD_HEAD, "nothing listed\r\n", /does not list the SHA-256/],
    ["HTML markup left in the text", GOOD_HEAD, `${GOOD_BODY}<a href="https://evil.example">x</a>\r\n`, /markup/],
    ["a uuencoded file in the text", GOOD_HEAD, `${GOOD_BODY}begin 644 a.exe\r\nM35J0\`\`\`\`\r\nM35J0\`\`\`\`\r\n\`\r\nend\r\n`, /uuencoded/],
    ["a yEnc file in the text", GOOD_HEAD, `${GOOD_BODY}=ybegin line=128 size=4 name=a.exe\r\nxxxx\r\n=yend size=4\r\n`, /yEnc/],
    ["a yEnc file without a name", GOOD_HEAD, `${GOOD_BODY}=ybegin line=128 size=4\r\nxxxx\r\n=yend size=4\r\n`, /yEnc/],
    ["8-bit bytes under 7bit", GOOD_HEAD.map((h) => (h.startsWith("Content-Transfer") ? "Content-Transfer-Encoding: 7bit" : h)), GOOD_BODY, /7bit body/],
  ])("catches %s", async (_what, head, body, expected) => {
    const v = await violations(result(head, body));
    expect(v.join("\n")).toMatch(expected);
  });

  // a file's bytes written as text (issue 10 §1): the check itself rejects them, however they are wrapped
  const exe = Buffer.concat([SIGNATURES.MZ, pseudoRandom(600, "invariant")]);
  it.each<[string, string, RegExp]>([
    ["a base64 block in 76-character lines", encodings.base64(exe), /base64 block/],
    ["base64 without line breaks inside a sentence (the output wraps it)", `鍵 ${exe.toString("base64").replace(/(.{900})/g, "$1\r\n")} です`, /base64 block/],
    ["a base64 block quoted in a reply", encodings.base64(exe).split("\r\n").map((l) => `> ${l}`).join("\r\n"), /base64 block/],
    ["a hex block", encodings.hex(exe), /hex block/],
    ["a hex dump", encodings["hex dump with offsets (xxd)"](exe), /hex dump/],
    ["quoted-printable of binary bytes", encodings["quoted-printable"](exe), /quoted-printable block/],
    ["bare uuencode lines", encodings["uuencode data lines alone"](exe), /uuencode block/],
    ["BinHex lines without the header", encodings["BinHex without its header line"](exe), /BinHex block/],
    ["an executable in a URL parameter", `https://evil.example/d?f=${exe.subarray(0, 200).toString("base64url")}`, /base64 block/],
    ["a MIME part shown as text", `--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${exe.subarray(0, 60).toString("base64")}`, /MIME part/],
  ])("catches %s", async (_what, block) => {
    const v = await violations(result(GOOD_HEAD, `${GOOD_BODY}前文\r\n${block}\r\n後文\r\n`));
    expect(v.join("\n")).toMatch(/file staff could decode|MIME part/);
  });

  // the other spellings (byte-spellings.ts): found by the check's own regular expressions, not by the detector
  const OTHER = Object.keys(encodings).slice(Object.keys(encodings).indexOf("C array of hex bytes")) as Array<keyof typeof encodings>;
  it.each(OTHER)("catches a file spelled as %s", async (name) => {
    const v = await violations(result(GOOD_HEAD, `${GOOD_BODY}前文\r\n${encodings[name](exe)}\r\n後文\r\n`));
    expect(v.join("\n")).toMatch(/file staff could decode/);
  });

  it("lets ordinary text in those alphabets pass: a percent-encoded Japanese link, a table of counts, mojibake, prose", async () => {
    const body = [
      GOOD_BODY,
      `https://ja.wikipedia.org/wiki/${encodeURIComponent("日本の地方公共団体一覧と行政区画".repeat(4))}`,
      Array.from({ length: 200 }, (_, i) => (i * 7) % 100).join(", "),
      Array.from({ length: 40 }, (_, i) => `192.168.${i}.${200 - i}`).join(", "),
      [...Buffer.from("会議資料を送付いたします。".repeat(8))].map((b) => `=${b.toString(16).toUpperCase()}`).join(""),
      "$B2q5D;qNA$rAwIU$$$?$7$^$9!#$43NG'$/$@$5$$!#(B".repeat(6),
      "The committee met on 12 May 2026 at 10:00 in Room 3B and approved 14 of the 17 items. ".repeat(5),
      "",
    ].join("\r\n");
    expect(await violations(result(GOOD_HEAD, body))).toEqual([]);
  });

  it("lets ordinary short tokens pass: an API key, a SHA-512, a fingerprint, a long tracking link", async () => {
    const sha512 = createHash("sha512").update("x").digest("hex");
    const tracking = `hxxps[://]click[.]example[.]com/ls/click?upn=${pseudoRandom(300, "t").toString("base64url")}`;
    const body = `${GOOD_BODY}APIキー: ${Buffer.from("meeting-room-booking-token").toString("base64")}\r\nSHA-512: ${sha512}\r\n指紋: 7A3C 9F21 0B4D E5F6 1234 5678 9ABC DEF0 1122 3344\r\n${tracking}\r\n`;
    expect(await violations(result(GOOD_HEAD, body))).toEqual([]);
  });

  it("catches half-width katakana (ESC ( I) in an ISO-2022-JP body", async () => {
    const head = GOOD_HEAD.map((h) =>
      h.startsWith("Content-Type") ? "Content-Type: text/plain; charset=iso-2022-jp" : h.startsWith("Content-Transfer") ? "Content-Transfer-Encoding: 7bit" : h,
    );
    const body = Buffer.from(`a.pdf ${HASH}\r\n\u001b(I4\u001b(B\r\n`, "latin1");
    expect((await violations(result(head, body, {}, "iso-2022-jp"))).join("\n")).toMatch(/outside RFC 1468/);
  });

  it("catches a report whose input size and hash are not the input's", async () => {
    const input = Buffer.from("From: a@example.jp\r\n\r\nbody\r\n");
    const r = result(GOOD_HEAD, GOOD_BODY, { input: { size: 3, sha256: HASH } });
    const v = (await checkSanitized(r, { input, auditId: ID })).violations.join("\n");
    expect(v).toMatch(/report.input.size/);
    expect(v).toMatch(/report.input.sha256/);
  });

  it("catches a report whose output hash is not the message's", async () => {
    const r = result(GOOD_HEAD, GOOD_BODY);
    r.report.output.sha256 = HASH;
    expect((await violations(r)).join("\n")).toMatch(/output.sha256/);
  });

  it("allows markup the sender wrote as plain text", async () => {
    const input = Buffer.from('From: a@example.jp\r\nSubject: s\r\nContent-Type: text/plain\r\n\r\nuse <div class="x"> here\r\n');
    const v = await violations(result(GOOD_HEAD, `${GOOD_BODY}use <div class="x"> here\r\n`), input);
    expect(v).toEqual([]);
  });

  it("does not allow markup that came from an HTML part of the input", async () => {
    const input = Buffer.from('From: a@example.jp\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<div class="x"> here</div>\r\n');
    const v = await violations(result(GOOD_HEAD, `${GOOD_BODY}<div class="x"> here\r\n`), input);
    expect(v.join("\n")).toMatch(/markup/);
  });

  it("shows format=flowed text as a reader does: soft breaks joined, delsp honoured, signature kept", async () => {
    const head = GOOD_HEAD.map((h) => (h.startsWith("Content-Type") ? "Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes" : h));
    const body = `${GOOD_BODY}日本語の長い \r\n一行です。\r\n>> 引用の \r\n>> 続き\r\n-- \r\n署名\r\n`;
    const { violations: v, view } = await checkSanitized(result(head, body), { auditId: ID });
    expect(v).toEqual([]);
    expect(view?.text).toContain("日本語の長い一行です。");
    expect(view?.text).toContain(">> 引用の続き");
    expect(view?.text).toContain("-- \r\n署名");
  });

  it("decodes base64 and quoted-printable bodies and ISO-2022-JP text", async () => {
    const jis = Buffer.from("\u001b$B2q5D\u001b(B\r\n", "latin1"); // 会議
    const body = Buffer.from(`${GOOD_BODY.replace(/会議の本文 /, "")}`).toString("latin1");
    const head = GOOD_HEAD.map((h) =>
      h.startsWith("Content-Type") ? "Content-Type: text/plain; charset=ISO-2022-JP" : h.startsWith("Content-Transfer") ? "Content-Transfer-Encoding: base64" : h,
    );
    const asciiNotice = Buffer.from(body.replace(/[^\x00-\x7f]/g, ""), "latin1");
    const payload = Buffer.concat([asciiNotice, jis]).toString("base64").replace(/(.{76})/g, "$1\r\n");
    const { violations: v, view } = await checkSanitized(result(head, `${payload}\r\n`, {}, "iso-2022-jp"), { auditId: ID });
    expect(v).toEqual([]);
    expect(view?.text).toContain("会議");
  });
});
