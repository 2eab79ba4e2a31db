import { describe, expect, it } from "vitest";
import { chooseAlternative } from "../../../src/sanitize/render.ts";
import { renderTemplate, checkTemplate } from "../../../src/sanitize/notice-template.ts";
import { NOTICE_EN, NOTICE_JA } from "../../../src/sanitize/notice.ts";
import { readFileSync } from "node:fs";
import type { BodyBlock } from "../../../src/sanitize/sanitize-types.ts";

const text = (t: string): BodyBlock[] => [{ kind: "text", path: "1", text: t }];
const html = (t: string): BodyBlock[] => [{ kind: "html", path: "2", text: t }];

describe("multipart/alternative choice", () => {
  const body = "本文です。".repeat(100);
  it("auto prefers the text alternative when it carries the message", () => {
    expect(chooseAlternative([{ flavor: "text", blocks: text(body) }, { flavor: "html", blocks: html(body) }], "auto")).toBe(0);
  });

  it("auto takes the HTML when the text is empty, a browser stub, or far shorter", () => {
    const h = { flavor: "html" as const, blocks: html(body) };
    expect(chooseAlternative([{ flavor: "text", blocks: text("  ") }, h], "auto")).toBe(1);
    expect(chooseAlternative([{ flavor: "text", blocks: text("To view this email in your browser, click here") }, h], "auto")).toBe(1);
    expect(chooseAlternative([{ flavor: "text", blocks: text("HTMLメールをご覧ください") }, h], "auto")).toBe(1);
    expect(chooseAlternative([{ flavor: "text", blocks: text("short") }, h], "auto")).toBe(1);
  });

  it("text and html force the choice when that flavour exists", () => {
    const options = [{ flavor: "text" as const, blocks: text("") }, { flavor: "html" as const, blocks: html(body) }];
    expect(chooseAlternative(options, "text")).toBe(0);
    expect(chooseAlternative(options, "html")).toBe(1);
    expect(chooseAlternative([options[0]!], "html")).toBe(0);
  });
});

describe("notice templates", () => {
  it("repeat sections for lists, show inverted sections for falsy values, drop standalone tag lines", () => {
    const t = "A\n{{#items}}\n- {{name}}{{#flag}}!{{/flag}}\n{{/items}}\n{{^items}}\nnone\n{{/items}}\nid {{id}}\n";
    expect(renderTemplate(t, { items: [{ name: "x", flag: true }, { name: "y" }], id: "Z" })).toBe("A\n- x!\n- y\nid Z\n");
    expect(renderTemplate(t, { items: [], id: "Z" })).toBe("A\nnone\nid Z\n");
  });

  it("rejects an unclosed section with a reason", () => {
    expect(() => checkTemplate("{{#a}} x")).toThrow(/unclosed/);
    expect(() => checkTemplate("{{/a}}")).toThrow(/unexpected/);
  });

  it("ship the built-in templates in config/notice exactly as embedded", () => {
    expect(readFileSync(new URL("../../../config/notice/ja.txt", import.meta.url), "utf8")).toBe(NOTICE_JA);
    expect(readFileSync(new URL("../../../config/notice/en.txt", import.meta.url), "utf8")).toBe(NOTICE_EN);
  });
});
