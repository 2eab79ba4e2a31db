/**
 * mumuka beside Postfix's plain relay, in one invocation
 * (`npm run bench -- --compare-postfix`):
 *
 *   smtp-source → Postfix (fsync queue, plain relay) → smtp-sink     "postfix"
 *   smtp-source → mumuka (sanitize, audit, originals) → smtp-sink    "mumuka"
 *
 * For each message size and session count, the two relays run alternately
 * (postfix, mumuka, postfix, mumuka …), each started cold for each run (a new
 * Postfix instance, a new gateway process with an empty data directory), with
 * the same message file and a fresh smtp-sink. Messages are realistic MIME:
 * text + HTML alternatives and a base64 attachment, about 5 KB and 100 KB.
 *
 * Per run: messages per second from smtp-source's start until smtp-sink has
 * counted every message; the relay's CPU time per message (every process of
 * the relay: for Postfix the master, its live children and the children it
 * reaped; for mumuka the gateway's threads), and the peak PSS of the relay's
 * whole process tree (sum of /proc/PID/smaps_rollup, sampled every 200 ms).
 * Printed: the median of the repetitions of each, and the ratios
 * mumuka/Postfix. Absolute figures swing 20–30 % on a shared machine; read
 * the ratios and the CPU per message.
 *
 *   node bench/run.ts --compare-postfix [--messages 4000] [--repeat 3]
 *        [--sizes 5,100] [--sessions 10,50] [--config-extra YAML]
 *        [--variants JSON] [--no-postfix] [--from dist|src]
 *
 * --variants compares versions or settings of mumuka in the same invocation
 * (each run alternating with the others, so the machine's load falls on all
 * alike): a JSON array of { name, root?, node?, env? } — a checkout to run
 * (e.g. a `git archive` of the commit before a change), extra Node.js options
 * (`--max-semi-space-size=…`), extra environment (MALLOC_ARENA_MAX). Each
 * variant's ratio is printed against the first relay. --no-postfix leaves
 * Postfix out (while iterating on mumuka alone). mumuka runs as deployed:
 * the built code (each root, the variants' too, compiled with
 * tsconfig.build.json into a temporary copy, started by its bin/mumuka.js)
 * with the environment of its systemd unit (deploy/mumuka.service:
 * NODE_OPTIONS for the V8 heap sizing, MALLOC_ARENA_MAX). --from src runs
 * src/cli.ts instead, as `npm start` does (Node strips the types in each
 * thread: about 11 MiB more per isolate).
 *
 * `--rate N` measures latency instead of throughput, the same for both relays:
 * messages are sent on schedule at N per second (bench/paced-sender.ts, over
 * --sessions open sessions) and the sink is a small Node SMTP server in this
 * process that notes when each message's DATA ended (Date.now(), keyed by its
 * Message-ID, which both relays keep). Latency = that moment − the moment the
 * sender read the relay's 250, one clock: Postfix has no audit store, so this
 * is the one figure both relays give. Printed: p50/p90/p99/max per relay
 * (medians of the repetitions), and whether the sender held the rate.
 *
 * Needs root and Debian's postfix package (postfix, smtp-source, smtp-sink).
 * Only 127.0.0.1; every run is bounded by a timeout and cleans up after
 * itself.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { postfixMissing, startPostfix } from "../tests/helpers/postfix-instance.ts";
import { paceSummary, percentiles, type Percentiles } from "./pace.ts";
import { sendPaced } from "./paced-sender.ts";
import { arg, cpuByThread, deployedEnvironment, freePort, listenNodeSink } from "./proc.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** one run gives up after this long; a stalled run is reported, not waited for */
const RUN_TIMEOUT_MS = 5 * 60 * 1000;
const DOMAIN = "city.example.lg.jp";

const messages = Number(arg("messages", "4000"));
const repeat = Number(arg("repeat", "3"));
const sizes = arg("sizes", "5,100").split(",").map(Number);
const sessionCounts = arg("sessions", "10,50").split(",").map(Number);
const extraConfig = arg("config-extra", "");
/** --rate N: latency at N messages per second, sent on schedule (see the header); 0: throughput as fast as smtp-source goes */
const pacedRate = Number(arg("rate", "0"));
if (!(pacedRate >= 0) || (process.argv.includes("--rate") && !(pacedRate > 0))) throw new Error(`--rate: a number of messages per second, not ${arg("rate", "")}`);

/** one way of running mumuka: a checkout, Node.js options, environment */
interface Variant {
  name: string;
  root?: string;
  node?: string[];
  env?: Record<string, string>;
}
const variants: Variant[] = JSON.parse(arg("variants", '[{"name":"mumuka"}]'));
const withPostfix = !process.argv.includes("--no-postfix");
/** what runs: the built dist/ (as the systemd unit runs it) or src/*.ts (as `npm start` does) */
const from = arg("from", "dist");
if (from !== "dist" && from !== "src") throw new Error(`--from must be dist or src, not ${from}`);

/** per checkout: a temporary copy with its dist/ built, no src/ (bin/mumuka.js then runs dist/cli.js) */
const builtRoots = new Map<string, string>();
process.on("exit", () => {
  for (const dir of builtRoots.values()) if (dir) rmSync(path.dirname(dir), { recursive: true, force: true });
});
function builtRoot(checkout: string): string {
  const known = builtRoots.get(checkout);
  if (known) return known;
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), "mumuka-compare-build-")), "mumuka");
  builtRoots.set(checkout, dir);
  for (const item of ["package.json", "bin", "config", "deploy"]) if (existsSync(path.join(checkout, item))) cpSync(path.join(checkout, item), path.join(dir, item), { recursive: true });
  // tsc and the gateway both resolve the dependencies from the checkout (a `git archive` has none: link them)
  const modules = path.join(checkout, "node_modules");
  if (!existsSync(modules)) throw new Error(`bench: ${checkout} has no node_modules: ln -s ${path.join(root, "node_modules")} ${modules}`);
  symlinkSync(realpathSync(modules), path.join(dir, "node_modules"));
  const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
  const r = spawnSync(process.execPath, [tsc, "-p", path.join(checkout, "tsconfig.build.json"), "--outDir", path.join(dir, "dist")], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`bench: cannot build ${checkout} (use --from src to run its src/):\n${r.stdout}${r.stderr}`);
  process.stderr.write(`bench: mumuka from ${checkout}: dist/ built into ${dir}, run as the unit runs it (bin/mumuka.js, MUMUKA_FROM=dist)\n`);
  return dir;
}

/** how the gateway of one variant starts: the checkout, the command and the environment */
function gatewayStart(variant: Variant, config: string): { cwd: string; args: string[]; env: NodeJS.ProcessEnv } {
  const checkout = variant.root ? path.resolve(variant.root) : root;
  // as deployed (the unit's NODE_OPTIONS and MALLOC_ARENA_MAX), then the variant's own settings
  const env = { ...process.env, ...deployedEnvironment(checkout), ...variant.env };
  if (from === "src") {
    if (!builtRoots.has(checkout)) process.stderr.write(`bench: mumuka from ${checkout}: src/cli.ts (--from src: not as deployed)\n`);
    builtRoots.set(checkout, "");
    return { cwd: checkout, args: [...(variant.node ?? []), "src/cli.ts", "serve", "--config", config], env };
  }
  const cwd = builtRoot(checkout);
  return { cwd, args: [...(variant.node ?? []), "bin/mumuka.js", "serve", "--config", config], env: { MUMUKA_FROM: "dist", ...env } };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A realistic message of about `kb` KiB: a Japanese text part, its HTML
 * alternative with a link, and a base64 attachment making up the rest.
 * LF line ends: smtp-source -F ends each line with CRLF itself.
 */
export function mimeMessage(kb: number): string {
  const line = "これは性能測定用のメールです。添付の資料をご確認ください。This is a benchmark message.";
  const text = Array.from({ length: 12 }, () => line).join("\n");
  const html = `<html><body><p>${Array.from({ length: 12 }, () => line).join("<br>\n")}</p><p><a href="https://example.com/doc">資料</a></p></body></html>`;
  const budget = Math.max(512, kb * 1024 - Buffer.byteLength(text) - Buffer.byteLength(html) - 1200);
  const attachment = randomBytes(Math.floor((budget * 3) / 4));
  const b64 = attachment.toString("base64").replace(/.{76}/g, "$&\n");
  return [
    "From: =?UTF-8?B?5bGx55Sw?= <yamada@example.co.jp>",
    `To: staff@${DOMAIN}`,
    "Subject: =?UTF-8?B?5Lya6K2w6LOH5paZ44Gu6YCB5LuY?=",
    "Date: Sun, 06 Dec 2026 10:00:00 +0900",
    "Message-ID: <bench@example.co.jp>",
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="mixed"',
    "",
    "--mixed",
    'Content-Type: multipart/alternative; boundary="alt"',
    "",
    "--alt",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    text,
    "--alt",
    "Content-Type: text/html; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    html,
    "--alt--",
    "--mixed",
    'Content-Type: application/pdf; name="shiryou.pdf"',
    'Content-Disposition: attachment; filename="shiryou.pdf"',
    "Content-Transfer-Encoding: base64",
    "",
    b64,
    "--mixed--",
    "",
  ].join("\n");
}

/** every process below `pid` (and itself), from /proc's parent links */
async function tree(pid: number): Promise<number[]> {
  const parent = new Map<number, number>();
  for (const name of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    if (!stat) continue;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    parent.set(Number(name), Number(fields[1]));
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const [child, p] of parent) if (p === out[i]) out.push(child);
  return out;
}

/** CPU seconds of a process tree: each live process's own time, plus what the root reaped */
async function treeCpu(pid: number): Promise<number> {
  let ticks = 0;
  for (const p of await tree(pid)) {
    const stat = await readFile(`/proc/${p}/stat`, "utf8").catch(() => "");
    if (!stat) continue;
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime stime (fields 14, 15); cutime cstime (16, 17) count children already reaped
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return ticks / 100;
}

/** proportional set size of a process tree, bytes */
async function treePss(pid: number): Promise<number> {
  let kb = 0;
  for (const p of await tree(pid)) {
    const text = await readFile(`/proc/${p}/smaps_rollup`, "utf8").catch(() => "");
    kb += Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
  }
  return kb * 1024;
}

interface Sink {
  count(): number;
  stop(): Promise<void>;
  /** the timing sink (--rate): Message-ID → Date.now() when its DATA ended */
  arrivals?: Map<string, number>;
}

/** --rate: a Node SMTP sink noting when each message's DATA ended, by Message-ID (the first 16 KiB are searched for it) */
async function startTimingSink(port: number): Promise<Sink> {
  const arrivals = new Map<string, number>();
  let count = 0;
  const server = await listenNodeSink(port, (stream, accept) => {
    let head = "";
    stream.on("data", (d: Buffer) => {
      if (head.length < 16384) head += d.toString("latin1");
    });
    stream.on("end", () => {
      const at = Date.now();
      count++;
      const id = /^Message-ID:[ \t]*<([^>\r\n]+)>/im.exec(head)?.[1];
      if (id && !arrivals.has(id)) arrivals.set(id, at);
      accept();
    });
  });
  return { count: () => count, arrivals, stop: server.stop };
}

/** the message file (LF line ends, for smtp-source) as the paced sender sends message i: CRLF, its own Message-ID */
function pacedMessage(file: string): (i: number) => Buffer {
  return (i) => Buffer.from(file.replace("Message-ID: <bench@example.co.jp>", `Message-ID: <bench-${i}@example.co.jp>`).replaceAll("\n", "\r\n"));
}

async function startSink(port: number): Promise<Sink> {
  // -c: a running counter "mesg=N" on stdout; smtp-sink refuses root without a user to drop to
  const child = spawn("smtp-sink", ["-u", "nobody", "-c", `127.0.0.1:${port}`, "1000"], { stdio: ["ignore", "pipe", "pipe"] });
  let tail = "";
  let count = 0;
  child.stdout!.on("data", (d: Buffer) => {
    tail = (tail + d.toString("latin1")).slice(-256);
    const m = [...tail.matchAll(/mesg=(\d+)/g)].at(-1);
    if (m) count = Number(m[1]);
  });
  await sleep(300);
  return {
    count: () => count,
    stop: async () => {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
    },
  };
}

interface RunResult {
  relay: string;
  seconds: number;
  perSecond: number;
  cpuMicrosPerMessage: number;
  peakPssMiB: number;
  delivered: number;
  /** mumuka: CPU µs per message of each thread (by name: MainThread, mumuka-receive, mumuka-sanitize, V8Worker for GC helpers, libuv-worker for fs) */
  threads?: Record<string, number>;
  /** --rate: the relay's 250 → the sink's end of DATA, ms */
  latencyMs?: Percentiles | null;
  /** --rate: the sender kept to its schedule (bench/pace.ts) */
  heldRate?: boolean;
  /** --rate: why not */
  notHeldBecause?: string;
}

/** one measured run of either relay, from a cold start */
async function runOnce(relay: string, file: string, sessions: number): Promise<RunResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `mumuka-compare-${relay}-`));
  const [relayPort, sinkPort] = [await freePort(), await freePort()];
  const sink = pacedRate > 0 ? await startTimingSink(sinkPort) : await startSink(sinkPort);
  let rootPid = 0;
  let stopRelay: () => Promise<void> = async () => {};
  try {
    if (relay === "postfix") {
      const pf = await startPostfix({
        name: "bench",
        port: relayPort,
        main: ["myhostname = internet-mta.example", `relay_domains = ${DOMAIN}`, `relayhost = [127.0.0.1]:${sinkPort}`, "smtpd_relay_restrictions = permit_mynetworks reject_unauth_destination", "message_size_limit = 52428800"],
      });
      rootPid = Number((await readFile(path.join(pf.dir, "queue", "pid", "master.pid"), "utf8")).trim());
      stopRelay = pf.stop;
    } else {
      const config = path.join(dir, "mumuka.yaml");
      await writeFile(
        config,
        [
          `dataDir: ${dir}/data`,
          // smtp-source stands for the upstream MTA: exempt from the per-client limit (50), as the upstream is when deployed
          `smtp: { host: 127.0.0.1, port: ${relayPort}, clients: [127.0.0.0/8], reservedClients: [127.0.0.0/8], recipientDomains: ["${DOMAIN}"], maxConnections: 200 }`,
          `delivery: { mode: smtp, host: 127.0.0.1, port: ${sinkPort}, concurrency: 8 }`,
          "log: { level: warn, format: json }",
          "admin: { enabled: false }",
          ...(extraConfig ? [extraConfig] : []),
          "",
        ].join("\n"),
      );
      const start = gatewayStart(variants.find((v) => v.name === relay)!, config);
      const gateway: ChildProcess = spawn(process.execPath, start.args, { cwd: start.cwd, env: start.env, stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      gateway.stderr!.on("data", (d) => (err = (err + d).slice(-8192)));
      rootPid = gateway.pid!;
      stopRelay = async () => {
        if (gateway.exitCode !== null) return;
        gateway.kill("SIGTERM");
        await new Promise((r) => gateway.once("exit", r));
      };
      // cold: the gateway's start-up is part of neither the clock nor the CPU, but it has just started
      for (let i = 0; ; i++) {
        if (gateway.exitCode !== null) throw new Error(`gateway exited:\n${err}`);
        const up = await new Promise<boolean>((resolve) => {
          const s = net.connect(relayPort, "127.0.0.1");
          s.on("connect", () => (s.destroy(), resolve(true)));
          s.on("error", () => resolve(false));
        });
        if (up) break;
        if (i > 300) throw new Error(`gateway did not listen:\n${err}`);
        await sleep(100);
      }
    }
    let peak = await treePss(rootPid);
    const cpu0 = await treeCpu(rootPid);
    const threads0 = relay === "postfix" ? undefined : await cpuByThread(rootPid);
    const t0 = performance.now();
    const paced =
      pacedRate > 0
        ? sendPaced({ port: relayPort, rate: pacedRate, sessions, count: messages, message: pacedMessage(await readFile(file, "utf8")), from: "bench@example.com", to: `staff@${DOMAIN}` })
        : undefined;
    const source = paced
      ? undefined
      : spawn("smtp-source", ["-s", String(sessions), "-m", String(messages), "-F", file, "-f", "bench@example.com", "-t", `staff@${DOMAIN}`, `127.0.0.1:${relayPort}`], {
          stdio: "ignore",
        });
    let deadline = t0 + RUN_TIMEOUT_MS;
    let expected = messages;
    // --rate: once every send has ended, the messages that got a 250 have 30 s to reach the sink
    void paced?.then(
      ({ repliedAt }) => {
        expected = repliedAt.filter((t) => t !== undefined).length;
        deadline = Math.min(deadline, performance.now() + 30_000);
      },
      () => (deadline = 0),
    );
    let sampled = 0;
    while (sink.count() < expected && performance.now() < deadline) {
      await sleep(20);
      if (performance.now() - sampled > 200) {
        sampled = performance.now();
        peak = Math.max(peak, await treePss(rootPid));
      }
    }
    const t1 = performance.now();
    const cpu = (await treeCpu(rootPid)) - cpu0;
    const threads1 = threads0 && (await cpuByThread(rootPid));
    const perMessage = (sec: number) => Math.round((sec * 1e6) / Math.max(1, sink.count()));
    const threads = threads1 && Object.fromEntries([...threads1].map(([name, sec]) => [name, perMessage(sec - (threads0!.get(name) ?? 0))]));
    peak = Math.max(peak, await treePss(rootPid));
    if (source && source.exitCode === null) source.kill("SIGKILL");
    let latency: Pick<RunResult, "latencyMs" | "heldRate" | "notHeldBecause"> = {};
    if (paced) {
      const { sent, repliedAt } = await paced;
      const pace = paceSummary(pacedRate, sent);
      const ms = sent.flatMap((x) => {
        const arrived = sink.arrivals!.get(`bench-${x.i}@example.co.jp`);
        const replied = repliedAt[x.i];
        return arrived !== undefined && replied !== undefined ? [arrived - replied] : [];
      });
      latency = { latencyMs: percentiles(ms) ?? null, heldRate: pace.held && pace.errors === 0 && ms.length === messages, notHeldBecause: [pace.why, pace.errors ? `${pace.errors} sends failed` : "", ms.length < messages ? `${messages - ms.length} not timed at the sink` : ""].filter(Boolean).join("; ") };
    }
    const seconds = (t1 - t0) / 1000;
    return {
      relay,
      seconds: +seconds.toFixed(2),
      // two decimals: 20 messages of 10 MB relay at a handful per second
      perSecond: +(sink.count() / seconds).toFixed(2),
      cpuMicrosPerMessage: Math.round((cpu * 1e6) / Math.max(1, sink.count())),
      peakPssMiB: Math.round(peak / 1024 / 1024),
      delivered: sink.count(),
      ...(threads ? { threads } : {}),
      ...latency,
    };
  } finally {
    await stopRelay();
    await sink.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** --rate: a run's latency in words, and loudly when its sender did not hold the rate */
function latencyWords(r: RunResult): string {
  const l = r.latencyMs;
  return (
    (l ? `; 250 → sink p50 ${l.p50}, p90 ${l.p90}, p99 ${l.p99}, max ${l.max} ms` : "; no latency") +
    (r.heldRate ? "" : ` — DID NOT HOLD ${pacedRate} msg/s (目標の送信レートを保てなかった): ${r.notHeldBecause}`)
  );
}

/** --rate: per size, sessions and relay, the medians of the runs' percentiles, and how many runs held the rate */
function latencyTable(rows: (Record<string, unknown> & { relays: string[]; sizeKB: number; sessions: number; runs?: unknown })[]): string[] {
  return [
    "",
    `| size | sessions | relay | rate | runs that held it | p50 ms | p90 ms | p99 ms | max ms |`,
    `|---|---:|---|---:|---:|---:|---:|---:|---:|`,
    ...rows.flatMap((row) =>
      row.relays.map((relay) => {
        const runs = (row.runs as RunResult[]).filter((x) => x.relay === relay);
        const timed = runs.filter((x) => x.latencyMs);
        const of = (k: keyof Percentiles) => (timed.length ? median(timed.map((x) => x.latencyMs![k])) : "—");
        return `| ${row.sizeKB} KB | ${row.sessions} | ${relay} | ${pacedRate} msg/s | ${runs.filter((x) => x.heldRate).length}/${runs.length} | ${of("p50")} | ${of("p90")} | ${of("p99")} | ${of("max")} |`;
      }),
    ),
    `(250 → the sink's end of DATA, one clock; medians of ${repeat} alternating cold runs of ${messages} messages each, no warmup; ${os.cpus().length} CPUs, load average ${os.loadavg()[0]!.toFixed(2)})`,
    "",
  ];
}

export async function comparePostfix(): Promise<void> {
  const missing = postfixMissing();
  if (missing) {
    process.stderr.write(`bench: --compare-postfix cannot run: ${missing}\n`);
    process.exitCode = 2;
    return;
  }
  const work = await mkdtemp(path.join(os.tmpdir(), "mumuka-compare-"));
  type Summary = { perSecond: number; cpuMicrosPerMessage: number; peakPssMiB: number };
  type Row = Record<string, unknown> & { relays: string[]; sizeKB: number; sessions: number };
  const rows: Row[] = [];
  try {
    for (const kb of sizes) {
      const file = path.join(work, `mime-${kb}k.eml`);
      await writeFile(file, mimeMessage(kb));
      const bytes = (await readFile(file)).length;
      for (const sessions of sessionCounts) {
        const results: RunResult[] = [];
        for (let r = 0; r < repeat; r++) {
          for (const relay of [...(withPostfix ? ["postfix"] : []), ...variants.map((v) => v.name)]) {
            const result = await runOnce(relay, file, sessions);
            results.push(result);
            process.stderr.write(
              `bench: ${kb} KB, ${sessions} sessions, run ${r + 1}/${repeat}, ${relay}: ${result.delivered}/${messages} in ${result.seconds} s = ${result.perSecond} msg/s, ` +
                `${result.cpuMicrosPerMessage} µs CPU/msg, peak PSS ${result.peakPssMiB} MiB, load ${os.loadavg()[0]!.toFixed(2)}` +
                (result.threads ? ` (µs/msg by thread: ${Object.entries(result.threads).map(([k, v]) => `${k} ${v}`).join(", ")})` : "") +
                (pacedRate > 0 ? latencyWords(result) : "") +
                "\n",
            );
          }
        }
        const of = (relay: string, key: keyof RunResult) => median(results.filter((x) => x.relay === relay).map((x) => Number(x[key])));
        const summary = (relay: string) => ({ perSecond: of(relay, "perSecond"), cpuMicrosPerMessage: of(relay, "cpuMicrosPerMessage"), peakPssMiB: of(relay, "peakPssMiB") });
        const relays = [...(withPostfix ? ["postfix"] : []), ...variants.map((v) => v.name)];
        const row: Row = {
          sizeKB: kb,
          messageBytes: bytes,
          sessions,
          messages,
          repeat,
          ...Object.fromEntries(relays.map((relay) => [relay, summary(relay)])),
          relays,
          incomplete: results.filter((x) => x.delivered < messages).length,
          runs: results,
        };
        rows.push(row);
        process.stdout.write(`${JSON.stringify(row)}\n`);
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const classic = withPostfix && variants.length === 1;
  /** message bytes relayed per second, MB (10^6 bytes): for the 1 MB and 10 MB sizes */
  const mbps = (row: Row, x: Summary) => ((Number(row.messageBytes) * x.perSecond) / 1e6).toFixed(1);
  const rate = (x: Summary) => (x.perSecond >= 100 ? Math.round(x.perSecond) : x.perSecond.toFixed(1));
  const lines = classic
    ? [
        "",
        `| size | sessions | Postfix msg/s | mumuka msg/s | ratio | Postfix MB/s | mumuka MB/s | Postfix CPU µs/msg | mumuka CPU µs/msg | Postfix PSS | mumuka PSS |`,
        `|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
        ...rows.map((row) => {
          const p = row.postfix as Summary;
          const m = row[variants[0]!.name] as Summary;
          return `| ${row.sizeKB} KB | ${row.sessions} | ${rate(p)} | ${rate(m)} | ${(m.perSecond / p.perSecond).toFixed(2)}× | ${mbps(row, p)} | ${mbps(row, m)} | ${p.cpuMicrosPerMessage} | ${m.cpuMicrosPerMessage} | ${p.peakPssMiB} MiB | ${m.peakPssMiB} MiB |`;
        }),
      ]
    : [
        "",
        `| size | sessions | relay | msg/s | ratio | MB/s | CPU µs/msg | CPU ratio | peak PSS |`,
        `|---|---:|---|---:|---:|---:|---:|---:|---:|`,
        ...rows.flatMap((row) => {
          const first = row[row.relays[0]!] as Summary;
          return row.relays.map((relay) => {
            const x = row[relay] as Summary;
            return `| ${row.sizeKB} KB | ${row.sessions} | ${relay} | ${rate(x)} | ${(x.perSecond / first.perSecond).toFixed(2)}× | ${mbps(row, x)} | ${x.cpuMicrosPerMessage} | ${(x.cpuMicrosPerMessage / first.cpuMicrosPerMessage).toFixed(2)}× | ${x.peakPssMiB} MiB |`;
          });
        }),
      ];
  lines.push(`(medians of ${repeat} alternating cold runs of ${messages} messages each; ${os.cpus().length} CPUs)`, "");
  process.stderr.write((pacedRate > 0 ? latencyTable(rows) : lines).join("\n"));
  if (pacedRate > 0 && rows.some((row) => (row.runs as RunResult[]).some((x) => !x.heldRate))) process.exitCode = 1;
  if (rows.some((row) => Number(row.incomplete) > 0)) process.exitCode = 1;
}
