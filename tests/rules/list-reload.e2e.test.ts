/**
 * Blocking a known-bad file in seconds, end to end through a real gateway: a
 * rule holds attachments whose SHA-256 is in a list file; the administrator
 * adds a hash to the file, the gateway reloads it on its own, and the next
 * message carrying that file is held, its audit record naming the rule and
 * the list entry (file and line). The message before the edit was delivered.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import nodemailer from "nodemailer";
import { runCli } from "../helpers/run-cli.ts";

const REPO = path.join(import.meta.dirname, "../..");
const PAYLOAD = "PK\u0003\u0004 a macro-laden workbook, for the test";
const PAYLOAD_SHA = createHash("sha256").update(PAYLOAD).digest("hex");
const RULES = `rules:\n  - name: known-bad-files\n    when:\n      attachment_sha256: { file: lists/bad-hashes.txt }\n    then:\n      hold: { reason: 既知の不正ファイル, notify_recipients: false }\n`;

let dir: string;
let gateway: ChildProcess;
let log = "";
let port = 0;
const config = () => path.join(dir, "mumuka.yaml");

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
    return readdirSync(path.join(dir, "data/outbox")).filter((f) => f.endsWith(".eml"));
  } catch {
    return [];
  }
};

async function send(messageId: string): Promise<void> {
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true });
  await transport.sendMail({
    envelope: { from: "keiri@vendor.example.com", to: ["kikaku@city.example.lg.jp"] },
    messageId,
    from: "keiri@vendor.example.com",
    to: "kikaku@city.example.lg.jp",
    subject: "請求書",
    text: "ご確認ください",
    attachments: [{ filename: "invoice.xlsx", content: Buffer.from(PAYLOAD) }],
  });
  transport.close();
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "mumuka-lists-e2e-"));
  mkdirSync(path.join(dir, "lists"));
  writeFileSync(path.join(dir, "lists/bad-hashes.txt"), `# CSIRT 2026-11\n${"0".repeat(64)}\n`);
  writeFileSync(path.join(dir, "rules.yaml"), RULES);
  writeFileSync(config(), `dataDir: ./data\nsmtp:\n  port: 0\n  recipientDomains: [city.example.lg.jp]\nadmin:\n  enabled: false\nrules:\n  file: rules.yaml\nlog:\n  format: json\n`);
  gateway = spawn(process.execPath, ["src/cli.ts", "serve", "-c", config()], { cwd: REPO });
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

describe("an administrator blocks a known-bad file by adding its hash to a list", () => {
  it("delivers before the edit, holds after it, and the audit record names the rule and the list line", async () => {
    await send("<before@vendor.example.com>");
    await until(() => outbox().length === 1, "the first message to be delivered");

    writeFileSync(path.join(dir, "lists/bad-hashes.txt"), `# CSIRT 2026-11\n${"0".repeat(64)}\n${PAYLOAD_SHA}  invoice.xlsx\n`);
    await until(() => log.split("\n").filter((l) => l.includes('"msg":"rules loaded"')).length >= 2, "the edited list to load");

    await send("<after@vendor.example.com>");
    const held = await until(() => log.split("\n").find((l) => l.includes('"msg":"held"')), "the message to be held");
    expect(held).toContain("既知の不正ファイル");
    expect(outbox()).toHaveLength(1);

    const search = await runCli(["audit", "search", "-c", config(), "--json"]);
    const rows = (JSON.parse(search.stdout) as { rows: { auditId: string; receivedAt: string }[] }).rows;
    expect(rows).toHaveLength(2);
    const newest = rows.sort((a, b) => b.receivedAt.localeCompare(a.receivedAt))[0]!;
    const show = await runCli(["audit", "show", newest.auditId, "-c", config(), "--json"]);
    const matches = /"matches":\s*(\[[^\]]*\])/.exec(show.stdout);
    expect(matches, show.stdout).not.toBeNull();
    expect(JSON.parse(matches![1]!)).toEqual([
      { rule: "known-bad-files", condition: "attachment_sha256", entry: PAYLOAD_SHA, source: `${path.join(dir, "lists/bad-hashes.txt")}:3`, seen: "invoice.xlsx" },
    ]);
    expect(show.stdout).toContain("既知の不正ファイル");
  });
});
