import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { lockSpool } from "../../src/spool/spool-lock.ts";
import { tempDir } from "../helpers/relay-helpers.ts";
import { spawnGateway, writeConfig } from "../helpers/relay-process.ts";
import { runCli } from "../helpers/run-cli.ts";

const LOCK_MODULE = path.resolve(import.meta.dirname, "../../src/spool/spool-lock.ts");

/** a child process that takes the lock as a gateway would, says its pid, and keeps running */
const holderScript = (dir: string) =>
  `import { lockSpool } from ${JSON.stringify(LOCK_MODULE)};
   await lockSpool(${JSON.stringify(dir)}, { waitMs: 0 });
   process.stdout.write("locked " + process.pid + "\\n");
   setInterval(() => {}, 60000);`;

const children: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
});

/** resolves with the pid the holder reports once it holds the lock */
function lockedPid(child: ChildProcessWithoutNullStreams): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /locked (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.on("exit", (code) => reject(new Error(`holder exited (${code}) before locking: ${err}`)));
  });
}

function startHolder(dir: string): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, ["--input-type=module", "-e", holderScript(dir)]);
  children.push(child);
  return child;
}

async function processState(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  // the state follows the command name in parentheses, which may itself hold spaces
  return stat?.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
}

describe("the spool lock", () => {
  it("refuses a second gateway while the first one lives, naming its pid", async () => {
    const dir = await tempDir("mumuka-lock-");
    const holder = startHolder(dir);
    const pid = await lockedPid(holder);
    await expect(lockSpool(dir, { waitMs: 100 })).rejects.toMatchObject({ code: "ELOCKED", message: expect.stringContaining(`pid ${pid}`) });
  });

  it("refuses a second lock in the same process, and is free again after release", async () => {
    const dir = await tempDir("mumuka-lock-");
    const lock = await lockSpool(dir);
    await expect(lockSpool(dir, { waitMs: 0 })).rejects.toMatchObject({ code: "ELOCKED", message: expect.stringContaining(`pid ${process.pid}`) });
    await lock.release();
    const again = await lockSpool(dir, { waitMs: 0 });
    await again.release();
  });

  it("is taken at once after the holder is SIGKILLed, before anyone has reaped it", async () => {
    const dir = await tempDir("mumuka-lock-");
    const holder = startHolder(dir);
    await lockedPid(holder);
    holder.kill("SIGKILL");
    // no waiting for "exit": this is the restart a supervisor does right after the crash
    const lock = await lockSpool(dir);
    expect((await readFile(`${dir}/gateway.pid`, "utf8")).trim()).toBe(String(process.pid));
    await lock.release();
  });

  it("is taken from a zombie: a killed holder that its parent never reaps", async () => {
    const dir = await tempDir("mumuka-lock-");
    // the holder runs in the background of a shell that then becomes `sleep`, which never wait()s
    const script = holderScript(dir).replaceAll("'", "'\\''");
    const parent = spawn("sh", ["-c", `'${process.execPath}' --input-type=module -e '${script}' & exec sleep 60`]);
    children.push(parent);
    const pid = await lockedPid(parent);
    process.kill(pid, "SIGKILL");
    while ((await processState(pid)) !== "Z") await new Promise((r) => setTimeout(r, 20));
    // a zombie stays a zombie (kill(pid, 0) succeeds for it for as long as `sleep` lives); its lock
    // goes when its last thread has closed the files, a moment after the leader shows Z: the default wait covers that
    const lock = await lockSpool(dir);
    await lock.release();
  });

  it("is taken over from a lock file naming a live unrelated process (a pid reused after a reboot)", async () => {
    const dir = await tempDir("mumuka-lock-");
    // the previous format (gateway.lock) and the present one (gateway.pid) both name a live process
    // that is not a gateway: this test's parent
    await writeFile(`${dir}/gateway.lock`, `${process.ppid}\n`);
    await writeFile(`${dir}/gateway.pid`, `${process.ppid}\n`);
    const lock = await lockSpool(dir, { waitMs: 0 });
    expect((await readFile(`${dir}/gateway.pid`, "utf8")).trim()).toBe(String(process.pid));
    await lock.release();
  });

  it("is taken over from a lock file naming a dead process", async () => {
    const dir = await tempDir("mumuka-lock-");
    const gone = spawn(process.execPath, ["-e", ""]);
    await new Promise((r) => gone.once("exit", r));
    await writeFile(`${dir}/gateway.lock`, `${gone.pid}\n`);
    await writeFile(`${dir}/gateway.pid`, `${gone.pid}\n`);
    const lock = await lockSpool(dir, { waitMs: 0 });
    await lock.release();
  });

  it("mumuka serve: a second gateway on the spool is refused in one line; a restart right after kill -9 is not", async () => {
    const dir = await tempDir("mumuka-lock-");
    const config = await writeConfig(dir, `dataDir: ${dir}/data\nsmtp: { port: 0 }\nadmin: { enabled: false }\nlog: { level: info, format: json }\n`);
    const first = await spawnGateway(config);
    children.push(first.child as ChildProcessWithoutNullStreams);
    const second = await runCli(["serve", "-c", config]);
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(
      `mumuka: 起動できません(スプールのロック)/ cannot start the spool lock: another gateway (pid ${first.child.pid}) is using the spool ${dir}/data/spool (ELOCKED); ` +
        "設定 / see: dataDir; 起動済みの部分は閉じました / what had started was closed\n",
    );
    first.child.kill("SIGKILL");
    // the supervisor's restart, without waiting for the dead one to be reaped
    const restarted = await spawnGateway(config);
    children.push(restarted.child as ChildProcessWithoutNullStreams);
    expect(restarted.port).toBeGreaterThan(0);
  });
});
