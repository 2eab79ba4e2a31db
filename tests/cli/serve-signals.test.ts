/**
 * Stopping and reloading the gateway the documented ways:
 *  - `./run npm start` (npm start) stopped with SIGTERM: npm passes the signal
 *    to its script's shell, so the script must exec the gateway or the shell
 *    dies and the gateway runs on, orphaned;
 *  - a SIGHUP (systemctl reload) that arrives while the gateway is still
 *    starting (here: the admin console starts after the SMTP listener) is a
 *    reload once it is up, not Node's default action (death by SIGHUP).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const REPO = path.resolve(import.meta.dirname, "../..");
const dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-signals-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configFile(name: string, admin: boolean): string {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, `dataDir: ${path.join(dir, name)}\nsmtp: { port: 0 }\nadmin: { enabled: ${admin}, port: 0 }\nlog: { format: json }\n`);
  return file;
}

/** Node.js 24 and npm first on PATH, as ./run sets it up. */
const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ""}` };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves with the first JSON log line (stderr) that matches; rejects if the process ends first. */
function waitForLog(child: ChildProcess, msg: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buffer = "";
    let all = "";
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      all += chunk.toString("utf8");
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (!line.includes(msg)) continue;
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (parsed.msg === msg) {
            child.stderr!.off("data", onData);
            resolve(parsed);
            return;
          }
        } catch {
          // npm's own lines
        }
      }
    };
    child.stderr!.on("data", onData);
    child.once("exit", (code, signal) => reject(new Error(`exited (${code ?? signal}) before "${msg}":\n${all}`)));
  });
}

const exitOf = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));

describe("stopping and reloading the gateway", () => {
  it("npm start stopped with SIGTERM stops the gateway too (nothing left running)", async () => {
    const child = spawn("npm", ["start", "--", "--config", configFile("npm", false)], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
    const exited = exitOf(child);
    const listening = await waitForLog(child, "mumuka gateway listening");
    const gatewayPid = listening.pid as number;
    child.kill("SIGTERM"); // to npm alone, as `kill PID` or a supervisor sends it
    await waitForLog(child, "stopped");
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(alive(gatewayPid)).toBe(false);
  });

  it("a SIGHUP while the gateway is still starting reloads the rules once it is up", async () => {
    const child = spawn(process.execPath, ["src/cli.ts", "serve", "--config", configFile("hup", true)], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
    const exited = exitOf(child);
    await waitForLog(child, "mumuka gateway listening"); // the console is not up yet
    child.kill("SIGHUP");
    await waitForLog(child, "rules reloaded (SIGHUP)");
    child.kill("SIGTERM");
    expect(await exited).toEqual({ code: 0, signal: null });
  });
});
