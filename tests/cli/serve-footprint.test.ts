/**
 * What a serving gateway's main isolate loads: only the relay's modules. Every module loaded
 * there stays for the life of the process (issue 13: PSS), so the console (admin off), mailauth
 * (authentication off), the sanitizer itself (it runs in the workers), the other CLI commands'
 * modules and the in-process receiver's smtp-server must not be imported by `mumuka serve`; nor
 * pg on the SQLite audit store, prom-client when no console serves /metrics, or nodemailer's
 * full mailer before the first DSN or alert (delivery needs only its SMTP connection).
 * Observed from outside: a `--import` hook in the child records every URL the main thread loads.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { repoRoot, writeConfig } from "../helpers/relay-process.ts";

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe("mumuka serve, main isolate", () => {
  it("does not load the console, mailauth, the sanitizer, mailparser, smtp-server, pg, prom-client or nodemailer's mailer when they are not used", async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "mumuka-footprint-"));
    const list = path.join(dir, "loaded.txt");
    const hook = path.join(dir, "hook.mjs");
    await writeFile(
      hook,
      [
        'import { registerHooks } from "node:module";',
        'import { isMainThread } from "node:worker_threads";',
        'import { appendFileSync } from "node:fs";',
        `const out = ${JSON.stringify(list)};`,
        "registerHooks({ load(url, context, next) { if (isMainThread) appendFileSync(out, url + '\\n'); return next(url, context); } });",
        "",
      ].join("\n"),
    );
    const config = await writeConfig(
      dir,
      [`dataDir: ${path.join(dir, "data")}`, "smtp: { host: 127.0.0.1, port: 0 }", "log: { level: info, format: json }", "admin: { enabled: false }", ""].join("\n"),
    );
    const child = spawn(process.execPath, ["--import", pathToFileURL(hook).href, "src/cli.ts", "serve", "--config", config], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const seen = (d: Buffer) => {
        out += d;
        if (out.includes("mumuka gateway listening")) resolve();
      };
      child.stdout!.on("data", seen);
      child.stderr!.on("data", seen);
      void exited.then((code) => reject(new Error(`gateway exited (${code}) before listening:\n${out}`)));
    });
    child.kill("SIGTERM");
    expect(await exited).toBe(0);

    const loaded = (await readFile(list, "utf8")).split("\n").filter(Boolean);
    // the hook saw the gateway start (a list that missed everything would pass the checks below)
    expect(loaded.some((u) => u.endsWith("/src/serve.ts"))).toBe(true);
    expect(loaded.some((u) => u.endsWith("/src/deliver/queue-manager.ts"))).toBe(true);
    const unwanted = loaded.filter((u) =>
      /\/node_modules\/(fastify|mailauth|mailparser|smtp-server|html-to-text|pg|prom-client|@opentelemetry\/api)\/|\/node_modules\/nodemailer\/.*\/(nodemailer|mailer\/index)\.js$|\/src\/(admin\/server|admin\/rule-trial|sanitize\/analyze|sanitize\/render|receive\/smtp-receiver|rules\/rules-replay|rules\/rules-command|authenticate\/authenticator)\.ts$/.test(u),
    );
    expect(unwanted).toEqual([]);
  }, 30_000);
});
