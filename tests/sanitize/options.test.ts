/**
 * Presentation options and trace data: the multipart/alternative choice, text
 * attachments shown inline, and mumuka's own Received line built from SMTP
 * trace data that the sender partly controls (HELO) — none of them may open a
 * way around the invariant.
 */
import { describe, expect, it } from "vitest";
import { sanitize } from "../../src/sanitize/index.ts";
import { assertSanitized } from "../helpers/invariant.ts";
import { attachment, message, multipart, part, pseudoRandom } from "../helpers/mime-builders.ts";
import { testOptions } from "../helpers/options.ts";

async function run(input: Buffer, overrides = {}) {
  const result = await sanitize(input, testOptions(overrides));
  const view = await assertSanitized(result, input);
  return { result, view };
}

const alternative = (plain: string) =>
  message({
    subject: "alt",
    entity: multipart("alternative", [
      part({ contentType: "text/plain; charset=utf-8", encoding: "8bit", body: plain }),
      part({ contentType: "text/html; charset=utf-8", body: "<p>HTML版：来月の<b>予定表</b>です。</p>" }),
    ]),
  });

describe("multipart/alternative choice", () => {
  it("auto shows a real text alternative", async () => {
    const { view, result } = await run(alternative("テキスト版：来月の予定表です。"));
    expect(view.text).toContain("テキスト版：来月の予定表です。");
    expect(result.report.alternative).toBe("text");
  });

  it("auto passes over an empty placeholder text alternative and converts the HTML", async () => {
    const { view, result } = await run(alternative("\r\n"));
    expect(view.text).toContain("HTML版：来月の予定表です。");
    expect(result.report.alternative).toBe("html");
  });

  it("html converts the HTML even when the text alternative is real", async () => {
    const { view, result } = await run(alternative("テキスト版：来月の予定表です。"), { alternative: "html" });
    expect(view.text).toContain("HTML版：来月の予定表です。");
    expect(result.report.alternative).toBe("html");
  });

  it("text keeps the text alternative", async () => {
    const { view, result } = await run(alternative("テキスト版：来月の予定表です。"), { alternative: "text" });
    expect(view.text).toContain("テキスト版：来月の予定表です。");
    expect(view.text).not.toContain("HTML版");
    expect(result.report.alternative).toBe("text");
  });
});

describe("text attachments shown inline", () => {
  const input = message({
    subject: "inline",
    entity: multipart("mixed", [
      part({ contentType: "text/plain; charset=utf-8", body: "本文" }),
      attachment("議事録.txt", "text/plain", Buffer.from("議事録の中身です。", "utf8")),
      attachment("fake.txt", "text/plain", Buffer.concat([Buffer.from("MZ\u0090\u0000", "latin1"), pseudoRandom(500)])),
    ]),
  });

  it("shows a .txt attachment's text when txt is in inlineText, and still lists it as removed", async () => {
    const { view, result } = await run(input, { inlineText: ["txt"] });
    expect(view.text).toContain("議事録の中身です。");
    expect(result.report.attachments.map((a) => a.filename)).toContain("議事録.txt");
  });

  it("does not show an executable named .txt as text", async () => {
    const { view, result } = await run(input, { inlineText: ["txt"] });
    const fake = result.report.attachments.find((a) => a.filename === "fake.txt");
    expect(fake?.typeMismatch).toBe(true);
    expect(view.text).not.toContain("MZ\u0090");
  });

  it("shows no attachment text by default", async () => {
    const { view } = await run(input);
    expect(view.text).not.toContain("議事録の中身です。");
  });
});

describe("mumuka's Received line", () => {
  it("cannot be used to inject a header through a hostile HELO name", async () => {
    const input = message({ subject: "helo", entity: part({ contentType: "text/plain", body: "x" }) });
    const { view } = await run(input, { trace: { clientAddress: "192.0.2.7", clientHelo: "evil.example\r\nBcc: victim@example.jp\r\nX-Evil: 1", protocol: "ESMTP" } });
    const names = view.headers.map((h) => h.name.toLowerCase());
    expect(names).not.toContain("bcc");
    expect(names).not.toContain("x-evil");
    const received = view.get("Received") ?? "";
    expect(received).toContain("192.0.2.7");
  });

  it("shows the trace of the connection", async () => {
    const input = message({ subject: "trace", entity: part({ contentType: "text/plain", body: "x" }) });
    const { view } = await run(input, { trace: { clientAddress: "192.0.2.8", clientHelo: "mx.example.jp", protocol: "ESMTPS" } });
    const received = view.headers.filter((h) => h.name.toLowerCase() === "received").map((h) => h.value).join("\n");
    expect(received).toContain("mx.example.jp");
    expect(received).toContain("ESMTPS");
  });
});
