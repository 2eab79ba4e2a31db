import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

const repo = path.resolve(import.meta.dirname, "../../..");
const run = (args: string[], input?: Buffer) =>
  spawnSync(process.execPath, ["src/cli.ts", "sanitize", ...args], { cwd: repo, input, timeout: 60_000 });

describe("mumuka sanitize", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "mumuka-sanitize-"));
  const file = path.join(dir, "in.eml");
  const raw = Buffer.from("From: a@example.jp\r\nSubject: =?UTF-8?B?5qGI5YaF?=\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n本文 https://example.jp/\r\n");
  writeFileSync(file, raw);

  it("prints the sanitized message and writes the report, reproducibly with --id and --now", () => {
    const report = path.join(dir, "r.json");
    const args = [file, "--report", report, "--id", "20261126T100000Z-0123456789ABCDEF", "--now", "2026-11-26T10:00:00Z"];
    const first = run(args);
    expect(first.status).toBe(0);
    expect(first.stdout.toString("latin1")).toMatch(/^Received: /);
    expect(JSON.parse(readFileSync(report, "utf8")).links).toEqual({ found: 1, disarmed: 1, mode: "defang", urls: ["https://example.jp/"] });
    expect(run(args).stdout.equals(first.stdout)).toBe(true);
    expect(run(["-", "--id", "20261126T100000Z-0123456789ABCDEF", "--now", "2026-11-26T10:00:00Z"], raw).stdout.equals(first.stdout)).toBe(true);
  });

  it("fails with one clear line for an unreadable file or a bad option", () => {
    const missing = run([path.join(dir, "nope.eml")]);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr.toString().trim().split("\n")).toHaveLength(1);
    const bad = run([file, "--links", "sometimes"]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr.toString()).toMatch(/--links must be one of keep, defang, remove/);
  });
});
