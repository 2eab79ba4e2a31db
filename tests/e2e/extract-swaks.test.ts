/**
 * Issue 15's "done when": a message made by a real mail client (swaks, with
 * --attach) carrying a Japanese PDF and an Excel workbook goes through
 * `mumuka serve`; the delivered text/plain body holds both documents' words
 * after the message text, in reading order, without mojibake, and lists the
 * attachments as removed with their SHA-256; the audit trail records, per
 * attachment, that its text was extracted, with pages and characters.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { simpleParser } from "mailparser";
import Database from "better-sqlite3";
import { startDownstream } from "../helpers/relay-downstream.ts";
import { tempDir, waitFor } from "../helpers/relay-helpers.ts";
import { spawnGateway, writeConfig, type GatewayProcess } from "../helpers/relay-process.ts";
import { findProgram, requirement } from "../helpers/requirements.ts";

const run = promisify(execFile);
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/extract/${name}`, import.meta.url));
const children: GatewayProcess[] = [];
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill("SIGKILL");
  for (const s of stops.splice(0)) await s();
});

const missing = requirement("swaks", findProgram("swaks") ? undefined : "not on PATH (apt-get install swaks)");

describe.skipIf(missing !== "")("a message from a real mail client through mumuka serve", () => {
  it("arrives with the PDF's and the workbook's words in the body and the files listed as removed", async () => {
    const down = await startDownstream();
    stops.push(() => down.stop());
    const dir = await tempDir("mumuka-extract-e2e-");
    const config = await writeConfig(
      dir,
      [
        `dataDir: ${dir}/data`,
        "smtp: { host: 127.0.0.1, port: 0, clients: [127.0.0.1/32], recipientDomains: [city.example.lg.jp] }",
        `delivery: { mode: smtp, host: 127.0.0.1, port: ${down.port}, retryFirstSeconds: 1, retryMaxSeconds: 2 }`,
        "log: { level: info, format: json }",
        "admin: { enabled: false }",
        "",
      ].join("\n"),
    );
    const gateway = await spawnGateway(config);
    children.push(gateway);
    await run(
      "swaks",
      [
        ...["--server", "127.0.0.1", "--port", String(gateway.port), "--from", "sender@example.com", "--to", "staff@city.example.lg.jp"],
        ...["--header", "Subject: quotation", "--body", "Please find the quotation and the sales sheet attached."],
        ...["--attach-type", "application/pdf", "--attach-name", "mitsumori.pdf", "--attach", `@${fixture("jp-cid-nonembedded.pdf")}`],
        ...["--attach-type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "--attach-name", "uriage.xlsx", "--attach", `@${fixture("multi-sheet.xlsx")}`],
      ],
      { timeout: 30_000 },
    );
    await waitFor(() => down.received.length === 1, 30_000, "the sanitized message");
    const delivered = await simpleParser(down.received[0]!.raw);
    expect(delivered.attachments).toHaveLength(0);
    const body = delivered.text ?? "";
    const order = [
      "Please find the quotation",
      "添付ファイル mitsumori.pdf の内容（テキストのみ・書式や画像は含みません）",
      "見積書\n株式会社サンプル 御中",
      "合計金額 １２３，４５６円（税込）",
      "納期：令和８年１２月２５日",
      "添付ファイル uriage.xlsx の内容",
      "品名\t数量\t単価\t納品日",
      "りんご\t120\t150.5\t2026-12-01",
    ];
    const positions = order.map((s) => body.indexOf(s));
    expect(positions.every((p) => p >= 0), `missing in:\n${body}`).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(body).not.toContain("\uFFFD");
    for (const file of ["jp-cid-nonembedded.pdf", "multi-sheet.xlsx"]) {
      expect(body).toContain(createHash("sha256").update(readFileSync(fixture(file))).digest("hex"));
    }
    // the audit store is complete once the gateway has stopped
    gateway.child.kill("SIGTERM");
    await gateway.exited;
    const db = new Database(`${dir}/data/audit.sqlite`, { readonly: true });
    try {
      const rows = db.prepare("SELECT data FROM audit_events WHERE type = 'sanitized'").all() as { data: string }[];
      expect(rows).toHaveLength(1);
      const { report } = JSON.parse(rows[0]!.data) as { report: { extraction: unknown[] } };
      expect(report.extraction).toEqual([
        expect.objectContaining({ filename: "mitsumori.pdf", kind: "pdf", status: "extracted", unit: "page", pages: 2, chars: expect.any(Number) }),
        expect.objectContaining({ filename: "uriage.xlsx", kind: "xlsx", status: "extracted", unit: "sheet", pages: 2, chars: expect.any(Number) }),
      ]);
    } finally {
      db.close();
    }
  });
});
