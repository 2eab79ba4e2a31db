#!/usr/bin/env node
// The `mumuka` command (npx mumuka …, the package's bin). Plain JavaScript
// that any Node.js can load, so that it can check the Node.js version before
// loading anything else: the dependencies (better-sqlite3's native module)
// are built for the Node.js of package.json's `engines`, and an older Node
// crashes on them (a segmentation fault, not an error message).
//
//  - Node.js new enough: runs the CLI, from src/cli.ts in a checkout (Node
//    strips the types; always the current source) or dist/cli.js in the
//    container image (no src/ there). MUMUKA_FROM=dist (the systemd unit)
//    runs the built dist/cli.js from a checkout too: each thread then saves
//    Node's type stripper, about 11 MiB (docs/relay.md, section 9). Only a
//    dist/ built from the checkout's current src/ (bin/source-digest.js): a
//    stale or missing build is refused in one line naming the command to run,
//    never run as if it were current, nor replaced by src/ behind the
//    operator's back (the reasons: docs/relay.md, section 9).
//  - older, and ./run has installed Node.js into .tools/node: runs itself
//    again with that Node.js, passing on the arguments, the standard streams,
//    the signals (SIGTERM, SIGINT, SIGHUP) and the exit status.
//  - older, nothing to re-run with: one line saying what to run instead, exit 1.
//
// No untrusted input (the arguments go to the CLI as they are); no state.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const self = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(self), "..");
const args = process.argv.slice(2);

// the one place the required version is written: package.json's engines (">=24")
const engines = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).engines ?? {};
const need = Number(/\d+/.exec(String(engines.node ?? ""))?.[0] ?? 0);
const have = Number(process.versions.node.split(".")[0]);

if (have >= need) {
  const entry = await chooseEntry();
  if (entry) {
    const { main } = await import(pathToFileURL(entry).href);
    process.exitCode = await main(args);
  } else process.exitCode = 1;
} else {
  const tools = path.join(root, ".tools", "node", "bin", "node");
  // MUMUKA_REEXEC: set for the child, so a .tools Node.js that is itself too old cannot loop
  if (existsSync(tools) && process.env.MUMUKA_REEXEC !== tools) {
    const child = spawn(tools, [self, ...args], { stdio: "inherit", env: { ...process.env, MUMUKA_REEXEC: tools } });
    const signals = ["SIGTERM", "SIGINT", "SIGHUP"];
    // a signal sent to this process alone (kill PID, a service manager) reaches the gateway too;
    // Ctrl-C reaches both anyway (same process group), and the child decides what it means
    for (const signal of signals) process.on(signal, () => child.kill(signal));
    child.on("error", (error) => {
      process.stderr.write(`mumuka: cannot run ${tools}: ${error.message}\n`);
      process.exit(1);
    });
    child.on("exit", (code, signal) => {
      if (signal === null) process.exit(code ?? 1);
      // ended by a signal: end the same way, so the caller sees what a direct run would show
      for (const s of signals) process.removeAllListeners(s);
      process.kill(process.pid, signal);
    });
  } else {
    process.stderr.write(
      `mumuka: Node.js ${need} 以上が必要です(この node は ${process.versions.node})/ needs Node.js ${need} or later (this is ${process.versions.node}): ` +
        `run \`./run mumuka …\` in ${root} (it installs Node.js ${need} into .tools/), or put Node.js ${need} first on PATH\n`,
    );
    process.exitCode = 1;
  }
}

/**
 * The CLI module to load, or undefined after saying in one line why there is none to run.
 * MUMUKA_FROM: "dist" (the built code, checked against src/), "src", or unset (src/ when it is there).
 */
async function chooseEntry() {
  const source = path.join(root, "src", "cli.ts");
  const built = path.join(root, "dist", "cli.js");
  const from = process.env.MUMUKA_FROM ?? "";
  const refuse = (ja, en) => {
    process.stderr.write(`mumuka: ${ja} / ${en}: run \`./run npm run build\` in ${root}\n`);
    return undefined;
  };
  if (from === "src" && !existsSync(source)) {
    process.stderr.write(`mumuka: src/cli.ts がありません / no src/cli.ts in ${root} (MUMUKA_FROM=src)\n`);
    return undefined;
  }
  if (from === "src" || (from === "" && existsSync(source))) return source;
  if (from !== "" && from !== "dist") {
    process.stderr.write(`mumuka: MUMUKA_FROM は dist か src です / MUMUKA_FROM must be dist or src, not ${JSON.stringify(from)}\n`);
    return undefined;
  }
  if (!existsSync(built)) return refuse("ビルドされたコード dist/ がありません", "no built code (dist/cli.js)");
  // no src/ (the container image, a package): dist/ is all there is, nothing to compare with
  if (!existsSync(path.join(root, "src"))) return built;
  const { BUILT_FROM, sourceDigest } = await import("./source-digest.js");
  let recorded = "";
  try {
    recorded = readFileSync(path.join(root, "dist", BUILT_FROM), "utf8").trim();
  } catch {
    // no record: built by an older build, by tsc alone, or a build that failed: not known to be current
  }
  let current;
  try {
    current = sourceDigest(root);
  } catch (error) {
    // unreadable source (permissions, a dangling link): what it would build to is not known
    return refuse(`src/ を読めません(${error.code ?? error.message})`, `src/ cannot be read (${error.code ?? error.message})`);
  }
  if (recorded !== current) return refuse("dist/ が今の src/ からビルドされていません(更新後のビルド忘れ)", "dist/ was not built from this src/ (changed since the last build, or never recorded)");
  return built;
}
