/**
 * The fixed-rate sender's schedule and figures (bench/pace.ts), on a virtual
 * clock: message i starts at i/rate whatever the earlier ones are doing, a
 * start that had to wait is seen as lag, and a run that lagged is not called
 * held. No wall-clock time is read.
 */
import { describe, expect, it } from "vitest";
import { matchLatencies, paceSummary, percentiles, queuedId, runPaced, type Sent } from "../../bench/pace.ts";

/** a discrete-event clock: timers fire in time order, each after the microtasks before it have run */
function virtualClock() {
  let t = 0;
  let seq = 0;
  const timers: { at: number; seq: number; fire: () => void }[] = [];
  const after = (ms: number) => new Promise<void>((fire) => timers.push({ at: t + Math.max(0, ms), seq: seq++, fire }));
  const settle = () => new Promise((r) => setImmediate(r));
  async function drive<T>(work: Promise<T>): Promise<T> {
    let finished = false;
    work.then(
      () => (finished = true),
      () => (finished = true),
    );
    for (;;) {
      await settle();
      if (finished) return work;
      timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = timers.shift();
      if (!next) throw new Error("deadlock: nothing left to wait for");
      t = next.at;
      next.fire();
    }
  }
  return { now: () => t, after, drive };
}

/** runs a paced schedule where message i's transaction takes took(i) ms; `lateSleep` adds to a sleep's length */
async function run(rate: number, count: number, sessions: number, took: (i: number) => number | Error, lateSleep: (call: number) => number = () => 0): Promise<Sent[]> {
  const clock = virtualClock();
  let sleeps = 0;
  return clock.drive(
    runPaced(rate, count, {
      now: clock.now,
      sleep: (ms) => clock.after(ms + lateSleep(sleeps++)),
      sessions: Array.from({ length: sessions }, (_, s) => s),
      async send(_session, i) {
        const t = took(i);
        await clock.after(t instanceof Error ? 1 : t);
        if (t instanceof Error) throw t;
        return `250 2.0.0 Ok: queued as ID${i}`;
      },
    }),
  );
}

describe("runPaced", () => {
  it("starts each message at i/rate when a session is free, and holds the rate", async () => {
    const sent = await run(100, 50, 4, () => 3);
    expect(sent.map((s) => s.start)).toEqual(sent.map((s) => s.i * 10));
    expect(sent.every((s) => s.done === s.start + 3 && s.reply === `250 2.0.0 Ok: queued as ID${s.i}`)).toBe(true);
    const summary = paceSummary(100, sent);
    expect(summary.held).toBe(true);
    expect(summary.achievedRate).toBeCloseTo(100, 6);
    expect(summary.lagMs.max).toBe(0);
    expect(summary.why).toBe("");
  });

  it("is open-loop: a slow transaction does not delay the messages after it while other sessions are free", async () => {
    const sent = await run(100, 20, 3, (i) => (i === 0 ? 150 : 2));
    expect(sent.map((s) => s.start)).toEqual(sent.map((s) => s.due));
    expect(sent[0]!.done).toBe(150);
    expect(paceSummary(100, sent).held).toBe(true);
  });

  it("overlaps transactions longer than the interval over several sessions without slipping", async () => {
    // 15 ms each at one per 10 ms: two sessions in turn keep up
    const sent = await run(100, 40, 2, () => 15);
    expect(sent.map((s) => s.start)).toEqual(sent.map((s) => s.due));
    expect(sent.some((s) => s.waitedForSession)).toBe(false);
  });

  it("starts late, and says so, when every session is busy at the due time", async () => {
    // one session, 25 ms per message, one due every 10 ms: the gateway cannot keep this rate on one session
    const sent = await run(100, 20, 1, () => 25);
    expect(sent[1]!.waitedForSession).toBe(true);
    expect(sent[1]!.start).toBe(25);
    expect(sent[19]!.start).toBe(19 * 25);
    const summary = paceSummary(100, sent);
    expect(summary.held).toBe(false);
    expect(summary.achievedRate).toBeCloseTo(40, 6);
    expect(summary.waitedForSession).toBe(19);
    expect(summary.why).toMatch(/below 97 %/);
    expect(summary.why).toMatch(/every session busy/);
  });

  it("counts a late timer (this process starved) as lag, not as busy sessions", async () => {
    // every tenth sleep overshoots by 80 ms: the rate barely moves, but 10 % of the starts are far off schedule
    const sent = await run(100, 100, 10, () => 2, (call) => (call % 10 === 5 ? 80 : 0));
    const summary = paceSummary(100, sent);
    expect(summary.waitedForSession).toBe(0);
    expect(summary.lagMs.max).toBeGreaterThanOrEqual(80);
    expect(summary.held).toBe(false);
    expect(summary.why).toMatch(/p99 schedule lag/);
    expect(summary.why).not.toMatch(/session busy/);
  });

  it("catches up after a late start without waiting again for messages already due", async () => {
    // the first sleep overshoots by 35 ms: messages 1–4 are then all due and go at once, on free sessions
    const sent = await run(100, 10, 8, () => 1, (call) => (call === 0 ? 35 : 0));
    expect(sent.slice(1, 5).map((s) => s.start)).toEqual([45, 45, 45, 45]);
    expect(sent.slice(5).map((s) => s.start)).toEqual([50, 60, 70, 80, 90]);
  });

  it("records a failed transaction and goes on with the schedule", async () => {
    const sent = await run(100, 10, 1, (i) => (i === 3 ? new Error("421 try again later") : 2));
    expect(sent[3]!.error).toBe("421 try again later");
    expect(sent[3]!.reply).toBeUndefined();
    expect(sent.filter((s) => s.reply !== undefined)).toHaveLength(9);
    expect(paceSummary(100, sent).errors).toBe(1);
  });

  it("refuses a rate that is not a positive number, and no sessions", async () => {
    const deps = { now: () => 0, sleep: async () => {}, sessions: [1], send: async () => "250" };
    await expect(runPaced(0, 1, deps)).rejects.toThrow(/positive/);
    await expect(runPaced(Number.NaN, 1, deps)).rejects.toThrow(/positive/);
    await expect(runPaced(10, 1, { ...deps, sessions: [] })).rejects.toThrow(/session/);
  });
});

describe("percentiles", () => {
  it("gives nearest-rank values of unsorted input, leaving it untouched", () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentiles(values)).toEqual({ count: 100, p50: 50, p90: 90, p99: 99, max: 100 });
    expect(values[0]).toBe(100);
  });

  it("takes the single value for every percentile of one, and nothing of none", () => {
    expect(percentiles([7])).toEqual({ count: 1, p50: 7, p90: 7, p99: 7, max: 7 });
    expect(percentiles([])).toBeUndefined();
  });

  it("lets a single slow message out of 1,000 show only in the max", () => {
    const p = percentiles([...Array.from({ length: 999 }, () => 5), 900])!;
    expect([p.p50, p.p99, p.max]).toEqual([5, 5, 900]);
  });
});

describe("queuedId and matchLatencies", () => {
  it("reads the audit id from mumuka's 250, and nothing from other replies", () => {
    expect(queuedId("250 2.0.0 Ok: queued as 01JF3K4M5N6P7Q8R9S")).toBe("01JF3K4M5N6P7Q8R9S");
    expect(queuedId("250 2.0.0 Ok")).toBeUndefined();
    expect(queuedId(undefined)).toBeUndefined();
  });

  it("pairs times by id and counts the ids without a delivery", () => {
    const sent = new Map([
      ["a", 1_000],
      ["b", 1_010],
      ["c", 1_020],
    ]);
    const delivered = new Map([
      ["a", 1_004],
      ["c", 1_050],
    ]);
    expect(matchLatencies(sent, delivered)).toEqual({ ms: [4, 30], unmatched: 1 });
  });
});
