/**
 * Relay benchmark behind a real MTA (`npm run bench:postfix`): the issue's
 * acceptance test. smtp-source sends N messages at S sessions to a private
 * Postfix instance (Debian's package), which relays them to a mumuka gateway
 * process, which sanitizes, spools (fsync) and relays them to Postfix's
 * smtp-sink:
 *
 *   smtp-source → postfix (smtpd, queue, smtp) → mumuka → smtp-sink
 *
 * With `--baseline` the same Postfix relays straight into smtp-sink (no
 * mumuka), for comparison. The clock runs from smtp-source's start until
 * every message has left both queues (Postfix's incoming, active, deferred
 * and maildrop directories hold no file, mumuka's spool/{incoming,active,
 * deferred} neither). Reported: the messages delivered (mumuka's "delivered"
 * audit events, read after the gateway has stopped and flushed; Postfix's
 * `status=sent` log lines; the messages smtp-sink counted), held messages,
 * messages per second, the peak RSS (VmHWM) of the gateway process and its
 * CPU time (user + system, all threads) per message. One JSON line goes to
 * stdout, a human summary to stderr.
 *
 *   node bench/via-postfix.ts [--messages 2000] [--sessions 10] [--size 2000]
 *                             [--baseline] [--postfix-concurrency N]
 *   npm run bench:postfix [-- --baseline]
 *
 * Needs root (Postfix's master starts as root and drops to `postfix`) and the
 * Debian package `postfix` (postfix, smtp-source, smtp-sink); without them it
 * says so and exits 2. Postfix runs from a temporary directory (its own
 * main.cf, master.cf, queue, data directory and maillog); it is stopped and
 * the directory removed at the end, on a signal, or after the 10-minute
 * timeout. Only 127.0.0.1 is used, on ports the kernel picks.
 *
 * Postfix is configured only as far as relaying needs (relay_domains,
 * relayhost, mynetworks, no TLS, no local delivery); its process and
 * concurrency limits are the defaults, so it opens up to
 * default_destination_concurrency_limit (20) sessions to its relayhost, while
 * mumuka delivers with `delivery.concurrency: 8`. `--postfix-concurrency N`
 * sets smtp_destination_concurrency_limit to compare at equal concurrency.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { arg, cpuSeconds, freePort, peakRss } from "./proc.ts";
import { postfixMissing, startPostfix, type PostfixInstance } from "../tests/helpers/postfix-instance.ts";
import Database from "better-sqlite3";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** the whole run gives up after this long: a benchmark must stop by itself */
const TIMEOUT_MS = 10 * 60 * 1000;
/** a queue that has not moved for this long will not empty by itself (Postfix retries deferred mail after minutes) */
const STALL_MS = 30_000;
const DOMAIN = "city.example.lg.jp";

const messages = Number(arg("messages", "2000"));
const sessions = Number(arg("sessions", "10"));
const size = Number(arg("size", "2000"));
const baseline = process.argv.includes("--baseline");
const postfixConcurrency = arg("postfix-concurrency", "");
const mode = baseline ? "postfix→sink" : "postfix→mumuka→sink";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function preflight(): void {
  const missing = postfixMissing();
  if (!missing) return;
  process.stderr.write(`bench: cannot run: ${missing}\n`);
  process.exit(2);
}

async function waitListening(what: string, port: number, failed: () => string | undefined): Promise<void> {
  const start = Date.now();
  for (;;) {
    const why = failed();
    if (why) throw new Error(`${what} failed:\n${why}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.on("connect", () => (s.destroy(), resolve(true)));
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() - start > 30_000) throw new Error(`${what} did not listen on ${port}`);
    await sleep(100);
  }
}

/** files below a directory, at any depth (Postfix hashes `deferred` one level deep) */
async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) n += await countFiles(path.join(dir, e.name));
    else if (!e.name.startsWith(".")) n += 1;
  }
  return n;
}

async function postfixQueue(queueDir: string): Promise<{ moving: number; deferred: number; hold: number }> {
  let moving = 0;
  for (const q of ["maildrop", "incoming", "active"]) moving += await countFiles(path.join(queueDir, q));
  return { moving, deferred: await countFiles(path.join(queueDir, "deferred")), hold: await countFiles(path.join(queueDir, "hold")) };
}

async function mumukaSpool(dataDir: string): Promise<{ moving: number; deferred: number; held: number }> {
  let moving = 0;
  for (const s of ["incoming", "active"]) moving += await countFiles(path.join(dataDir, "spool", s));
  return {
    moving,
    deferred: await countFiles(path.join(dataDir, "spool", "deferred")),
    held: await countFiles(path.join(dataDir, "spool", "held")),
  };
}

/** Postfix's delivery outcomes so far, from its maillog (written by postlogd, a little behind) */
async function postfixLog(maillog: string): Promise<{ sent: number; deferred: number; bounced: number }> {
  const text = await readFile(maillog, "utf8").catch(() => "");
  const count = (status: string) => text.split(`status=${status} `).length - 1;
  return { sent: count("sent"), deferred: count("deferred"), bounced: count("bounced") };
}

async function main(): Promise<void> {
  preflight();
  const dir = await mkdtemp(path.join(os.tmpdir(), "mumuka-postfix-bench-"));
  const dataDir = path.join(dir, "mumuka");
  const [smtpdPort, gatewayPort, sinkPort] = [await freePort(), await freePort(), await freePort()];

  let gateway: ChildProcess | undefined;
  let sink: ChildProcess | undefined;
  let source: ChildProcess | undefined;
  let postfix: PostfixInstance | undefined;
  let cleaned: Promise<void> | undefined;
  const stopPostfix = async () => {
    const p = postfix;
    postfix = undefined;
    await p?.stop();
  };
  const stopChild = async (child: ChildProcess | undefined, signal: NodeJS.Signals = "SIGTERM") => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    await Promise.race([exited, sleep(10_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  const cleanup = () =>
    (cleaned ??= (async () => {
      await stopChild(source);
      await stopPostfix();
      await stopChild(gateway);
      await stopChild(sink);
      await rm(dir, { recursive: true, force: true });
    })());
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
    process.once(signal, () => {
      process.stderr.write(`bench: ${signal}, cleaning up\n`);
      void cleanup().finally(() => process.exit(130));
    });
  const deadline = setTimeout(() => {
    process.stderr.write("bench: timed out\n");
    void cleanup().finally(() => process.exit(1));
  }, TIMEOUT_MS);

  try {
    // smtp-sink refuses to run as root without a user to drop to; -c counts messages on stdout
    let sinkOut = "";
    sink = spawn("smtp-sink", ["-u", "nobody", "-c", `127.0.0.1:${sinkPort}`, "1000"], { stdio: ["ignore", "pipe", "pipe"] });
    sink.stdout!.on("data", (d) => (sinkOut = (sinkOut + d).slice(-4096)));
    sink.stderr!.on("data", (d) => (sinkOut += d));
    await waitListening("smtp-sink", sinkPort, () => (sink!.exitCode !== null ? sinkOut : undefined));

    let gatewayOut = "";
    if (!baseline) {
      const config = path.join(dir, "mumuka.yaml");
      await writeFile(
        config,
        [
          `dataDir: ${dataDir}`,
          `smtp: { host: 127.0.0.1, port: ${gatewayPort}, clients: [127.0.0.0/8], recipientDomains: ["${DOMAIN}"], maxConnections: 200, maxConnectionsPerClient: 200 }`,
          `delivery: { mode: smtp, host: 127.0.0.1, port: ${sinkPort}, concurrency: 8 }`,
          "log: { level: warn, format: json }",
          "admin: { enabled: false }",
          "",
        ].join("\n"),
      );
      gateway = spawn(process.execPath, ["src/cli.ts", "serve", "--config", config], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
      gateway.stdout!.on("data", (d) => (gatewayOut = (gatewayOut + d).slice(-16384)));
      gateway.stderr!.on("data", (d) => (gatewayOut = (gatewayOut + d).slice(-16384)));
      await waitListening("gateway", gatewayPort, () => (gateway!.exitCode !== null ? gatewayOut : undefined));
    }

    // Postfix only as far as relaying needs (tests/helpers/postfix-instance.ts: its own queue, no
    // chroot, no local delivery); process and concurrency limits are Postfix's defaults
    postfix = await startPostfix({
      name: "bench",
      port: smtpdPort,
      main: [
        "myhostname = internet-mta.example",
        `relay_domains = ${DOMAIN}`,
        `relayhost = [127.0.0.1]:${baseline ? sinkPort : gatewayPort}`,
        "smtpd_relay_restrictions = permit_mynetworks reject_unauth_destination",
        ...(postfixConcurrency ? [`smtp_destination_concurrency_limit = ${Number(postfixConcurrency)}`] : []),
      ],
    });
    const queueDir = path.join(postfix.dir, "queue");
    const maillog = path.join(postfix.dir, "maillog");

    const loadBefore = os.loadavg().map((l) => +l.toFixed(2));
    process.stderr.write(
      `bench: ${mode}: ${messages} messages of ~${size} bytes, ${sessions} sessions` +
        (postfixConcurrency ? `, smtp_destination_concurrency_limit ${postfixConcurrency}` : "") +
        `, load average ${loadBefore.join(" ")}\n`,
    );
    const cpu0 = gateway ? await cpuSeconds(gateway.pid!) : 0;
    const t0 = performance.now();
    source = spawn(
      "smtp-source",
      ["-s", String(sessions), "-m", String(messages), "-l", String(size), "-f", "bench@example.com", "-t", `staff@${DOMAIN}`, `127.0.0.1:${smtpdPort}`],
      { stdio: "inherit" },
    );
    const sourceStatus = await new Promise<number | null>((r) => source!.once("exit", (code) => r(code)));
    if (sourceStatus !== 0) throw new Error(`smtp-source failed (${sourceStatus})`);
    const tAccepted = performance.now();

    // every message has had a 250 from Postfix, so each is in one of the queues until it reaches the sink
    let last = "";
    let lastChange = performance.now();
    let pq = await postfixQueue(queueDir);
    let ms = baseline ? { moving: 0, deferred: 0, held: 0 } : await mumukaSpool(dataDir);
    let stalled = false;
    while (pq.moving + pq.deferred + ms.moving + ms.deferred > 0) {
      if (gateway && gateway.exitCode !== null) throw new Error(`gateway exited:\n${gatewayOut}`);
      const now = performance.now();
      const state = JSON.stringify([pq, ms]);
      if (state !== last) [last, lastChange] = [state, now];
      else if (now - lastChange > STALL_MS) {
        stalled = true;
        process.stderr.write(`bench: queues stalled for ${STALL_MS / 1000} s: postfix ${JSON.stringify(pq)}, mumuka ${JSON.stringify(ms)}\n`);
        break;
      }
      await sleep(50);
      pq = await postfixQueue(queueDir);
      if (!baseline) ms = await mumukaSpool(dataDir);
    }
    const tDone = performance.now();
    const loadAfter = os.loadavg().map((l) => +l.toFixed(2));
    const cpu = gateway ? (await cpuSeconds(gateway.pid!)) - cpu0 : 0;
    const rss = gateway ? await peakRss(gateway.pid!) : 0;

    // postlogd writes the maillog a little after the fact
    let log = await postfixLog(maillog);
    for (let i = 0; i < 50 && log.sent + log.bounced < messages; i++) {
      await sleep(100);
      log = await postfixLog(maillog);
    }
    await stopPostfix(); // closes Postfix's cached sessions to the next hop

    let audit = { delivered: 0, received: 0 };
    if (gateway) {
      // the audit store is complete once the gateway has stopped (it flushes at SIGTERM)
      await stopChild(gateway);
      const db = new Database(path.join(dataDir, "audit.sqlite"), { readonly: true });
      try {
        const rows = db.prepare("SELECT type, count(*) AS n FROM audit_events WHERE type IN ('received', 'delivered') GROUP BY type").all() as {
          type: string;
          n: number;
        }[];
        for (const row of rows) audit = { ...audit, [row.type]: row.n };
      } finally {
        db.close();
      }
    }
    // smtp-sink prints its counter as each session ends: read it once all senders have gone
    await stopChild(sink);
    const sinkCount = Number([...sinkOut.matchAll(/mesg=(\d+)/g)].at(-1)?.[1] ?? 0);

    const delivered = baseline ? log.sent : audit.delivered;
    const seconds = (tDone - t0) / 1000;
    const result = {
      mode: baseline ? "baseline" : "mumuka",
      messages,
      sessions,
      size,
      postfixConcurrency: postfixConcurrency ? Number(postfixConcurrency) : "default",
      delivered,
      postfixSent: log.sent,
      postfixDeferred: log.deferred,
      postfixBounced: log.bounced,
      mumukaReceived: baseline ? null : audit.received,
      mumukaDelivered: baseline ? null : audit.delivered,
      sinkMessages: sinkCount,
      held: ms.held,
      stalled,
      acceptSeconds: +((tAccepted - t0) / 1000).toFixed(2),
      totalSeconds: +seconds.toFixed(2),
      acceptedPerSecond: Math.round(messages / ((tAccepted - t0) / 1000)),
      deliveredPerSecond: Math.round(delivered / seconds),
      peakRssMiB: baseline ? null : Math.round(rss / 1024 / 1024),
      gatewayCpuSeconds: baseline ? null : +cpu.toFixed(2),
      cpuMsPerMessage: baseline ? null : +((cpu * 1000) / messages).toFixed(2),
      cpus: os.cpus().length,
      loadAverage: { before: loadBefore, after: loadAfter },
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.stderr.write(
      `bench: ${mode}: delivered ${delivered} of ${messages} in ${result.totalSeconds} s = ${result.deliveredPerSecond} msg/s ` +
        `(Postfix accepted them at ${result.acceptedPerSecond} msg/s), Postfix sent ${log.sent}` +
        (log.deferred + log.bounced ? ` (deferred ${log.deferred}, bounced ${log.bounced})` : "") +
        `, smtp-sink counted ${sinkCount}` +
        (baseline ? "" : `, held ${ms.held}, gateway peak RSS ${result.peakRssMiB} MiB, gateway CPU ${result.cpuMsPerMessage} ms/message`) +
        (stalled ? ", STALLED" : "") +
        `, load average ${loadAfter.join(" ")}\n`,
    );
    if (stalled || delivered < messages) process.exitCode = 1;
  } finally {
    clearTimeout(deadline);
    await cleanup();
  }
}

await main();
