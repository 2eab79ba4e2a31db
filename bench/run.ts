/**
 * Relay throughput benchmark (`npm run bench`): N messages at S concurrent
 * SMTP sessions into a real mumuka gateway process, which sanitizes, spools
 * (fsync) and relays them to a sink. Reports messages per second end to end
 * (first connection → spool empty), the receive rate alone, the peak RSS
 * (VmHWM) of the gateway process, and the CPU time the gateway used per
 * message (all its threads, user + system, from /proc; also by thread name:
 * receiver, sanitizer workers, main thread, libuv's pool, V8's helpers): on a shared 2-core
 * machine the rates swing with other processes' load, the CPU per message
 * much less. After the gateway has stopped, the latency from receipt (the
 * "received" audit event: the receiver thread reports it just before the 250
 * goes out, the main thread stamps it when it takes the report) to the
 * downstream server's acceptance (the "delivered" event) is read from its
 * audit store: p50, p90, p99 and max. Sent as fast as possible, that is
 * mostly the time a message waited behind the others; --rate is the latency.
 *
 *   node bench/run.ts [--messages 2000] [--sessions 10] [--size 2000]
 *                     [--sender auto|smtp-source|node] [--mime] [--sink auto|smtp-sink|node]
 *                     [--warmup N] [--config-extra YAML] [--auth on|off|compare] [--repeat 3]
 *                     [--documents] [--pdf-pages N] [--profile DIR] [--rate N|half]
 *
 * --warmup N first relays N messages unmeasured, so the figures are those of a
 * running gateway (V8 has compiled the hot code) rather than of its first seconds.
 *
 * `--rate N` measures latency at a fixed rate instead (issue 13): the warmup and
 * then the measured messages are sent on schedule, message i at t0 + i/N,
 * over --sessions SMTP sessions kept open, by a Node sender (bench/pace.ts,
 * bench/paced-sender.ts; smtp-source cannot pace). Printed: the achieved send
 * rate and the schedule lag (a run that could not hold its rate says so, in
 * capitals, and exits 1), and p50/p90/p99/max of "250 → delivered": from the
 * moment the sender read mumuka's 250 to the `delivered` audit event, which
 * the main thread stamps as soon as the downstream server's reply to the end
 * of DATA accepted the message (both on this machine's clock); beside it the
 * audit store's own received → delivered, and the warmup's (the cold start's)
 * 250 → delivered. With --rate the warmup is 1000 unless given (--warmup 0
 * for a cold gateway). `--rate half` runs as fast as possible first, to find
 * the peak relay rate, then a new gateway at half of it: the issue's
 * measurement, e.g. `--mime --rate half --messages 3000 --sessions 10`.
 *
 * With Postfix's tools installed (Debian package `postfix`), the sender is
 * `smtp-source` and the sink `smtp-sink`, as in Postfix's own measurements;
 * otherwise both are small Node SMTP peers in this process. `--mime` sends a
 * multipart message (HTML + a small attachment: the sanitizer converts the HTML,
 * disarms the link and removes the attachment) instead of plain text.
 * `--realistic` sends the message of the Postfix comparison instead
 * (bench/compare-postfix.ts: a Japanese text part, its HTML alternative and a
 * base64 attachment making up --size, e.g. `--size 5120` or `--size 102400`):
 * the project's measuring bar, where `--mime` is a small attachment.
 *
 * `--documents` sends a message with a text part, a Japanese PDF and a two-sheet
 * workbook (tests/fixtures/extract/) whose text the gateway extracts into the
 * body; `--pdf-pages N` replaces that PDF by a generated Japanese one of N
 * pages (300 pages ≈ 1 MB). Extraction on and off: add
 * `--config-extra 'sanitize: { extractText: [] }'` for off.
 *
 * Only loopback addresses are used; the run is bounded by a timeout.
 *
 * `--auth on|off` sends one DKIM-signed message (2048-bit RSA key made for the
 * run; an SPF record for the sender and a DMARC record are published by a DNS
 * server on loopback, tests/helpers/dns-server.ts) with sender verification
 * on or off: the same bytes both ways, so the difference is the cost of
 * verification (use --warmup so that the cache is warm, as in a running gateway).
 * `--auth compare` runs both in one invocation, alternately (off, on, off, on …),
 * --repeat times each (a new gateway each run, the same DNS server and bytes),
 * and prints the medians and the ratios on/off of the message rate, the CPU per
 * message and the main thread's CPU per message: on a shared machine the load
 * falls on both alike, so the ratios are the figures to read.
 *
 * `--profile DIR` starts the gateway with `node --cpu-prof`: one V8 CPU profile
 * per thread (main, receiver, sanitizer workers, authentication) under DIR/on,
 * DIR/off or DIR/run, written when the gateway stops (open them in Chrome's
 * DevTools or any .cpuprofile viewer).
 *
 * `--compare-postfix` runs bench/compare-postfix.ts instead: Postfix's plain
 * relay and mumuka alternately, cold, on realistic 5 KB and 100 KB MIME
 * (with `--rate N`: the latency of both at N msg/s, timed at the sink).
 *
 * `--auth-alone` runs bench/auth-alone.ts instead: the CPU of sender verification
 * alone, in process, on the --auth message (`--realistic`, `--size` as here).
 *
 * `--embedded` runs bench/embedded.ts instead: the CPU cost of looking for
 * files spelled in text, per 5 KB text (prose, links, adversarial texts),
 * in this process, no gateway (`--base CHECKOUT` compares another checkout).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { paceSummary, percentiles, queuedId, matchLatencies, type PaceSummary, type Percentiles } from "./pace.ts";
import { sendPaced } from "./paced-sender.ts";
import { mimeMessage as barMessage } from "./compare-postfix.ts";
import { arg, cpuByThread, cpuSeconds, deployedEnvironment, freePort, listenNodeSink, peakRss } from "./proc.ts";
import { plainSignedBase, startAuthDns } from "./auth-message.ts";
import type { DnsServer } from "../tests/helpers/dns-server.ts";
import Database from "better-sqlite3";
import nodemailer from "nodemailer";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** the whole run gives up after this long: a benchmark must stop by itself */
const TIMEOUT_MS = 10 * 60 * 1000;

const messages = Number(arg("messages", "2000"));
const sessions = Number(arg("sessions", "10"));
const size = Number(arg("size", "2000"));
const documents = process.argv.includes("--documents") || process.argv.includes("--pdf-pages");
const pdfPages = Number(arg("pdf-pages", "0"));
/** --realistic: the Postfix comparison's message of about --size bytes (see the header) */
const realistic = process.argv.includes("--realistic");
const mime = process.argv.includes("--mime") || documents || realistic;
/** --rate N: messages per second, sent on schedule (bench/pace.ts); "half": a peak run first, then half its rate; "": as fast as possible */
const rateArg = arg("rate", "");
if (rateArg && rateArg !== "half" && !(Number(rateArg) > 0)) throw new Error(`--rate: a number of messages per second or "half", not ${rateArg}`);
/**
 * messages sent (and relayed) before the measurement: a gateway runs for months, its code is compiled and warm.
 * With --rate, 1000 unless given: the latency asked for is a running gateway's; the paced run sends the
 * warmup at the same rate, without a break, and prints its latency apart as the cold start's.
 */
const warmup = Number(arg("warmup", rateArg ? "1000" : "0"));
/** YAML appended to the gateway's configuration, e.g. --config-extra 'originals: { retentionDays: 0 }' */
const extraConfig = arg("config-extra", "");
/** "on" / "off": a DKIM-signed message, verified or not (see the header); "compare": both, alternately; "": the plain message */
const authMode = arg("auth", "");
/** --auth compare: runs of each mode */
const repeat = Number(arg("repeat", "3"));
/** --profile DIR: the gateway runs with --cpu-prof, its profiles under DIR/on, DIR/off (or DIR/run) */
const profileDir = arg("profile", "");
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const senderKind = arg("sender", "auto") === "auto" ? (has("smtp-source") ? "smtp-source" : "node") : arg("sender", "auto");
const sinkKind = arg("sink", "auto") === "auto" ? (has("smtp-sink") ? "smtp-sink" : "node") : arg("sink", "auto");

async function waitListening(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const start = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited:\n${output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.on("connect", () => (s.destroy(), resolve(true)));
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() - start > 30_000) throw new Error(`gateway did not listen:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startSink(port: number): Promise<{ stop(): Promise<void> }> {
  if (sinkKind === "smtp-sink") {
    // smtp-sink refuses to run as root without a user to drop to
    const user = process.getuid?.() === 0 ? ["-u", "nobody"] : [];
    const child = spawn("smtp-sink", [...user, `127.0.0.1:${port}`, "1000"], { stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 300));
    return { stop: async () => void child.kill("SIGTERM") };
  }
  return listenNodeSink(port, (stream, accept) => {
    stream.on("data", () => {});
    stream.on("end", accept);
  });
}

/** base64 in 76-character lines */
const b64 = (bytes: Buffer) => bytes.toString("base64").replace(/.{76}/g, "$&\r\n");

let documentParts: string[] = [];

/** the documents of --documents: the committed fixtures, or a generated PDF of --pdf-pages pages */
async function loadDocuments(): Promise<void> {
  const fixture = (name: string) => readFileSync(path.join(root, "tests/fixtures/extract", name));
  let pdf: Buffer = fixture("jp-cid-nonembedded.pdf");
  if (pdfPages > 0) {
    const { japanesePdf } = await import("../tests/helpers/documents.ts");
    const line = "令和８年度予算の執行状況について、各課の報告を取りまとめました。";
    pdf = japanesePdf(Array.from({ length: pdfPages }, (_, p) => Array.from({ length: 30 }, (_, l) => `${p + 1}-${l + 1} ${line}`)));
  }
  const attach = (name: string, type: string, bytes: Buffer) =>
    [`--b`, `Content-Type: ${type}; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`, "Content-Transfer-Encoding: base64", "", b64(bytes)].join("\r\n");
  documentParts = [
    attach("mitsumori.pdf", "application/pdf", pdf),
    attach("uriage.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", fixture("multi-sheet.xlsx")),
  ];
  process.stderr.write(`bench: documents: a ${Math.round(pdf.length / 1024)} KB PDF and a ${Math.round(fixture("multi-sheet.xlsx").length / 1024)} KB workbook\n`);
}

/** the header block of a bench message: multipart/mixed with the boundary "b" */
function mixedHead(i: number): string[] {
  return ["From: Bench <bench@example.com>", "To: staff@city.example.lg.jp", `Subject: bench ${i}`, `Message-ID: <bench-${i}@example.com>`, "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b"', ""];
}

function documentsMessage(i: number): string {
  return [
    ...mixedHead(i),
    "--b",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    "見積書と売上表を送ります。",
    ...documentParts,
    "--b--",
    "",
  ].join("\r\n");
}

/** --realistic: one message for the whole run (its attachment is random bytes), CRLF as SMTP carries it */
let realisticMessage: string | undefined;

function mimeMessage(i: number): string {
  if (documents) return documentsMessage(i);
  if (realistic) return (realisticMessage ??= barMessage(Math.max(1, Math.round(size / 1024))).replaceAll("\n", "\r\n"));
  const filler = "これは性能測定用のメールです。This is a benchmark message.\r\n".repeat(Math.max(1, Math.floor(size / 80)));
  return [
    ...mixedHead(i),
    "--b",
    "Content-Type: text/html; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    `<p>${filler}</p><a href="https://example.com/x">link</a>`,
    "--b",
    'Content-Type: application/pdf; name="a.pdf"',
    "Content-Transfer-Encoding: base64",
    "",
    Buffer.from("%PDF-1.4 benchmark").toString("base64"),
    "--b--",
    "",
  ].join("\r\n");
}

/** the MIME message for smtp-source -F (it reads lines and ends each with CRLF itself) */
let mimeFile: string | undefined;
/** --auth: the one signed message every sender sends */
let signedMessage: string | undefined;

/** --auth: the message sent (signed by its From domain) and the DNS for it (bench/auth-message.ts) */
function startBenchAuthDns(): Promise<{ dns: DnsServer; message: string }> {
  return startAuthDns(mime ? mimeMessage(0) : plainSignedBase(size), realistic ? "example.co.jp" : "example.com");
}

async function sendAll(port: number, messages: number): Promise<void> {
  if (senderKind === "smtp-source") {
    const payload = mimeFile ? ["-F", mimeFile] : ["-l", String(size)];
    const r = spawnSync("smtp-source", ["-s", String(sessions), "-m", String(messages), ...payload, "-f", "bench@example.com", "-t", "staff@city.example.lg.jp", `127.0.0.1:${port}`], {
      stdio: "inherit",
      timeout: TIMEOUT_MS,
    });
    if (r.status !== 0) throw new Error(`smtp-source failed (${r.status})`);
    return;
  }
  let next = 0;
  const worker = async () => {
    const t = nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true, pool: true, maxConnections: 1, maxMessages: Infinity });
    while (next < messages) {
      const i = next++;
      const raw = signedMessage ?? (mime ? mimeMessage(i) : `Subject: bench ${i}\r\nFrom: bench@example.com\r\n\r\n${"x".repeat(size)}\r\n`);
      await t.sendMail({ envelope: { from: "bench@example.com", to: ["staff@city.example.lg.jp"] }, raw });
    }
    t.close();
  };
  await Promise.all(Array.from({ length: sessions }, worker));
}

async function countSpool(dataDir: string): Promise<{ waiting: number; held: number }> {
  let waiting = 0;
  for (const s of ["incoming", "active", "deferred"]) waiting += (await readdir(path.join(dataDir, "spool", s))).filter((n) => !n.startsWith(".")).length;
  const held = (await readdir(path.join(dataDir, "spool", "held"))).length;
  return { waiting, held };
}

/**
 * What the gateway's audit store says of each message, in ms since the epoch (both stamped by the
 * main thread's clock, Date, when it records the event; see the header of the latency section of
 * docs/relay.md):
 * - received: the receiver thread posts the event after the spool record is committed (fsync)
 *   and just before smtp-server writes the 250; the main thread stamps it when it takes the post
 *   off its queue, so it is the 250's moment plus however long the main thread was busy;
 * - delivered: recorded by the delivery step (src/deliver/deliver-stage.ts) as soon as the
 *   downstream server's reply to the end of DATA accepted the recipients, before the spool
 *   record is retired (the first such event of a message, should it have several recipients' passes).
 */
function auditTimes(auditFile: string): { received: Map<string, number>; delivered: Map<string, number> } {
  const db = new Database(auditFile, { readonly: true });
  try {
    const rows = db.prepare(`SELECT audit_id AS id, type, ts FROM audit_events WHERE type IN ('received', 'delivered') ORDER BY seq`).all() as { id: string; type: string; ts: string }[];
    const received = new Map<string, number>();
    const delivered = new Map<string, number>();
    for (const row of rows) {
      const map = row.type === "received" ? received : delivered;
      if (!map.has(row.id)) map.set(row.id, Date.parse(row.ts));
    }
    return { received, delivered };
  } finally {
    db.close();
  }
}

/** --auth on: every sanitized message's verdict is DKIM pass and DMARC pass (the signed bytes arrived intact, the DNS answered), else the run fails */
function expectVerified(auditFile: string): void {
  const db = new Database(auditFile, { readonly: true });
  try {
    const rows = db
      .prepare(`SELECT json_extract(data, '$.auth.dkim[0].result') AS dkim, json_extract(data, '$.auth.dmarc.result') AS dmarc, count(*) AS n FROM audit_events WHERE type = 'sanitized' GROUP BY 1, 2`)
      .all() as { dkim: string | null; dmarc: string | null; n: number }[];
    const other = rows.filter((r) => r.dkim !== "pass" || r.dmarc !== "pass");
    if (rows.length === 0 || other.length) throw new Error(`bench: verification on, but not every message passed: ${JSON.stringify(rows)}`);
  } finally {
    db.close();
  }
}

/** received → delivered latency per message (ms) of the messages received at or after `since`, from the stopped gateway's audit store */
function latencies(auditFile: string, since: string): Percentiles | undefined {
  const { received, delivered } = auditTimes(auditFile);
  const from = Date.parse(since);
  return percentiles(matchLatencies(new Map([...received].filter(([, t]) => t >= from)), delivered).ms);
}

/** one gateway run's figures (also the JSON line printed for it) */
type RunResult = Record<string, unknown> & { relayedPerSecond: number; cpuMsPerMessage: number; cpuSecondsByThread: Record<string, number> };

/** message i as the Node senders send it: the signed message (--auth), the MIME one (--mime), or plain text in 76-character lines */
function messageBytes(i: number): string {
  return signedMessage ?? (mime ? mimeMessage(i) : `Subject: bench ${i}\r\nFrom: bench@example.com\r\n\r\n${"x".repeat(76).concat("\r\n").repeat(Math.max(1, Math.floor(size / 78)))}`);
}

/** what a paced run measured: its schedule, and the latencies of the measured (after the warmup) and the warmup messages */
interface PacedFigures {
  pace: PaceSummary;
  /** the sender read the 250 → the delivered event (see auditTimes) */
  replyToDelivered: Percentiles | undefined;
  /** the received event → the delivered event, both from the audit store */
  receivedToDelivered: Percentiles | undefined;
  /** the warmup messages' 250 → delivered: the cold start */
  warmupReplyToDelivered: Percentiles | undefined;
  /** measured messages whose 250 carried no audit id or that have no delivered event */
  unmatched: number;
}

const LATENCY_MEANING =
  "250 → delivered = from the moment the sender read mumuka's 250 to the `delivered` audit event, stamped by the gateway's main thread as soon as the downstream server's reply to the end of DATA accepted the message (one machine, one clock)";

/**
 * One gateway, started cold on an empty data directory, `warmup` then `messages` relayed; `auth`:
 * verification on/off with --auth; `rate`: sent on schedule at `rate` per second (warmup and
 * measured messages in one stream), else as fast as the sender goes.
 */
async function runOnce(auth: "on" | "off" | "", authDns: { dns: DnsServer; message: string } | undefined, rate?: number): Promise<RunResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "mumuka-bench-"));
  const [smtpPort, sinkPort] = [await freePort(), await freePort()];
  const config = path.join(dir, "mumuka.yaml");
  if (authDns) {
    signedMessage = authDns.message;
    mimeFile = path.join(dir, "signed.eml");
    await writeFile(mimeFile, signedMessage.replaceAll("\r\n", "\n"));
  } else if (mime) {
    mimeFile = path.join(dir, "mime.eml");
    await writeFile(mimeFile, mimeMessage(0).replaceAll("\r\n", "\n"));
  }
  await writeFile(
    config,
    [
      `dataDir: ${dir}/data`,
      `smtp: { host: 127.0.0.1, port: ${smtpPort}, clients: [127.0.0.0/8], recipientDomains: ["*"], maxConnections: 200, maxConnectionsPerClient: 200 }`,
      `delivery: { mode: smtp, host: 127.0.0.1, port: ${sinkPort}, concurrency: 8 }`,
      "log: { level: warn, format: json }",
      "admin: { enabled: false }",
      ...(authDns ? [`authentication: { enabled: ${auth === "on"}, dns: { servers: ["${authDns.dns.address}"] } }`] : []),
      ...(extraConfig ? [extraConfig] : []),
      "",
    ].join("\n"),
  );
  const sink = await startSink(sinkPort);
  const queriesBefore = authDns?.dns.queries.length ?? 0;
  // --profile DIR: V8 CPU profiles of the gateway's threads (main, receiver, workers), one file each
  const profile = profileDir ? ["--cpu-prof", "--cpu-prof-dir", path.resolve(profileDir, auth || "run")] : [];
  // with the environment of the systemd unit (V8 heap sizing, malloc arenas): the gateway as deployed
  const gateway = spawn(process.execPath, [...profile, "src/cli.ts", "serve", "--config", config], { cwd: root, env: { ...process.env, ...deployedEnvironment(root) }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  gateway.stdout!.on("data", (d) => (out += d));
  gateway.stderr!.on("data", (d) => (out += d));
  // a paced run lasts (warmup + messages) / rate by design: its own length on top of the usual bound
  const timeoutMs = TIMEOUT_MS + (rate ? ((warmup + messages) / rate) * 1000 : 0);
  const deadline = setTimeout(() => {
    process.stderr.write(`bench: timed out after ${Math.round(timeoutMs / 1000)} s\n`);
    gateway.kill("SIGKILL");
    process.exit(1);
  }, timeoutMs);
  try {
    await waitListening(smtpPort, gateway, () => out);
    const sender = rate ? `paced at ${rate} msg/s` : senderKind;
    process.stderr.write(`bench: ${messages} messages${warmup ? ` (after ${warmup} unmeasured)` : ""} of ~${size} bytes, ${sessions} sessions, sender=${sender}${mime ? " (MIME)" : ""}, sink=${sinkKind}${auth ? `, DKIM-signed, verification ${auth}` : ""}\n`);
    if (rate) return await pacedRun(rate, smtpPort, dir, gateway, auth);
    if (warmup > 0) {
      await sendAll(smtpPort, warmup);
      while ((await countSpool(`${dir}/data`)).waiting > 0) await new Promise((r) => setTimeout(r, 50));
    }
    const measuredSince = new Date().toISOString();
    const { t0, tSent: tReceived, tDone, counts, cpu, threads, rss } = await measureUntilEmpty(gateway.pid!, dir, () => sendAll(smtpPort, messages));
    const result = {
      messages,
      sessions,
      size,
      sender: senderKind,
      sink: sinkKind,
      mime,
      auth: auth || null,
      // with verification on: the lookups the loopback DNS server answered in this run (a warm cache asks almost nothing)
      dnsQueries: authDns ? authDns.dns.queries.length - queriesBefore : null,
      documents: documents ? { pdfPages: pdfPages || 2, extraction: !/extractText:\s*\[\s*\]/.test(extraConfig) } : false,
      receiveSeconds: +((tReceived - t0) / 1000).toFixed(2),
      totalSeconds: +((tDone - t0) / 1000).toFixed(2),
      receivedPerSecond: Math.round(messages / ((tReceived - t0) / 1000)),
      relayedPerSecond: Math.round(messages / ((tDone - t0) / 1000)),
      held: counts.held,
      peakRssMiB: Math.round(rss / 1024 / 1024),
      gatewayCpuSeconds: +cpu.toFixed(2),
      cpuMsPerMessage: +((cpu * 1000) / messages).toFixed(2),
      cpus: os.cpus().length,
      loadAverage: os.loadavg().map((l) => +l.toFixed(2)),
      warmup,
      // CPU seconds by thread name during the measurement
      cpuSecondsByThread: Object.fromEntries([...threads].sort((a, b) => b[1] - a[1]).map(([name, seconds]) => [name, +seconds.toFixed(2)])),
    };
    // the audit store is complete once the gateway has stopped (it flushes at SIGTERM)
    gateway.kill("SIGTERM");
    await new Promise((r) => gateway.once("exit", r));
    const latency = latencies(path.join(dir, "data", "audit.sqlite"), measuredSince);
    // a benchmark of the wrong path measures nothing: with verification on, every message must have passed
    if (auth === "on") expectVerified(path.join(dir, "data", "audit.sqlite"));
    const full = { ...result, latencyMs: latency ?? null };
    process.stdout.write(`${JSON.stringify(full)}\n`);
    process.stderr.write(
      `bench: relayed ${messages} in ${result.totalSeconds} s = ${result.relayedPerSecond} msg/s ` +
        `(received at ${result.receivedPerSecond} msg/s), held ${counts.held}, gateway peak RSS ${result.peakRssMiB} MiB, ` +
        `gateway CPU ${result.cpuMsPerMessage} ms/message (${Object.entries(result.cpuSecondsByThread)
          .filter(([, seconds]) => seconds > 0)
          .map(([name, seconds]) => `${name} ${seconds} s`)
          .join(", ")})` +
        (latency ? `, received → delivered (audit store, at saturation: mostly queueing) ${inWords(latency)}` : "") +
        "\n",
    );
    return full;
  } finally {
    clearTimeout(deadline);
    if (gateway.exitCode === null && gateway.signalCode === null) {
      gateway.kill("SIGTERM");
      await new Promise((r) => gateway.once("exit", r));
    }
    await sink.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** ms figures in one line: "p50 4, p90 9, p99 31, max 88 ms (2,990 messages)" */
const inWords = (p: Percentiles | undefined) => (p ? `p50 ${p.p50}, p90 ${p.p90}, p99 ${p.p99}, max ${p.max} ms (${p.count} messages)` : "none");

/**
 * `send` and then the wait until the spool has emptied, measured: the gateway's CPU (whole process and by
 * thread, as deltas), its peak RSS, and the times (performance.now()) at the start, when `send` ended and
 * when the spool was empty.
 */
async function measureUntilEmpty<T>(pid: number, dir: string, send: () => Promise<T>) {
  const cpu0 = await cpuSeconds(pid);
  const threads0 = await cpuByThread(pid);
  const t0 = performance.now();
  const value = await send();
  const tSent = performance.now();
  let counts = await countSpool(`${dir}/data`);
  while (counts.waiting > 0) {
    await new Promise((r) => setTimeout(r, 50));
    counts = await countSpool(`${dir}/data`);
  }
  const tDone = performance.now();
  const cpu = (await cpuSeconds(pid)) - cpu0;
  const threads = await cpuByThread(pid);
  for (const [name, seconds] of threads) threads.set(name, seconds - (threads0.get(name) ?? 0));
  return { value, t0, tSent, tDone, counts, cpu, threads, rss: await peakRss(pid) };
}

/**
 * The --rate part of runOnce: warmup + messages sent on schedule in one stream, the spool left to
 * empty, the gateway stopped (its audit store then complete), the latencies read from it.
 */
async function pacedRun(rate: number, smtpPort: number, dir: string, gateway: ChildProcess, auth: "on" | "off" | ""): Promise<RunResult> {
  const total = warmup + messages;
  const run = await measureUntilEmpty(gateway.pid!, dir, () =>
    sendPaced({ port: smtpPort, rate, sessions, count: total, message: (i) => Buffer.from(messageBytes(i)), from: "bench@example.com", to: "staff@city.example.lg.jp" }),
  );
  const { t0, tSent, tDone, counts, cpu, threads, rss } = run;
  const { sent, repliedAt } = run.value;
  // the audit store is complete once the gateway has stopped (it flushes at SIGTERM)
  gateway.kill("SIGTERM");
  await new Promise((r) => gateway.once("exit", r));
  if (auth === "on") expectVerified(path.join(dir, "data", "audit.sqlite"));
  const times = auditTimes(path.join(dir, "data", "audit.sqlite"));
  /** audit id → when the sender read its 250, for messages from..to */
  const replied = (from: number, to: number) =>
    new Map(
      sent.slice(from, to).flatMap((s): [string, number][] => {
        const id = queuedId(s.reply);
        const at = repliedAt[s.i];
        return id !== undefined && at !== undefined ? [[id, at]] : [];
      }),
    );
  const measured = replied(warmup, total);
  const fromReply = matchLatencies(measured, times.delivered);
  const receivedAt = new Map([...measured.keys()].flatMap((id): [string, number][] => (times.received.has(id) ? [[id, times.received.get(id)!]] : [])));
  const figures: PacedFigures = {
    // the schedule of the measured messages (the warmup's is the same stream, before them)
    pace: paceSummary(rate, sent.slice(warmup)),
    replyToDelivered: percentiles(fromReply.ms),
    receivedToDelivered: percentiles(matchLatencies(receivedAt, times.delivered).ms),
    warmupReplyToDelivered: warmup > 0 ? percentiles(matchLatencies(replied(0, warmup), times.delivered).ms) : undefined,
    unmatched: messages - fromReply.ms.length,
  };
  const { pace } = figures;
  const lag = { p50: +pace.lagMs.p50.toFixed(1), p90: +pace.lagMs.p90.toFixed(1), p99: +pace.lagMs.p99.toFixed(1), max: +pace.lagMs.max.toFixed(1) };
  const result: RunResult = {
    messages,
    sessions,
    size,
    sender: "paced",
    sink: sinkKind,
    mime,
    auth: auth || null,
    warmup,
    targetRate: rate,
    achievedRate: +pace.achievedRate.toFixed(1),
    heldRate: pace.held && pace.errors === 0,
    notHeldBecause: pace.why || null,
    scheduleLagMs: lag,
    waitedForSession: pace.waitedForSession,
    sendErrors: pace.errors,
    // the distinct failures, with how many times each (the gateway's reply, or the connection's error)
    sendErrorKinds: sent.reduce<Record<string, number>>((kinds, x) => (x.error === undefined ? kinds : { ...kinds, [x.error.slice(0, 200)]: (kinds[x.error.slice(0, 200)] ?? 0) + 1 }), {}),
    undelivered: figures.unmatched,
    sendSeconds: +((tSent - t0) / 1000).toFixed(2),
    totalSeconds: +((tDone - t0) / 1000).toFixed(2),
    // the whole stream, warmup included: at a held rate this is the rate, not a capacity
    relayedPerSecond: Math.round(total / ((tDone - t0) / 1000)),
    held: counts.held,
    peakRssMiB: Math.round(rss / 1024 / 1024),
    gatewayCpuSeconds: +cpu.toFixed(2),
    cpuMsPerMessage: +((cpu * 1000) / total).toFixed(2),
    cpus: os.cpus().length,
    loadAverage: os.loadavg().map((l) => +l.toFixed(2)),
    cpuSecondsByThread: Object.fromEntries([...threads].sort((a, b) => b[1] - a[1]).map(([name, seconds]) => [name, +seconds.toFixed(2)])),
    latencyMs: { replyToDelivered: figures.replyToDelivered ?? null, receivedToDelivered: figures.receivedToDelivered ?? null, warmupReplyToDelivered: figures.warmupReplyToDelivered ?? null },
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  const heldText = result.heldRate
    ? `held its rate: ${result.achievedRate} msg/s sent (target ${rate})`
    : `DID NOT HOLD ITS RATE (目標の送信レートを保てなかった): ${[pace.why, pace.errors ? `${pace.errors} sends failed: ${JSON.stringify(result.sendErrorKinds)}` : ""].filter(Boolean).join("; ")}. The latencies below are not those of ${rate} msg/s`;
  process.stderr.write(
    [
      `bench: paced run, ${messages} messages measured after ${warmup} unmeasured: ${heldText}`,
      `bench:   schedule lag (start − due): p50 ${lag.p50}, p90 ${lag.p90}, p99 ${lag.p99}, max ${lag.max} ms${pace.waitedForSession ? `; ${pace.waitedForSession} messages found every session busy` : ""}`,
      `bench:   250 → delivered ${inWords(figures.replyToDelivered)}${figures.unmatched ? `; ${figures.unmatched} measured messages without a delivered event` : ""}`,
      `bench:   received → delivered (audit store alone) ${inWords(figures.receivedToDelivered)}`,
      ...(warmup > 0 ? [`bench:   the ${warmup} warmup messages (cold start), 250 → delivered ${inWords(figures.warmupReplyToDelivered)}`] : []),
      `bench:   gateway CPU ${result.cpuMsPerMessage} ms/message, peak RSS ${result.peakRssMiB} MiB, held ${counts.held}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`,
      `bench:   (${LATENCY_MEANING})`,
      "",
    ].join("\n"),
  );
  if (!result.heldRate || figures.unmatched > 0) process.exitCode = 1;
  return result;
}

/** the name Node gives its main thread in /proc (the queue manager, rules, delivery, audit writes) */
const MAIN_THREAD = "MainThread";

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/**
 * --auth compare: off and on alternately (off, on, off, on …), --repeat times each, the same
 * signed bytes and the same loopback DNS server; prints the medians and the ratios on/off. On a
 * shared machine the load falls on both alike; the ratios are the figures to read.
 */
async function compareAuth(authDns: { dns: DnsServer; message: string }): Promise<void> {
  const runs: Record<"off" | "on", RunResult[]> = { off: [], on: [] };
  for (let i = 0; i < repeat; i++) for (const mode of ["off", "on"] as const) runs[mode].push(await runOnce(mode, authDns));
  const mainThread = (r: RunResult) => r.cpuSecondsByThread[MAIN_THREAD] ?? 0;
  const summarize = (mode: "off" | "on") => ({
    relayedPerSecond: median(runs[mode].map((r) => r.relayedPerSecond)),
    cpuMsPerMessage: +median(runs[mode].map((r) => r.cpuMsPerMessage)).toFixed(2),
    mainThreadCpuMsPerMessage: +median(runs[mode].map((r) => (mainThread(r) * 1000) / messages)).toFixed(2),
    each: runs[mode].map((r) => ({ relayedPerSecond: r.relayedPerSecond, cpuMsPerMessage: r.cpuMsPerMessage })),
  });
  const summary = { off: summarize("off"), on: summarize("on") };
  const ratios = {
    throughputOnOff: +(summary.on.relayedPerSecond / summary.off.relayedPerSecond).toFixed(3),
    cpuPerMessageOnOff: +(summary.on.cpuMsPerMessage / summary.off.cpuMsPerMessage).toFixed(3),
    mainThreadCpuOnOff: +(summary.on.mainThreadCpuMsPerMessage / summary.off.mainThreadCpuMsPerMessage).toFixed(3),
  };
  process.stdout.write(`${JSON.stringify({ compare: "auth", repeat, messages, warmup, size, mime, realistic, ...summary, ratios })}\n`);
  process.stderr.write(
    `bench: verification on/off, median of ${repeat}: ${summary.on.relayedPerSecond}/${summary.off.relayedPerSecond} msg/s = ×${ratios.throughputOnOff}; ` +
      `CPU ${summary.on.cpuMsPerMessage}/${summary.off.cpuMsPerMessage} ms/message = ×${ratios.cpuPerMessageOnOff}; ` +
      `main thread ${summary.on.mainThreadCpuMsPerMessage}/${summary.off.mainThreadCpuMsPerMessage} ms/message = ×${ratios.mainThreadCpuOnOff}\n`,
  );
}

/**
 * --rate half, the issue's measurement: one run as fast as the sender goes finds this machine's
 * peak relay rate; a fresh, cold gateway is then sent half of it on schedule. Both are printed.
 */
async function halfPeak(auth: "on" | "off" | "", authDns: { dns: DnsServer; message: string } | undefined): Promise<void> {
  process.stderr.write("bench: --rate half: 1) the peak relay rate, sending as fast as possible\n");
  const peak = await runOnce(auth, authDns);
  const rate = Math.max(1, Math.floor(peak.relayedPerSecond / 2));
  process.stderr.write(`bench: --rate half: 2) a new gateway, sent ${rate} msg/s on schedule (half of the peak ${peak.relayedPerSecond} msg/s)\n`);
  const paced = await runOnce(auth, authDns, rate);
  const lat = (paced.latencyMs as { replyToDelivered: Percentiles | null }).replyToDelivered;
  process.stdout.write(`${JSON.stringify({ measurement: "latency at half the peak rate", peakRelayedPerSecond: peak.relayedPerSecond, rate, heldRate: paced.heldRate, replyToDeliveredMs: lat })}\n`);
  process.stderr.write(
    `bench: at half the peak (${rate} of ${peak.relayedPerSecond} msg/s)${paced.heldRate ? "" : " — THE SENDER DID NOT HOLD THE RATE (目標の送信レートを保てなかった)"}: ` +
      `250 → delivered ${inWords(lat ?? undefined)}; the issue asks p50 ≤ 10 ms and p99 ≤ 100 ms\n`,
  );
}

async function main(): Promise<void> {
  if (rateArg && authMode === "compare") throw new Error("--rate and --auth compare do not go together: run --auth on and --auth off with --rate instead");
  if (documents) await loadDocuments();
  const authDns = authMode ? await startBenchAuthDns() : undefined;
  try {
    const auth = authMode === "on" ? "on" : authMode === "off" ? "off" : "";
    if (authMode === "compare") await compareAuth(authDns!);
    else if (rateArg === "half") await halfPeak(auth, authDns);
    else await runOnce(auth, authDns, rateArg ? Number(rateArg) : undefined);
  } finally {
    await authDns?.dns.close();
  }
}

if (process.argv.includes("--compare-postfix")) await (await import("./compare-postfix.ts")).comparePostfix();
else if (process.argv.includes("--embedded")) await (await import("./embedded.ts")).embeddedBench();
else if (process.argv.includes("--auth-alone")) await (await import("./auth-alone.ts")).authAloneBench();
else await main();
