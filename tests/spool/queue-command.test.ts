/**
 * `mumuka queue`, `original`, `audit` and `admin` as an operator runs them: the
 * happy path, and every failure path as a class — missing key, unwritable
 * dataDir, unreachable audit store, unknown or malformed id, id in the wrong
 * state. Each failure must be ONE line on stderr with exit 1 (2 for usage), and
 * leave the spool as it was (or changed and audited); the tests look at the
 * line, the code, the spool and the audit trail.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { newAuditId } from "../../src/lib/ids.ts";
import { openSpool, type Spool } from "../../src/spool/spool.ts";
import type { QueueState } from "../../src/spool/queue-types.ts";
import { tempDir } from "../helpers/relay-helpers.ts";
import { writeConfig } from "../helpers/relay-process.ts";
import { runCli, type CliResult } from "../helpers/run-cli.ts";

const KEY = "ab".repeat(32);

async function queueWith(count: number, yaml = ""): Promise<{ dir: string; config: string; spool: Spool; ids: string[] }> {
  const dir = await tempDir("mumuka-qcli-");
  const config = await writeConfig(dir, `dataDir: ${dir}/data\nlog: { level: warn, format: json }\n${yaml}`);
  const spool = await openSpool(`${dir}/data`);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = newAuditId();
    const w = await spool.create({
      v: 1,
      id,
      receivedAt: new Date().toISOString(),
      mailFrom: "sender@example.com",
      rcptTo: ["staff@city.example.lg.jp"],
      clientAddress: "127.0.0.1",
      clientHelo: "mx",
      protocol: "ESMTP",
      smtputf8: false,
    });
    await w.write(Buffer.from("Subject: x\r\n\r\nbody\r\n"));
    await w.commit();
    ids.push(id);
  }
  return { dir, config, spool, ids };
}

/** the failure contract: exactly one line, `mumuka: …`, and the exit code */
function expectOneLine(r: CliResult, code: number, text: RegExp): void {
  expect(r.stderr).toMatch(/^mumuka: [^\n]+\n$/);
  expect(r.stderr).toMatch(text);
  expect(r.code).toBe(code);
}

/** the audit event types recorded for a message, read back through the CLI */
async function auditTypes(config: string, id: string, env: Record<string, string> = {}): Promise<string[]> {
  const r = await runCli(["audit", "show", id, "--json", "-c", config], { env });
  if (r.code !== 0) {
    expect(r.stderr).toMatch(/no audit events/);
    return [];
  }
  return (JSON.parse(r.stdout) as { type: string }[]).map((e) => e.type);
}

describe("mumuka queue: the happy path", () => {
  it("lists, holds, shows and releases a message in the spool; deleting it is audited", async () => {
    const { config, spool, ids } = await queueWith(1);
    const [id] = ids as [string];
    const list = await runCli(["queue", "list", "--config", config]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(id);
    expect(list.stdout).toMatch(/incoming .*sender@example\.com → staff@city\.example\.lg\.jp/);

    expect((await runCli(["queue", "hold", id, "--reason", "look at it", "--config", config])).code).toBe(0);
    const show = await runCli(["queue", "show", id, "--config", config]);
    expect(JSON.parse(show.stdout)).toMatchObject({ id, state: "held", holdReason: expect.stringMatching(/^held by cli:\S+: look at it$/) });

    expect((await runCli(["queue", "release", id, "--config", config])).code).toBe(0);
    expect(await spool.locate(id)).toBe("incoming");

    expect((await runCli(["queue", "delete", id, "--config", config])).code).toBe(0);
    expect(await spool.locate(id)).toBeUndefined();
    expect(await auditTypes(config, id)).toEqual(["held", "released", "deleted"]);
  });
});

describe("mumuka queue: every failure is one line, and the queue stays consistent", () => {
  it("delete with encrypted originals but no key: refused before anything moves, nothing audited", async () => {
    const { config, spool, ids } = await queueWith(1, "originals: { keyEnv: MUMUKA_TEST_ORIGINALS_KEY }\n");
    const [id] = ids as [string];
    const r = await runCli(["queue", "delete", id, "-c", config]);
    expectOneLine(r, 1, /MUMUKA_TEST_ORIGINALS_KEY.*not set; nothing was changed/);
    expect(await spool.locate(id)).toBe("incoming");
    expect(await auditTypes(config, id)).toEqual([]);
    // with the key, the same command works and keeps the original encrypted
    const ok = await runCli(["queue", "delete", id, "-c", config], { env: { MUMUKA_TEST_ORIGINALS_KEY: KEY } });
    expect(ok.code).toBe(0);
    expect(await spool.locate(id)).toBeUndefined();
    expect(await auditTypes(config, id)).toEqual(["deleted"]);
  });

  it("delete when the originals store cannot be written: the delete stands and is recorded, the record waits in done/ for its original to be kept, one line says so", async () => {
    const { dir, config, spool, ids } = await queueWith(2);
    const [incoming, deferred] = ids as [string, string];
    await spool.move(deferred, "incoming", "deferred");
    await writeFile(`${dir}/data/originals`, "not a directory"); // the store's directory cannot be made
    for (const id of [incoming, deferred]) {
      const r = await runCli(["queue", "delete", id, "-c", config]);
      expectOneLine(r, 1, new RegExp(`message ${id} was deleted and its event recorded, but its original could not be kept .*next start`));
      expect(await spool.locate(id)).toBeUndefined();
      expect(await spool.list("done")).toContain(id);
      expect(await auditTypes(config, id)).toEqual(["deleted"]);
    }
  });

  it("hold, retry and release when the message's meta cannot be written: put back, one line, nothing audited", async () => {
    const { dir, config, spool, ids } = await queueWith(3);
    const [incoming, deferred, held] = ids as [string, string, string];
    await spool.move(deferred, "incoming", "deferred");
    await spool.move(held, "incoming", "held");
    // a directory where each meta file goes: the meta write (temp file, rename) fails
    for (const id of ids) await mkdir(`${dir}/data/spool/meta/${id}.json`, { recursive: true });
    expectOneLine(await runCli(["queue", "hold", incoming, "-c", config]), 1, new RegExp(`message ${incoming} was not held: .*; it is back in incoming`));
    expectOneLine(await runCli(["queue", "retry", deferred, "-c", config]), 1, new RegExp(`message ${deferred} was not retried: .*; it is back in deferred`));
    expectOneLine(await runCli(["queue", "release", held, "-c", config]), 1, new RegExp(`message ${held} was not released: .*; it is still held`));
    expect([await spool.locate(incoming), await spool.locate(deferred), await spool.locate(held)]).toEqual(["incoming", "deferred", "held"]);
    for (const id of ids) expect(await auditTypes(config, id)).toEqual([]);
  });

  it("hold, release, retry, delete, show of an id not in the queue: one line, exit 1, nothing recorded", async () => {
    const { config } = await queueWith(0);
    const id = newAuditId();
    const results = await Promise.all(["hold", "release", "retry", "delete", "show"].map((action) => runCli(["queue", action, id, "-c", config])));
    for (const r of results) expectOneLine(r, 1, new RegExp(`no message ${id} in the queue`));
    expect(await auditTypes(config, id)).toEqual([]);
  });

  it("a malformed id is a usage error (exit 2) for every action, and never becomes a path", async () => {
    const { dir, config } = await queueWith(0);
    await mkdir(`${dir}/data/spool/x`, { recursive: true });
    await writeFile(`${dir}/data/spool/x/victim`, "x");
    const results = await Promise.all(["hold", "release", "retry", "delete", "show"].map((action) => runCli(["queue", action, "../x/victim", "-c", config])));
    for (const r of results) expectOneLine(r, 2, /not a queue id: "\.\.\/x\/victim"/);
  });

  it("an id in the wrong state: refused in one line, the message where it was", async () => {
    const { config, spool, ids } = await queueWith(3);
    const [incoming, held, corrupt] = ids as [string, string, string];
    await spool.move(held, "incoming", "held");
    await spool.move(corrupt, "incoming", "corrupt");
    expectOneLine(await runCli(["queue", "release", incoming, "-c", config]), 1, /is not held \(it is incoming\)/);
    expectOneLine(await runCli(["queue", "hold", held, "-c", config]), 1, /is already held/);
    expectOneLine(await runCli(["queue", "retry", corrupt, "-c", config]), 1, /in corrupt\/: it can only be deleted/);
    expectOneLine(await runCli(["queue", "hold", corrupt, "-c", config]), 1, /in corrupt\/: it can only be deleted/);
    expect([await spool.locate(incoming), await spool.locate(held), await spool.locate(corrupt)]).toEqual(["incoming", "held", "corrupt"]);
    for (const id of ids) expect(await auditTypes(config, id)).toEqual([]);
  });

  it("an unreachable audit store: nothing is done (a change that cannot be recorded is not made)", async () => {
    // port 1 on loopback: connection refused at once
    const { dir, spool, ids } = await queueWith(1);
    const [id] = ids as [string];
    const config = await writeConfig(dir, `dataDir: ${dir}/data\naudit: { url: "postgres://mumuka@127.0.0.1:1/mumuka" }\n`);
    const commands = [["queue", "hold", id], ["queue", "delete", id], ["queue", "list"], ["original", "purge"], ["audit", "search"]];
    for (const r of await Promise.all(commands.map((args) => runCli([...args, "-c", config])))) {
      expectOneLine(r, 1, /the audit store cannot be opened, so nothing was done: .*ECONNREFUSED/);
    }
    expect(await spool.locate(id)).toBe("incoming");
  });

  it("a dataDir that cannot be used: one line for every command that needs it", async () => {
    const dir = await tempDir("mumuka-qcli-");
    await writeFile(`${dir}/data`, "a file where the data directory should be");
    const config = await writeConfig(dir, `dataDir: ${dir}/data\n`);
    const id = newAuditId();
    const commands = [["queue", "list"], ["queue", "hold", id], ["queue", "delete", id], ["audit", "show", id], ["audit", "verify"], ["original", "purge"], ["original", "get", id, "--request", "R-20261206-AAAAAAAA", "-o", `${dir}/out.eml`], ["admin", "list-users"]];
    for (const r of await Promise.all(commands.map((args) => runCli([...args, "-c", config])))) expectOneLine(r, 1, /EEXIST|ENOTDIR/);
  });
});

describe("mumuka admin: an account change that cannot be recorded is not made", () => {
  it("add-user with the audit store unreachable: one line, no account", async () => {
    const dir = await tempDir("mumuka-qcli-");
    const config = await writeConfig(dir, `dataDir: ${dir}/data\naudit: { url: "postgres://mumuka@127.0.0.1:1/mumuka" }\n`);
    const r = await runCli(["admin", "add-user", "tanaka", "--role", "viewer", "--password-stdin", "-c", config], { stdin: "correct horse battery staple\n" });
    expectOneLine(r, 1, /the audit store cannot be opened, so nothing was done/);
    const list = await runCli(["admin", "list-users", "--json", "-c", config]);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });
});

describe("mumuka original and audit: failures are one line", () => {
  it("original purge without the key, original get and audit show of an unknown id", async () => {
    const { config } = await queueWith(0, "originals: { keyEnv: MUMUKA_TEST_ORIGINALS_KEY }\n");
    expectOneLine(await runCli(["original", "purge", "-c", config]), 1, /MUMUKA_TEST_ORIGINALS_KEY.*not set; nothing was removed/);
    const id = newAuditId();
    const env = { MUMUKA_TEST_ORIGINALS_KEY: KEY };
    expectOneLine(await runCli(["original", "request", id, "--reason", "INC-1", "-c", config], { env }), 1, /no retained original/);
    expectOneLine(await runCli(["original", "get", id, "-o", "/dev/null", "-c", config], { env }), 2, /--request REQ/);
    expectOneLine(await runCli(["audit", "show", id, "-c", config]), 1, /no audit events/);
    const purged = await runCli(["original", "purge", "-c", config], { env });
    expect(purged.code).toBe(0);
  });
});
