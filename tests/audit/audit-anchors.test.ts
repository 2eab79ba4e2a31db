/**
 * The anchored head, on SQLite and PostgreSQL alike. Three ways to tamper
 * with a chain that its own links cannot show — the end cut off, every hash
 * recomputed after an edit, an older copy of the database put back — each
 * pass the plain verify and each is reported by verify against the anchors
 * the gateway wrote outside the store. The gateway's last anchor is what the
 * console shows, with whether the chain still reaches it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { canonicalJson, eventHash } from "../../src/audit/audit-fns.ts";
import { describeLastAnchor } from "../../src/audit/anchor.ts";
import { openAuditLog, parseAnchors, type AuditLog } from "../../src/audit/index.ts";
import type { AuditEvent } from "../../src/audit/audit-types.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { runCli } from "../helpers/run-cli.ts";
import { describeEachBackend, makeBackend, memoryLogger, quietLogger, storedEvents, type Backend } from "./backends.ts";

describeEachBackend("anchors of the audit chain on %s", (kind) => {
  let b: Backend;
  let anchorDir: string;
  let anchorFile: string;
  let clock: number;
  const logs: AuditLog[] = [];
  const open = async (logger = quietLogger()): Promise<AuditLog> => {
    const log = await openAuditLog({
      config: b.config({ anchor: { intervalMinutes: 60, file: anchorFile } }),
      dataDir: b.dataDir,
      gateway: "gw-anchor",
      logger,
      serving: true,
      now: () => new Date((clock += 1000)),
    });
    logs.push(log);
    return log;
  };
  /** the store as a command opens it: no anchors of its own, the chain alone */
  const openPlain = async (): Promise<AuditLog> => {
    const log = await openAuditLog({ config: b.config(), dataDir: b.dataDir, gateway: "cli", logger: quietLogger(), spillDir: false });
    logs.push(log);
    return log;
  };
  const anchors = () => parseAnchors(readFileSync(anchorFile, "utf8")).anchors;
  const admin = (log: AuditLog, n: number) => {
    for (let i = 0; i < n; i++) log.record({ type: "admin", actor: "admin:suzuki", data: { action: "login", i } });
  };
  const story = (log: AuditLog) => {
    const id = newAuditId(new Date(clock));
    log.record({ type: "received", auditId: id, actor: "gateway", data: { mailFrom: "a@example.jp", rcptTo: ["s@city.example.lg.jp"], subject: "件名", size: 10, sha256: "a".repeat(64) } });
    log.record({ type: "delivered", auditId: id, actor: "gateway", data: {} });
  };
  const events = (): Promise<AuditEvent[]> => storedEvents(b);

  beforeEach(() => {
    b = makeBackend(kind);
    anchorDir = mkdtempSync(path.join(os.tmpdir(), "mumuka-anchors-"));
    anchorFile = path.join(anchorDir, "anchors.log");
    clock = Date.parse("2026-11-20T00:00:00Z");
  });
  afterEach(async () => {
    for (const l of logs.splice(0)) await l.close();
    await b.cleanup();
    rmSync(anchorDir, { recursive: true, force: true });
  });

  /** A gateway that ran twice: anchors at each shutdown. */
  const twoRuns = async (): Promise<void> => {
    const first = await open();
    story(first);
    admin(first, 3);
    await first.close();
    const second = await open();
    story(second);
    admin(second, 5);
    await second.close();
    logs.splice(0);
  };

  it("writes the head at shutdown to the operational log and the anchor file, and verify reaches every anchor", async () => {
    const mem = memoryLogger();
    const log = await open(mem.logger);
    story(log);
    await log.close();
    logs.splice(0);
    const line = mem.lines().find((l) => l.msg === "audit-anchor");
    expect(line?.anchor).toMatchObject({ seq: 2, hash: expect.stringMatching(/^[0-9a-f]{64}$/), gateway: "gw-anchor" });
    expect(anchors()).toEqual([line!.anchor]);
    // the log line itself is an anchor verify can read
    expect(parseAnchors(JSON.stringify(line)).anchors).toEqual(anchors());
    const reader = await open();
    expect(await reader.verify({ anchors: anchors() })).toMatchObject({ ok: true, anchors: { checked: 1, latest: { seq: 2 } } });
  });

  it("reports a cut-off end that the chain alone cannot show", async () => {
    await twoRuns();
    const last = anchors().at(-1)!;
    await b.exec("DELETE FROM {e} WHERE seq > ?", [last.seq - 3]);
    const log = await openPlain();
    expect(await log.verify()).toMatchObject({ ok: true }); // what the chain alone says
    const result = await log.verify({ anchors: anchors() });
    expect(result).toMatchObject({ ok: false, firstBad: { kind: "truncated", seq: last.seq } });
    expect(result.firstBad!.reason).toContain(`the chain ends at seq ${last.seq - 3}`);
  });

  it("reports a chain whose hashes were all recomputed after an edit", async () => {
    await twoRuns();
    const all = await events();
    // edit an early event, then recompute every hash after it, as someone with the database could
    const edited = all.map((e) => ({ ...e }));
    const target = edited.findIndex((e) => e.type === "admin");
    edited[target]!.data = { ...edited[target]!.data, action: "logout" };
    for (let i = target; i < edited.length; i++) {
      const e = edited[i]!;
      if (i > 0) e.prevHash = edited[i - 1]!.hash;
      const { hash: _old, ...content } = e;
      e.hash = eventHash(content);
      await b.exec("UPDATE {e} SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?", [canonicalJson(e.data), e.prevHash, e.hash, e.seq]);
    }
    const log = await openPlain();
    expect(await log.verify()).toMatchObject({ ok: true }); // the links are consistent again
    const result = await log.verify({ anchors: anchors() });
    expect(result).toMatchObject({ ok: false, firstBad: { kind: "rewritten" } });
    expect(result.firstBad!.seq).toBeGreaterThanOrEqual(edited[target]!.seq);
  });

  it("reports an older copy of the database put back, before and after the gateway wrote on", async () => {
    const first = await open();
    story(first);
    await first.close();
    logs.splice(0);
    // the copy an attacker keeps: the whole store as it was after the first run
    for (const t of ["events", "messages", "texts"]) await b.exec(`CREATE TABLE ${b.prefix}_bk_${t} AS SELECT * FROM ${b.prefix}_${t}`);
    const second = await open();
    story(second);
    story(second);
    await second.close();
    logs.splice(0);
    const last = anchors().at(-1)!;
    for (const t of ["events", "messages", "texts"]) {
      await b.exec(`DELETE FROM ${b.prefix}_${t}`);
      await b.exec(`INSERT INTO ${b.prefix}_${t} SELECT * FROM ${b.prefix}_bk_${t}`);
    }
    expect(await (await openPlain()).verify()).toMatchObject({ ok: true }); // what the chain alone says
    // the gateway reads its last anchor from the file at start: the console sees the chain fall short of it
    const log = await open();
    expect(await log.verify()).toMatchObject({ ok: false, lastAnchor: { seq: last.seq, reached: false } });
    expect(await log.verify({ anchors: anchors() })).toMatchObject({ ok: false, firstBad: { kind: "truncated", seq: last.seq } });
    for (let i = 0; i < 3; i++) story(log);
    await log.flush();
    const result = await log.verify({ anchors: anchors() });
    expect(result).toMatchObject({ ok: false, firstBad: { kind: "rolled-back", seq: last.seq } });
  });

  it("tells the console the last anchor and that the chain reaches it", async () => {
    const log = await open();
    story(log);
    await log.flush();
    const anchor = await log.anchor();
    const good = await log.verify();
    expect(good).toMatchObject({ ok: true, lastAnchor: { ...anchor, reached: true } });
    expect(describeLastAnchor(good)).toContain(`最終アンカー seq ${anchor!.seq}`);
    expect(describeLastAnchor(good)).toContain("the chain reaches the last anchor");
    admin(log, 2);
    await log.flush();
    await b.exec("DELETE FROM {e} WHERE seq >= ?", [anchor!.seq]);
    const bad = await log.verify();
    expect(bad).toMatchObject({ ok: false, lastAnchor: { seq: anchor!.seq, reached: false } });
    expect(describeLastAnchor(bad)).toContain("does NOT reach");
  });

  // the command line against one store is enough (it is the same code for both): not even registered for PostgreSQL
  if (kind === "sqlite") it("mumuka audit verify --anchors says it in one line (and how far that proves), OK or which anchor the chain fails", async () => {
    await twoRuns();
    const configFile = path.join(anchorDir, "mumuka.yaml");
    writeFileSync(configFile, `dataDir: ${b.dataDir}\naudit:\n  tablePrefix: ${b.prefix}\n`);
    const ok = await runCli(["audit", "verify", "-c", configFile, "--anchors", anchorFile]);
    expect(ok.code).toBe(0);
    // the verdict in one line, then what it proves and what it cannot
    const [verdict, coverage, ...rest] = ok.stdout.trim().split("\n");
    expect(verdict).toMatch(/^OK .*2 anchor\(s\) reached, latest seq \d+/);
    expect(coverage).toMatch(/^証明できる範囲 \/ proven: seq \d+ .* intact up to anchor seq \d+/);
    expect(rest).toEqual([]);
    const last = anchors().at(-1)!;
    const bySeqHash = await runCli(["audit", "verify", "-c", configFile, "--anchors", `${last.seq}:${last.hash}`]);
    expect(bySeqHash.code).toBe(0);
    await b.exec("DELETE FROM {e} WHERE seq = (SELECT MAX(seq) FROM {e})");
    const bad = await runCli(["audit", "verify", "-c", configFile, "--anchors", anchorFile]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toContain(`FAILED (改ざん検出) at anchor seq ${last.seq} [truncated]`);
  });
});

describe("anchor lines", () => {
  const hash = "ab".repeat(32);

  it("are read back from an anchor file, a pino log, a syslog export or SEQ:HASH; anything else is skipped", () => {
    const text = [
      `2026-12-06T07:00:00.000Z audit-anchor gateway=gw1 seq=41 hash=${hash}`,
      JSON.stringify({ level: 30, time: 1, anchor: { seq: 42, hash, ts: "2026-12-06T08:00:00.000Z", gateway: "gw1" }, msg: "audit-anchor" }),
      `<133>1 2026-12-06T09:00:00.000Z host mumuka 77 audit-anchor - 2026-12-06T09:00:00.000Z audit-anchor gateway=gw1 seq=43 hash=${hash}`,
      `44:${hash}`,
      "audit-anchor seq=x hash=nothex",
      `45:${hash.slice(1)}`,
    ].join("\n");
    const { anchors, skipped } = parseAnchors(text);
    expect(anchors.map((a) => a.seq)).toEqual([41, 42, 43, 44]);
    expect(anchors[0]).toEqual({ seq: 41, hash, ts: "2026-12-06T07:00:00.000Z", gateway: "gw1" });
    expect(skipped).toBe(2);
  });

  it("go to a syslog server as RFC 5424 messages", async () => {
    const { createSocket } = await import("node:dgram");
    const { createAnchorWriter } = await import("../../src/audit/anchor.ts");
    const server = createSocket("udp4");
    const got = new Promise<string>((resolve) => server.on("message", (m) => resolve(m.toString("utf8"))));
    await new Promise<void>((r) => server.bind(0, "127.0.0.1", () => r()));
    const port = server.address().port;
    const writer = createAnchorWriter({ intervalMinutes: 60, syslog: { host: "127.0.0.1", port, facility: "local0" } }, quietLogger());
    await writer.write({ seq: 7, hash, ts: "2026-12-06T10:00:00.000Z", gateway: "gw1" });
    const message = await got;
    server.close();
    expect(message).toMatch(/^<133>1 2026-12-06T10:00:00.000Z \S+ mumuka \d+ audit-anchor - /);
    expect(parseAnchors(message).anchors).toEqual([{ seq: 7, hash, ts: "2026-12-06T10:00:00.000Z", gateway: "gw1" }]);
  });
});
