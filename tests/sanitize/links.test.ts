/**
 * Links: the real target of every link is visible next to its text, so link
 * text pretending to be another URL cannot deceive; `defang` (the default)
 * keeps URLs readable but not clickable, `keep` leaves them, `remove` drops
 * them; the report counts them.
 */
import { describe, expect, it } from "vitest";
import { sanitize } from "../../src/sanitize/index.ts";
import { assertSanitized, LIVE_LINK } from "../helpers/invariant.ts";
import { message, multipart, part } from "../helpers/mime-builders.ts";
import { testOptions } from "../helpers/options.ts";

const deceptive = message({
  subject: "Your account",
  entity: part({
    contentType: "text/html; charset=utf-8",
    body: '<html><body><p>Please sign in: <a href="https://evil.example/login?u=1">https://bank.example</a></p><p>Or call us.</p><img src="https://tracker.example/p.gif" alt="ロゴ画像"></body></html>',
  }),
});

/** Anything a mail client would turn into a clickable link. */
const CLICKABLE = /\b(?:https?|ftp):\/\/|\bwww\.[a-z0-9-]+\.[a-z]/i;
/** Stricter: a scheme and two slashes either way round, "www." in either width with any full stop, two backslashes before a server name. */
const LIVE = LIVE_LINK;

async function run(input: Buffer, overrides = {}) {
  const result = await sanitize(input, testOptions(overrides));
  const view = await assertSanitized(result, input);
  return { result, view };
}

describe("deceptive link text", () => {
  it("shows the real target next to the pretended URL, defanged by default", async () => {
    const { view, result } = await run(deceptive);
    const at = view.text.search(/bank\W{0,5}example/); // the pretended URL, maybe defanged too
    expect(at).toBeGreaterThanOrEqual(0);
    const near = view.text.slice(Math.max(0, at - 300), at + 300);
    expect(near).toMatch(/evil\W{0,5}example/); // the real host, in whatever defanged spelling
    expect(view.text).not.toMatch(CLICKABLE);
    expect(result.report.links.mode).toBe("defang");
    expect(result.report.links.found).toBeGreaterThanOrEqual(1);
    expect(result.report.links.disarmed).toBe(result.report.links.found);
    expect(result.report.html).toEqual({ present: true, converted: true });
  });

  it("shows images as their alt text, never fetching or linking the image", async () => {
    const { view } = await run(deceptive);
    expect(view.text).toContain("ロゴ画像");
    expect(view.text).not.toContain("tracker.example/p.gif");
  });

  it("keeps the real URL clickable in keep mode", async () => {
    const { view, result } = await run(deceptive, { links: "keep" });
    expect(view.text).toContain("https://evil.example/login?u=1");
    expect(result.report.links.disarmed).toBe(0);
    expect(result.report.links.mode).toBe("keep");
  });

  it("leaves no trace of the target in remove mode, but keeps the surrounding words", async () => {
    const { view, result } = await run(deceptive, { links: "remove" });
    expect(view.text).not.toMatch(/evil\W{0,5}example/);
    expect(view.text).not.toMatch(CLICKABLE);
    expect(view.text).toContain("Please sign in");
    expect(view.text).toContain("Or call us.");
    expect(result.report.links.disarmed).toBe(result.report.links.found);
  });
});

describe("links in plain text and the count in the report", () => {
  const text = "資料はこちら https://files.example.jp/a/b?c=d\r\nミラー: http://mirror.example.org/x\r\nwww.example.net もどうぞ\r\n";
  const input = message({ subject: "links", entity: part({ contentType: "text/plain; charset=utf-8", encoding: "8bit", body: text }) });

  it("defangs URLs written in a text part and counts them", async () => {
    const { view, result } = await run(input);
    expect(view.text).not.toMatch(CLICKABLE);
    expect(view.text).toMatch(/files\W{0,5}example\W{0,5}jp/);
    expect(result.report.links.found).toBe(3);
    expect(result.report.links.disarmed).toBe(3);
  });

  it("defangs file: URLs and UNC paths, which Outlook makes clickable (and which leak Windows credentials over SMB)", async () => {
    const body = "共有フォルダ: file://evil.example/share/doc.pdf\r\nUNC: \\\\evil.example\\share\\doc.pdf\r\n";
    const { view } = await run(message({ subject: "unc", entity: part({ contentType: "text/plain; charset=utf-8", encoding: "8bit", body }) }));
    expect(view.text).not.toMatch(/\bfile:\/\//i);
    expect(view.text).not.toMatch(/\\\\evil\.example\\/);
    expect(view.text).toMatch(/evil\W{0,5}example/); // still readable
  });

  it("counts the links of an HTML body", async () => {
    const html = `<p>${[1, 2, 3, 4, 5].map((i) => `<a href="https://site${i}.example/">link ${i}</a>`).join(" ")}</p>`;
    const { result } = await run(message({ subject: "five", entity: part({ contentType: "text/html; charset=utf-8", body: html }) }));
    expect(result.report.links.found).toBe(5);
    expect(result.report.links.disarmed).toBe(5);
  });
});

describe("link forms that a looser finder missed (host non-ASCII, scheme glued to a word, WebDAV UNC)", () => {
  const forms = [
    "https://例え.jp/path",
    "http://ｗｗｗ.evil.com/",
    "https://\u200Bevil.com/",
    "https://evil。com/x",
    "www．evil．com",
    "_https://evil.com/x",
    "foo_www.evil.com",
    "3D%22http://211.154.134.27/Z/index.html",
    "\\\\evil.com@SSL\\DavWWWRoot\\x.exe",
    "\\\\evil.com@80\\x",
    "\\\\例え.jp\\s",
    "\\\\?\\UNC\\evil.com\\share",
    "https:/\\evil.com/x",
    "https:// evil.com",
    "\\\\evil.com",
  ];

  it("leaves none of them live in a text part, and counts every one that names a target", async () => {
    const body = forms.map((f, i) => `${i + 1} ${f} 資料`).join("\r\n");
    const { view, result } = await run(message({ subject: "forms", entity: part({ contentType: "text/plain; charset=utf-8", encoding: "8bit", body }) }));
    const body2 = view.text.slice(view.text.indexOf("1 "));
    for (const line of body2.split("\r\n").filter((l) => /^\d+ /.test(l))) expect(line).not.toMatch(LIVE);
    expect(body2).toContain("hxxps[://]例え[.]jp/path 資料"); // Japanese after a space stays prose
    expect(result.report.links.found).toBe(forms.length - 3); // "https:/\", "https:// " and a bare "\\server" are broken, not counted
    expect(result.report.links.disarmed).toBe(result.report.links.found);
  });

  it("keeps an ASCII host apart from the Japanese prose glued after it", async () => {
    const body = "詳細はhttps://www.city.example.lg.jpをご覧ください。\r\n「https://example.jp」を参照。https://example.jp。次回は\r\n";
    const { view, result } = await run(message({ subject: "prose", entity: part({ contentType: "text/plain; charset=utf-8", encoding: "8bit", body }) }));
    expect(view.text).toContain("詳細はhxxps[://]www[.]city[.]example[.]lg[.]jpをご覧ください。");
    expect(view.text).toContain("「hxxps[://]example[.]jp」を参照。hxxps[://]example[.]jp。次回は");
    expect(result.report.links.urls).toEqual(["https://www.city.example.lg.jp", "https://example.jp"]);
  });
});

describe("link targets in HTML", () => {
  const html = (hrefs: string[]) => message({ subject: "h", entity: part({ contentType: "text/html; charset=utf-8", body: `<p>${hrefs.map((h, i) => `<a href="${h}">t${i}</a>`).join(" ")}</p>` }) });

  it("normalises a web target as a browser would open it, then disarms and counts it like a URL in text", async () => {
    const { view, result } = await run(html(["https:evil.com/x", "HTTPS:/\\evil.com", "https://例え.jp/login", "http://ｅｖｉｌ．ｃｏｍ/"]));
    expect(view.text).toContain("t0 <hxxps[://]evil[.]com/x>");
    expect(view.text).toContain("t1 <hxxps[://]evil[.]com/>");
    expect(view.text).toContain("t2 <hxxps[://]xn--r8jz45g[.]jp/login>");
    expect(view.text).toContain("t3 <hxxp[://]evil[.]com/>");
    expect(result.report.links.found).toBe(4);
    expect(result.report.links.urls).toEqual(["https://evil.com/x", "https://evil.com/", "https://xn--r8jz45g.jp/login", "http://evil.com/"]);
  });

  it("breaks the colon of any other scheme (application launchers, file shares, scripts), in every link mode", async () => {
    const hrefs = ["ms-msdt:/id PCWDiagnostic /skip force", "search-ms:query=inv&crumb=location:%5C%5Cevil.com%5Cs", "file:\\\\evil.com\\s\\x.lnk", "javascript:alert(1)", "news:evil.com"];
    for (const links of ["defang", "keep"] as const) {
      const { view } = await run(html(hrefs), { links });
      expect(view.text).toContain("t0 <ms-msdt[:]/idPCWDiagnostic/skipforce>");
      expect(view.text).toContain("t1 <search-ms[:]query=inv&crumb=location:%5C%5Cevil.com%5Cs>");
      expect(view.text).toContain("t3 <javascript[:]alert(1)>");
      expect(view.text).toContain("t4 <news[:]evil.com>");
      expect(view.text).not.toMatch(/(?:ms-msdt|search-ms|file|javascript|news):/);
    }
  });

  it("keeps mailto: targets and relative ones as written", async () => {
    const { view } = await run(html(["mailto:info@example.jp", "docs/a.html"]));
    expect(view.text).toContain("t0 <mailto:info@example.jp>");
    expect(view.text).toContain("t1 <docs/a.html>");
  });
});

describe("sender text inside mumuka's own notice and the Subject", () => {
  const named = (filename: string, subject = "files") =>
    message({
      subject,
      entity: multipart("mixed", [
        part({ contentType: "text/plain; charset=utf-8", body: "本文" }),
        Buffer.from(`Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename${filename}\r\n\r\nAAAA\r\n`),
      ]),
    });

  it("disarms a file name that is a URL, in every link mode (the notice is mumuka's voice, never a link)", async () => {
    for (const links of ["defang", "keep", "remove"] as const) {
      for (const name of ['="https://evil.example/payload.exe"', '="=?utf-8?q?http=3A=2F=2Fevil=2Eexample=2Fx?="', "*=utf-8''www.evil.example%2Fx"]) {
        const { view } = await run(named(name), { links });
        const notice = view.text.slice(0, view.text.indexOf("本文"));
        expect(notice, `${links} ${name}`).not.toMatch(LIVE);
        expect(notice).toMatch(/evil\[\.\]example/);
      }
    }
  });

  it("disarms the name of a uuencoded file found in the text", async () => {
    const uu = "begin 644 https://evil.example/run.exe\r\nM35H  0(#! 4&!P@)\"@L,#0X/$!$2$Q05%A<8&1H;'!T>'R A(B,D)28G*\"DJ\r\n`\r\nend\r\n";
    const { view } = await run(message({ subject: "uu", entity: part({ contentType: "text/plain; charset=utf-8", body: `hello\r\n\r\n${uu}` }) }));
    expect(view.text).not.toMatch(LIVE);
    expect(view.text).toContain("hxxps[://]evil[.]example/run.exe");
  });

  it("shows CR and LF inside an RFC 2231 file name as <U+000D><U+000A>, at its start too, instead of dropping them", async () => {
    const { view } = await run(named("*0*=utf-8''%0D%0AX-Evil%3A%20yes; filename*1=\"www.evil.com\""));
    expect(view.text).toContain("<U+000D><U+000A>X-Evil: yes");
  });

  it("disarms a URL in the Subject like one in the body, and gives its host to link_domain rules", async () => {
    const input = message({ subject: "確認 https://evil.example/verify", entity: part({ contentType: "text/plain; charset=utf-8", body: "本文" }) });
    const { view, result } = await run(input);
    const subject = (v: typeof view) => v.headers.find((h) => h.name.toLowerCase() === "subject")?.value ?? "";
    expect(subject(view)).toContain("確認 hxxps[://]evil[.]example/verify");
    expect(result.report.headers.subject).toBe("確認 https://evil.example/verify"); // the report keeps what was sent
    const kept = await run(input, { links: "keep" });
    expect(subject(kept.view)).toContain("確認 https://evil.example/verify");
    expect(result.report.links.found).toBe(0); // the notice counts the body's links
    const { analyze } = await import("../../src/sanitize/analyze.ts");
    expect((await analyze(input, testOptions().limits)).facts.linkDomains).toContain("evil.example");
  });
});

describe("HTML conversion", () => {
  it("drops script, style and head content and keeps tables readable", async () => {
    const html = `<html><head><title>HEADTITLE</title><style>.x{display:none}</style><script>var secret="SCRIPTBODY"</script></head>
<body><table><tr><th>品名</th><th>数量</th></tr><tr><td>コピー用紙</td><td>10箱</td></tr></table><noscript>NOSCRIPT</noscript></body></html>`;
    const input = message({ subject: "table", entity: multipart("alternative", [part({ contentType: "text/html; charset=utf-8", body: html })]) });
    const { view } = await run(input);
    for (const gone of ["SCRIPTBODY", "display:none", "HEADTITLE"]) expect(view.text).not.toContain(gone);
    for (const kept of ["品名", "数量", "コピー用紙", "10箱"]) expect(view.text).toContain(kept);
    const row = view.text.split("\r\n").find((l) => l.includes("コピー用紙")) ?? "";
    expect(row).toContain("10箱"); // one table row stays on one line
  });
});

describe("the links recorded for the audit trail's link search", () => {
  it("lists each URL as written in the original, the real target of a deceptive link included, in every mode", async () => {
    for (const links of ["defang", "keep", "remove"] as const) {
      const { result } = await run(deceptive, { links });
      expect(result.report.links.urls).toContain("https://evil.example/login?u=1");
      expect(result.report.links.urls?.join(" ")).not.toMatch(/hxxp|\[\.\]/);
    }
  });

  it("keeps at most 200 URLs of a message, each cut to 2048 characters, while still counting them all", async () => {
    const many = Array.from({ length: 260 }, (_, i) => `https://host${i}.example/${i}`).join("\n");
    const long = `https://long.example/${"a".repeat(5000)}`;
    const input = message({ subject: "links", entity: part({ contentType: "text/plain; charset=utf-8", body: `${long}\n${many}\n` }) });
    const { result } = await run(input);
    expect(result.report.links.found).toBe(261);
    expect(result.report.links.urls).toHaveLength(200);
    expect(result.report.links.urls?.[0]).toHaveLength(2048);
  });
});
