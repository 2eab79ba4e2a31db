/**
 * The gateway's process-wide memory settings (docs/relay.md, "Memory"): the
 * Docker image and the systemd unit start it with the same NODE_OPTIONS (the
 * V8 young generation of the main and receiver threads) and MALLOC_ARENA_MAX,
 * which are also what the benchmarks run it with (bench/proc.ts
 * deployedEnvironment). Node.js refuses to start on an option NODE_OPTIONS
 * does not allow, so the options are also tried on this Node.js, and the
 * young generation they give is checked to be the one documented.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { deployedEnvironment } from "../../bench/proc.ts";

const REPO = path.resolve(import.meta.dirname, "../..");
const dockerfile = readFileSync(path.join(REPO, "Dockerfile"), "utf8");
const unit = deployedEnvironment(REPO);

/** the ENV lines of the Dockerfile's last stage (the image that runs) */
function imageEnvironment(): Record<string, string> {
  const last = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
  return Object.fromEntries([...last.matchAll(/^ENV (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!.replace(/^"(.*)"$/, "$1")]));
}

describe("heap sizing and malloc arenas as deployed", () => {
  it("the unit sets them, and the image sets the same", () => {
    expect(unit.NODE_OPTIONS).toMatch(/--max-semi-space-size=\d+/);
    expect(unit.MALLOC_ARENA_MAX).toBe("2");
    const image = imageEnvironment();
    expect({ NODE_OPTIONS: image.NODE_OPTIONS, MALLOC_ARENA_MAX: image.MALLOC_ARENA_MAX }).toEqual(unit);
  });

  it("Node.js starts with them, and a thread that allocates fast keeps a young generation of two 2 MiB semi-spaces", () => {
    const script = `
      let keep = [];
      for (let i = 0; i < 3e6; i++) { keep.push({ i, s: "x" + i }); if (keep.length > 20000) keep = []; }
      const v8 = require("node:v8");
      console.log(v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size);`;
    const run = (env: Record<string, string>) => spawnSync(process.execPath, ["-e", script], { env: { ...process.env, ...env }, encoding: "utf8" });
    const deployed = run(unit);
    expect(deployed.stderr).toBe("");
    // two 2 MiB semi-spaces are 4 MiB; V8 may hold a few pages more for a moment while a scavenge
    // promotes them (seen: 4.25–4.75 MiB on a loaded machine), far from the default's growth
    expect(Number(deployed.stdout)).toBeLessThan(8 * 1024 * 1024);
    // the check can fail: without the options the same loop grows the young generation past that (64 MiB here)
    expect(Number(run({ NODE_OPTIONS: "" }).stdout)).toBeGreaterThan(8 * 1024 * 1024);
  });
});
