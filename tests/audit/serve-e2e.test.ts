/**
 * The "done when", end to end and for real: messages sent over SMTP
 * through a spawned `mumuka serve` are each found by subject with
 * `mumuka audit search --json` (while the gateway still runs), `mumuka audit
 * verify` passes, and editing one stored subject by hand makes it fail.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import nodemailer from "nodemailer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSqliteStore } from "../../src/audit/sqlite-store.ts";
import { runCli } from "../helpers/run-cli.ts";
import { sqliteExec } from "./backends.ts";

const REPO = path.resolve(import.meta.dirname, "../..");

const cli = (args: string[]) => runCli(args);

describe("mail through mumuka serve, then the audit commands", () => {
  let dir: string;
  let configFile: string;
  let serve: ChildProcess;
  let port = 0;
  const subjects = ["【至急】会議室の予約について", "Re: 請求書送付のご案内（11月分）", "plain ASCII subject 42"];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-e2e-audit-"));
    configFile = path.join(dir, "mumuka.yaml");
    writeFileSync(
      configFile,
      ["dataDir: ./data", "smtp:", "  host: 127.0.0.1", "  port: 0", "  recipientDomains: [city.example.lg.jp]", "delivery:", "  mode: directory", "admin:", "  enabled: false", "log:", "  format: json", ""].join("\n"),
    );
    serve = spawn(process.execPath, ["src/cli.ts", "serve", "--config", configFile], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    port = await new Promise<number>((resolve, reject) => {
      let buf = "";
      const timer = setTimeout(() => reject(new Error(`serve did not start:\n${buf}`)), 30_000);
      const onData = (d: Buffer) => {
        buf += d;
        for (const line of buf.split("\n")) {
          if (!line.includes("mumuka gateway listening")) continue;
          clearTimeout(timer);
          resolve((JSON.parse(line) as { port: number }).port);
        }
      };
      serve.stderr!.on("data", onData);
      serve.stdout!.on("data", onData);
      serve.on("exit", (code) => reject(new Error(`serve exited (${code}):\n${buf}`)));
    });
    const transport = nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true });
    for (const [i, subject] of subjects.entries()) {
      await transport.sendMail({
        from: `"送信者 ${i}" <sender${i}@example.co.jp>`,
        to: "soumu@city.example.lg.jp",
        subject,
        text: `本文 ${i}`,
        html: `<p>本文 <a href="https://example.com/${i}">link</a></p>`,
        attachments: i === 1 ? [{ filename: "請求書.xlsm", content: Buffer.from("PK\u0003\u0004 macro") }] : [],
      });
    }
    transport.close();
  }, 60_000);

  afterAll(async () => {
    if (serve && serve.exitCode === null) {
      const exited = new Promise((r) => serve.once("exit", r));
      serve.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("finds each message by subject, verifies, and fails once a stored subject is edited", async () => {
    // wait (reading the store in-process, cheaply) until every story has ended in "delivered"
    const store = openSqliteStore({ file: path.join(dir, "data", "audit.sqlite") });
    const deadline = Date.now() + 30_000;
    try {
      while ((await store.search({ status: "delivered" })).total < subjects.length) {
        if (Date.now() > deadline) throw new Error(`not all delivered: ${JSON.stringify(await store.search({}))}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await store.close();
    }
    // then each one is found by its subject with the real command, the gateway still running
    const found = new Map<string, { auditId: string; status: string; attachmentsRemoved: number }>();
    for (const subject of subjects) {
      const r = await cli(["audit", "search", "--json", "--subject", subject, "--config", configFile]);
      expect(r.code, r.stderr).toBe(0);
      const { rows } = JSON.parse(r.stdout) as { rows: { auditId: string; status: string; attachmentsRemoved: number; subject: string }[] };
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ subject, status: "delivered" });
      found.set(subject, rows[0]!);
    }
    expect(found.get(subjects[1]!)!.attachmentsRemoved).toBe(1);

    const story = await cli(["audit", "show", found.get(subjects[1]!)!.auditId, "--json", "--config", configFile]);
    expect((JSON.parse(story.stdout) as { type: string }[]).map((e) => e.type)).toEqual(["received", "sanitized", "delivery-attempt", "delivered"]);

    const ok = await cli(["audit", "verify", "--config", configFile]);
    expect(ok.code, ok.stderr).toBe(0);

    sqliteExec(path.join(dir, "data", "audit.sqlite"), "UPDATE audit_messages SET subject = ? WHERE audit_id = ?", ["会議室の予約（変更済み）", found.get(subjects[0]!)!.auditId]);
    const bad = await cli(["audit", "verify", "--config", configFile]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(found.get(subjects[0]!)!.auditId);
  }, 60_000);
});
