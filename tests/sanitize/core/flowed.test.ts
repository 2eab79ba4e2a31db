import { describe, expect, it } from "vitest";
import { unflow } from "../../../src/sanitize/flowed.ts";

describe("format=flowed", () => {
  it("joins soft breaks and keeps hard ones", () => {
    expect(unflow("This is one \nparagraph.\nNext line.", false)).toBe("This is one paragraph.\nNext line.");
  });

  it("joins Japanese without a space when DelSp=yes", () => {
    expect(unflow("日本語の長い \n文章です。", true)).toBe("日本語の長い文章です。");
  });

  it("undoes space-stuffing, keeps quote depth and the signature separator", () => {
    expect(unflow("> quoted \n> text\n From here\n-- \nsig", false)).toBe("> quoted text\nFrom here\n-- \nsig");
  });
});
