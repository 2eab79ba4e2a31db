/**
 * Runs the real gateway as a child process (`node src/cli.ts serve --config …`),
 * for the tests that kill it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function writeConfig(dir: string, yaml: string): Promise<string> {
  const file = path.join(dir, "mumuka.yaml");
  await writeFile(file, yaml);
  return file;
}

export interface GatewayProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** the SMTP port the gateway reported (configure port 0: no race for a free port) */
  port: number;
  /** the admin console's port, when it runs */
  adminPort?: number;
}

/**
 * Starts `mumuka serve` and waits for its "listening" log lines (the configuration must have
 * log.level info or lower and log.format json) to learn the ports it bound.
 */
export async function spawnGateway(configFile: string, opts: { admin?: boolean } = {}): Promise<GatewayProcess> {
  const child = spawn(process.execPath, ["src/cli.ts", "serve", "--config", configFile], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  const portOf = (msg: string): number | undefined => {
    for (const line of out.split("\n")) {
      if (!line.includes(msg)) continue;
      try {
        const port = (JSON.parse(line) as { port?: number }).port;
        if (typeof port === "number") return port;
      } catch {
        // not a JSON line
      }
    }
    return undefined;
  };
  const start = Date.now();
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`gateway exited at start:\n${out}`);
    const port = portOf('"mumuka gateway listening"');
    const adminPort = opts.admin ? portOf('"admin console listening"') : undefined;
    if (port !== undefined && (!opts.admin || adminPort !== undefined)) {
      return { child, output: () => out, exited, port, ...(adminPort !== undefined ? { adminPort } : {}) };
    }
    if (Date.now() - start > 30000) throw new Error(`gateway did not listen:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
