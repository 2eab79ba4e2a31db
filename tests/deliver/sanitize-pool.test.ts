import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { limitsSchema } from "../../src/config/schema.ts";
import { createSanitizePool, type SanitizePool } from "../../src/deliver/sanitize-pool.ts";
import type { RenderOptions } from "../../src/sanitize/sanitize-types.ts";
import { tempDir } from "../helpers/relay-helpers.ts";

const workerUrl = new URL("../helpers/relay-misbehaving-worker.ts", import.meta.url);
const limits = limitsSchema.parse({ maxTimeMs: 300 });
const pools: SanitizePool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.close();
});

async function job(name: string) {
  const dir = await tempDir("mumuka-pool-");
  const file = path.join(dir, name);
  await writeFile(file, "hello");
  return { file, offset: 0, length: 5, limits };
}

const render = () => ({ render: {} as RenderOptions, context: "ctx" });

describe("the sanitizer pool", () => {
  it("turns a hanging, crashing, throwing or memory-hungry message into a failure and keeps serving", async () => {
    const pool = createSanitizePool({ size: 2, workerUrl, graceMs: 200, maxOldGenerationSizeMb: 64 });
    pools.push(pool);
    const outcomes = await Promise.all(["a-hang", "b-crash", "c-throw", "d-oom"].map(async (n) => pool.run(await job(n), render)));
    expect(outcomes.map((o) => o.kind)).toEqual(["failed", "failed", "failed", "failed"]);
    expect((outcomes[0] as { reason: string }).reason).toMatch(/time budget/);
    expect((outcomes[3] as { reason: string }).reason).toMatch(/memory|exited|failed/);
    // the replaced workers still work
    const ok = await pool.run(await job("e-fine"), render);
    expect(ok.kind).toBe("rendered");
    expect(ok.kind === "rendered" && ok.message.toString()).toBe("hello");
  });

  it("stops after analysis when the decision says so", async () => {
    const pool = createSanitizePool({ size: 1, workerUrl });
    pools.push(pool);
    const outcome = await pool.run(await job("fine"), () => ({ stop: true, context: "held by rule" }));
    expect(outcome).toMatchObject({ kind: "stopped", context: "held by rule" });
  });
});
