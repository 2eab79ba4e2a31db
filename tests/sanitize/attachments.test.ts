/**
 * Removed parts: every one is listed for staff and in the report with its
 * file name (RFC 2231 joined and decoded, made display-safe), declared and
 * sniffed type, size and SHA-256 — hashed as it streams, even when huge.
 * Password-protected archives (PPAP), TNEF, S/MIME and PGP are named as such.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sanitize } from "../../src/sanitize/index.ts";
import type { RemovedPart } from "../../src/sanitize/sanitize-types.ts";
import { assertSanitized } from "../helpers/invariant.ts";
import {
  attachment,
  encryptedZip,
  message,
  multipart,
  part,
  plainZip,
  pseudoRandom,
  streamingAttachmentMessage,
  zipArchive,
} from "../helpers/mime-builders.ts";
import { testOptions } from "../helpers/options.ts";

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const intro = part({ contentType: "text/plain; charset=utf-8", body: "添付をご確認ください。" });

async function run(input: Buffer, overrides = {}) {
  const result = await sanitize(input, testOptions(overrides));
  const view = await assertSanitized(result, input);
  return { result, view, attachments: result.report.attachments };
}

function only(attachments: RemovedPart[]): RemovedPart {
  expect(attachments).toHaveLength(1);
  return attachments[0]!;
}

describe("a removed attachment", () => {
  it("is listed with name, type, decoded size and SHA-256, and its bytes are not in the output", async () => {
    const content = pseudoRandom(10_000);
    const input = message({ subject: "doc", entity: multipart("mixed", [intro, attachment("報告書.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", content)]) });
    const { view, attachments, result } = await run(input);
    const removed = only(attachments);
    expect(removed).toMatchObject({ filename: "報告書.docx", size: 10_000, sha256: sha256(content), encrypted: false });
    expect(removed.contentType).toBe("application/vnd.openxmlformats-officedocument.wordprocessingml.document");
    expect(view.text).toContain("報告書.docx");
    expect(view.text).toContain(sha256(content));
    expect(view.text).toContain("添付をご確認ください。");
    expect(result.message.includes(content.subarray(0, 64).toString("base64").slice(0, 40))).toBe(false);
  });

  it("hashes a 30 MB attachment as it streams (size and SHA-256 match the decoded bytes)", async () => {
    const size = 30 * 1024 * 1024;
    const { stream, sha256: expected } = streamingAttachmentMessage(size, "archive.bin");
    const result = await sanitize(stream, testOptions());
    const view = await assertSanitized(result);
    const removed = only(result.report.attachments);
    expect(removed.size).toBe(size);
    expect(removed.sha256).toBe(expected);
    expect(view.text).toContain("添付ファイルをお送りします。");
    expect(result.message.length).toBeLessThan(64 * 1024);
  }, 120_000);
});

describe("text and HTML sent as files", () => {
  it("lists an HTML file attachment (HTML smuggling) as removed, never as the body", async () => {
    const html = Buffer.from("<html><body><script>location='https://evil.example/'</script>SMUGGLED-MARKER</body></html>");
    const input = message({ subject: "html file", entity: multipart("mixed", [intro, attachment("invoice.html", "text/html", html)]) });
    const { attachments, view } = await run(input);
    expect(only(attachments)).toMatchObject({ filename: "invoice.html", sha256: sha256(html) });
    expect(view.text).not.toContain("location=");
  });

  it("lists a text file sent as an attachment, and shows the inline text after it", async () => {
    const input = message({
      subject: "txt file",
      entity: multipart("mixed", [attachment("memo.txt", "text/plain", Buffer.from("ファイルの中身")), part({ contentType: "text/plain; charset=utf-8", body: "添付の後の本文" })]),
    });
    const { attachments, view } = await run(input);
    expect(only(attachments).filename).toBe("memo.txt");
    expect(view.text).toContain("添付の後の本文");
    expect(view.text).not.toContain("ファイルの中身");
  });
});

describe("RFC 2231 file names", () => {
  it("joins continuations and decodes charset + percent-encoding", async () => {
    const name = "令和8年度 予算書（案）.xlsx";
    const encoded = encodeURIComponent(name).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    // segments of about 30 characters, never splitting a %XX escape (a multi-byte character may be split)
    const pieces: string[] = [];
    for (const token of encoded.match(/%[0-9A-F]{2}|[^%]/g)!) {
      if (!pieces.length || pieces.at(-1)!.length >= 30) pieces.push("");
      pieces[pieces.length - 1] += token;
    }
    const disposition = ["Content-Disposition: attachment;", ...pieces.map((p, i) => ` filename*${i}*=${i === 0 ? "UTF-8''" : ""}${p}${i < pieces.length - 1 ? ";" : ""}`)].join("\r\n");
    const input = message({ subject: "s", entity: multipart("mixed", [intro, part({ contentType: "application/vnd.ms-excel", headers: [disposition], encoding: "base64", body: Buffer.from("PK\u0003\u0004xx") })]) });
    const { attachments, view } = await run(input);
    expect(only(attachments).filename).toBe(name);
    expect(view.text).toContain(name);
  });

  it("decodes an ISO-2022-JP RFC 2231 name and a plain continuation without charset", async () => {
    const jis = Buffer.from("\u001b$B;qNA\u001b(B.pdf", "latin1"); // 資料.pdf
    const pct = [...jis].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join("");
    const input = message({
      subject: "s",
      entity: multipart("mixed", [
        intro,
        part({ contentType: "application/pdf", headers: [`Content-Disposition: attachment; filename*=iso-2022-jp''${pct}`], encoding: "base64", body: Buffer.from("%PDF-1.4\n") }),
        part({ contentType: "text/csv", headers: ['Content-Disposition: attachment; filename*0="long-name-";', ' filename*1="continued.csv"'], encoding: "base64", body: Buffer.from("a,b\n") }),
      ]),
    });
    const { attachments } = await run(input);
    expect(attachments.map((a) => a.filename)).toEqual(["資料.pdf", "long-name-continued.csv"]);
  });

  it("decodes an RFC 2047 encoded-word file name (what many Japanese mailers send)", async () => {
    const input = message({ subject: "s", entity: multipart("mixed", [intro, part({ contentType: 'application/pdf; name="=?ISO-2022-JP?B?GyRCO3FOQRsoQg==?=.pdf"', encoding: "base64", body: Buffer.from("%PDF-1.4\n") })]) });
    const { attachments } = await run(input);
    expect(only(attachments).filename).toBe("資料.pdf");
  });

  it("makes CR/LF inside a file name visible instead of starting a new notice line", async () => {
    const input = message({
      subject: "s",
      entity: multipart("mixed", [intro, part({ contentType: "application/octet-stream", headers: ["Content-Disposition: attachment; filename*=UTF-8''a%0D%0A%E2%9C%94%20safe.txt"], encoding: "base64", body: Buffer.from("x") })]),
    });
    const { attachments, view } = await run(input);
    const name = only(attachments).filename;
    expect(name).not.toMatch(/[\r\n]/);
    expect(view.text.split("\r\n").some((line) => line.trim().startsWith("✔ safe.txt"))).toBe(false);
  });
});

describe("bidi and control characters in file names", () => {
  it("shows invoice\\u202Efdp.exe with the override made visible, so it cannot pass for a .pdf", async () => {
    const input = message({ subject: "s", entity: multipart("mixed", [intro, attachment("invoice\u202Efdp.exe", "application/pdf", Buffer.from("MZ\u0090\u0000\u0003"))]) });
    const { attachments, view } = await run(input);
    const name = only(attachments).filename;
    expect(name).not.toContain("\u202E");
    expect(name).toMatch(/^invoice.+fdp\.exe$/); // something visible stands where the override was
    expect(view.text).not.toContain("\u202E");
    expect(view.text).toContain(name);
  });

  it.each([["\u2066"], ["\u200F"], ["\u0007"], ["\u061C"]])("does not keep U+%s invisible in a file name", async (ch) => {
    const input = message({ subject: "s", entity: multipart("mixed", [intro, attachment(`a${ch}b.txt`, "text/plain", Buffer.from("x"))]) });
    const { attachments, view } = await run(input);
    expect(only(attachments).filename).not.toContain(ch);
    expect(view.text).not.toContain(ch);
  });
});

describe("type sniffing", () => {
  it("flags a .pdf that is really an MZ executable as a mismatch, visibly", async () => {
    const exe = Buffer.concat([Buffer.from("MZ\u0090\u0000\u0003\u0000\u0000\u0000\u0004\u0000", "latin1"), pseudoRandom(2000)]);
    const input = message({ subject: "請求書", entity: multipart("mixed", [intro, attachment("請求書.pdf", "application/pdf", exe)]) });
    const { attachments, view } = await run(input);
    const removed = only(attachments);
    expect(removed.typeMismatch).toBe(true);
    expect(removed.sniffedType).toBeTruthy();
    expect(removed.sniffedType).not.toMatch(/pdf/);
    expect(view.text).toContain(removed.sniffedType!);
  });

  it.each([
    ["a Windows shortcut (.lnk) named .pdf", "見積書.pdf", "application/pdf", Buffer.concat([Buffer.from([0x4c, 0, 0, 0, 0x01, 0x14, 0x02, 0x00]), pseudoRandom(200)])],
    ["HTML smuggling named .pdf", "請求書.pdf", "application/pdf", Buffer.from("<!DOCTYPE html><html><body><script>location='https://evil.example'</script></body></html>")],
    ["a RAR archive named .jpg", "photo.jpg", "image/jpeg", Buffer.concat([Buffer.from("Rar!\u001a\u0007\u0000", "latin1"), pseudoRandom(100)])],
    ["an ELF binary named .txt", "readme.txt", "text/plain", Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), pseudoRandom(100)])],
  ])("flags %s as a mismatch", async (_what, filename, declared, content) => {
    const input = message({ subject: "disguise", entity: multipart("mixed", [intro, attachment(filename, declared, content)]) });
    const { attachments } = await run(input);
    expect(only(attachments)).toMatchObject({ filename, typeMismatch: true });
  });

  it("does not flag a real PDF declared as application/pdf", async () => {
    const input = message({ subject: "s", entity: multipart("mixed", [intro, attachment("ok.pdf", "application/pdf", Buffer.from("%PDF-1.7\n%âãÏÓ\n1 0 obj\n"))]) });
    const { attachments } = await run(input);
    expect(only(attachments).typeMismatch).toBe(false);
  });
});

describe("PPAP: password-protected archives", () => {
  it("says a ZIP is password-protected (ZipCrypto, encryption bit set) in the report and the notice", async () => {
    const zip = encryptedZip("見積書.pdf", Buffer.from("%PDF-1.4 secret\n"), "pass1234");
    const plain = plainZip("memo.txt", Buffer.from("hello\n"));
    const input = message({ subject: "見積書送付", entity: multipart("mixed", [intro, attachment("見積書.zip", "application/zip", zip), attachment("memo.zip", "application/zip", plain)]) });
    const { attachments, view, result } = await run(input);
    const byName = Object.fromEntries(attachments.map((a) => [a.filename, a]));
    expect(byName["見積書.zip"]?.encrypted).toBe(true);
    expect(byName["memo.zip"]?.encrypted).toBe(false);
    expect(result.report.encrypted.protectedFiles).toBe(1);
    // the notice must say so in words staff read: パスワード (ja)
    expect(view.text).toMatch(/パスワード/);
  });

  it("finds the encrypted entry when the ZIP's first entry is not encrypted", async () => {
    const zip = zipArchive([
      { name: "README.txt", content: Buffer.from("パスワードは別メールで送ります\n") },
      { name: "見積書.pdf", content: Buffer.from("%PDF-1.4 secret\n"), password: "pass1234" },
    ]);
    const input = message({ subject: "mixed zip", entity: multipart("mixed", [intro, attachment("見積書.zip", "application/zip", zip)]) });
    const { attachments, result } = await run(input);
    expect(only(attachments).encrypted).toBe(true);
    expect(result.report.encrypted.protectedFiles).toBe(1);
  });

  it("says an encrypted PDF (/Encrypt in its trailer) is password-protected", async () => {
    const pdf = Buffer.from(
      "%PDF-1.6\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" +
        "5 0 obj << /Filter /Standard /V 4 /R 4 /Length 128 /P -1060 /O <00> /U <00> >> endobj\n" +
        "trailer << /Root 1 0 R /Encrypt 5 0 R /ID [<01><01>] >>\n%%EOF\n",
    );
    const input = message({ subject: "pdf", entity: multipart("mixed", [intro, attachment("請求書.pdf", "application/pdf", pdf)]) });
    const { attachments, view } = await run(input);
    expect(only(attachments).encrypted).toBe(true);
    expect(view.text).toMatch(/パスワード/);
  });

  it("says a password-protected Office file (an OLE container with EncryptionInfo) is protected", async () => {
    // an encrypted .xlsx is a Compound File whose directory names EncryptionInfo and EncryptedPackage
    const cfb = Buffer.alloc(4096);
    Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]).copy(cfb, 0);
    Buffer.from("EncryptionInfo", "utf16le").copy(cfb, 1024);
    Buffer.from("EncryptedPackage", "utf16le").copy(cfb, 1152);
    const input = message({ subject: "xlsx", entity: multipart("mixed", [intro, attachment("名簿.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", cfb)]) });
    const { attachments } = await run(input);
    expect(only(attachments).encrypted).toBe(true);
  });

  it("says so in English with language en", async () => {
    const zip = encryptedZip("quote.pdf", Buffer.from("%PDF-1.4 secret\n"), "pass1234");
    const input = message({ subject: "quote", entity: multipart("mixed", [intro, attachment("quote.zip", "application/zip", zip)]) });
    const { view } = await run(input, { language: "en" });
    expect(view.text).toMatch(/password/i);
  });
});

describe("files encoded inside the text", () => {
  const uuencode = (name: string, data: Buffer) => {
    const lines = [`begin 644 ${name}`];
    for (let i = 0; i < data.length; i += 45) {
      const chunk = data.subarray(i, i + 45);
      let line = String.fromCharCode(32 + chunk.length);
      for (let j = 0; j < chunk.length; j += 3) {
        const [a = 0, b = 0, c = 0] = [chunk[j], chunk[j + 1], chunk[j + 2]];
        for (const v of [a >> 2, ((a & 3) << 4) | (b >> 4), ((b & 15) << 2) | (c >> 6), c & 63]) line += v === 0 ? "`" : String.fromCharCode(32 + v);
      }
      lines.push(line);
    }
    return [...lines, "`", "end"].join("\r\n");
  };

  it("removes a uuencoded executable from a text part (mail clients would rebuild it as an attachment) and lists it", async () => {
    const exe = Buffer.concat([Buffer.from("MZ\u0090\u0000", "latin1"), pseudoRandom(1000)]);
    const body = `請求書を送ります。\r\n\r\n${uuencode("invoice.exe", exe)}\r\n\r\nよろしくお願いします。\r\n`;
    const input = message({ subject: "uu", entity: part({ contentType: "text/plain; charset=utf-8", encoding: "8bit", body }) });
    const { view } = await run(input); // the invariant rejects a uuencoded block left in the text
    expect(view.text).toContain("請求書を送ります。");
    expect(view.text).toContain("よろしくお願いします。");
    expect(view.text).toContain("invoice.exe");
  });

  it("removes a yEnc-encoded file from a text part", async () => {
    const body = `see file\r\n=ybegin line=128 size=6 name=tool.exe\r\nwv\u00c2\u00c3xy\r\n=yend size=6\r\nbye\r\n`;
    const input = message({ subject: "yenc", entity: part({ contentType: "text/plain; charset=iso-8859-1", encoding: "8bit", body: Buffer.from(body, "latin1") }) });
    const { view } = await run(input);
    expect(view.text).toContain("see file");
  });
});

describe("TNEF, S/MIME and PGP", () => {
  it("removes a winmail.dat (application/ms-tnef) and keeps the text", async () => {
    const tnef = Buffer.concat([Buffer.from([0x78, 0x9f, 0x3e, 0x22, 0x01, 0x00]), pseudoRandom(500)]);
    const input = message({ subject: "tnef", entity: multipart("mixed", [intro, attachment("winmail.dat", "application/ms-tnef", tnef)]) });
    const { attachments, view } = await run(input);
    expect(only(attachments)).toMatchObject({ filename: "winmail.dat", contentType: "application/ms-tnef", sha256: sha256(tnef) });
    expect(view.text).toContain("添付をご確認ください。");
  });

  it("shows the text of an S/MIME signed message and lists the signature as removed", async () => {
    const sig = pseudoRandom(700);
    const input = message({
      subject: "signed",
      entity: multipart("signed", [intro, part({ contentType: 'application/pkcs7-signature; name="smime.p7s"', headers: ['Content-Disposition: attachment; filename="smime.p7s"'], encoding: "base64", body: sig })], {
        params: '; protocol="application/pkcs7-signature"; micalg=sha-256',
      }),
    });
    const { attachments, view } = await run(input);
    expect(view.text).toContain("添付をご確認ください。");
    expect(attachments.map((a) => a.filename)).toEqual(["smime.p7s"]);
  });

  it("reports an S/MIME encrypted message as encrypted and lists the envelope", async () => {
    const env = pseudoRandom(1500);
    const input = message({
      subject: "encrypted",
      entity: part({ contentType: 'application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"', headers: ['Content-Disposition: attachment; filename="smime.p7m"'], encoding: "base64", body: env }),
    });
    const { attachments, result } = await run(input);
    expect(result.report.encrypted.smime).toBe(true);
    expect(only(attachments)).toMatchObject({ filename: "smime.p7m", sha256: sha256(env) });
  });

  it("reports a PGP/MIME encrypted message as encrypted", async () => {
    const armored = "-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA1234567890abcdefghijklmnop\r\n=abcd\r\n-----END PGP MESSAGE-----\r\n";
    const input = message({
      subject: "pgp",
      entity: multipart(
        "encrypted",
        [part({ contentType: "application/pgp-encrypted", body: "Version: 1\r\n" }), part({ contentType: 'application/octet-stream; name="encrypted.asc"', body: armored })],
        { params: '; protocol="application/pgp-encrypted"' },
      ),
    });
    const { result } = await run(input);
    expect(result.report.encrypted.pgp).toBe(true);
  });

  it("keeps the words of an inline PGP signed message", async () => {
    const body = "-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\n会議は中止です。\r\n-----BEGIN PGP SIGNATURE-----\r\n\r\niQEzBAEBCAAdFiEE\r\n=XXXX\r\n-----END PGP SIGNATURE-----\r\n";
    const input = message({ subject: "pgp inline", entity: part({ contentType: "text/plain; charset=utf-8", encoding: "8bit", body }) });
    const { view } = await run(input);
    expect(view.text).toContain("会議は中止です。");
  });
});
