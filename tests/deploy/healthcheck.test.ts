/**
 * bin/healthcheck.js, the image's HEALTHCHECK: healthy while the gateway
 * runs — through the admin console's /healthz, and through the SMTP greeting
 * when the console is turned off (the image's check used to fail then) —
 * and unhealthy once it has stopped or when the configuration is unreadable.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, repoRoot, spawnGateway, writeConfig } from "../helpers/relay-process.ts";

function healthcheck(config: string): { code: number | null; stdout: string } {
  const r = spawnSync(process.execPath, [path.join(repoRoot, "bin", "healthcheck.js"), config], { encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout };
}

describe("bin/healthcheck.js", () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  for (const admin of [true, false]) {
    it(`admin.enabled: ${admin} — healthy while the gateway runs, unhealthy after it stopped`, async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-health-"));
      dirs.push(dir);
      const config = await writeConfig(
        dir,
        `dataDir: ${dir}/data\nsmtp: { host: 0.0.0.0, port: ${await freePort()} }\nadmin: { enabled: ${admin}, host: 0.0.0.0, port: ${await freePort()} }\nlog: { format: json }\n`,
      );
      const g = await spawnGateway(config, { admin });
      try {
        const up = healthcheck(config);
        expect(up.stdout.trim()).toMatch(admin ? /^healthy: http:\/\/127\.0\.0\.1:\d+\/healthz → 200$/ : /^healthy: smtp 127\.0\.0\.1:\d+ → 220$/);
        expect(up.code).toBe(0);
      } finally {
        g.child.kill("SIGTERM");
        await g.exited;
      }
      const down = healthcheck(config);
      expect(down.stdout).toMatch(/^UNHEALTHY: .*ECONNREFUSED/);
      expect(down.code).toBe(1);
    });
  }

  it("an unreadable configuration is unhealthy, in one line", () => {
    const r = healthcheck(path.join(os.tmpdir(), "no-such-mumuka.yaml"));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^UNHEALTHY: .*no-such-mumuka\.yaml/);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
  });
});
