import { describe, expect, it } from "vitest";
import { analyze, render } from "../../../src/sanitize/index.ts";
import { limitsSchema } from "../../../src/config/schema.ts";
import type { RenderOptions } from "../../../src/sanitize/sanitize-types.ts";

const options: RenderOptions = {
  charset: "utf-8",
  links: "defang",
  language: "ja",
  alternative: "auto",
  subjectTags: [],
  inlineText: [],
  rulesApplied: [],
  auditId: "20261126T100000Z-0123456789ABCDEF",
  now: new Date("2026-11-26T10:00:00Z"),
  hostname: "mumuka.test",
};
const raw = Buffer.from(
  "From: a@example.jp\r\nTo: b@example.jp\r\nSubject: test\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n本文 https://example.jp/\r\n--B\r\nContent-Type: application/pdf; name=a.pdf\r\n\r\n%PDF-1.4\r\n--B--\r\n",
);

describe("analyze and render", () => {
  it("gives plain data that survives structured cloning (a worker thread) and renders the same", async () => {
    const analyzed = await analyze(raw, limitsSchema.parse({}));
    const cloned = structuredClone(analyzed);
    expect(cloned).toEqual(analyzed);
    expect(render(cloned, options).message.equals(render(analyzed, options).message)).toBe(true);
  });

  it("renders a message known only by its facts (headers and notice, no text)", async () => {
    const { facts } = await analyze(raw, limitsSchema.parse({}));
    const result = render({ facts }, options);
    expect(result.message.toString("latin1")).toMatch(/^From: <a@example\.jp>\r\n/m);
    expect(result.report.attachments).toHaveLength(1);
  });

  it("is a function of its bytes: a stream and a buffer give the same analysis", async () => {
    const { Readable } = await import("node:stream");
    const fromStream = await analyze(Readable.from([raw.subarray(0, 7), raw.subarray(7, 100), raw.subarray(100)]), limitsSchema.parse({}));
    expect(fromStream).toEqual(await analyze(raw, limitsSchema.parse({})));
  });
});
