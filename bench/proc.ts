/**
 * What the benchmarks read of a process and the machine: command-line
 * options, free loopback ports, and a process's peak RSS and CPU time from
 * Linux's /proc.
 */
import { readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import type { Readable } from "node:stream";
import { SMTPServer } from "smtp-server";

/** the value after `--name`, or `fallback` */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

/** a TCP port on 127.0.0.1 that was free a moment ago */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** the process's peak resident set size (VmHWM), bytes */
export async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** user + system CPU ticks (USER_HZ, 100 on every Linux ABI Node supports) of a /proc stat line, fields 14 and 15 */
function statTicks(stat: string): number {
  // the command name (field 2) may contain spaces: count fields after its closing parenthesis
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** user + system CPU seconds of a process, all threads */
export async function cpuSeconds(pid: number): Promise<number> {
  return statTicks(await readFile(`/proc/${pid}/stat`, "utf8")) / 100;
}

/** CPU seconds of each thread, summed by thread name (libuv's pool, V8's helpers, named workers) */
export async function cpuByThread(pid: number): Promise<Map<string, number>> {
  const byName = new Map<string, number>();
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, "utf8").catch(() => "");
    if (!stat) continue;
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    byName.set(name, (byName.get(name) ?? 0) + statTicks(stat) / 100);
  }
  return byName;
}

/**
 * The environment the gateway runs with in production, read from
 * deploy/mumuka.service (its Environment= lines for NODE_OPTIONS and
 * MALLOC_ARENA_MAX: the V8 heap sizing and the malloc arenas), so that the
 * benchmarks measure the gateway as deployed. The Dockerfile sets the same
 * (tests/deploy/dockerfile.test.ts holds the two to it). `root`: the
 * checkout whose unit to read (a benchmark variant may be an older one).
 */
export function deployedEnvironment(root: string): Record<string, string> {
  let unit = "";
  try {
    unit = readFileSync(path.join(root, "deploy", "mumuka.service"), "utf8");
  } catch {
    return {};
  }
  const env: Record<string, string> = {};
  for (const m of unit.matchAll(/^Environment=(NODE_OPTIONS|MALLOC_ARENA_MAX)=(.*)$/gm)) env[m[1]!] = m[2]!.replace(/^"(.*)"$/, "$1");
  return env;
}

/**
 * A Node SMTP server on loopback that accepts every message (the benchmarks' sink when smtp-sink is not
 * used): `onMessage` gets each message's stream and calls `accept` once it has read it; `stop` closes it.
 */
export async function listenNodeSink(port: number, onMessage: (stream: Readable, accept: () => void) => void): Promise<{ stop(): Promise<void> }> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["AUTH", "STARTTLS"],
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 100,
    onData: (stream, _session, callback) => onMessage(stream, () => callback(null, "Ok")),
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  return { stop: () => new Promise<void>((r) => server.close(() => r())) };
}
