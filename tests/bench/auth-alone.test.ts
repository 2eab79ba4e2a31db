/**
 * `npm run bench -- --auth-alone` (bench/auth-alone.ts) measures verification on its own: it must
 * keep working, and what it measures must be the passing path (every verdict DKIM pass and DMARC
 * pass, on the plain and on the realistic message), or it fails.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

const REPO = path.resolve(import.meta.dirname, "../..");

function authAlone(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ["bench/run.ts", "--auth-alone", "--messages", "20", ...args], { cwd: REPO, encoding: "utf8", timeout: 60_000 });
}

describe("bench --auth-alone", () => {
  it("measures passing verifications of the plain and the realistic message, one JSON line each", () => {
    for (const args of [[], ["--realistic", "--size", "20480"]]) {
      const r = authAlone(...args);
      expect(r.stderr).toMatch(/verification alone, .* µs of CPU per message/);
      expect(r.status).toBe(0);
      const line = JSON.parse(r.stdout.trim()) as { messages: number; rounds: number[]; cpuMicrosecondsPerMessage: number };
      expect(line.messages).toBe(20);
      expect(line.rounds).toHaveLength(3);
      expect(line.cpuMicrosecondsPerMessage).toBeGreaterThan(0);
    }
  }, 120_000);
});
