/**
 * Alerts reach people: mail through the DSN relay (a real SMTP server,
 * tests/helpers/relay-downstream.ts) and RFC 5424 syslog (a UDP socket on
 * loopback), Japanese first, carrying ids and conditions only; one message
 * per condition per interval, a reminder while it lasts, "resolved" when it
 * clears; held messages in a burst become one summary. Time is a value the
 * test sets; the only waiting is for the packets and the mail to arrive.
 */
import Database from "better-sqlite3";
import { createSocket, type Socket } from "node:dgram";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createAlertMonitor, createAlerts, type Alerts } from "../../src/alerts/index.ts";
import { parseConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { probeTcp } from "../../src/admin/health.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { openOriginals } from "../../src/originals/index.ts";
import { startGateway } from "../../src/serve.ts";
import { startDownstream, type Downstream, type Received } from "../helpers/relay-downstream.ts";
import { sendRaw, silentLogger, waitFor } from "../helpers/relay-helpers.ts";
import { repoRoot } from "../helpers/corpus.ts";
import { runCli } from "../helpers/run-cli.ts";
import { writeSpoolRecord } from "../helpers/spool-record.ts";
import { openAuditLog } from "../../src/audit/index.ts";

const MIN = 60_000;
const RFC5424 = /^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (\S+) mumuka (\d+) alert \[mumuka@32473 ([^\]]*)\] \uFEFF(.+)$/;

interface Mail {
  envelopeFrom: string;
  rcptTo: string[];
  headers: Record<string, string>;
  body: string;
}

/** the alert mail as a reader gets it: unfolded headers, encoded words and the base64 body decoded */
function readMail(m: Received): Mail {
  const text = m.raw.toString("latin1");
  const split = text.indexOf("\r\n\r\n");
  const headers: Record<string, string> = {};
  for (const line of text.slice(0, split).replace(/\r\n[ \t]+/g, " ").split("\r\n")) {
    const colon = line.indexOf(":");
    const value = line.slice(colon + 1).trim();
    headers[line.slice(0, colon).toLowerCase()] = value
      .replace(/\?= =\?/g, "?==?")
      .replace(/=\?UTF-8\?B\?([A-Za-z0-9+/=]+)\?=/gi, (_m, b64: string) => `\u0000${b64}\u0000`)
      .replace(/(?:\u0000[A-Za-z0-9+/=]+\u0000)+/g, (run) =>
        Buffer.concat(run.split("\u0000").filter(Boolean).map((b) => Buffer.from(b, "base64"))).toString("utf8"),
      );
  }
  return { envelopeFrom: m.mailFrom, rcptTo: m.rcptTo, headers, body: Buffer.from(text.slice(split + 4), "base64").toString("utf8") };
}

function listen(): Promise<{ socket: Socket; port: number; lines: string[] }> {
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    const lines: string[] = [];
    socket.on("message", (msg) => lines.push(msg.toString("utf8")));
    socket.bind(0, "127.0.0.1", () => resolve({ socket, port: socket.address().port, lines }));
  });
}

describe("alerts by mail and syslog", () => {
  let sink: Downstream;
  let syslog: Awaited<ReturnType<typeof listen>>;
  let clock: { now: number };
  let alerts: Alerts;
  let config: Config;

  beforeAll(async () => {
    sink = await startDownstream();
    syslog = await listen();
  });
  afterAll(async () => {
    await sink.stop();
    syslog.socket.close();
  });
  beforeEach(() => {
    sink.received.length = 0;
    syslog.lines.length = 0;
    clock = { now: Date.parse("2026-12-06T00:00:00Z") };
    config = parseConfig({
      smtp: { hostname: "mumuka.city.example.lg.jp" },
      delivery: { dsnRelay: { host: "127.0.0.1", port: sink.port } },
      alerts: { to: ["joho@city.example.lg.jp", "kanri@city.example.lg.jp"], syslog: { host: "127.0.0.1", port: syslog.port, facility: "local3" }, intervalMinutes: 30 },
    });
    alerts = createAlerts(config, silentLogger(), () => clock.now)!;
  });
  afterEach(() => alerts.close());

  const mails = () => sink.received.map(readMail);
  const arrived = (n: number) => waitFor(() => sink.received.length >= n && syslog.lines.length >= n, 10_000, `${n} alerts by mail and syslog`);

  it("announces a condition once per interval, reminds while it lasts, and says when it clears", async () => {
    await alerts.alerter.raise("queue-depth", { value: 812, threshold: 500 });
    await alerts.alerter.raise("queue-depth", { value: 830, threshold: 500 });
    clock.now += 29 * MIN;
    await alerts.alerter.raise("queue-depth", { value: 845, threshold: 500 });
    await arrived(1);
    clock.now += 1 * MIN;
    await alerts.alerter.raise("queue-depth", { value: 850, threshold: 500 });
    await alerts.alerter.clear("queue-depth", { value: 10, threshold: 500 });
    await alerts.alerter.clear("queue-depth", { value: 9, threshold: 500 });
    await arrived(3);

    const [first, reminder, resolved] = mails();
    expect(mails()).toHaveLength(3);
    expect(syslog.lines).toHaveLength(3);
    expect(first!.envelopeFrom).toBe(""); // the null sender: an undeliverable alert never bounces into the gateway
    expect(first!.rcptTo).toEqual(["joho@city.example.lg.jp", "kanri@city.example.lg.jp"]);
    expect(first!.headers.from).toBe("mumuka <mumuka-alerts@mumuka.city.example.lg.jp>");
    expect(first!.headers.subject).toBe("[mumuka] 警告: キューのメールが多すぎます / alert: too many messages in the queue");
    expect(first!.headers["auto-submitted"]).toBe("auto-generated");
    expect(first!.body.indexOf("キューのメールが多すぎます")).toBeLessThan(first!.body.indexOf("too many messages"));
    expect(first!.body).toContain("現在の値 / value: 812");
    expect(reminder!.body).toContain("現在の値 / value: 850");
    expect(resolved!.headers.subject).toBe("[mumuka] 復旧: キューのメールが多すぎます / resolved: too many messages in the queue");

    const [line] = syslog.lines;
    const m = RFC5424.exec(line!)!;
    expect(m, line).not.toBeNull();
    expect(Number(m[1])).toBe(19 * 8 + 4); // local3, warning
    expect(m[3]).toBe("mumuka.city.example.lg.jp");
    expect(m[5]).toBe('kind="queue-depth" state="firing" gateway="mumuka.city.example.lg.jp" value="812" threshold="500"');
    expect(m[6]).toContain("キューのメールが多すぎます");
    expect(Number(RFC5424.exec(syslog.lines[2]!)![1])).toBe(19 * 8 + 5); // resolved: notice
  });

  it("stays silent both ways about a condition that came back within the interval after it cleared", async () => {
    await alerts.alerter.raise("downstream", { target: "127.0.0.1:25", value: 10, threshold: 10 });
    await alerts.alerter.clear("downstream");
    clock.now += 5 * MIN;
    await alerts.alerter.raise("downstream", { target: "127.0.0.1:25", value: 10, threshold: 10 });
    await alerts.alerter.clear("downstream");
    await arrived(2);
    clock.now += 30 * MIN;
    await alerts.alerter.raise("downstream", { target: "127.0.0.1:25", value: 10, threshold: 10 });
    await arrived(3);
    expect(mails().map((m) => m.headers["x-mumuka-alert"])).toEqual(["downstream firing", "downstream resolved", "downstream firing"]);
  });

  it("folds a burst of held messages into one summary with their ids, sent when the interval has passed", async () => {
    const ids = [newAuditId(), newAuditId(), newAuditId()];
    for (const id of ids) await alerts.alerter.event("held", { auditIds: [id] });
    await alerts.alerter.tick();
    await arrived(1);
    clock.now += 30 * MIN;
    await alerts.alerter.tick();
    await arrived(2);
    await alerts.alerter.tick();
    const [first, summary] = mails();
    expect(mails()).toHaveLength(2);
    expect(first!.body).toContain(`監査ID / audit ids: ${ids[0]}`);
    expect(summary!.body).toContain(`監査ID / audit ids: ${ids[1]}, ${ids[2]}`);
    expect(summary!.body).toContain("この間に抑止した同種の通知 / suppressed since the last message: 2");
    expect(syslog.lines[1]).toContain(`auditIds="${ids[1]},${ids[2]}"`);
  });

  it("watches the downstream server for N minutes and the audit store's writes, through the monitor", async () => {
    const closed = await startDownstream();
    await closed.stop();
    let finishFlush: () => void = () => {};
    const monitor = createAlertMonitor({
      alerter: alerts.alerter,
      config: { ...config.alerts, downstreamMinutes: 10, auditStallSeconds: 600 },
      logger: silentLogger(),
      now: () => clock.now,
      timer: false,
      probes: {
        queue: async () => ({ depth: 0 }),
        downstream: { target: `127.0.0.1:${closed.port}`, probe: async () => (await probeTcp("127.0.0.1", closed.port, 2000)).ok },
        // a store that does not take the batch: the flush does not finish until the test says so
        auditFlush: () => new Promise<void>((resolve) => (finishFlush = resolve)),
      },
    });
    await monitor.check();
    clock.now += 9 * MIN;
    await monitor.check();
    expect(sink.received).toHaveLength(0);
    clock.now += 1 * MIN;
    await monitor.check();
    await arrived(2);
    expect(mails().map((m) => m.headers["x-mumuka-alert"]).sort()).toEqual(["audit-unwritable firing", "downstream firing"]);
    expect(mails().find((m) => m.headers["x-mumuka-alert"] === "downstream firing")!.body).toContain(`接続先 / server: 127.0.0.1:${closed.port}`);
    await closed.start();
    finishFlush();
    await monitor.check();
    await arrived(4);
    expect(mails().map((m) => m.headers["x-mumuka-alert"]).slice(2).sort()).toEqual(["audit-unwritable resolved", "downstream resolved"]);
    await closed.stop();
  });

  it("raises audit-verify when the chain no longer verifies (a stored event edited by hand), and clears it when it does", async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "mumuka-alerts-verify-"));
    const log = await openAuditLog({ config: parseConfig({ dataDir }).audit, dataDir, gateway: "gw", logger: silentLogger() });
    try {
      const id = newAuditId();
      log.record({ type: "received", auditId: id, actor: "gateway", data: { mailFrom: "a@example.jp", rcptTo: ["b@example.lg.jp"], size: 10 } });
      log.record({ type: "admin", auditId: id, actor: "cli:x", data: { action: "note" } });
      await log.flush();
      const monitor = createAlertMonitor({
        alerter: alerts.alerter,
        config: { ...config.alerts, verifyMinutes: 60 },
        logger: silentLogger(),
        now: () => clock.now,
        timer: false,
        probes: { queue: async () => ({ depth: 0 }), auditFlush: () => log.flush(), verify: async () => (await log.verify()).ok },
      });
      await monitor.check();
      const db = new Database(path.join(dataDir, "audit.sqlite"));
      const original = db.prepare("SELECT data FROM audit_events WHERE seq = 2").get() as { data: string };
      db.prepare("UPDATE audit_events SET data = ? WHERE seq = 2").run(original.data.replace("note", "nothing"));
      clock.now += 59 * MIN;
      await monitor.check(); // not yet: one verification per verifyMinutes
      expect(sink.received).toHaveLength(0);
      clock.now += 1 * MIN;
      await monitor.check();
      await arrived(1);
      expect(mails()[0]!.headers["x-mumuka-alert"]).toBe("audit-verify firing");
      db.prepare("UPDATE audit_events SET data = ? WHERE seq = 2").run(original.data);
      db.close();
      clock.now += 60 * MIN;
      await monitor.check();
      await arrived(2);
      expect(mails()[1]!.headers["x-mumuka-alert"]).toBe("audit-verify resolved");
    } finally {
      await log.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("refuses a configuration with alert mail but no relay to send it through", () => {
    expect(() => parseConfig({ alerts: { to: ["joho@city.example.lg.jp"] } })).toThrow(/alerts\.to.*dsnRelay/s);
    expect(() => parseConfig({ alerts: { to: ["joho@city.example.lg.jp\r\nBcc: x@evil.example"] }, delivery: { dsnRelay: { host: "127.0.0.1" } } })).toThrow();
  });
});

describe("alerts from the gateway and the CLI", () => {
  let sink: Downstream;
  let downstream: Downstream;
  let syslog: Awaited<ReturnType<typeof listen>>;
  let dir: string;

  beforeAll(async () => {
    sink = await startDownstream();
    downstream = await startDownstream();
    syslog = await listen();
    dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-alerts-"));
  });
  afterAll(async () => {
    await sink.stop();
    await downstream.stop();
    syslog.socket.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("mails and logs a message held by a rule, with its audit id and nothing of its content", async () => {
    const config = parseConfig({
      dataDir: path.join(dir, "gw"),
      smtp: { host: "127.0.0.1", port: 0, hostname: "mumuka.city.example.lg.jp" },
      delivery: { mode: "smtp", host: "127.0.0.1", port: downstream.port, dsnRelay: { host: "127.0.0.1", port: sink.port } },
      rules: { file: path.join(repoRoot, "config/rules.example.yaml"), watch: false },
      admin: { enabled: false },
      alerts: { to: ["joho@city.example.lg.jp"], syslog: { host: "127.0.0.1", port: syslog.port }, checkSeconds: 1, queueDepth: 1 },
      log: { level: "silent" },
    });
    const gateway = await startGateway(config, { logger: silentLogger(), workers: 1, inProcessReceiver: true });
    try {
      const raw = "From: billing@invoice-notice.example.net\r\nTo: soumu@city.example.lg.jp\r\nSubject: 請求書のご案内 SECRET-SUBJECT\r\n\r\nSECRET-BODY\r\n";
      const res = await sendRaw({ port: gateway.address.port, from: "billing@invoice-notice.example.net", to: ["soumu@city.example.lg.jp"], raw });
      const id = /\b(\d{8}T\d{6}Z-[0-9A-Z]{16})\b/.exec(res.response)![1]!;
      await waitFor(() => sink.received.length >= 1 && syslog.lines.length >= 1, 20_000, "the held alert");
      const mail = readMail(sink.received[0]!);
      expect(mail.headers.subject).toBe("[mumuka] 警告: メールを保留しました / alert: a message was held");
      expect(mail.body).toContain(`監査ID / audit ids: ${id}`);
      for (const leak of ["SECRET", "billing@", "請求書"]) {
        expect(sink.received[0]!.raw.toString("latin1") + mail.body).not.toContain(leak);
        expect(syslog.lines[0]).not.toContain(leak);
      }
      expect(syslog.lines[0]).toMatch(RFC5424);
      expect(syslog.lines[0]).toContain(`kind="held" state="firing"`);

      // a second held message: no second held mail within the interval, but now two wait in the queue (more than queueDepth 1)
      await sendRaw({ port: gateway.address.port, from: "billing@invoice-notice.example.net", to: ["soumu@city.example.lg.jp"], raw });
      const depth = await waitFor(() => sink.received.map(readMail).find((m) => m.headers["x-mumuka-alert"] === "queue-depth firing"), 20_000, "the queue-depth alert");
      expect(depth.body).toContain("現在の値 / value: 2");
      expect(sink.received.map(readMail).filter((m) => m.headers["x-mumuka-alert"] === "held firing")).toHaveLength(1);
    } finally {
      await gateway.close();
    }
  }, 60_000);

  it("raises an alert for a break-glass retrieval from the CLI, which is on record with its reason", async () => {
    sink.received.length = 0;
    syslog.lines.length = 0;
    const dataDir = path.join(dir, "cli");
    const configFile = path.join(dir, "cli.yaml");
    writeFileSync(
      configFile,
      `dataDir: ${dataDir}\nsmtp: { hostname: mumuka.city.example.lg.jp }\ndelivery: { dsnRelay: { host: 127.0.0.1, port: ${sink.port} } }\n` +
        `alerts: { to: [joho@city.example.lg.jp], syslog: { host: 127.0.0.1, port: ${syslog.port} } }\n`,
    );
    const config = parseConfig({ dataDir });
    const audit = await openAuditLog({ config: config.audit, dataDir, gateway: "gw", logger: silentLogger() });
    const id = newAuditId();
    const seed = path.join(dir, "seed");
    writeSpoolRecord(seed, id, "Subject: x\r\n\r\nbody\r\n");
    await openOriginals({ config: config.originals, dataDir, audit }).retire(id, seed);

    const refused = await runCli(["original", "get", id, "-o", path.join(dir, "no.eml"), "-c", configFile]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--request REQ");
    expect((await runCli(["original", "get", id, "--break-glass", "-o", path.join(dir, "no.eml"), "-c", configFile])).stderr).toContain("--reason");

    const r = await runCli(["original", "get", id, "--break-glass", "--reason", "障害対応 INC-9", "-o", path.join(dir, "bg.eml"), "-c", configFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("BREAK-GLASS");
    await waitFor(() => sink.received.length >= 1 && syslog.lines.length >= 1, 10_000, "the break-glass alert");
    const mail = readMail(sink.received[0]!);
    expect(mail.headers.subject).toContain("原本の緊急取り出し");
    expect(mail.body).toContain(id);
    expect(mail.body).toContain(`実行者 / actor: cli:${os.userInfo().username}`);
    expect(syslog.lines[0]).toContain(`kind="break-glass"`);
    expect(Number(RFC5424.exec(syslog.lines[0]!)![1])).toBe(16 * 8 + 3); // local0, error
    const story = await audit.story(id);
    expect(story.map((e) => (e.type === "admin" ? e.data.action : e.type))).toEqual(["original-break-glass", "original-retrieved"]);
    expect(story[1]!.data).toMatchObject({ breakGlass: true, reason: "障害対応 INC-9" });
    await audit.close();
  }, 60_000);

  it("does not alert again for a held event rebuilt at start (its alert went out when it was held); a message held afterwards is alerted", async () => {
    sink.received.length = 0;
    syslog.lines.length = 0;
    const dataDir = path.join(dir, "rebuilt");
    // an earlier run held this message and alerted, then died before its held event was stored
    const earlier = newAuditId();
    mkdirSync(path.join(dataDir, "spool", "held"), { recursive: true });
    mkdirSync(path.join(dataDir, "spool", "meta"), { recursive: true });
    writeSpoolRecord(path.join(dataDir, "spool", "held", earlier), earlier, "Subject: x\r\n\r\nbody\r\n", { rcptTo: ["soumu@city.example.lg.jp"] });
    const meta = { v: 1, pending: ["soumu@city.example.lg.jp"], delivered: [], failed: [], attempts: 1, queuedAt: new Date().toISOString(), holdReason: "rule invoice-lure: hold" };
    writeFileSync(path.join(dataDir, "spool", "meta", `${earlier}.json`), JSON.stringify(meta));
    const config = parseConfig({
      dataDir,
      smtp: { host: "127.0.0.1", port: 0, hostname: "mumuka.city.example.lg.jp" },
      delivery: { mode: "smtp", host: "127.0.0.1", port: downstream.port, dsnRelay: { host: "127.0.0.1", port: sink.port } },
      rules: { file: path.join(repoRoot, "config/rules.example.yaml"), watch: false },
      admin: { enabled: false },
      audit: { flushMs: 20 },
      alerts: { to: ["joho@city.example.lg.jp"], syslog: { host: "127.0.0.1", port: syslog.port }, checkSeconds: 3600, queueDepth: 1000 },
      log: { level: "silent" },
    });
    const gateway = await startGateway(config, { logger: silentLogger(), workers: 1, inProcessReceiver: true });
    try {
      const reader = await openAuditLog({ config: config.audit, dataDir, gateway: "t", logger: silentLogger(), spillDir: false });
      try {
        await waitFor(async () => (await reader.story(earlier)).some((e) => e.type === "held" && e.data.recovered === true), 20_000, "the held event rebuilt");
      } finally {
        await reader.close();
      }
      // the first held alert after the rebuild is the new message's: none was sent for the rebuilt one before it
      const raw = "From: billing@invoice-notice.example.net\r\nTo: soumu@city.example.lg.jp\r\nSubject: 請求書のご案内\r\n\r\nbody\r\n";
      const res = await sendRaw({ port: gateway.address.port, from: "billing@invoice-notice.example.net", to: ["soumu@city.example.lg.jp"], raw });
      const id = /\b(\d{8}T\d{6}Z-[0-9A-Z]{16})\b/.exec(res.response)![1]!;
      const first = await waitFor(() => syslog.lines.find((l) => l.includes(`kind="held"`)), 20_000, "the held alert");
      expect(first).toContain(id);
      expect(syslog.lines.join("\n")).not.toContain(earlier);
      await waitFor(() => sink.received.length >= 1, 20_000, "the held alert mail");
      expect(sink.received.map((m) => readMail(m).body).join("\n")).not.toContain(earlier);
    } finally {
      await gateway.close();
    }
  }, 60_000);
});

describe("the alerter's rate limit", () => {
  it("never folds a break-glass retrieval into an earlier one, even on the same message", async () => {
    const { createAlerter } = await import("../../src/alerts/alerter.ts");
    const sent: { kind: string; actor?: string }[] = [];
    let clock = Date.parse("2026-12-06T00:00:00Z");
    const alerter = createAlerter({
      intervalMinutes: 60,
      gateway: "gw",
      now: () => clock,
      logger: silentLogger(),
      transports: [{ name: "test", deliver: async (a) => void sent.push({ kind: a.kind, ...(a.facts.actor ? { actor: a.facts.actor } : {}) }) }],
    });
    await alerter.event("break-glass", { auditIds: ["X"], actor: "admin:sato" }, "break-glass:X");
    clock += 60_000;
    await alerter.event("break-glass", { auditIds: ["X"], actor: "admin:suzuki" }, "break-glass:X");
    expect(sent).toEqual([
      { kind: "break-glass", actor: "admin:sato" },
      { kind: "break-glass", actor: "admin:suzuki" },
    ]);
  });
  it("never folds a purge of the audit trail by override into an earlier one either", async () => {
    const { createAlerter } = await import("../../src/alerts/alerter.ts");
    const sent: { kind: string; actor?: string; value?: number }[] = [];
    const alerter = createAlerter({
      intervalMinutes: 60,
      gateway: "gw",
      now: () => Date.parse("2026-12-06T00:00:00Z"),
      logger: silentLogger(),
      transports: [{ name: "test", deliver: async (a) => void sent.push({ kind: a.kind, ...(a.facts.actor ? { actor: a.facts.actor } : {}), ...(a.facts.value !== undefined ? { value: a.facts.value } : {}) }) }],
    });
    await alerter.event("audit-purge-override", { actor: "cli:root", value: 8 });
    await alerter.event("audit-purge-override", { actor: "cli:root", value: 2 });
    expect(sent).toEqual([
      { kind: "audit-purge-override", actor: "cli:root", value: 8 },
      { kind: "audit-purge-override", actor: "cli:root", value: 2 },
    ]);
  });
});
