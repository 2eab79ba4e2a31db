/**
 * Property: whatever text the sender puts into addresses, display names and
 * the subject — any code point of Unicode, U+0100–U+01FF (whose low bytes are
 * CR, LF and NUL), lone surrogates, U+2028/U+2029, controls, RFC 5322
 * specials, "=?" — every header line mumuka writes is printable ASCII of at
 * most 998 octets, and an independent parser (mailparser, i.e. libmime's
 * decoder and nodemailer's addressparser; none of our decoding code) reads
 * back the same headers: the same addresses (or the placeholder where an
 * address cannot be written), the same display names and subject.
 *
 * Two levels: the header encoder alone (many runs, cheap), and the whole
 * sanitizer on messages whose raw header lines carry the generated text.
 * Seeded: MUMUKA_FUZZ_SEED / MUMUKA_FUZZ_RUNS as in fuzz.test.ts.
 */
import fc from "fast-check";
import { simpleParser, type AddressObject } from "mailparser";
import { describe, it } from "vitest";
import type { OutputCharset } from "../../src/config/schema.ts";
import { sanitize } from "../../src/sanitize/index.ts";
import type { Address } from "../../src/sanitize/sanitize-types.ts";
import { isValidAddress } from "../../src/sanitize/header-decode.ts";
import { addressHeader, headerBlock, unstructuredHeader } from "../../src/sanitize/header-encode.ts";
import { checkSanitized } from "../helpers/invariant.ts";
import { encodedWord, message, part } from "../helpers/mime-builders.ts";
import { testOptions } from "../helpers/options.ts";

const SEED = Number(process.env.MUMUKA_FUZZ_SEED ?? 20261206);
const RUNS = Number(process.env.MUMUKA_FUZZ_RUNS ?? 300);
/** the placeholders docs/sanitize.md promises for addresses that cannot be written */
const INVALID_SENDER = "invalid-sender@mumuka.invalid";
const INVALID_ADDRESS = "invalid-address@mumuka.invalid";

// --- characters and texts from all of Unicode, weighted towards the dangerous ones ---------

const anyChar: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 3, arbitrary: fc.integer({ min: 0x100, max: 0x1ff }).map((c) => String.fromCharCode(c)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom("\r", "\n", "\r\n", "\0", "\t", "\u0085", "\u2028", "\u2029", "\u202E", "\uFEFF", "\u200B", "\u00AD", "\u3000", "=?", "?=", '"', "\\", "<", ">", ",", ";", ":", "@", "(", ")", "  "),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c)) },
  { weight: 1, arbitrary: fc.constantFrom("日本語", "会議", "ｶﾀｶﾅ", "😀", "é") },
);
const text = (maxLength: number): fc.Arbitrary<string> => fc.array(anyChar, { maxLength }).map((a) => a.join(""));
/** a word without a space, long enough to pass 78 characters or 998 octets unless it is encoded and folded */
const longWord = fc.tuple(fc.constantFrom("A", "x.y", "あ", "\u010A", "-"), fc.integer({ min: 60, max: 1000 })).map(([c, n]) => c.repeat(Math.ceil(n / c.length)).slice(0, n));
const displayName = fc.oneof(text(30), longWord, fc.constantFrom("", "Yamada, Taro", "市長 <mayor@city.example.lg.jp>"));

const atext = fc.constantFrom(..."abcxyzABC0189!#$%&'*+/=?^_`{|}~-.".split(""));
const domain = fc.constantFrom("example.jp", "city.example.lg.jp", "[192.0.2.1]", "例え.jp", "ex ample.jp");
const address: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.array(atext, { minLength: 1, maxLength: 20 }), domain).map(([l, d]) => `${l.join("")}@${d}`),
  fc.tuple(text(20), domain).map(([l, d]) => `"${l}"@${d}`),
  fc.tuple(text(12), text(12)).map(([l, d]) => `${l}@${d}`),
  fc.constant('"a\u010AX-Injected: yes\u010D\u010A"@example.com'),
);
const charset = fc.constantFrom<OutputCharset>("utf-8", "iso-2022-jp");

// --- what a reader must get back ----------------------------------------------------------

/**
 * The one canonical form the encoder promises for a text: controls (C0, C1,
 * U+2028/2029) shown as spaces, an unpaired surrogate as U+FFFD (UTF-8 has no
 * form for it), ends trimmed; runs of spaces compared as one space (folding
 * may write one where there were several).
 */
function canonical(value: string): string {
  return value
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD")
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, " ")
    .trim()
    .replace(/ +/g, " ");
}

/** What the reader is shown for one written address: itself, or its text with the placeholder. */
function expectedAddress(a: Address, placeholder: string): { name: string; address: string } {
  if (isValidAddress(a.address)) return { name: canonical(a.name), address: a.address };
  const shown = a.name && a.address ? `${a.name} (${a.address})` : a.name || a.address;
  return { name: canonical(shown), address: placeholder };
}

function addressesOf(value: AddressObject | AddressObject[] | undefined): Array<{ name: string; address: string }> {
  return (Array.isArray(value) ? value : value ? [value] : []).flatMap((o) => o.value).map((v) => ({ name: canonical(v.name ?? ""), address: v.address ?? "" }));
}

/** Every header line: printable ASCII, at most 998 octets; the problems found. */
function lineProblems(block: Buffer): string[] {
  const problems: string[] = [];
  const head = block.toString("latin1");
  const lines = head.split("\r\n");
  if (lines.at(-1) === "") lines.pop();
  lines.forEach((line, i) => {
    if (!/^[\x20-\x7e]*$/.test(line)) problems.push(`line ${i + 1} has a byte outside printable ASCII: ${JSON.stringify(line.slice(0, 80))}`);
    if (line.length > 998) problems.push(`line ${i + 1} is ${line.length} octets`);
  });
  return problems;
}

function same(what: string, got: unknown, want: unknown): string[] {
  return JSON.stringify(got) === JSON.stringify(want) ? [] : [`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`];
}

describe("the header encoder on text from all of Unicode", () => {
  it(`writes printable ASCII lines of at most 998 octets that mailparser reads back as the same addresses, names and subject (${RUNS} runs, seed ${SEED})`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ name: displayName, address }), { minLength: 1, maxLength: 4 }), fc.oneof(text(200), longWord), charset, async (list, subject, cs) => {
        const block = headerBlock([addressHeader("From", list, cs), addressHeader("Cc", list, cs), unstructuredHeader("Subject", subject, cs)]);
        const problems = lineProblems(block);
        const parsed = await simpleParser(Buffer.concat([block, Buffer.from("MIME-Version: 1.0\r\n\r\nbody\r\n")]));
        const want = list.map((a) => expectedAddress(a, INVALID_ADDRESS));
        problems.push(...same("From", addressesOf(parsed.from), want), ...same("Cc", addressesOf(parsed.cc), want));
        problems.push(...same("Subject", canonical(parsed.subject ?? ""), canonical(subject)));
        // an empty Subject is written as "Subject: ", which mailparser does not list
        const names = canonical(subject) === "" ? ["cc", "from", "mime-version"] : ["cc", "from", "mime-version", "subject"];
        problems.push(...same("header names", [...parsed.headers.keys()].filter((n) => n !== "subject" || canonical(subject) !== "").sort(), names));
        if (problems.length) throw new Error(problems.join("\n"));
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
  }, 120_000);
});

// --- the whole sanitizer: the generated text in the raw header lines of a message -------------

/** raw header text cannot hold a line break (it would end the header); encoded words can, and do */
const unbroken = (value: string): string => value.replace(/[\r\n]/g, " ");
/** How the sender writes a display name: raw (8-bit UTF-8), quoted, or as an encoded word. */
const written = fc.tuple(displayName, fc.constantFrom("raw", "quoted", "encoded")).map(([name, how]) =>
  how === "raw" ? unbroken(name) : how === "quoted" ? `"${unbroken(name).replace(/(["\\])/g, "\\$1")}"` : name ? encodedWord(name) : "",
);
const mailbox = fc.tuple(written, address, fc.boolean()).map(([name, addr, bare]) => (bare ? unbroken(addr) : `${name} <${unbroken(addr)}>`));
const mailboxList = fc.array(mailbox, { minLength: 1, maxLength: 3 }).map((l) => l.join(", "));
const subjectLine = fc.tuple(fc.oneof(text(200), longWord), fc.boolean()).map(([t, encoded]) => (encoded && t ? encodedWord(t) : unbroken(t)));

describe("the sanitizer on messages whose From, To, Cc, Reply-To and Subject carry text from all of Unicode", () => {
  it(`writes printable ASCII header lines of at most 998 octets that mailparser reads back as the report says (${Math.max(50, Math.floor(RUNS / 3))} runs, seed ${SEED})`, async () => {
    await fc.assert(
      fc.asyncProperty(mailboxList, mailboxList, mailboxList, mailboxList, subjectLine, async (from, to, cc, replyTo, subject) => {
        const input = message({ from, to, subject, headers: [`Cc: ${cc}`, `Reply-To: ${replyTo}`], entity: part({ contentType: "text/plain; charset=utf-8", body: "本文" }) });
        const result = await sanitize(input, testOptions());
        const end = result.message.indexOf("\r\n\r\n");
        const problems = lineProblems(result.message.subarray(0, end + 2));
        const { violations } = await checkSanitized(result, { input });
        problems.push(...violations);
        const parsed = await simpleParser(result.message);
        const h = result.report.headers;
        const fromWritable = h.from.filter((a) => isValidAddress(a.address));
        const wantFrom = fromWritable.length
          ? fromWritable.map((a) => expectedAddress(a, INVALID_SENDER))
          : [{ name: canonical(h.from.map((a) => a.name || a.address).join(", ")), address: INVALID_SENDER }];
        problems.push(...same("From", addressesOf(parsed.from), wantFrom));
        // no To at all is written as the empty group "undisclosed-recipients:;"
        const wantTo = h.to.length ? h.to.map((a) => expectedAddress(a, INVALID_ADDRESS)) : [{ name: "undisclosed-recipients", address: "" }];
        problems.push(...same("To", addressesOf(parsed.to), wantTo));
        problems.push(...same("Cc", addressesOf(parsed.cc), h.cc.map((a) => expectedAddress(a, INVALID_ADDRESS))));
        problems.push(...same("Subject", canonical(parsed.subject ?? ""), canonical(h.subject)));
        const names = [...parsed.headers.keys()].filter((n) => !n.startsWith("x-mumuka-")).sort();
        const allowed = ["cc", "content-transfer-encoding", "content-type", "date", "from", "message-id", "mime-version", "received", "reply-to", "subject", "to"];
        problems.push(...names.filter((n) => !allowed.includes(n)).map((n) => `header not written by mumuka: ${n}`));
        if (problems.length) throw new Error(problems.join("\n"));
      }),
      { seed: SEED, numRuns: Math.max(50, Math.floor(RUNS / 3)), endOnFailure: true },
    );
  }, 240_000);
});
