/**
 * What `mumuka serve` loads, observed from outside: the gateway is started with a `--import` hook
 * that records every module URL as it is loaded, with the id of the thread loading it (0: main),
 * is stopped with SIGTERM once it listens, and its list is returned with its exit code. Used by the
 * footprint tests (the main isolate's modules, from src/ and from the build).
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

export interface ServeRun {
  /** the exit code after SIGTERM (0: stopped cleanly) */
  code: number | null;
  loaded: { thread: number; url: string }[];
}

/** runs `node --import HOOK ENTRY serve --config …` in `dir` (a scratch directory it writes into) until it listens */
export async function modulesLoadedByServe(opts: { dir: string; entry: string; cwd: string; env?: NodeJS.ProcessEnv }): Promise<ServeRun> {
  const list = path.join(opts.dir, "loaded.txt");
  const hook = path.join(opts.dir, "hook.mjs");
  writeFileSync(list, "");
  writeFileSync(
    hook,
    [
      'import { registerHooks } from "node:module";',
      'import { threadId } from "node:worker_threads";',
      'import { appendFileSync } from "node:fs";',
      `const out = ${JSON.stringify(list)};`,
      "registerHooks({ load(url, context, next) { appendFileSync(out, threadId + ' ' + url + '\\n'); return next(url, context); } });",
      "",
    ].join("\n"),
  );
  const config = path.join(opts.dir, "serve.yaml");
  writeFileSync(config, [`dataDir: ${path.join(opts.dir, "data")}`, "smtp: { host: 127.0.0.1, port: 0 }", "log: { level: info, format: json }", "admin: { enabled: false }", ""].join("\n"));
  const child = spawn(process.execPath, ["--import", pathToFileURL(hook).href, opts.entry, "serve", "--config", config], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
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
  const code = await exited;
  const loaded = readFileSync(list, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => ({ thread: Number(line.slice(0, line.indexOf(" "))), url: line.slice(line.indexOf(" ") + 1) }));
  return { code, loaded };
}
