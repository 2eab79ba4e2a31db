/**
 * deploy/mumuka.service as systemd itself reads it: `systemd-analyze verify`
 * accepts every line (it exits 0 even for an unknown key or a bad value, so
 * any message at all fails the test), and `systemd-analyze security
 * --offline` finds the hardening the issue asks of a security product in
 * force. verify insists that ExecStart's program exists, so the unit is
 * checked in a copy whose paths point at this checkout's Node.js and
 * bin/mumuka.js instead of /opt/mumuka; nothing else is changed.
 *
 * Skipped, saying so, where systemd-analyze is not installed; under CI=true that fails the
 * run instead (.ci/run installs it).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { requirement } from "../helpers/requirements.ts";

const REPO = path.resolve(import.meta.dirname, "../..");
const UNIT = path.join(REPO, "deploy", "mumuka.service");

const analyze = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" });
const missing = requirement("systemd-analyze", analyze.error ? "not installed (Debian: apt-get install systemd)" : undefined);

/** The unit with its /opt/mumuka paths pointed at this checkout (verify needs ExecStart's program to exist). */
function localCopy(dir: string, text = readFileSync(UNIT, "utf8")): string {
  const file = path.join(dir, "mumuka.service");
  writeFileSync(file, text.replaceAll("/opt/mumuka/.tools/node/bin/node", process.execPath).replaceAll("/opt/mumuka/bin/", `${REPO}/bin/`));
  return file;
}

function verify(file: string): { code: number | null; messages: string } {
  const r = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
  return { code: r.status, messages: `${r.stdout}${r.stderr}`.trim() };
}

describe.skipIf(missing !== "")("deploy/mumuka.service", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-unit-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is accepted by systemd-analyze verify without a single message", () => {
    expect(verify(localCopy(dir))).toEqual({ code: 0, messages: "" });
  });

  it("the check catches a unit systemd would only half apply", () => {
    const broken = readFileSync(UNIT, "utf8").replace("ProtectSystem=strict", "ProtectSystem=strictly");
    const other = mkdtempSync(path.join(dir, "broken-"));
    expect(verify(localCopy(other, broken)).messages).toMatch(/protect system/i);
  });

  it("starts the gateway from bin/mumuka.js with the configuration in /etc/mumuka and reloads by SIGHUP", () => {
    const text = readFileSync(UNIT, "utf8");
    expect(text).toMatch(/^ExecStart=\/opt\/mumuka\/\.tools\/node\/bin\/node \/opt\/mumuka\/bin\/mumuka\.js serve --config \/etc\/mumuka\/mumuka\.yaml$/m);
    expect(text).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    expect(text).toMatch(/^Restart=on-failure$/m);
  });

  it("has the hardening systemd's own security check looks for", () => {
    const out = execFileSync("systemd-analyze", ["security", "--offline=true", "--json=short", localCopy(dir)], { encoding: "utf8" });
    const checks = new Map((JSON.parse(out) as { name: string; set: boolean }[]).map((c) => [c.name, c.set]));
    const required = [
      "User=/DynamicUser=", // its own user, not root
      "NoNewPrivileges=",
      "PrivateTmp=",
      "ProtectSystem=",
      "ProtectHome=",
      "PrivateDevices=",
      "ProtectKernelTunables=",
      "ProtectKernelModules=",
      "RestrictSUIDSGID=",
      "CapabilityBoundingSet=~CAP_SYS_ADMIN",
      "CapabilityBoundingSet=~CAP_SET(UID|GID|PCAP)",
      "CapabilityBoundingSet=~CAP_(DAC_*|FOWNER|IPC_OWNER)",
      "CapabilityBoundingSet=~CAP_(CHOWN|FSETID|SETFCAP)",
      "SystemCallFilter=~@privileged",
      "RestrictNamespaces=~user",
    ];
    const notSet = required.filter((name) => checks.get(name) !== true);
    expect(notSet).toEqual([]);
    // the only capability left is binding port 25
    const text = readFileSync(UNIT, "utf8");
    expect(text).toMatch(/^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$/m);
    expect(text).toMatch(/^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
    // the data directory is the one writable path
    expect(text).toMatch(/^ProtectSystem=strict$/m);
    expect(text).toMatch(/^ReadWritePaths=\/var\/lib\/mumuka$/m);
  });

  it("scores OK (at most 2.0) on systemd's exposure scale", () => {
    const out = execFileSync("systemd-analyze", ["security", "--offline=true", localCopy(dir)], { encoding: "utf8" });
    const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(out)?.[1]);
    expect(score).toBeLessThanOrEqual(2.0);
  });
});
