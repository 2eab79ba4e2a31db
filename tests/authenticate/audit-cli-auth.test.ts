/**
 * "Every DMARC failure this week" from the command line: `mumuka audit search
 * --auth dmarc=fail` against a real SQLite audit store, spawned as an
 * administrator would run it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openAuditLog, type AuditLog } from "../../src/audit/index.ts";
import { auditSchema } from "../../src/config/schema.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { runCli } from "../helpers/run-cli.ts";
import { silentLogger } from "../helpers/relay-helpers.ts";

describe("mumuka audit search --auth", () => {
  let dir: string;
  let configFile: string;
  let log: AuditLog;
  const ids = { forged: "", genuine: "", lastWeek: "" };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-auth-cli-"));
    configFile = path.join(dir, "mumuka.yaml");
    writeFileSync(configFile, "dataDir: ./data\n");
    let clock = 0;
    log = await openAuditLog({ config: auditSchema.parse({ flushMs: 10 }), dataDir: path.join(dir, "data"), gateway: "gw", logger: silentLogger(), now: () => new Date(clock) });
    const story = (at: string, subject: string, dmarc: string) => {
      clock = Date.parse(at);
      const id = newAuditId(new Date(clock));
      log.record({ type: "received", auditId: id, data: { clientAddress: "127.0.0.1", mailFrom: "x@bank.example", rcptTo: ["soumu@city.example.lg.jp"], headerFrom: "x@bank.example", subject, size: 100, sha256: "c".repeat(64) } });
      log.record({ type: "sanitized", auditId: id, data: { rulesApplied: [], auth: { spf: { result: "fail" }, dkim: [], dmarc: { result: dmarc, domain: "bank.example" }, arc: { result: "none" } } } });
      log.record({ type: dmarc === "fail" ? "held" : "delivered", auditId: id, data: {} });
      return id;
    };
    ids.lastWeek = story("2026-11-16T01:00:00Z", "old forgery", "fail");
    ids.forged = story("2026-11-24T01:00:00Z", "forged invoice", "fail");
    ids.genuine = story("2026-11-25T01:00:00Z", "genuine", "pass");
    await log.flush();
  });

  afterAll(async () => {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lists this week's DMARC failures only", async () => {
    const r = await runCli(["audit", "search", "--config", configFile, "--since", "2026-11-23", "--auth", "dmarc=fail", "--json"], {});
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { total: number; rows: { auditId: string }[] };
    expect(out.rows.map((x) => x.auditId)).toEqual([ids.forged]);
    expect(out.total).toBe(1);
  });

  it("refuses a filter that is not method=result, with exit code 2", async () => {
    const r = await runCli(["audit", "search", "--config", configFile, "--auth", "dmarc"], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--auth: .*method=result/);
  });
});
