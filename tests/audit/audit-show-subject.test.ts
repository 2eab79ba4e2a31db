/**
 * `mumuka audit show ID` prints the Subject and From of the received event as
 * `audit search` does: decoded, not as RFC 2047 words (=?UTF-8?B?…?=), and
 * still display-safe. Events written before the writer kept the decoded text
 * beside the raw one are decoded when shown.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openAuditLog } from "../../src/audit/index.ts";
import { readableHeader } from "../../src/audit/audit-format.ts";
import { auditSchema } from "../../src/config/schema.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { runCli } from "../helpers/run-cli.ts";
import { quietLogger } from "./backends.ts";

const b64 = (text: string) => `=?UTF-8?B?${Buffer.from(text).toString("base64")}?=`;

describe("audit show: subjects as staff read them", () => {
  let dir: string;
  let configFile: string;
  const id = newAuditId();

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-audit-show-"));
    configFile = path.join(dir, "mumuka.yaml");
    writeFileSync(configFile, "dataDir: ./data\n");
    const log = await openAuditLog({ config: auditSchema.parse({ flushMs: 10 }), dataDir: path.join(dir, "data"), gateway: "gw", logger: quietLogger() });
    log.record({
      type: "received",
      auditId: id,
      data: { clientAddress: "127.0.0.1", mailFrom: "tanaka@example.co.jp", rcptTo: ["soumu@city.example.lg.jp"], headerFrom: `${b64("田中 一郎")} <tanaka@example.co.jp>`, subject: b64("打ち合わせの日程\u202Efdp.exe"), size: 10, sha256: "c".repeat(64) },
    });
    await log.close();
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("prints the decoded subject and From, with bidi overrides made visible", async () => {
    const r = await runCli(["audit", "show", id, "--config", configFile]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("subject=打ち合わせの日程<U+202E>fdp.exe");
    expect(r.stdout).toContain("headerFrom=田中 一郎 <tanaka@example.co.jp>");
    expect(r.stdout).not.toContain("=?UTF-8?");
  });

  it("--json keeps the event as stored (the raw header is the evidence)", async () => {
    const r = await runCli(["audit", "show", id, "--json", "--config", configFile]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(b64("打ち合わせの日程\u202Efdp.exe"));
  });

  it("an event with the raw form only is decoded when shown; undecodable words stay as written", () => {
    expect(readableHeader(b64("請求書"))).toBe("請求書");
    expect(readableHeader(b64("raw"), "kept decoded")).toBe("kept decoded");
    expect(readableHeader("=?x-unknown?Q?broken")).toBe("=?x-unknown?Q?broken");
    expect(readableHeader(undefined)).toBe("");
  });
});
