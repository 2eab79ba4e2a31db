/**
 * `mumuka show FILE|ID|-`: a sanitized message as staff read it. The message
 * is made by `mumuka sanitize` (UTF-8 base64, and ISO-2022-JP) so the test
 * reads exactly what the gateway writes, then shown by path, by id from the
 * outbox and from the spool's out/, and from stdin. Sender text that could act
 * on a terminal is shown, not obeyed.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/run-cli.ts";

const FIXTURE = path.resolve(import.meta.dirname, "../fixtures/sanitize/plain-ja.eml");

describe("mumuka show", () => {
  let dir: string;
  let config: string;
  let sanitized: Buffer;
  let id: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-show-"));
    config = path.join(dir, "mumuka.yaml");
    writeFileSync(config, "dataDir: ./data\n");
    const r = await runCli(["sanitize", FIXTURE]);
    expect(r.code).toBe(0);
    sanitized = r.stdoutBytes;
    id = /^X-Mumuka-Id: (\S+)/m.exec(r.stdout)![1]!;
    // what the gateway writes is unreadable as it is: that is the point of show
    expect(r.stdout).toMatch(/^Content-Transfer-Encoding: base64/m);
    expect(r.stdout).not.toContain("防災訓練");
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** What staff see: decoded headers, the notice and the text. */
  function expectReadable(out: string): void {
    expect(out).toMatch(/^Subject: 防災訓練のご案内$/m);
    expect(out).toMatch(/^From: 鈴木 花子 <suzuki@example\.lg\.jp>$/m);
    expect(out).toMatch(new RegExp(`^X-Mumuka-Id: ${id}$`, "m"));
    expect(out).toContain("【メール無害化のお知らせ】");
    expect(out).toContain("令和8年度の防災訓練について");
    expect(out).not.toContain("=?UTF-8?");
    expect(out).not.toContain("\r");
    // headers, one blank line, the text
    expect(out.indexOf("\n\n")).toBeLessThan(out.indexOf("【メール無害化のお知らせ】"));
  }

  it("shows a file decoded", async () => {
    const file = path.join(dir, "message.eml");
    writeFileSync(file, sanitized);
    const r = await runCli(["show", file]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expectReadable(r.stdout);
  });

  it("finds a message by id in the outbox", async () => {
    mkdirSync(path.join(dir, "data", "outbox"), { recursive: true });
    writeFileSync(path.join(dir, "data", "outbox", `${id}.eml`), sanitized);
    const r = await runCli(["show", id, "--config", config]);
    expect(r.code).toBe(0);
    expectReadable(r.stdout);
    rmSync(path.join(dir, "data", "outbox", `${id}.eml`));
  });

  it("finds a deferred or held message by id in the spool's out/", async () => {
    mkdirSync(path.join(dir, "data", "spool", "out"), { recursive: true });
    writeFileSync(path.join(dir, "data", "spool", "out", `${id}.eml`), sanitized);
    const r = await runCli(["show", id, "--config", config]);
    expect(r.code).toBe(0);
    expectReadable(r.stdout);
    rmSync(path.join(dir, "data", "spool", "out", `${id}.eml`));
  });

  it("an id with no sanitized copy here: exit 1 and where to look instead", async () => {
    const r = await runCli(["show", id, "--config", config]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`mumuka audit show ${id}`);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("neither a file nor an id: exit 2", async () => {
    const r = await runCli(["show", path.join(dir, "no-such.eml")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no such file/);
  });

  it("reads standard input, ISO-2022-JP decoded", async () => {
    const jis = await runCli(["sanitize", "--charset", "iso-2022-jp", FIXTURE]);
    expect(jis.stdout).toMatch(/charset=ISO-2022-JP/i);
    const r = await runCli(["show", "-"], { stdin: jis.stdoutBytes });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Subject: 防災訓練のご案内$/m);
    expect(r.stdout).toContain("令和8年度の防災訓練について");
  });

  it("shows escape sequences and bidi overrides in a message given by path instead of obeying them", async () => {
    const hostile = [
      `Subject: =?UTF-8?B?${Buffer.from("請求書\u001b]0;pwned\u0007\u202Efdp.exe").toString("base64")}?=`,
      "From: a@example.com",
      "Content-Type: text/plain; charset=utf-8",
      "",
      "clear\u001b[2Jscreen",
      "",
    ].join("\r\n");
    const file = path.join(dir, "hostile.eml");
    writeFileSync(file, hostile);
    const r = await runCli(["show", file]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f\u202e]/);
    expect(r.stdout).toContain("Subject: 請求書<U+001B>]0;pwned<U+0007><U+202E>fdp.exe");
    expect(r.stdout).toContain("clear<U+001B>[2Jscreen");
  });

  it("does not show HTML or attachments of a message that has them, but says they are there", async () => {
    const mixed = [
      "Subject: mixed",
      'Content-Type: multipart/mixed; boundary="b"',
      "",
      "--b",
      "Content-Type: text/html; charset=utf-8",
      "",
      "<p>secret <script>alert(1)</script></p>",
      "--b",
      'Content-Type: application/pdf; name="a.pdf"',
      "Content-Transfer-Encoding: base64",
      "",
      Buffer.from("%PDF-1.4").toString("base64"),
      "--b--",
      "",
    ].join("\r\n");
    const r = await runCli(["show", "-"], { stdin: mixed });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("<script>");
    expect(r.stdout).toContain("HTML");
    expect(r.stdout).toMatch(/1 attachment/);
  });

  it("shows several files (mumuka show data/outbox/*.eml), each under its name", async () => {
    const second = path.join(dir, "second.eml");
    writeFileSync(second, sanitized);
    const r = await runCli(["show", path.join(dir, "message.eml"), second]);
    expect(r.code).toBe(0);
    const parts = r.stdout.split(/^==> .* <==$/m).slice(1);
    expect(parts).toHaveLength(2);
    for (const part of parts) expectReadable(part);
    expect(r.stdout).toContain(`==> ${second} <==`);
  });

  it("leaves the file as it was (read-only)", () => {
    expect(readFileSync(path.join(dir, "message.eml"))).toEqual(sanitized);
  });
});
