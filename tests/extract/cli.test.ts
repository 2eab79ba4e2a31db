/**
 * `mumuka sanitize FILE` extracts the documents' text as the relay does (so an
 * operator can try it), and `--no-extract` leaves it out; the report says which.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { attachment, message, multipart, part } from "../helpers/mime-builders.ts";

const repo = path.resolve(import.meta.dirname, "../..");

describe("mumuka sanitize with documents", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "mumuka-extract-cli-"));
  const file = path.join(dir, "in.eml");
  writeFileSync(
    file,
    message({
      subject: "x",
      entity: multipart("mixed", [
        part({ contentType: "text/plain; charset=utf-8", encoding: "8bit", body: "本文" }),
        attachment("表.xlsx", "application/octet-stream", readFileSync(new URL("../fixtures/extract/multi-sheet.xlsx", import.meta.url))),
      ]),
    }),
  );
  const run = (extra: string[]) => {
    const report = path.join(dir, `r${extra.length}.json`);
    const r = spawnSync(process.execPath, ["src/cli.ts", "sanitize", file, "--report", report, ...extra], { cwd: repo, timeout: 60_000 });
    expect(r.status, r.stderr.toString()).toBe(0);
    return JSON.parse(readFileSync(report, "utf8")) as { extraction: { status: string; reason?: string; chars: number }[] };
  };

  it("extracts by default and not with --no-extract", () => {
    expect(run([]).extraction).toEqual([expect.objectContaining({ status: "extracted" })]);
    expect(run(["--no-extract"]).extraction).toEqual([expect.objectContaining({ status: "skipped", reason: "disabled", chars: 0 })]);
  });
});
