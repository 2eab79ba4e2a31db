import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { watchDataRate } from "../../src/receive/data-rate.ts";

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

let stall = 0; // ms the receiver's own thread "lost" (the clock moves, timers fire late)
const start = (minBytesPerSecond = 1000, windowMs = 1000) => {
  stall = 0;
  const tooSlow = vi.fn();
  const watch = watchDataRate({ windowMs, minBytesPerSecond, onTooSlow: tooSlow, now: () => Date.now() + stall });
  return { watch, tooSlow };
};

describe("the data rate floor", () => {
  it("cuts a client that sends less than the floor over a whole window, once", () => {
    const { watch, tooSlow } = start(1000, 1000);
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(100);
      watch.received(10); // 100 bytes a second against a floor of 1000
    }
    expect(tooSlow).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(5000);
    expect(tooSlow).toHaveBeenCalledTimes(1);
  });

  it("leaves a client at or above the floor alone, window after window", () => {
    const { watch, tooSlow } = start(1000, 1000);
    for (let i = 0; i < 100; i++) {
      vi.advanceTimersByTime(100);
      watch.received(120); // 1200 bytes a second
    }
    expect(tooSlow).not.toHaveBeenCalled();
    watch.stop();
  });

  it("does not count the time the receiver waited on its spool against the client", () => {
    const { watch, tooSlow } = start(1000, 1000);
    // 900 ms of the window the receiver is blocked on a slow fsync; the client sent 150 bytes in its 100 ms
    watch.received(150);
    watch.waiting(true);
    vi.advanceTimersByTime(900);
    watch.waiting(false);
    vi.advanceTimersByTime(100);
    expect(tooSlow).not.toHaveBeenCalled();
    // a later window of the client's own slowness is still judged
    vi.advanceTimersByTime(1000);
    expect(tooSlow).toHaveBeenCalledTimes(1);
  });

  it("does not judge a window whose check came late: our thread was stalled, the bytes may be unread", () => {
    const { watch, tooSlow } = start(1000, 1000);
    watch.received(10);
    stall = 2000; // the interval fires at 1000 on the fake clock, but 3000 ms have passed for the watch
    vi.advanceTimersByTime(1000);
    expect(tooSlow).not.toHaveBeenCalled();
    watch.stop();
  });

  it("stops judging once stopped (the message ended)", () => {
    const { watch, tooSlow } = start();
    watch.stop();
    vi.advanceTimersByTime(10_000);
    expect(tooSlow).not.toHaveBeenCalled();
  });
});
