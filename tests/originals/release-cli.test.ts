/**
 * `mumuka original` as an administrator runs it beside a running gateway: a
 * request from the command line waits for a different person (the same
 * login cannot approve it), an approval given in the console (the same
 * releases.sqlite) lets the CLI take the original out once, a second time is
 * refused, and every step is in the message's audit trail with cli:<login>.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openAuditLog, type AuditLog } from "../../src/audit/index.ts";
import { parseConfig } from "../../src/config/load.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { openOriginals } from "../../src/originals/index.ts";
import { createReleaseDesk } from "../../src/originals/release-desk.ts";
import { openReleaseStore } from "../../src/originals/release-store.ts";
import { silentLogger } from "../helpers/relay-helpers.ts";
import { runCli } from "../helpers/run-cli.ts";
import { writeSpoolRecord } from "../helpers/spool-record.ts";

const raw = "From: suzuki@example.ne.jp\r\nSubject: invoice\r\n\r\nbody\r\n";

describe("mumuka original request / approve / get, spawned", () => {
  let dir: string;
  let dataDir: string;
  let configFile: string;
  let gateway: AuditLog;
  const id = newAuditId();
  const me = `cli:${os.userInfo().username}`;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-release-cli-"));
    dataDir = path.join(dir, "data");
    configFile = path.join(dir, "mumuka.yaml");
    writeFileSync(configFile, `dataDir: ${dataDir}\n`);
    // the "gateway": its audit log stays open while the commands run
    gateway = await openAuditLog({ config: parseConfig({ dataDir }).audit, dataDir, gateway: "gw", logger: silentLogger() });
    const seed = path.join(dir, "seed");
    writeSpoolRecord(seed, id, raw);
    await openOriginals({ config: parseConfig({}).originals, dataDir, audit: gateway }).retire(id, seed);
  });
  afterAll(async () => {
    await gateway.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("asks, is not approved by the same person, downloads once after another administrator's approval, and is refused the second time", async () => {
    const noReason = await runCli(["original", "request", id, "-c", configFile]);
    expect(noReason.code).not.toBe(0);
    expect(noReason.stderr).toContain("--reason");

    const asked = await runCli(["original", "request", id, "--reason", "職員依頼 2026-0042", "-c", configFile]);
    expect(asked.code, asked.stderr).toBe(0);
    expect(asked.stderr).toContain("別の管理者の承認を待ってください");
    const request = /^(R-\d{8}-[0-9A-Z]{8}) +open/.exec(asked.stdout)![1]!;

    const self = await runCli(["original", "approve", request, "-c", configFile]);
    expect(self.code).toBe(1);
    expect(self.stderr).toContain("自分の申請は承認・却下できません");
    const early = await runCli(["original", "get", id, "--request", request, "-o", path.join(dir, "early.eml"), "-c", configFile]);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain("まだ承認されていません");
    expect(existsSync(path.join(dir, "early.eml"))).toBe(false);
    expect((await runCli(["original", "requests", "-c", configFile])).stdout).toContain(`${request}  open  ${id}  requester=${me}`);

    // a different administrator approves in the console, which shares releases.sqlite
    const store = openReleaseStore(dataDir);
    createReleaseDesk({ store, originals: openOriginals({ config: parseConfig({}).originals, dataDir, audit: gateway }), audit: gateway, config: parseConfig({}).originals.release }).approve(request, "admin:kanri-second");
    store.close();

    const out = path.join(dir, "taken.eml");
    const taken = await runCli(["original", "get", id, "--request", request, "-o", out, "-c", configFile]);
    expect(taken.code, taken.stderr).toBe(0);
    expect(readFileSync(out, "utf8")).toBe(raw);
    const again = await runCli(["original", "get", id, "--request", request, "-o", path.join(dir, "again.eml"), "-c", configFile]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("取り出し回数を使い切りました");
    expect(existsSync(path.join(dir, "again.eml"))).toBe(false);

    await gateway.flush();
    const steps = (await gateway.story(id)).map((e) => `${e.actor} ${e.type === "admin" ? String(e.data.action) : e.type}`);
    expect(steps).toEqual([
      `${me} original-release-requested`,
      `${me} original-release-self-decision-refused`,
      `${me} original-release-download-refused`,
      "admin:kanri-second original-release-approved",
      `${me} original-retrieved`,
      `${me} original-release-download-refused`,
    ]);
  }, 60_000);

  it("cancels its own open request, which then cannot be approved", async () => {
    const asked = await runCli(["original", "request", id, "--reason", "間違えて申請", "-c", configFile]);
    expect(asked.code, asked.stderr).toBe(0);
    const request = /^(R-\d{8}-[0-9A-Z]{8}) +open/.exec(asked.stdout)![1]!;
    const cancelled = await runCli(["original", "cancel", request, "-c", configFile]);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toContain(`${request}  cancelled  ${id}`);
    const again = await runCli(["original", "cancel", request, "-c", configFile]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("すでに判断済み");
    await gateway.flush();
    expect((await gateway.story(id)).filter((e) => e.data.request === request).map((e) => `${e.actor} ${String(e.data.action)}`)).toEqual([
      `${me} original-release-requested`,
      `${me} original-release-cancelled`,
    ]);
  }, 60_000);
});
