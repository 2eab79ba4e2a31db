/**
 * The audit writer's spill keeps each message's story in the order it was
 * recorded (R2 #7), and a replay that a crash interrupts stores nothing twice:
 *  - an outage that ends in a shutdown leaves the queued (older) events and the
 *    spilled (newer) ones in two files; the next start must store the older
 *    first, also when the clock stepped back in between (NTP) or both files
 *    began in the same millisecond. Before, the files were named by the clock
 *    and a message's `delivered` was stored before its `received` (the search
 *    then showed it as only received);
 *  - a spill write that comes up short (a full disk) must not leave half a line
 *    for the next line to be glued onto, nor put the event ahead of older ones;
 *  - a process that died after a replayed batch was stored, before it wrote
 *    its progress, must not store that batch again at the next start.
 */
import { spawn } from "node:child_process";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PendingEvent } from "../../src/audit/audit-fns.ts";
import { createAuditLog } from "../../src/audit/audit-log.ts";
import type { AuditStore } from "../../src/audit/audit-store.ts";
import { openSqliteStore } from "../../src/audit/sqlite-store.ts";
import { quietLogger } from "./backends.ts";

/** A real SQLite store whose appends fail while `down` (a database that is unreachable). */
function flakyStore(file: string): AuditStore & { down: boolean } {
  const real = openSqliteStore({ file });
  const flaky = Object.assign(Object.create(null) as object, real, {
    down: false,
    async append(pending: Parameters<AuditStore["append"]>[0]) {
      if (flaky.down) throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
      return real.append(pending);
    },
  });
  return flaky as AuditStore & { down: boolean };
}

const ID = "20261201T010005-abcdef";
const received = { type: "received" as const, auditId: ID, actor: "gateway", data: { mailFrom: "a@example.jp", rcptTo: ["b@lg.example.jp"], size: 10 } };
const sanitized = { type: "sanitized" as const, auditId: ID, actor: "gateway", data: { attachmentsRemoved: 0 } };
const delivered = { type: "delivered" as const, auditId: ID, actor: "gateway", data: { rcpt: "b@lg.example.jp" } };

describe("the audit spill keeps each message's order", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-spill-order-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const config = { flushMs: 5, batchSize: 100, maxQueueEvents: 2 };

  /** Records a message's story through an outage that lasts until close, with the clock doing `step` after the queue filled. */
  async function outageUntilClose(step: (t: number) => number): Promise<void> {
    const store = flakyStore(path.join(dir, "audit.sqlite"));
    store.down = true;
    let t = Date.parse("2026-12-01T01:00:05.000Z");
    const log = createAuditLog({ store, config, gateway: "g", logger: quietLogger(), spillDir: path.join(dir, "spill"), now: () => new Date(t) });
    log.record(received); // queued
    log.record(sanitized); // queued: the queue is full
    t = step(t);
    log.record(delivered); // spilled
    await log.close({ waitMs: 0 });
  }

  async function storyAfterRestart(): Promise<{ types: string[]; status: string | undefined; ok: boolean }> {
    const store = openSqliteStore({ file: path.join(dir, "audit.sqlite") });
    const log = createAuditLog({ store, config, gateway: "g", logger: quietLogger(), spillDir: path.join(dir, "spill") });
    await log.flush();
    const types = (await store.story(ID)).map((e) => e.type);
    const [summary] = await store.summaries([ID]);
    const ok = (await log.verify()).ok;
    await log.close();
    expect(readdirSync(path.join(dir, "spill"))).toEqual([]);
    return { types, status: summary?.status, ok };
  }

  it("when the clock steps back during the outage (NTP)", async () => {
    await outageUntilClose((t) => t - 5_000);
    expect(await storyAfterRestart()).toEqual({ types: ["received", "sanitized", "delivered"], status: "delivered", ok: true });
  });

  it("when the queue and the spill began in the same millisecond", async () => {
    await outageUntilClose((t) => t);
    expect(await storyAfterRestart()).toEqual({ types: ["received", "sanitized", "delivered"], status: "delivered", ok: true });
  });

  it("across restarts, when the next run's clock is behind the spill files it found", async () => {
    // run 1: received and sanitized spilled at close (its clock an hour ahead)
    const store = flakyStore(path.join(dir, "audit.sqlite"));
    store.down = true;
    const ahead = createAuditLog({ store, config, gateway: "g", logger: quietLogger(), spillDir: path.join(dir, "spill"), now: () => new Date("2026-12-01T02:00:00.000Z") });
    ahead.record(received);
    ahead.record(sanitized);
    await ahead.close({ waitMs: 0 });
    // run 2, the clock corrected: the store still down, the delivery spilled too
    const store2 = flakyStore(path.join(dir, "audit.sqlite"));
    store2.down = true;
    const behind = createAuditLog({ store: store2, config, gateway: "g", logger: quietLogger(), spillDir: path.join(dir, "spill"), now: () => new Date("2026-12-01T01:00:00.000Z") });
    behind.record(delivered);
    await behind.close({ waitMs: 0 });
    expect(await storyAfterRestart()).toEqual({ types: ["received", "sanitized", "delivered"], status: "delivered", ok: true });
  });
});

describe("a spill file that cannot take a whole line (a full disk)", () => {
  it("cuts the short line back and keeps the event in memory after the file: nothing lost, order kept", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-spill-full-"));
    try {
      const child = spawn("bash", ["-c", 'ulimit -f 1; exec "$0" "$@"', process.execPath, path.join(import.meta.dirname, "../helpers/audit-spill-child.ts"), path.join(dir, "spill")], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
      child.stderr.on("data", (c: Buffer) => (err += c.toString("utf8")));
      const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
      expect({ code, err }).toEqual({ code: 0, err: "" });
      expect(JSON.parse(out)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("a replay that a crash interrupted", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-spill-crash-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const event = (input: Omit<PendingEvent, "ts" | "gateway">, second: number): PendingEvent => ({
    ...input,
    ts: new Date(Date.UTC(2026, 11, 1, 1, 0, second)).toISOString(),
    gateway: "g",
  });
  const story: PendingEvent[] = [
    event(received, 0),
    event(sanitized, 1),
    event({ type: "delivery-attempt", auditId: ID, actor: "gateway", data: { n: 1, reply: "451 try later" } }, 2),
    event({ type: "deferred", auditId: ID, actor: "gateway", data: { n: 1 } }, 2),
    event({ type: "delivery-attempt", auditId: ID, actor: "gateway", data: { n: 2, reply: "250 ok" } }, 3),
    event(delivered, 3),
    event({ type: "admin", actor: "root", data: { action: "note" } }, 4),
  ];

  /** The spill file an earlier process left, and the store as that process left it: `storedBatches` batches of 3 stored, progress written for `doneLines`. */
  async function crashedDuringReplay(storedBatches: number, doneLines: number): Promise<void> {
    const spill = path.join(dir, "spill");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(spill, { recursive: true });
    const file = path.join(spill, "001796000000000-4242.jsonl");
    writeFileSync(file, story.map((e) => `${JSON.stringify(e)}\n`).join(""));
    if (doneLines > 0) writeFileSync(`${file}.done`, String(doneLines));
    const store = openSqliteStore({ file: path.join(dir, "audit.sqlite") });
    for (let b = 0; b < storedBatches; b++) await store.append(story.slice(b * 3, b * 3 + 3));
    await store.close();
  }

  async function afterRestart(batchSize: number): Promise<string[]> {
    const store = openSqliteStore({ file: path.join(dir, "audit.sqlite") });
    const log = createAuditLog({ store, config: { flushMs: 5, batchSize, maxQueueEvents: 100 }, gateway: "g", logger: quietLogger(), spillDir: path.join(dir, "spill") });
    await log.flush();
    expect(await log.verify()).toMatchObject({ ok: true });
    const all = (await store.eventsAfter(0, 100)).map((e) => `${e.type}${e.data.n !== undefined ? `#${e.data.n}` : ""}`);
    await log.close();
    expect(readdirSync(path.join(dir, "spill"))).toEqual([]);
    return all;
  }

  const whole = ["received", "sanitized", "delivery-attempt#1", "deferred#1", "delivery-attempt#2", "delivered", "admin"];

  it("after the first batch was stored and before its progress was written: stores the rest once", async () => {
    await crashedDuringReplay(1, 0);
    expect(await afterRestart(3)).toEqual(whole);
  });

  it("after a later batch, with the progress of the one before it written", async () => {
    await crashedDuringReplay(2, 3);
    expect(await afterRestart(3)).toEqual(whole);
  });

  it("with a smaller batch size configured since (the stored part spans two new batches)", async () => {
    await crashedDuringReplay(2, 0);
    expect(await afterRestart(2)).toEqual(whole);
  });

  it("before anything of it was stored: stores all of it", async () => {
    await crashedDuringReplay(0, 0);
    expect(await afterRestart(3)).toEqual(whole);
  });
});
