/**
 * The Docker image's built-in configuration, as the Dockerfile writes it, is
 * right for a first `docker run -p 25:2525`: a published port reaches the
 * container from the Docker bridge (172.17.0.1 on the default bridge, other
 * 172.16/12 or 10/8 networks on user-defined ones), which must be admitted;
 * a public address must not be. The health check is the script that follows
 * the configuration (tests/deploy/healthcheck.test.ts). No Docker needed: the
 * printf lines are read out of the Dockerfile and loaded as the image would.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.ts";
import { clientAllowList } from "../../src/receive/client-policy.ts";

const REPO = path.resolve(import.meta.dirname, "../..");
const dockerfile = readFileSync(path.join(REPO, "Dockerfile"), "utf8");

/** The lines of the `printf '%s\n' '…' '…' > /etc/mumuka/mumuka.yaml` of the Dockerfile. */
function builtInConfig(): string {
  const block = /printf '%s\\n' \\\n([\s\S]*?) > \/etc\/mumuka\/mumuka\.yaml/.exec(dockerfile);
  if (!block) throw new Error("no printf … > /etc/mumuka/mumuka.yaml in the Dockerfile");
  return [...block[1]!.matchAll(/'([^']*)'/g)].map((m) => m[1]).join("\n") + "\n";
}

describe("the Docker image's built-in configuration", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-docker-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "mumuka.yaml");
  writeFileSync(file, builtInConfig());
  const config = loadConfig(file);

  it("listens on 2525 on every interface, the console on 8025, data in the volume", () => {
    expect(config.smtp).toMatchObject({ host: "0.0.0.0", port: 2525 });
    expect(config.admin).toMatchObject({ enabled: true, host: "0.0.0.0", port: 8025 });
    expect(config.dataDir).toBe("/var/lib/mumuka");
    expect(config.delivery.mode).toBe("directory"); // nothing leaves the container on a first try
    expect(dockerfile).toMatch(/^EXPOSE 2525 8025$/m);
    expect(dockerfile).toMatch(/^VOLUME \["\/var\/lib\/mumuka"\]$/m);
  });

  it("admits a connection through a published port (the bridge) and refuses a public address", () => {
    const allowed = clientAllowList(config.smtp.clients);
    for (const bridge of ["172.17.0.1", "172.18.0.1", "10.0.2.2", "192.168.65.1", "127.0.0.1", "::ffff:172.17.0.1"]) expect([bridge, allowed(bridge)]).toEqual([bridge, true]);
    for (const outside of ["203.0.113.5", "8.8.8.8", "2001:db8::1"]) expect([outside, allowed(outside)]).toEqual([outside, false]);
  });

  it("the health check runs bin/healthcheck.js, which reads the same configuration", () => {
    expect(dockerfile).toMatch(/^HEALTHCHECK [^\n]*\\\n\s+CMD \["node", "bin\/healthcheck\.js"\]$/m);
    expect(dockerfile).toMatch(/^ENV MUMUKA_CONFIG=\/etc\/mumuka\/mumuka\.yaml$/m);
    expect(dockerfile).toMatch(/^CMD \["serve", "--config", "\/etc\/mumuka\/mumuka\.yaml"\]$/m);
    expect(existsSync(path.join(REPO, "bin", "healthcheck.js"))).toBe(true);
    // the build stage compiles dist/ (npm ci no longer does: there is no prepare script)
    expect(dockerfile).toMatch(/npm ci [^\n]*&& npm run build/);
  });
});
