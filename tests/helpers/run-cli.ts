/**
 * Runs the `mumuka` command line as an operator would: a child process
 * `node src/cli.ts …` in the repository. Output is collected as bytes and
 * decoded once at the end, so a Japanese character split between two pipe
 * chunks stays whole (decoding chunk by chunk would turn it into U+FFFD).
 *
 * SECURITY: tests only; arguments are passed as an array (no shell).
 */
import { spawn } from "node:child_process";
import path from "node:path";

const REPO = path.resolve(import.meta.dirname, "../..");

export interface CliResult {
  /** the exit code; -1 when the process ended by a signal */
  code: number;
  stdout: string;
  /** stdout as written, for byte-exact comparisons */
  stdoutBytes: Buffer;
  stderr: string;
}

export function runCli(args: string[], options: { stdin?: string | Buffer; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["src/cli.ts", ...args], { cwd: REPO, env: { ...process.env, ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code: code ?? -1, stdout: stdoutBytes.toString("utf8"), stdoutBytes, stderr: Buffer.concat(err).toString("utf8") });
    });
    child.stdin.on("error", () => {}); // a command that exits without reading its input closes the pipe early
    child.stdin.end(options.stdin ?? "");
  });
}
