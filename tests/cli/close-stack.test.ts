/**
 * The composition root's stack of stages (src/lib/close-stack.ts): closed last
 * first, every close tried even when one fails, a failed start closing what
 * was open before it and naming the stage that failed.
 */
import { describe, expect, it } from "vitest";
import { createCloseStack, StartError, type CloseFailure } from "../../src/lib/close-stack.ts";

const stage = (en: string) => ({ ja: en, en });

describe("the close stack", () => {
  it("closes in the reverse order of start, each close once, with the reason", async () => {
    const order: string[] = [];
    const stack = createCloseStack();
    for (const name of ["lock", "audit", "queue", "receiver"]) {
      await stack.start(stage(name), () => name, (value, reason) => void order.push(`${value}:${reason}`));
    }
    expect(await stack.closeAll("shutdown")).toEqual([]);
    await stack.closeAll("shutdown");
    expect(order).toEqual(["receiver:shutdown", "queue:shutdown", "audit:shutdown", "lock:shutdown"]);
  });

  it("a stage that fails to start: the ones before it are closed, it is named, nothing of its own is closed", async () => {
    const order: string[] = [];
    const stack = createCloseStack();
    await stack.start(stage("lock"), () => "lock", (_v, reason) => void order.push(`lock:${reason}`));
    await stack.start(stage("audit"), async () => "audit", async (_v, reason) => void order.push(`audit:${reason}`));
    const failing = stack.start(stage("listener"), async () => {
      throw Object.assign(new Error("listen EADDRINUSE: address already in use 127.0.0.1:25"), { code: "EADDRINUSE" });
    }, () => void order.push("listener"));
    const error = await failing.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StartError);
    expect(error).toMatchObject({ stage: { en: "listener" }, reason: "listen EADDRINUSE: address already in use 127.0.0.1:25", closeFailures: [] });
    expect(order).toEqual(["audit:start-failed", "lock:start-failed"]);
    // nothing starts on a stack that has been unwound
    await expect(stack.start(stage("late"), () => 1)).rejects.toThrow(/stopping/);
  });

  it("a close that fails does not stop the ones after it; the failure is reported", async () => {
    const order: string[] = [];
    const seen: CloseFailure[] = [];
    const stack = createCloseStack({ onCloseError: (f) => seen.push(f) });
    await stack.start(stage("lock"), () => 0, () => void order.push("lock"));
    await stack.start(stage("pool"), () => 0, () => {
      throw new Error("worker would not stop");
    });
    await stack.start(stage("queue"), () => 0, () => void order.push("queue"));
    const failures = await stack.closeAll("shutdown");
    expect(order).toEqual(["queue", "lock"]);
    expect(failures.map((f) => [f.stage.en, (f.error as Error).message])).toEqual([["pool", "worker would not stop"]]);
    expect(seen).toEqual(failures);
  });
});
