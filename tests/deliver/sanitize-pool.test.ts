import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { limitsSchema } from "../../src/config/schema.ts";
import { createSanitizePool, type SanitizePool } from "../../src/sanitize-pool/index.ts";
import type { RenderOptions } from "../../src/sanitize/sanitize-types.ts";
import { tempDir } from "../helpers/relay-helpers.ts";
import { checkSanitized } from "../helpers/invariant.ts";
import { testOptions } from "../helpers/options.ts";

const workerUrl = new URL("../helpers/relay-misbehaving-worker.ts", import.meta.url);
const limits = limitsSchema.parse({ maxTimeMs: 300 });
const pools: SanitizePool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.close();
});

async function job(name: string, jobLimits = limits) {
  const dir = await tempDir("mumuka-pool-");
  const file = path.join(dir, name);
  await writeFile(file, "hello");
  return { file, offset: 0, length: 5, limits: jobLimits };
}

const render = () => ({ render: {} as RenderOptions, context: "ctx" });

describe("the sanitizer pool", () => {
  it("turns a hanging, crashing or throwing message into a failure and keeps serving", async () => {
    const pool = createSanitizePool({ size: 2, workerUrl, graceMs: 200 });
    pools.push(pool);
    // a generous budget for crash/throw, so a slow worker start on a busy machine is not mistaken for a hang
    const roomy = limitsSchema.parse({ maxTimeMs: 30_000 });
    const outcomes = await Promise.all([
      pool.run(await job("a-hang"), render),
      pool.run(await job("b-crash", roomy), render),
      pool.run(await job("c-throw", roomy), render),
    ]);
    expect(outcomes.map((o) => o.kind)).toEqual(["failed", "failed", "failed"]);
    expect((outcomes[0] as { reason: string }).reason).toMatch(/time budget/);
    expect((outcomes[1] as { reason: string }).reason).toMatch(/exited \(code 7\)/);
    expect((outcomes[2] as { reason: string }).reason).toMatch(/boom/);
    // the replaced workers still work
    const ok = await pool.run(await job("e-fine", roomy), render);
    expect(ok.kind).toBe("rendered");
    expect(ok.kind === "rendered" && ok.message.toString()).toBe("hello");
  });

  it("turns a worker running out of its heap into a failure, not a crash of the gateway", async () => {
    const pool = createSanitizePool({ size: 1, workerUrl, maxOldGenerationSizeMb: 32 });
    pools.push(pool);
    const outcome = await pool.run(await job("oom", limitsSchema.parse({ maxTimeMs: 60_000 })), render);
    expect(outcome).toMatchObject({ kind: "failed", reason: expect.stringMatching(/out of memory/) });
    expect((await pool.run(await job("fine"), render)).kind).toBe("rendered");
  });

  it("hands back large sanitized messages whole, one after another (the worker moves their memory, not a copy)", async () => {
    const pool = createSanitizePool({ size: 1 });
    pools.push(pool);
    const { limits: testLimits, signal: _signal, ...renderOptions } = testOptions();
    const dir = await tempDir("mumuka-pool-");
    for (const n of [1, 2]) {
      const body = `${n}番目のメールの本文です。\n`.repeat(20_000);
      const raw = Buffer.from(`From: a@example.com\nTo: b@example.jp\nSubject: big ${n}\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n${body}`);
      const file = path.join(dir, `big-${n}`);
      await writeFile(file, raw);
      const outcome = await pool.run({ file, offset: 0, length: raw.length, limits: testLimits }, () => ({ render: renderOptions, context: n }));
      expect(outcome.kind).toBe("rendered");
      if (outcome.kind !== "rendered") return;
      expect(outcome.message.length).toBeGreaterThan(500_000);
      const { view } = await checkSanitized({ message: outcome.message, report: outcome.report } as never);
      expect(view?.text.split(`${n}番目のメールの本文です。`).length).toBe(20_001);
    }
  }, 60_000);

  it("stops after analysis when the decision says so", async () => {
    const pool = createSanitizePool({ size: 1, workerUrl });
    pools.push(pool);
    const outcome = await pool.run(await job("fine"), () => ({ stop: true, context: "held by rule" }));
    expect(outcome).toMatchObject({ kind: "stopped", context: "held by rule" });
  });
});
