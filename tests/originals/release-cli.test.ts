/**
 * `mumuka original` as an administrator runs it beside a running gateway: a
 * request from the command line waits for a different person (the same
 * person cannot approve it), a decision from the command line is a console
 * administrator account's (`--as`, proven by its password: the OS login can
 * be shared), an approval lets the CLI take the original out once, a second
 * time is refused, and every step is in the message's audit trail.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openAuditLog, type AuditLog } from "../../src/audit/index.ts";
import { parseConfig } from "../../src/config/load.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { openOriginals } from "../../src/originals/index.ts";
import { openUserStore } from "../../src/admin/user-store.ts";
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
  const login = os.userInfo().username;
  const me = `cli:${login}`;
  const PASSWORD = "correct horse battery";

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
    // console accounts: one named as the OS login running the tests (the same person), a second administrator, an operator
    const users = openUserStore(dataDir, { cost: { log2N: 10, r: 8, p: 1 } });
    await users.add(login, "admin", PASSWORD);
    await users.add("kanri-second", "admin", PASSWORD);
    await users.add("operator-1", "operator", PASSWORD);
    users.close();
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

    // deciding from the command line names a console administrator account, proven by its password
    const anonymous = await runCli(["original", "approve", request, "-c", configFile]);
    expect(anonymous.code).toBe(2);
    expect(anonymous.stderr).toContain("--as");
    const self = await runCli(["original", "approve", request, "--as", login, "--password-stdin", "-c", configFile], { stdin: `${PASSWORD}\n` });
    expect(self.code).toBe(1);
    expect(self.stderr).toContain("自分の申請は承認・却下できません");
    const wrong = await runCli(["original", "approve", request, "--as", "kanri-second", "-c", configFile], { stdin: "not the password\n" });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("認証に失敗しました");
    const operator = await runCli(["original", "approve", request, "--as", "operator-1", "-c", configFile], { stdin: `${PASSWORD}\n` });
    expect(operator.code).toBe(1); // an operator's password is right, but an operator does not decide
    const early = await runCli(["original", "get", id, "--request", request, "-o", path.join(dir, "early.eml"), "-c", configFile]);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain("まだ承認されていません");
    expect(existsSync(path.join(dir, "early.eml"))).toBe(false);
    expect((await runCli(["original", "requests", "-c", configFile])).stdout).toContain(`${request}  open  ${id}  requester=${me}`);

    // a different administrator approves from the command line, as their console account
    const approved = await runCli(["original", "approve", request, "--as", "kanri-second", "-c", configFile], { stdin: `${PASSWORD}\n` });
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain(`${request}  approved  ${id}  requester=${me}  decided-by=admin:kanri-second`);

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
      `admin:${login} original-release-self-decision-refused`,
      `${me} original-release-download-refused`,
      "admin:kanri-second original-release-approved",
      `${me} original-retrieved`,
      `${me} original-release-download-refused`,
    ]);
    expect((await gateway.story(id)).find((e) => e.data.action === "original-release-approved")!.data).toMatchObject({ via: me });
    const failed = (await gateway.eventsBetween(new Date(0), new Date(Date.now() + 60_000), undefined, 1000)).filter((e) => e.type === "login-failed");
    // as the console records a failed login: the account tried is the actor, the OS login beside it
    expect(failed.map((e) => [e.actor, e.data.via, e.data.reason])).toEqual([
      ["admin:kanri-second", me, "bad-password"],
      ["admin:operator-1", me, "not-admin"],
    ]);
  }, 90_000);

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
