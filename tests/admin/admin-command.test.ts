import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { verifyPassword } from "../../src/admin/password.ts";
import { openUserStore } from "../../src/admin/user-store.ts";
import { openAuditStore } from "../../src/audit/index.ts";
import { auditSchema } from "../../src/config/schema.ts";
import { runCli } from "../helpers/run-cli.ts";


const run = (args: string[], stdin = "") => runCli(args, { stdin });

let dataDir: string;
beforeEach(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), "mumuka-admin-cli-"));
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

describe("mumuka admin", () => {
  it("creates an account whose password, read from stdin, is stored as a memory-hard scrypt hash", async () => {
    const res = await run(["admin", "add-user", "suzuki", "--role", "operator", "--password-stdin", "--data-dir", dataDir], "県庁のパスワード2026\n");
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    const store = openUserStore(dataDir);
    const user = store.get("suzuki")!;
    store.close();
    expect(user.role).toBe("operator");
    expect(user.passwordHash).toMatch(/^scrypt\$17\$8\$1\$/);
    expect(user.passwordHash).not.toContain("県庁");
    expect(await verifyPassword("県庁のパスワード2026", user.passwordHash)).toBe(true);
    expect(await verifyPassword("県庁のパスワード2027", user.passwordHash)).toBe(false);
  });

  it("lists, re-passwords and removes accounts", async () => {
    expect((await run(["admin", "add-user", "a1", "--role", "admin", "--data-dir", dataDir], "first password 1\n")).code).toBe(0);
    expect((await run(["admin", "add-user", "v1", "--role", "viewer", "--data-dir", dataDir], "first password 2\n")).code).toBe(0);
    const list = await run(["admin", "list-users", "--json", "--data-dir", dataDir]);
    expect(JSON.parse(list.stdout).map((u: { name: string; role: string }) => `${u.name}:${u.role}`)).toEqual(["a1:admin", "v1:viewer"]);
    expect((await run(["admin", "passwd", "v1", "--password-stdin", "--data-dir", dataDir], "second password 2\n")).code).toBe(0);
    const store = openUserStore(dataDir);
    expect(await verifyPassword("second password 2", store.get("v1")!.passwordHash)).toBe(true);
    store.close();
    expect((await run(["admin", "remove-user", "v1", "--data-dir", dataDir])).code).toBe(0);
    const last = await run(["admin", "remove-user", "a1", "--data-dir", dataDir]);
    expect(last.code).toBe(1);
    expect(last.stderr).toContain("the last administrator cannot be removed");
  });

  it("records every account change in the audit trail, naming the command-line user", async () => {
    expect((await run(["admin", "add-user", "a1", "--role", "admin", "--data-dir", dataDir], "first password 1\n")).code).toBe(0);
    expect((await run(["admin", "add-user", "v1", "--role", "viewer", "--data-dir", dataDir], "first password 2\n")).code).toBe(0);
    expect((await run(["admin", "passwd", "v1", "--password-stdin", "--data-dir", dataDir], "second password 2\n")).code).toBe(0);
    expect((await run(["admin", "remove-user", "v1", "--data-dir", dataDir])).code).toBe(0);
    expect((await run(["admin", "remove-user", "a1", "--data-dir", dataDir])).code).toBe(1); // refused: not a change, not recorded
    const store = openAuditStore(auditSchema.parse({}), dataDir);
    try {
      const events = await store.eventsAfter(0, 100);
      expect(events.map((e) => [e.type, e.data.action, e.data.user])).toEqual([
        ["admin", "user-add", "a1"],
        ["admin", "user-add", "v1"],
        ["admin", "user-password", "v1"],
        ["admin", "user-remove", "v1"],
      ]);
      for (const e of events) expect(e.actor).toMatch(/^cli:./);
      expect(events[0]!.data.role).toBe("admin");
    } finally {
      await store.close();
    }
  });

  it("refuses an unknown role, a short password and a duplicate name with a clear message, creating nothing", async () => {
    const role = await run(["admin", "add-user", "x", "--role", "root", "--data-dir", dataDir], "long enough password\n");
    expect(role.code).toBe(2);
    expect(role.stderr).toContain("--role must be one of viewer, operator, admin");
    const short = await run(["admin", "add-user", "x", "--role", "viewer", "--data-dir", dataDir], "short\n");
    expect(short.code).toBe(1);
    expect(short.stderr).toContain("at least 12 characters");
    const bad = await run(["admin", "add-user", "<script>", "--role", "viewer", "--data-dir", dataDir], "long enough password\n");
    expect(bad.code).toBe(1);
    expect((await run(["admin", "list-users", "--data-dir", dataDir])).stdout).toBe("");
    await run(["admin", "add-user", "x", "--role", "viewer", "--data-dir", dataDir], "long enough password\n");
    const dup = await run(["admin", "add-user", "x", "--role", "viewer", "--data-dir", dataDir], "long enough password\n");
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain("already exists");
  });
});
