/**
 * Headers: only the allow-list comes out, each once, re-encoded by mumuka; a
 * decoded value carrying CR/LF (through encoded words, RFC 2231 or raw bytes)
 * never becomes a header of its own, and display names cannot deceive.
 */
import { simpleParser } from "mailparser";
import { describe, expect, it } from "vitest";
import { sanitize } from "../../src/sanitize/index.ts";
import { assertSanitized } from "../helpers/invariant.ts";
import { encodedWord, message, part } from "../helpers/mime-builders.ts";
import { TEST_AUDIT_ID, testOptions } from "../helpers/options.ts";

const text = part({ contentType: "text/plain; charset=utf-8", body: "本文" });

async function run(input: Buffer) {
  const result = await sanitize(input, testOptions());
  const view = await assertSanitized(result, input, { auditId: TEST_AUDIT_ID });
  return { result, view };
}

const names = (view: { headers: Array<{ name: string }> }) => view.headers.map((h) => h.name.toLowerCase());

describe("header injection through decoded values", () => {
  it.each([
    ["B-encoded CRLF + Bcc in Subject", `Subject: ${encodedWord("Hello\r\nBcc: victim@evil.example")}`],
    ["Q-encoded CRLF + Content-Type in Subject", "Subject: =?UTF-8?Q?Hi=0D=0AContent-Type:_text/html?="],
    ["bare LF in an encoded From name", `From: ${encodedWord("Boss\nReply-To: attacker@evil.example")} <boss@example.jp>`],
    ["NUL and CR in an ISO-2022-JP word", `Subject: ${encodedWord(Buffer.from("\u001b$B$3\u001b(B\u0000\rX-Injected: 1", "latin1"), "ISO-2022-JP")}`],
  ])("never creates a header from %s", async (_what, line) => {
    const input = message({ headers: [line], entity: text, subject: line.startsWith("Subject") ? undefined : "s" });
    const { view } = await run(input);
    expect(names(view)).not.toContain("bcc");
    expect(names(view)).not.toContain("x-injected");
    expect(names(view).filter((n) => n === "content-type")).toHaveLength(1);
    expect(names(view).filter((n) => n === "reply-to")).toHaveLength(0);
    expect(view.get("Content-Type")).toMatch(/^text\/plain/i);
  });

  it("keeps the injected words visible as text of the one Subject", async () => {
    const input = message({ subject: encodedWord("Hello\r\nBcc: victim@evil.example"), entity: text });
    const { view } = await run(input);
    expect(view.get("Subject")).toContain("Hello");
    expect(view.get("Subject")).toContain("victim@evil.example");
  });

  it("does not copy a raw header that is not allow-listed (e.g. Bcc, X-Mailer, Content-Disposition)", async () => {
    const input = message({
      headers: ["Bcc: hidden@example.jp", "X-Mailer: Evil 1.0", "Content-Disposition: attachment; filename=x.exe", "X-Mumuka-Id: FORGED", "X-Mumuka-Status: clean"],
      subject: "s",
      entity: text,
    });
    const { view } = await run(input);
    expect(names(view)).not.toContain("bcc");
    expect(names(view)).not.toContain("x-mailer");
    expect(names(view)).not.toContain("content-disposition");
    expect(view.get("X-Mumuka-Id")).toBe(TEST_AUDIT_ID);
    expect(view.headers.map((h) => h.value).join("\n")).not.toContain("FORGED");
  });
});

describe("allow-listed headers appear once", () => {
  it("keeps one From, one Subject and one Date when the input repeats them", async () => {
    const input = message({
      headers: ["Subject: second subject", "From: Second <second@example.jp>", "Date: Fri, 27 Nov 2026 00:00:00 +0900", "To: other@example.jp"],
      subject: "first subject",
      entity: text,
    });
    const { view } = await run(input);
    for (const name of ["from", "subject", "date", "to"]) expect(names(view).filter((n) => n === name), name).toHaveLength(1);
  });

  it("carries Reply-To, Cc, In-Reply-To and References, decoded and re-encoded", async () => {
    const input = message({
      subject: "s",
      headers: [
        `Reply-To: ${encodedWord("窓口")} <madoguchi@example.jp>`,
        "Cc: a@example.jp, B <b@example.jp>",
        "In-Reply-To: <parent@example.jp>",
        "References: <root@example.jp> <parent@example.jp>",
      ],
      entity: text,
    });
    const { view, result } = await run(input);
    expect(view.get("Reply-To")).toContain("窓口");
    expect(view.get("Reply-To")).toContain("madoguchi@example.jp");
    expect(view.get("Cc")).toContain("b@example.jp");
    expect(view.get("In-Reply-To")).toContain("<parent@example.jp>");
    expect(view.get("References")).toContain("<root@example.jp>");
    expect(result.report.headers.cc.map((a) => a.address)).toEqual(["a@example.jp", "b@example.jp"]);
  });

  it("gives a message with no headers at all a From and a Date", async () => {
    const input = Buffer.from("just a line of text\r\n");
    const { view } = await run(input);
    expect(view.get("From")).toBeTruthy();
    expect(view.get("Date")).toBeTruthy();
    expect(view.text).toContain("just a line of text");
  });
});

describe("display names that try to deceive", () => {
  it("makes a bidi override in the From display name visible instead of obeying it", async () => {
    const input = message({ from: `${encodedWord("Bank\u202Emoc.knab")} <x@evil.example>`, subject: "s", entity: text });
    const { view, result } = await run(input);
    const from = view.get("From") ?? "";
    expect(from).not.toContain("\u202E");
    expect(result.report.headers.from[0]?.name ?? "").not.toContain("\u202E");
    expect(from).toContain("x@evil.example");
  });

  it("makes bidi overrides and control characters in the Subject and the text visible", async () => {
    const input = message({
      subject: encodedWord("請求書\u202Efdp.exe\u0007"),
      entity: part({ contentType: "text/plain; charset=utf-8", encoding: "8bit", body: "ファイル https://evil.example/\u202Efdp.exe と\u001b[31m赤字\u001b[0m" }),
    });
    const { view } = await run(input);
    expect(view.get("Subject")).toMatch(/^請求書.+fdp\.exe/);
    for (const ch of ["\u202E", "\u0007", "\u001b"]) {
      expect(view.get("Subject")).not.toContain(ch);
      expect(view.text).not.toContain(ch);
    }
    expect(view.text).toContain("赤字");
  });

  it.each([
    ["an encoded display name holding a fake <address>", `${encodedWord("市長 <mayor@city.example.lg.jp>")} <attacker@evil.example>`],
    ["an encoded display name holding a comma and a second address", `${encodedWord("Mayor, mayor@city.example.lg.jp")} <attacker@evil.example>`],
    ["a quoted display name with an embedded address", '"mayor@city.example.lg.jp" <attacker@evil.example>'],
  ])("re-encodes %s so that a mail client still reads the real sender", async (_what, from) => {
    const input = message({ from, subject: "s", entity: text });
    const { result } = await run(input);
    expect(result.report.headers.from.map((a) => a.address)).toEqual(["attacker@evil.example"]);
    // an independent parser of the OUTPUT must find exactly the real address
    const parsed = await simpleParser(result.message);
    const addresses = (Array.isArray(parsed.from) ? parsed.from : [parsed.from]).flatMap((f) => f?.value ?? []).map((v) => v.address);
    expect(addresses).toEqual(["attacker@evil.example"]);
  });

  it("keeps the real address visible when the display name looks like another address", async () => {
    const input = message({ from: `"support@bank.example" <phish@evil.example>`, subject: "s", entity: text });
    const { view } = await run(input);
    expect(view.get("From")).toContain("phish@evil.example");
  });

  it("folds a very long Subject into lines of at most 998 octets", async () => {
    const input = message({ subject: encodedWord("長い件名".repeat(2000)), entity: text });
    const { view } = await run(input);
    expect((view.get("Subject") ?? "").length).toBeGreaterThan(100);
  });
});

describe("addresses and names that cannot be written as they are (issue 10 §1b)", () => {
  /** U+010A, U+010D, U+0100: their low bytes are LF, CR and NUL — what an ASCII narrowing would write */
  const evil = '"a\u010AX-Injected: yes\u010D\u010AContent-Type: text/html\u0100"@example.com';
  const headerBytes = (message: Buffer) => message.subarray(0, message.indexOf("\r\n\r\n") + 2);
  const addressesOf = (value: unknown) =>
    (Array.isArray(value) ? value : value ? [value] : []).flatMap((o: { value: Array<{ name: string; address?: string }> }) => o.value);

  it.each([
    ["From", { from: evil }, "invalid-sender@mumuka.invalid"],
    ["To", { to: `Name <${evil}>` }, "invalid-address@mumuka.invalid"],
    ["Cc", { headers: [`Cc: ${evil}`] }, "invalid-address@mumuka.invalid"],
    ["Reply-To", { headers: [`Reply-To: Name <${evil}>`] }, "invalid-address@mumuka.invalid"],
  ])("writes a quoted local part with U+010A/U+010D/U+0100 in %s as a placeholder, never as CR, LF or NUL", async (field, spec, placeholder) => {
    const input = message({ subject: "s", entity: text, ...spec });
    const { result, view } = await run(input);
    expect([...headerBytes(result.message)].every((b) => b === 0x0d || b === 0x0a || (b >= 0x20 && b <= 0x7e))).toBe(true);
    expect(names(view)).not.toContain("x-injected");
    expect(names(view).filter((n) => n === "content-type")).toHaveLength(1);
    const parsed = await simpleParser(result.message);
    expect(parsed.headers.has("x-injected")).toBe(false);
    expect((parsed.headers.get("content-type") as { value: string }).value).toBe("text/plain");
    const key = field.toLowerCase() as "from" | "to" | "cc" | "reply-to";
    const written = addressesOf(key === "reply-to" ? parsed.replyTo : parsed[key]);
    expect(written.map((a) => a.address)).toEqual([placeholder]);
  });

  it("keeps the text of an unwritable address visible as the (encoded) display name", async () => {
    const input = message({ from: evil, subject: "s", entity: text });
    const parsed = await simpleParser((await run(input)).result.message);
    expect(addressesOf(parsed.from)[0]?.name).toContain("X-Injected: yes");
  });

  it.each(["From", "To", "Cc", "Reply-To"])("encodes and folds a 1,000-character display name without a space in %s: every line within 998 octets", async (field) => {
    const name = "A".repeat(1000);
    const mailbox = `${name} <long@example.jp>`;
    const spec = field === "From" ? { from: mailbox } : field === "To" ? { to: mailbox } : { headers: [`${field}: ${mailbox}`] };
    const { result } = await run(message({ subject: "s", entity: text, ...spec }));
    for (const line of headerBytes(result.message).toString("latin1").split("\r\n")) expect(line.length).toBeLessThanOrEqual(998);
    const parsed = await simpleParser(result.message);
    const key = field.toLowerCase() as "from" | "to" | "cc" | "reply-to";
    const written = addressesOf(key === "reply-to" ? parsed.replyTo : parsed[key]);
    expect(written).toEqual([{ name, address: "long@example.jp" }]);
  });
});
