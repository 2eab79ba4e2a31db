/**
 * The writer's promises to the relay: record() returns at once and never
 * throws; batches go out when full without waiting for the timer; a store
 * that fails loses nothing — events wait in memory, past the bound they go to
 * a spill file, and everything reaches the store in the order recorded once
 * it is back, also across a restart.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createAuditLog } from "../../src/audit/audit-log.ts";
import type { AuditStore } from "../../src/audit/audit-store.ts";
import { openSqliteStore } from "../../src/audit/sqlite-store.ts";
import { memoryLogger, quietLogger } from "./backends.ts";

/** A real SQLite store that can be switched off: append fails while `down`. */
function flakyStore(file: string): AuditStore & { down: boolean; attempts: number } {
  const real = openSqliteStore({ file });
  const flaky = Object.assign(Object.create(null) as object, real, {
    down: false,
    attempts: 0,
    async append(pending: Parameters<AuditStore["append"]>[0]) {
      flaky.attempts += 1;
      if (flaky.down) throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
      return real.append(pending);
    },
  });
  return flaky as AuditStore & { down: boolean; attempts: number };
}

describe("the audit writer", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-writer-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const waitFor = async (check: () => Promise<boolean>, ms = 3000): Promise<void> => {
    const end = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > end) throw new Error("timed out");
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it("writes a full batch at once, without waiting for the flush interval", async () => {
    const store = openSqliteStore({ file: path.join(dir, "a.sqlite") });
    const log = createAuditLog({ store, config: { flushMs: 60_000, batchSize: 5, maxQueueEvents: 100 }, gateway: "g", logger: quietLogger(), spillDir: false });
    for (let i = 0; i < 5; i += 1) log.record({ type: "admin", data: { i } });
    await waitFor(async () => (await store.eventsAfter(0, 10)).length === 5, 2000);
    await log.close();
  });

  it("calls afterStored back once the batch holding the events is stored, without writing that batch early", async () => {
    const real = openSqliteStore({ file: path.join(dir, "a.sqlite") });
    const batches: number[] = [];
    let storedWhenCalled = -1;
    const store = Object.assign(Object.create(null) as object, real, {
      async append(pending: Parameters<AuditStore["append"]>[0]) {
        const out = await real.append(pending);
        batches.push(pending.length);
        return out;
      },
    }) as AuditStore;
    // an hour's window: only a full batch (3) is written, so the hook cannot have hurried it
    const log = createAuditLog({ store, config: { flushMs: 3_600_000, batchSize: 3, maxQueueEvents: 100 }, gateway: "g", logger: quietLogger(), spillDir: false });
    log.record({ type: "admin", data: { i: 1 } });
    log.record({ type: "admin", data: { i: 2 } });
    const called = new Promise<void>((resolve) =>
      log.afterStored!(() => {
        void real.eventsAfter(0, 10).then((e) => {
          storedWhenCalled = e.length;
          resolve();
        });
      }),
    );
    expect(batches).toEqual([]);
    log.record({ type: "admin", data: { i: 3 } });
    await called;
    expect(batches).toEqual([3]);
    expect(storedWhenCalled).toBe(3);
    // nothing waiting: called back at once
    await new Promise<void>((resolve) => log.afterStored!(resolve));
    await log.close();
  });

  it("keeps every event through an outage longer than its queue, in order, spilling to a private file", async () => {
    const store = flakyStore(path.join(dir, "a.sqlite"));
    store.down = true;
    const spillDir = path.join(dir, "spill");
    const mem = memoryLogger("warn");
    let lag = -1;
    const log = createAuditLog({
      store,
      config: { flushMs: 5, batchSize: 4, maxQueueEvents: 10 },
      gateway: "g",
      logger: mem.logger,
      metrics: { auditLag: { set: (v: number) => void (lag = v) } as never },
      spillDir,
    });
    for (let i = 0; i < 50; i += 1) expect(() => log.record({ type: "admin", data: { i } })).not.toThrow();
    // wait for the outcome (a failed attempt and the spill), not for a number of milliseconds
    await waitFor(async () => lag === 50 && store.attempts > 0 && readdirSync(spillDir).some((n) => n.endsWith(".jsonl")));
    expect(lag).toBe(50);
    expect(store.attempts).toBeGreaterThan(0);
    const spilled = readdirSync(spillDir).filter((n) => n.endsWith(".jsonl"));
    expect(spilled).toHaveLength(1);
    expect(statSync(path.join(spillDir, spilled[0]!)).mode & 0o777).toBe(0o600);
    const levels = mem.lines().map((l) => [l.level, l.msg]);
    expect(levels.some(([lvl, msg]) => lvl === 50 && String(msg).includes("spilling"))).toBe(true);
    expect(levels.some(([lvl, msg]) => lvl === 50 && String(msg).includes("FAILED"))).toBe(true);

    store.down = false;
    await log.flush();
    expect(lag).toBe(0);
    const stored = await store.eventsAfter(0, 100);
    expect(stored.map((e) => e.data.i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(readdirSync(spillDir)).toEqual([]);
    expect(await log.verify()).toMatchObject({ ok: true, checked: 50 });
    await log.close();
  });

  it("backs off during an outage however busy the relay is, instead of retrying per event", async () => {
    const store = flakyStore(path.join(dir, "a.sqlite"));
    store.down = true;
    // the clock is the test's: 160 steps of 5 ms with 50 events each, 0.8 s of relay time
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const log = createAuditLog({ store, config: { flushMs: 5, batchSize: 10, maxQueueEvents: 100_000 }, gateway: "g", logger: quietLogger(), spillDir: false });
    let n = 0;
    try {
      for (let step = 0; step < 160; step += 1) {
        for (let i = 0; i < 50; i += 1) log.record({ type: "admin", data: { n: n++ } });
        await vi.advanceTimersByTimeAsync(5);
      }
    } finally {
      vi.useRealTimers();
    }
    // backoff 100, 200, 400 ms … : a handful of attempts in 0.8 s, not one per event (8,000 here)
    expect(n).toBe(8000);
    expect(store.attempts).toBeGreaterThanOrEqual(3);
    expect(store.attempts).toBeLessThanOrEqual(6);
    store.down = false;
    await log.flush();
    expect((await store.eventsAfter(0, 100_000)).length).toBe(n);
    await log.close();
  });

  it("spills what it could not store at close, and stores it at the next start", async () => {
    const file = path.join(dir, "a.sqlite");
    const spillDir = path.join(dir, "spill");
    const store = flakyStore(file);
    store.down = true;
    const first = createAuditLog({ store, config: { flushMs: 5, batchSize: 100, maxQueueEvents: 1000 }, gateway: "g", logger: quietLogger(), spillDir });
    for (let i = 0; i < 5; i += 1) first.record({ type: "admin", data: { i } });
    await first.close(); // gives up on the store after a few seconds
    expect(readdirSync(spillDir).filter((n) => n.endsWith(".jsonl"))).toHaveLength(1);

    const store2 = openSqliteStore({ file });
    const second = createAuditLog({ store: store2, config: { flushMs: 5, batchSize: 100, maxQueueEvents: 1000 }, gateway: "g", logger: quietLogger(), spillDir });
    second.record({ type: "admin", data: { i: 5 } });
    await second.flush();
    expect((await store2.eventsAfter(0, 100)).map((e) => e.data.i)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(readdirSync(spillDir)).toEqual([]);
    await second.close();
  }, 20_000);

  it("says so when it cannot keep events at close and has nowhere to spill (a CLI)", async () => {
    const store = flakyStore(path.join(dir, "a.sqlite"));
    store.down = true;
    const log = createAuditLog({ store, config: { flushMs: 5, batchSize: 100, maxQueueEvents: 1000 }, gateway: "g", logger: quietLogger(), spillDir: false });
    log.record({ type: "original-retrieved", auditId: "x", actor: "cli:root", data: {} });
    await expect(log.close()).rejects.toThrow(/could not be stored/);
  }, 20_000);
});

describe("scheduled retention", () => {
  it("purges old events and originals on schedule, and a failure neither throws nor stops the schedule", async () => {
    const { startRetention } = await import("../../src/audit/retention.ts");
    const calls: string[] = [];
    let failOnce = true;
    const stop = startRetention({
      audit: {
        purge: async (before, actor) => {
          calls.push(`events<${before.toISOString()} by ${actor}`);
          if (failOnce) {
            failOnce = false;
            throw new Error("database is locked");
          }
          return { removed: 3 };
        },
      },
      originals: { purge: async () => (calls.push("originals"), 2) },
      config: { audit: { retentionDays: 365 } },
      logger: quietLogger(),
      now: () => new Date("2026-11-26T00:00:00Z"),
      firstRunDelayMs: 1,
      intervalMs: 20,
    });
    await new Promise((r) => setTimeout(r, 120));
    stop();
    expect(calls[0]).toBe("events<2025-11-26T00:00:00.000Z by gateway");
    expect(calls.filter((c) => c === "originals").length).toBeGreaterThanOrEqual(2); // ran again after the failure
  });
});
