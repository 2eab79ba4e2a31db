/**
 * Message structure and bounds: deep nesting, thousands of parts, unclosed
 * boundaries, bad base64, a multi-megabyte single line, empty and garbage
 * input — past any bound the output is still a safe message that says what
 * was cut; forwarded messages and calendar invitations keep their meaning.
 */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { sanitize } from "../../src/sanitize/index.ts";
import { assertSanitized } from "../helpers/invariant.ts";
import { attachment, encodedWord, message, multipart, nestedMultipart, nestedRfc822, part, pseudoRandom } from "../helpers/mime-builders.ts";
import { testOptions } from "../helpers/options.ts";

async function run(input: Buffer, overrides = {}) {
  const result = await sanitize(input, testOptions(overrides));
  const view = await assertSanitized(result, input);
  return { result, view };
}

const leaf = (words: string) => part({ contentType: "text/plain; charset=utf-8", encoding: "8bit", body: words });

describe("bounds", () => {
  it("sanitizes 1,000 levels of multipart nesting, saying the depth limit was hit", async () => {
    const input = message({ subject: "deep", entity: nestedMultipart(1000, leaf("最深部のテキスト")) });
    const { result, view } = await run(input);
    expect(result.report.limitsHit).toContain("maxDepth");
    expect(view.text.length).toBeGreaterThan(0);
  });

  it("sanitizes 1,000 levels of message/rfc822 nesting", async () => {
    const input = nestedRfc822(1000, message({ subject: "inner", entity: leaf("inner words") }));
    const { result } = await run(input);
    expect(result.report.limitsHit).toContain("maxDepth");
  });

  it("keeps text above the depth limit when nesting is within bounds", async () => {
    const input = message({ subject: "ok", entity: nestedMultipart(5, leaf("五階層下の本文")) });
    const { result, view } = await run(input);
    expect(view.text).toContain("五階層下の本文");
    expect(result.report.limitsHit).toEqual([]);
  });

  it("sanitizes 10,000 parts, listing up to the limit and saying parts were cut", async () => {
    const parts = [leaf("一万個の添付")];
    for (let i = 0; i < 10_000; i++) parts.push(part({ contentType: `application/octet-stream; name="f${i}.bin"`, body: `x${i}` }));
    const input = message({ subject: "many", entity: multipart("mixed", parts) });
    const { result, view } = await run(input);
    expect(result.report.limitsHit).toContain("maxParts");
    expect(view.text).toContain("一万個の添付");
    expect(result.report.attachments.length).toBeLessThanOrEqual(500);
  }, 60_000);

  it("cuts an oversized text at maxTextChars and says so", async () => {
    const input = message({ subject: "big", entity: leaf("あ".repeat(50_000)) });
    const { result, view } = await run(input, { limits: { maxTextChars: 10_000 } });
    expect(result.report.limitsHit).toContain("maxTextChars");
    expect(view.text.length).toBeLessThan(40_000);
  });

  it("cuts an oversized header block and still delivers a safe message", async () => {
    const input = message({ subject: "x", headers: Array.from({ length: 5000 }, (_, i) => `X-Filler-${i}: ${"y".repeat(100)}`), entity: leaf("本文は残る") });
    const { result } = await run(input, { limits: { maxHeaderBytes: 64 * 1024 } });
    expect(result.report.limitsHit).toContain("maxHeaderBytes");
  });

  it("ends in a safe 'limit hit' message when the AbortSignal fires", async () => {
    const controller = new AbortController();
    controller.abort();
    const input = message({ subject: "aborted", entity: leaf("text") });
    const result = await sanitize(input, testOptions({ signal: controller.signal }));
    await assertSanitized(result, input);
    expect(result.report.limitsHit).toContain("maxTimeMs");
  });
});

describe("input streams that stall or fail", () => {
  /** A stream that sends the start of a message and then nothing, ever (a stalled SMTP client). */
  const stalled = () => {
    let sent = false;
    return new Readable({
      read() {
        if (!sent) {
          sent = true;
          this.push(Buffer.from("From: a@example.jp\r\nSubject: stalled\r\nContent-Type: text/plain\r\n\r\nfirst words "));
        }
      },
    });
  };

  it("ends a stalled input when the AbortSignal fires, with a safe 'limit hit' message", async () => {
    const result = await sanitize(stalled(), testOptions({ signal: AbortSignal.timeout(300) }));
    await assertSanitized(result);
    expect(result.report.limitsHit).toContain("maxTimeMs");
  }, 15_000); // a hang shows as this test's timeout

  it("ends a stalled input at maxTimeMs even without a signal", async () => {
    const { signal: _unused, ...options } = testOptions({ limits: { maxTimeMs: 300 } });
    const result = await sanitize(stalled(), options);
    await assertSanitized(result);
    expect(result.report.limitsHit).toContain("maxTimeMs");
  }, 15_000);

  it("rejects (never hangs) when the input stream itself fails", async () => {
    const failing = new Readable({
      read() {
        this.destroy(new Error("disk read error"));
      },
    });
    await expect(sanitize(failing, testOptions())).rejects.toThrow();
  });
});

describe("time and HTML budgets", () => {
  it("stops at maxTimeMs on a message that takes longer, with a safe message saying so", async () => {
    const parts = [leaf("時間切れでも安全")];
    for (let i = 0; i < 20_000; i++) parts.push(part({ contentType: `application/octet-stream; name="f${i}.bin"`, body: `x${i}` }));
    const input = message({ subject: "slow", entity: multipart("mixed", parts) });
    const { result } = await run(input, { limits: { maxTimeMs: 1, maxParts: 100_000 } });
    expect(result.report.limitsHit).toContain("maxTimeMs");
  }, 60_000);

  it("gives the HTML converter at most maxHtmlBytes and says the rest was cut", async () => {
    const html = `<html><body>${"<p>段落の本文です。</p>".repeat(20_000)}<p>END-MARKER</p></body></html>`;
    const input = message({ subject: "big html", entity: part({ contentType: "text/html; charset=utf-8", body: html }) });
    const { result, view } = await run(input, { limits: { maxHtmlBytes: 64 * 1024 } });
    expect(result.report.limitsHit).toContain("maxHtmlBytes");
    expect(view.text).toContain("段落の本文です。");
    expect(view.text).not.toContain("END-MARKER");
  });
});

describe("deeply nested HTML", () => {
  const nested = (n: number) => message({ subject: "divs", entity: part({ contentType: "text/html; charset=utf-8", body: `<p>TOP</p>${"<div>".repeat(n)}DEEP${"</div>".repeat(n)}` }) });

  it("shows the text inside 1,000 nested elements, or says it was cut", async () => {
    const { view, result } = await run(nested(1000));
    expect(view.text).toContain("TOP");
    if (!view.text.includes("DEEP")) expect([...result.report.limitsHit, ...result.report.warnings], "text dropped without a word").not.toEqual([]);
  });

  it("says maxTimeMs was hit whenever converting 100,000 nested elements overruns the budget", async () => {
    // not a speed assertion: the promise is that a run past its budget is a known "limit hit"
    // outcome. Slack (3× + 1 s) covers clock checks between steps on a loaded machine.
    const budget = 500;
    const started = performance.now();
    const { result } = await run(nested(100_000), { limits: { maxTimeMs: budget } });
    const elapsed = performance.now() - started;
    if (elapsed > budget * 3 + 1000) expect(result.report.limitsHit, `ran ${Math.round(elapsed)} ms on a ${budget} ms budget`).toContain("maxTimeMs");
  }, 300_000);
});

describe("hostile HTML", () => {
  it("shows no markup and no script text whatever tricks the HTML plays", async () => {
    const html = [
      "<!DOCTYPE html><html><head><meta http-equiv='refresh' content='0;url=https://evil.example/'><base href='https://evil.example/'>",
      "<script>document.write('SCRIPT-A')</script><style>@import 'https://evil.example/x.css';</style></head><body onload=\"alert('ONLOAD')\">",
      "<scr<script>ipt>alert('SCRIPT-B')</scr</script>ipt>",
      "<!-- <script>alert('COMMENT')</script> -->",
      "<svg><script>alert('SVG')</script></svg>",
      "<iframe src='https://evil.example/frame'>IFRAME-FALLBACK</iframe>",
      "<form action='https://evil.example/post'><input name='password' value='pw'></form>",
      "<p>見える本文 &lt;b&gt;エスケープされた記号&lt;/b&gt;</p>",
      "<object data='x.swf'></object><embed src='x.swf'>",
      "</body></html>",
    ].join("\n");
    const input = message({ subject: "hostile", entity: part({ contentType: "text/html; charset=utf-8", body: html }) });
    const { view } = await run(input);
    expect(view.text).toContain("見える本文");
    expect(view.text).toContain("<b>エスケープされた記号</b>"); // what the sender wrote as text stays text
    for (const gone of ["SCRIPT-A", "ONLOAD", "COMMENT", "SVG')", "x.css"]) expect(view.text).not.toContain(gone);
  });
});

describe("long lines", () => {
  it("keeps a 3 MB single line whole across ≤ 998-octet output lines", async () => {
    // 3 MiB, no spaces; the dots keep it from being one long hex block (which would be cut as data)
    const line = "0123456789abcde.".repeat(3 * 65_536);
    const input = message({ subject: "one line", entity: leaf(line) });
    const { view } = await run(input, { limits: { maxTextChars: 4_000_000 } });
    expect(view.text.replace(/\s+/g, "")).toContain(line);
  }, 60_000);

  it("keeps a 1 MB Japanese single line whole", async () => {
    const line = "日本語の長い一行".repeat(40_000);
    const input = message({ subject: "one line ja", entity: leaf(line) });
    const { view } = await run(input);
    expect(view.text.replace(/\s+/g, "")).toContain(line);
  }, 60_000);
});

describe("malformed structure", () => {
  it("shows the text of a multipart whose closing boundary never comes", async () => {
    const input = message({ subject: "unclosed", entity: multipart("mixed", [leaf("閉じない境界の本文"), attachment("a.txt", "text/plain", Buffer.from("aaa"))], { close: false }) });
    const { view } = await run(input);
    expect(view.text).toContain("閉じない境界の本文");
  });

  it("shows the text when the boundary parameter is missing", async () => {
    const input = Buffer.from("From: a@example.jp\r\nSubject: nb\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nvisible words\r\n--x--\r\n");
    const { view } = await run(input);
    expect(view.text).toContain("visible words");
  });

  it.each([
    ["one ASCII character off", 'boundary="real-boundary-3"'],
    ["one raw 8-bit byte off", 'boundary="real-bound\u00e0ry-2"'],
  ])("does not show raw MIME source (HTML markup, an attachment's base64) when the declared boundary is %s", async (_what, declared) => {
    const exe = Buffer.concat([Buffer.from("MZ\u0090\u0000", "latin1"), pseudoRandom(3000)]);
    const body = multipart("alternative", [leaf("テキスト版の本文"), part({ contentType: "text/html; charset=utf-8", body: "<html><body><p>HTML版の本文</p></body></html>" }), attachment("tool.exe", "application/octet-stream", exe)], { boundary: "real-boundary-2" });
    // the header declares a boundary one character off: no delimiter line matches it
    const input = message({ subject: "boundary mismatch", entity: Buffer.from(body.toString("latin1").replace('boundary="real-boundary-2"', declared), "latin1") });
    const { view } = await run(input);
    expect(view.text).not.toMatch(/<html|<body|<p>/i);
    expect(view.text).not.toContain(exe.toString("base64").slice(0, 60));
    expect(view.text).not.toMatch(/^Content-Transfer-Encoding:/im);
  });

  it("does not show raw MIME source when only closing delimiters are left (found by fuzz, seed 11)", async () => {
    const exe = Buffer.concat([Buffer.from("MZ\u0090\u0000", "latin1"), pseudoRandom(3000)]);
    const body = multipart("mixed", [part({ contentType: "text/html; charset=utf-8", encoding: "quoted-printable", body: "<body>HTML=E7=89=88</body>" }), attachment("tool.exe", "application/octet-stream", exe)], { boundary: "only-close" });
    // drop the opening delimiters: the parts are all "preamble", then --only-close-- several times
    const mangled = body.toString("latin1").replace(/^--only-close\r\n/gm, "").replace(/(--only-close--\r\n)/, "$1$1$1");
    const input = message({ subject: "no opening delimiter", entity: Buffer.from(mangled, "latin1") });
    const { view } = await run(input);
    expect(view.text).not.toMatch(/<body/i);
    expect(view.text).not.toContain(exe.toString("base64").slice(0, 60));
  });

  it("decodes what it can of bad base64 and still delivers", async () => {
    const good = Buffer.from("Hello World, こんにちは", "utf8").toString("base64");
    const raw = message({
      subject: "b64",
      entity: part({ contentType: "text/plain; charset=utf-8", headers: ["Content-Transfer-Encoding: base64"], body: `${good}\r\n*** not base64 !!!\r\n===\r\n` }),
    });
    const { view } = await run(raw);
    expect(view.text).toContain("Hello World");
  });

  it("treats an unknown transfer encoding as opaque rather than crashing", async () => {
    const input = Buffer.from("From: a@example.jp\r\nSubject: cte\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-gzip64\r\n\r\nH4sIAAAAAAAA\r\n");
    await run(input);
  });

  it("turns empty input into a safe message", async () => {
    const { result } = await run(Buffer.alloc(0));
    expect(result.report.input.size).toBe(0);
  });

  it.each([
    ["random bytes", pseudoRandom(64 * 1024, "garbage")],
    ["NUL bytes", Buffer.alloc(4096)],
    ["only a header line", Buffer.from("Subject: nothing else")],
    ["lone CRs", Buffer.from("From: a@b\rSubject: cr only\r\rbody line\rmore\r")],
    ["an mbox From_ line", Buffer.from("From sender@example.jp Thu Nov 26 10:00:00 2026\nFrom: sender@example.jp\nSubject: mbox\n\nmbox body\n")],
  ])("turns %s into a safe message", async (_what, input) => {
    await run(input);
  });
});

describe("forwarded messages", () => {
  it("includes the forwarded text, marked as forwarded, and lists its attachment", async () => {
    const inner = message({
      from: `${encodedWord("取引先")} <partner@example.com>`,
      subject: encodedWord("元のメール"),
      entity: multipart("mixed", [leaf("転送された本文です。"), attachment("inner.xlsx", "application/vnd.ms-excel", Buffer.from("PK\u0003\u0004inner"))]),
    });
    const input = message({ subject: "Fwd", entity: multipart("mixed", [leaf("転送します。"), part({ contentType: "message/rfc822", headers: ['Content-Disposition: inline; filename="fwd.eml"'], body: inner })]) });
    const { view, result } = await run(input);
    expect(view.text).toContain("転送します。");
    expect(view.text).toContain("転送された本文です。");
    expect(view.text).toContain("元のメール");
    expect(result.report.forwarded).toBe(1);
    expect(result.report.attachments.map((a) => a.filename)).toContain("inner.xlsx");
    expect(view.text.indexOf("転送します。")).toBeLessThan(view.text.indexOf("転送された本文です。"));
  });
});

describe("forwarded messages in other wrappings", () => {
  const inner = message({ subject: encodedWord("内側の件名"), messageId: "<inner@example.jp>", entity: leaf("内側の本文です。") });

  it("decodes a message/rfc822 part sent in base64", async () => {
    const input = message({ subject: "fwd b64", entity: multipart("mixed", [leaf("外側"), part({ contentType: "message/rfc822", encoding: "base64", body: inner })]) });
    const { view, result } = await run(input);
    expect(view.text).toContain("内側の本文です。");
    expect(result.report.forwarded).toBe(1);
  });

  it("reads the parts of a multipart/digest as forwarded messages (their default type is message/rfc822)", async () => {
    const digest = Buffer.from(`Content-Type: multipart/digest; boundary="dg"\r\n\r\n--dg\r\n\r\n${inner.toString("latin1")}\r\n--dg\r\n\r\n${inner.toString("latin1").replace(/inner@/, "inner2@")}\r\n--dg--\r\n`, "latin1");
    const input = message({ subject: "digest", entity: digest });
    const { view, result } = await run(input);
    expect(view.text).toContain("内側の本文です。");
    expect(result.report.forwarded).toBe(2);
  });
});

describe("calendar invitations", () => {
  const ics = [
    "BEGIN:VCALENDAR",
    "VERSION:2.0",
    "PRODID:-//Test//EN",
    "METHOD:REQUEST",
    "BEGIN:VEVENT",
    "UID:20261201-meeting@example.jp",
    "DTSTART:20261201T010000Z",
    "DTEND:20261201T023000Z",
    "SUMMARY:予算説明会",
    "LOCATION:本庁舎 5階 第1会議室",
    "ORGANIZER;CN=\"財政課\":mailto:zaisei@city.example.lg.jp",
    "END:VEVENT",
    "END:VCALENDAR",
    "",
  ].join("\r\n");

  it("renders the event (title, start and end in Japan time, place, organizer) and removes the file", async () => {
    const input = message({
      subject: encodedWord("招待: 予算説明会"),
      entity: multipart("mixed", [
        multipart("alternative", [leaf("予算説明会のご招待です。"), part({ contentType: "text/html; charset=utf-8", body: "<p>予算説明会のご招待です。</p>" }), part({ contentType: "text/calendar; charset=utf-8; method=REQUEST", encoding: "8bit", body: ics })]),
        attachment("invite.ics", "application/ics", Buffer.from(ics)),
      ]),
    });
    const { view, result } = await run(input);
    expect(result.report.calendar).toHaveLength(1);
    const event = result.report.calendar[0]!;
    expect(event.summary).toBe("予算説明会");
    expect(event.start).toBe("2026-12-01T10:00:00+09:00");
    expect(event.end).toBe("2026-12-01T11:30:00+09:00");
    expect(event.location).toContain("第1会議室");
    expect(event.organizer).toMatch(/財政課|zaisei@city\.example\.lg\.jp/);
    expect(view.text).toContain("予算説明会");
    expect(view.text).toMatch(/10:00/);
    expect(view.text).toMatch(/11:30/);
    expect(view.text).toContain("第1会議室");
    expect(result.report.attachments.some((a) => a.contentType === "text/calendar" || a.filename === "invite.ics")).toBe(true);
    expect(view.text).not.toContain("BEGIN:VEVENT");
  });

  it.each([
    ["Outlook's Windows zone name with a VTIMEZONE", 'DTSTART;TZID="Tokyo Standard Time":20261201T140000', "2026-12-01T14:00:00+09:00"],
    ["a foreign IANA zone, converted to Japan time", "DTSTART;TZID=America/New_York:20261201T090000", "2026-12-01T23:00:00+09:00"],
    ["an all-day event (VALUE=DATE)", "DTSTART;VALUE=DATE:20261201", "2026-12-01"],
  ])("reads %s", async (_what, dtstart, expected) => {
    const vtimezone = ["BEGIN:VTIMEZONE", "TZID:Tokyo Standard Time", "BEGIN:STANDARD", "DTSTART:16010101T000000", "TZOFFSETFROM:+0900", "TZOFFSETTO:+0900", "END:STANDARD", "END:VTIMEZONE"];
    const body = ics
      .replace("DTSTART:20261201T010000Z\r\n", `${dtstart}\r\n`)
      .replace("DTEND:20261201T023000Z\r\n", "")
      .replace("METHOD:REQUEST\r\n", `METHOD:REQUEST\r\n${vtimezone.join("\r\n")}\r\n`)
      // a folded, escaped SUMMARY as Outlook writes it
      .replace("SUMMARY:予算説明会", "SUMMARY:予算説明会\\, 第2回\r\n （資料配布あり）");
    const input = message({ subject: "invite", entity: multipart("alternative", [leaf("招待"), part({ contentType: "text/calendar; charset=utf-8; method=REQUEST", encoding: "base64", body: Buffer.from(body, "utf8") })]) });
    const { result, view } = await run(input);
    const event = result.report.calendar[0];
    expect(event?.start?.startsWith(expected)).toBe(true);
    expect(event?.summary).toBe("予算説明会, 第2回（資料配布あり）");
    expect(view.text).toContain("予算説明会, 第2回（資料配布あり）");
  });

  it("reads a TZID=Asia/Tokyo start as Japan time", async () => {
    const local = ics.replace("DTSTART:20261201T010000Z", "DTSTART;TZID=Asia/Tokyo:20261201T140000").replace("DTEND:20261201T023000Z", "DTEND;TZID=Asia/Tokyo:20261201T150000");
    const input = message({ subject: "invite", entity: multipart("alternative", [leaf("招待"), part({ contentType: "text/calendar; charset=utf-8; method=REQUEST", encoding: "8bit", body: local })]) });
    const { result, view } = await run(input);
    expect(result.report.calendar[0]?.start).toBe("2026-12-01T14:00:00+09:00");
    expect(view.text).toMatch(/14:00/);
  });
});

describe("the header written in front of content split again", () => {
  it("never turns a decoded character into a line break of the internal parse (no latin1 narrowing)", async () => {
    const { reparseHeader } = await import("../../src/sanitize/analyze.ts");
    const bytes = reparseHeader("multipart/mixed\u010AX-Injected: yes", "b\u010Ax\u010D\u0100\"q");
    const text = bytes.toString("latin1");
    expect(text.split("\r\n")).toEqual(['Content-Type: multipart/mixed; boundary="bxq"', "", ""]);
    expect([...bytes].filter((b) => b === 0x0a || b === 0x0d || b === 0)).toHaveLength(4);
    // a boundary read from the raw bytes keeps its 8-bit bytes, so it still matches them
    expect(reparseHeader("multipart/alternative", "=_\u00e9t\u00e9").toString("latin1")).toBe('Content-Type: multipart/alternative; boundary="=_\u00e9t\u00e9"\r\n\r\n');
  });
});
