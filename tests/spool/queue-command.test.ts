import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { newAuditId } from "../../src/lib/ids.ts";
import { openSpool } from "../../src/spool/spool.ts";
import { tempDir } from "../helpers/relay-helpers.ts";
import { repoRoot, writeConfig } from "../helpers/relay-process.ts";

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["src/cli.ts", ...args], { cwd: repoRoot });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("mumuka queue", () => {
  it("lists, holds, shows and releases a message in the spool, and refuses unknown ids", async () => {
    const dir = await tempDir("mumuka-qcli-");
    const config = await writeConfig(dir, `dataDir: ${dir}/data\nlog: { level: warn, format: json }\n`);
    const spool = await openSpool(`${dir}/data`);
    const id = newAuditId();
    const w = await spool.create({
      v: 1,
      id,
      receivedAt: new Date().toISOString(),
      mailFrom: "sender@example.com",
      rcptTo: ["staff@city.example.lg.jp"],
      clientAddress: "127.0.0.1",
      clientHelo: "mx",
      protocol: "ESMTP",
      smtputf8: false,
    });
    await w.write(Buffer.from("Subject: x\r\n\r\nbody\r\n"));
    await w.commit();

    const list = await run(["queue", "list", "--config", config]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(id);
    expect(list.stdout).toMatch(/incoming .*sender@example\.com → staff@city\.example\.lg\.jp/);

    expect((await run(["queue", "hold", id, "--reason", "look at it", "--config", config])).code).toBe(0);
    const show = await run(["queue", "show", id, "--config", config]);
    expect(JSON.parse(show.stdout)).toMatchObject({ id, state: "held", holdReason: expect.stringMatching(/^held by cli:\S+: look at it$/) });

    expect((await run(["queue", "release", id, "--config", config])).code).toBe(0);
    expect(await spool.locate(id)).toBe("incoming");

    const missing = await run(["queue", "show", newAuditId(), "--config", config]);
    expect(missing.code).toBe(3);
    const bad = await run(["queue", "show", "../../etc/passwd", "--config", config]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/not a queue id/);
  });
});
