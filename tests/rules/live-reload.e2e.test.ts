/**
 * The "done when", end to end through a real gateway: add a rule that
 * tags mail from an outside domain, reload it without restarting, see it in the
 * next real message and its audit record; an invalid edit is refused with its
 * line number while mail keeps flowing under the old rules.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import nodemailer from "nodemailer";
import { simpleParser } from "mailparser";
import { runCli } from "../helpers/run-cli.ts";

const REPO = path.join(import.meta.dirname, "../..");
const sha = (text: string) => createHash("sha256").update(text).digest("hex");

const TAG_RULE = `rules:\n  - name: tag-partner\n    when:\n      from: "*@partner.example.co.jp"\n    then:\n      subject_tag: "[取引先]"\n`;
const TYPO_RULE = TAG_RULE.replace("      from:", "      form:");
const MESSAGE = [
  "From: Taro <taro@partner.example.co.jp>",
  "To: kikaku@city.example.lg.jp",
  "Subject: monthly report",
  "Message-ID: <e2e@partner.example.co.jp>",
  "Date: Thu, 26 Nov 2026 10:00:00 +0900",
  "",
  "see attached",
  "",
].join("\r\n");

let dir: string;
let gateway: ChildProcess;
let log = "";
let port = 0;

const cli = (args: string[]) => runCli(args);

async function until<T>(probe: () => T | undefined | false, what: string): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}; gateway log:\n${log}`);
}

const outbox = () => {
  try {
    return readdirSync(path.join(dir, "data/outbox")).filter((f) => f.endsWith(".eml")).sort();
  } catch {
    return [];
  }
};

async function send(): Promise<{ subject: string; rules: string }> {
  const before = new Set(outbox());
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true });
  await transport.sendMail({ envelope: { from: "taro@partner.example.co.jp", to: ["kikaku@city.example.lg.jp"] }, raw: MESSAGE });
  transport.close();
  const file = await until(() => outbox().find((f) => !before.has(f)), "the sanitized message");
  const parsed = await simpleParser(readFileSync(path.join(dir, "data/outbox", file)));
  return { subject: parsed.subject ?? "", rules: String(parsed.headers.get("x-mumuka-rules") ?? "") };
}

const reloads = () => log.split("\n").filter((l) => l.includes('"msg":"rules loaded"')).length;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "mumuka-rules-e2e-"));
  writeFileSync(path.join(dir, "rules.yaml"), "rules: []\n");
  writeFileSync(
    path.join(dir, "mumuka.yaml"),
    `dataDir: ./data\nsmtp:\n  port: 0\n  recipientDomains: [city.example.lg.jp]\nadmin:\n  enabled: false\nrules:\n  file: rules.yaml\nlog:\n  format: json\n`,
  );
  gateway = spawn(process.execPath, ["src/cli.ts", "serve", "-c", path.join(dir, "mumuka.yaml")], { cwd: REPO });
  gateway.stdout!.on("data", (d: Buffer) => (log += d.toString("utf8")));
  gateway.stderr!.on("data", (d: Buffer) => (log += d.toString("utf8")));
  const listening = await until(() => /"port":(\d+)[^\n]*"msg":"mumuka gateway listening"/.exec(log) ?? undefined, "the gateway to listen");
  port = Number(listening[1]);
});

afterAll(async () => {
  if (gateway && gateway.exitCode === null) {
    const exited = new Promise((r) => gateway.once("exit", r));
    gateway.kill("SIGTERM");
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("an operator tunes the rules of a running gateway", () => {
  it("a new rule, saved, is live for the next message without a restart, and named in its audit record", async () => {
    expect((await send()).subject).toBe("monthly report");

    writeFileSync(path.join(dir, "rules.yaml"), TAG_RULE);
    await until(() => reloads() >= 2, "the saved rules to load");
    const tagged = await send();
    expect(tagged.subject).toBe("[取引先] monthly report");
    expect(tagged.rules).toBe("tag-partner");

    const search = await cli(["audit", "search", "-c", path.join(dir, "mumuka.yaml"), "--json"]);
    const rows = (JSON.parse(search.stdout) as { rows: { auditId: string; receivedAt: string }[] }).rows;
    const newest = rows.sort((a, b) => b.receivedAt.localeCompare(a.receivedAt))[0]!;
    const show = await cli(["audit", "show", newest.auditId, "-c", path.join(dir, "mumuka.yaml"), "--json"]);
    expect(show.stdout).toMatch(/"rulesApplied":\s*\[\s*"tag-partner"\s*\]/);
  });

  it("an invalid edit is refused with its line number and mail keeps flowing under the old rules", async () => {
    writeFileSync(path.join(dir, "rules.yaml"), TYPO_RULE);
    const error = await until(() => log.split("\n").find((l) => l.includes("RULES NOT RELOADED")), "the error report");
    expect(error).toContain('"level":50');
    expect(error).toContain('rules.yaml:4:7: unknown key \\"form\\"');
    expect(error).toContain('did you mean \\"from\\"');
    const still = await send();
    expect(still.subject).toBe("[取引先] monthly report");
  });

  it("SIGHUP reloads, and every reload is an audit event with the file's SHA-256", async () => {
    writeFileSync(path.join(dir, "rules.yaml"), TAG_RULE.replace("[取引先]", "[外部]"));
    // watch may pick the edit up first; SIGHUP must reload in any case
    await new Promise((r) => setTimeout(r, 400));
    const before = log.length;
    gateway.kill("SIGHUP");
    await until(() => log.slice(before).includes('"reason":"sighup"'), "the SIGHUP reload");
    expect((await send()).subject).toBe("[外部] monthly report");

    const exported = await cli(["audit", "export", "-c", path.join(dir, "mumuka.yaml"), "--since", "2000-01-01", "--until", "2100-01-01"]);
    const events = exported.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { type: string; data: { ok: boolean; reason: string; sha256: string } })
      .filter((e) => e.type === "rules-reloaded");
    expect(events.map((e) => [e.data.reason, e.data.ok])).toEqual(
      expect.arrayContaining([["start", true], ["watch", true], ["watch", false], ["sighup", true]]),
    );
    expect(events.find((e) => !e.data.ok)?.data.sha256).toBe(sha(TYPO_RULE));
    expect(events.find((e) => e.data.reason === "watch" && e.data.ok)?.data.sha256).toBe(sha(TAG_RULE));
  });
});
