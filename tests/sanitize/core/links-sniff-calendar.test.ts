import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { defangUrl, MAX_LINK_DOMAINS, processLinks } from "../../../src/sanitize/links.ts";
import { createSniffer, isMismatch } from "../../../src/sanitize/sniff.ts";
import { parseCalendar } from "../../../src/sanitize/calendar.ts";
import { htmlToText, isDeceptiveLink } from "../../../src/sanitize/html-text.ts";
import { base64Decoder, quotedPrintableDecoder } from "../../../src/sanitize/transfer-decode.ts";

describe("links", () => {
  it("defangs scheme, separator and every dot of the host, keeping the path readable", () => {
    expect(defangUrl("https://www.example.com/a.pdf?x=1")).toBe("hxxps[://]www[.]example[.]com/a.pdf?x=1");
    expect(defangUrl("www.example.com/a")).toBe("www[.]example[.]com/a");
  });

  it("counts links in text, stops at Japanese prose and trailing punctuation", () => {
    const r = processLinks("詳細はhttps://example.jp/x。または (www.example.com).", "defang", "[x]");
    expect(r.found).toBe(2);
    expect(r.disarmed).toBe(2);
    expect(r.text).toBe("詳細はhxxps[://]example[.]jp/x。または (www[.]example[.]com).");
  });

  it("keeps and removes on request", () => {
    expect(processLinks("see https://a.example/", "keep", "[x]")).toEqual({ text: "see https://a.example/", found: 1, disarmed: 0, urls: ["https://a.example/"] });
    expect(processLinks("see https://a.example/", "remove", "[removed]").text).toBe("see [removed]");
  });
});

describe("deceptive links in HTML", () => {
  it("flags link text naming another host than the target", () => {
    expect(isDeceptiveLink("https://www.bank.example/login", "https://evil.example/x")).toBe(true);
    expect(isDeceptiveLink("www.bank.example", "https://login.bank.example/")).toBe(false);
    expect(isDeceptiveLink("こちらをクリック", "https://evil.example/")).toBe(false);
  });

  it("shows the real target of every link and converts without wrapping Japanese", () => {
    const long = "あ".repeat(300);
    const text = htmlToText(`<p>${long}</p><a href="https://a.example/x">ここ</a><script>evil()</script><img src="t.gif" alt="ロゴ">`, 1_000_000);
    expect(text).toContain(long);
    expect(text).toContain("ここ <https://a.example/x>");
    expect(text).toContain("[ロゴ]");
    expect(text).not.toContain("evil()");
  });
});

describe("sniffing", () => {
  const sniff = (...chunks: Buffer[]) => {
    const s = createSniffer();
    chunks.forEach((c) => s.update(c));
    return s.finish();
  };

  it("recognises an executable posing as a PDF", () => {
    const result = sniff(Buffer.from("MZ\x90\x00", "latin1"));
    expect(result.sniffedType).toBe("application/x-msdownload");
    expect(isMismatch(result.family, "application/pdf", "invoice.pdf")).toBe(true);
    expect(isMismatch(result.family, "application/octet-stream", "setup.exe")).toBe(false);
  });

  it("detects a password-protected ZIP by its first local header", () => {
    const header = Buffer.alloc(30);
    header.write("PK\x03\x04", 0, "latin1");
    header.writeUInt16LE(1, 6);
    expect(sniff(header).encrypted).toBe(true);
    header.writeUInt16LE(0, 6);
    expect(sniff(header).encrypted).toBe(false);
  });

  it("finds an encrypted entry after an unencrypted first one, across chunk borders", () => {
    const entry = (encrypted: boolean, name: string) => {
      const h = Buffer.alloc(30);
      h.write("PK\x03\x04", 0, "latin1");
      h.writeUInt16LE(20, 4);
      h.writeUInt16LE(encrypted ? 1 : 0, 6);
      h.writeUInt16LE(8, 8);
      h.writeUInt16LE(name.length, 26);
      return Buffer.concat([h, Buffer.from(name), Buffer.alloc(500, 7)]);
    };
    const zip = Buffer.concat([entry(false, "readme.txt"), entry(true, "secret.xlsx")]);
    expect(sniff(zip.subarray(0, 540), zip.subarray(540)).encrypted).toBe(true);
    expect(sniff(entry(false, "a.txt"), entry(false, "b.txt")).encrypted).toBe(false);
  });

  it("finds /Encrypt in a PDF trailer even when split across chunks", () => {
    const result = sniff(Buffer.from("%PDF-1.7\n"), Buffer.alloc(100_000, 0x20), Buffer.from("trailer << /Enc"), Buffer.from("rypt 5 0 R >>"));
    expect(result).toMatchObject({ sniffedType: "application/pdf", encrypted: true });
  });

  it("detects an encrypted OOXML file (CFB holding EncryptionInfo)", () => {
    const cfb = Buffer.concat([Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]), Buffer.alloc(600), Buffer.from("EncryptionInfo", "utf16le")]);
    expect(sniff(cfb)).toMatchObject({ family: "cfb", encrypted: true });
  });
});

describe("calendar", () => {
  it("renders start and end in Japan time from UTC, TZID and Windows zone names", () => {
    const warnings: string[] = [];
    const events = parseCalendar(
      [
        "BEGIN:VCALENDAR",
        "BEGIN:VEVENT",
        "SUMMARY:定例会議\\, 第3回",
        "DTSTART;TZID=Tokyo Standard Time:20261201T100000",
        "DTEND:20261201T020000Z",
        "LOCATION:会議室A",
        'ORGANIZER;CN="Yamada":mailto:yamada@example.jp',
        "BEGIN:VALARM",
        "SUMMARY:alarm",
        "END:VALARM",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "SUMMARY:NY",
        "DTSTART;TZID=America/New_York:20260701T090000",
        "END:VEVENT",
        "END:VCALENDAR",
      ].join("\r\n"),
      warnings,
    );
    expect(events[0]).toEqual({
      summary: "定例会議, 第3回",
      start: "2026-12-01T10:00:00+09:00",
      end: "2026-12-01T11:00:00+09:00",
      location: "会議室A",
      organizer: "Yamada <yamada@example.jp>",
    });
    expect(events[1]?.start).toBe("2026-07-01T22:00:00+09:00");
    expect(warnings).toEqual([]);
  });
});

describe("transfer decoders", () => {
  it("decode base64 split anywhere, with junk and a second padded body glued on", () => {
    const d = base64Decoder();
    const input = "5pel5pys\r\n6Kqe!!=" + "44Gq"; // 日本語 then (after a stray "=") な
    const out = Buffer.concat([...input].map((c) => d.update(Buffer.from(c))).concat(d.end())).toString("utf8");
    expect(out).toBe("日本語な");
  });

  it("decode quoted-printable with soft breaks split across chunks and keep bad escapes", () => {
    const d = quotedPrintableDecoder();
    const chunks = ["caf=C3", "=A9 =\r", "\nnext =ZZ"];
    const out = Buffer.concat(chunks.map((c) => d.update(Buffer.from(c))).concat(d.end())).toString("utf8");
    expect(out).toBe("café next =ZZ");
  });
});

describe("nested links", () => {
  it("defangs a URL carried inside another URL's query (redirectors)", () => {
    const r = processLinks("go http://r.example/c?forward=http://evil.example/x&u=www.evil2.example", "defang", "[x]");
    expect(r.text).not.toMatch(/https?:\/\/|www\.[a-z]/i);
    expect(r.text).toContain("hxxp[://]evil[.]example/x");
  });
});

describe("UNC paths", () => {
  it("are counted and defanged, since Outlook opens them over SMB", () => {
    const r = processLinks("資料: \\\\fileserver.example\\share\\a.pdf", "defang", "[x]");
    expect(r.found).toBe(1);
    expect(r.text).toBe("資料: [\\\\]fileserver[.]example\\share\\a.pdf");
    expect(processLinks("\\\\srv\\s", "remove", "[x]").text).toBe("[x]");
  });
});

/**
 * Calls `fn(text, ...args)` of a core module on each text in a worker thread and returns
 * what `pick` keeps of each result; rejects if it has not finished after 20 s. A regex
 * cannot be interrupted on its own thread: this way a super-linear scan fails the test
 * instead of hanging the suite.
 */
function inWorker(file: string, fn: string, texts: string[], args: unknown[], pick = ""): Promise<unknown[]> {
  const code = `
    const { parentPort, workerData: w } = require("node:worker_threads");
    import(w.module).then((m) => parentPort.postMessage(w.texts.map((t) => { const r = m[w.fn](t, ...w.args); return w.pick ? r[w.pick] : r; })));`;
  const module = new URL(`../../../src/sanitize/${file}`, import.meta.url).pathname;
  const worker = new Worker(code, { eval: true, workerData: { module, fn, texts, args, pick } });
  return new Promise((resolve, reject) => {
    const budget = setTimeout(() => void worker.terminate().then(() => reject(new Error(`${fn} did not finish in 20 s: super-linear`))), 20_000);
    worker.once("message", (result: unknown[]) => {
      clearTimeout(budget);
      void worker.terminate().then(() => resolve(result));
    });
    worker.once("error", (error) => {
      clearTimeout(budget);
      reject(error);
    });
  });
}

describe("hostile link shapes stay linear", () => {
  // Linear, not timed: a quadratic scan of these inputs (10^12 steps) never ends, and the
  // test's own timeout catches that; no comparison of elapsed milliseconds.
  it("handles a million-character run of trailing punctuation and 100,000 nested URLs, leaving nothing clickable", () => {
    expect(processLinks(`http://a${".".repeat(1_000_000)}x`, "defang", "[x]").found).toBe(1);
    const nested = processLinks(`http://a/${"http://b.example/".repeat(100_000)}`, "defang", "[x]");
    expect(nested.text).not.toMatch(/https?:\/\//);
  }, 30_000);

  // Size, not time: each text below costs 10^10 steps or more to a scan that restarts at
  // every "(" and runs to the end (minutes), about 10^7 to a linear one (milliseconds).
  // A regex cannot be interrupted on its own thread, so the call runs in a worker that is
  // stopped after a budget far beyond the linear cost: the suite fails rather than hangs.
  it("reads link text full of openers (a host claimed after each '(') in linear work", async () => {
    const texts = ["(".repeat(200_000), `${"(a".repeat(100_000)} www.bank.example`, `"${"a.".repeat(100_000)}`, `(${"a@".repeat(100_000)}`];
    expect(await inWorker("html-text.ts", "isDeceptiveLink", texts, ["https://evil.example/"])).toEqual([false, true, false, false]);
  }, 60_000);

  it("cleans extracted text with a million-blank run on one line in linear work (the same class, found by the audit in src/extract)", async () => {
    const texts = [`${" ".repeat(1_000_000)}x`, `a${"\u3000 ".repeat(500_000)}\nb`];
    expect(await inWorker("../extract/text-budget.ts", "cleanText", texts, [])).toEqual([`${" ".repeat(1_000_000)}x`.trim(), "a\nb"]);
  }, 60_000);

  it("scans a million characters of URL-like and UNC-like shapes in linear work", async () => {
    const shapes = ["www.".repeat(250_000), "a://".repeat(250_000), "\\\\a".repeat(250_000), `https://${"例".repeat(1_000_000)}`, `https://${"a。".repeat(500_000)}`, `${"x".repeat(1_000_000)}://a`, "http://a.b".repeat(100_000), `http://${"a@".repeat(500_000)}`];
    const texts = (await inWorker("links.ts", "processLinks", shapes, ["defang", "[x]"], "text")) as string[];
    for (const text of texts) expect(text).not.toMatch(/(?<!\[):\/\/|www\./i);
    const domains = (await inWorker("links.ts", "linkDomains", shapes.map((s) => [s]) as unknown as string[], [])) as string[][];
    for (const d of domains) expect(d.length).toBeLessThanOrEqual(MAX_LINK_DOMAINS);
  }, 60_000);
});
