import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { lockSpool } from "../../src/spool/spool-lock.ts";
import { tempDir } from "../helpers/relay-helpers.ts";

describe("the spool lock", () => {
  it("refuses a second gateway while the first one lives, and takes over a dead one's lock", async () => {
    const dir = await tempDir("mumuka-lock-");
    const holder = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"]);
    await new Promise((r) => holder.once("spawn", r));
    await writeFile(`${dir}/gateway.lock`, `${holder.pid}\n`);
    await expect(lockSpool(dir)).rejects.toMatchObject({ code: "ELOCKED", message: expect.stringContaining(`pid ${holder.pid}`) });
    holder.kill("SIGKILL");
    await new Promise((r) => holder.once("exit", r));
    const lock = await lockSpool(dir);
    expect((await readFile(`${dir}/gateway.lock`, "utf8")).trim()).toBe(String(process.pid));
    await lock.release();
    await expect(readFile(`${dir}/gateway.lock`)).rejects.toMatchObject({ code: "ENOENT" });
  });
});
