/**
 * The composition root of the gateway: the one place where the concrete parts
 * (spool, receiver, sanitizer pool, rules, queue manager, deliverer, audit
 * log, metrics) are created and wired together. Nothing else imports across
 * stages; `receive/` never imports `deliver/`.
 *
 * Every stage is opened through one stack (lib/close-stack.ts): a stage that
 * fails to start closes everything opened before it, last first, and the
 * error names the stage; the shutdown (close()) runs the same stack. So the
 * order below is also the shutdown's, reversed: the console first, then the
 * receiver before the queue it feeds, the queue before the pool, deliverer and
 * alerts it uses, the audit log after everything that records, the lock last.
 *
 * SECURITY: reads the operator's configuration (already validated) and the
 * notice template file. No sender input is handled here.
 * Crash state: see the spool; everything in it is resumed at the next start.
 * A start that fails leaves the spool as it found it (messages already taken
 * up by the queue are finished first) and the audit events stored or spilled.
 */
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { AdminServer } from "./admin/index.ts";
import { openAuditLog, recoverReceived, startRetention, type AuditLog } from "./audit/index.ts";
import type { AuditReader, AuditSink } from "./audit/audit-types.ts";
import type { Config } from "./config/schema.ts";
import { createDirectoryDeliverer } from "./deliver/directory-delivery.ts";
import type { Deliverer } from "./deliver/delivery-types.ts";
import { createDsnSender } from "./deliver/dsn-sender.ts";
import { createQueueManager, type QueueManager } from "./deliver/queue-manager.ts";
import { createSanitizePool } from "./sanitize-pool/index.ts";
import { createSmtpDeliverer } from "./deliver/smtp-delivery.ts";
import { createCloseStack, type StageName } from "./lib/close-stack.ts";
import { createLogger, type Logger } from "./lib/logger.ts";
import { createMetrics, unreadMetrics, type Metrics } from "./lib/metrics.ts";
import { createHeaderPeek } from "./receive/header-peek.ts";
import { createThreadedReceiver } from "./receive/receiver-thread.ts";
import { openOriginals } from "./originals/index.ts";
import { createReleaseDesk } from "./originals/release-desk.ts";
import { openReleaseStore } from "./originals/release-store.ts";
import { createAlertMonitor, createAlerts, watchHeld } from "./alerts/index.ts";
import { probeTcp } from "./admin/health.ts";
import { openRules, type RulesHolder } from "./rules/index.ts";
import type { RecordInfo } from "./spool/record.ts";
import { renderOptionsFromConfig } from "./sanitize/render-options.ts";
import { openQueueAdmin } from "./spool/queue-admin.ts";
import { lockSpool } from "./spool/spool-lock.ts";
import { openSpool, type Spool } from "./spool/spool.ts";

/**
 * Sanitizer workers: one core fewer than the machine has (at most 2, at least 1). The main
 * thread and the receiver thread need a core between them; on the 2 cores this gateway is sized
 * for, a second sanitizer isolate cost about 27 MiB of PSS and more CPU per message (100 KB,
 * 10 sessions: 6,385 → 5,875 µs, 217 → 190 MiB with one; docs/relay.md, heap sizing).
 */
const DEFAULT_WORKERS = Math.max(1, Math.min(2, os.availableParallelism() - 1));

export interface Gateway {
  /** where the SMTP listener is bound */
  address: AddressInfo;
  spool: Spool;
  queue: QueueManager;
  rules: RulesHolder;
  metrics: Metrics;
  audit: AuditSink;
  logger: Logger;
  /** the admin console (with /metrics and /healthz), when admin.enabled and the audit log can be searched */
  admin?: AdminServer;
  /** SIGTERM: stop accepting, finish what is in flight, close the stores */
  close(): Promise<void>;
}

export interface GatewayOptions {
  logger?: Logger;
  metrics?: Metrics;
  /** replaces the audit log (tests) */
  audit?: AuditSink & { close?(): Promise<void> };
  workers?: number;
  /** run the SMTP receiver on the main thread (default: its own thread) */
  inProcessReceiver?: boolean;
}

export async function startGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const logger = options.logger ?? createLogger(config.log);
  // Prometheus's /metrics is on the console; with no one to read them the counters cost only memory
  const metrics = options.metrics ?? (config.admin.enabled && config.admin.metrics ? createMetrics() : unreadMetrics());
  const hostname = config.smtp.hostname ?? os.hostname();
  // every stage below is opened through the stack: a failure closes what is open, last first (lib/close-stack.ts)
  const stages = createCloseStack({
    onCloseError: ({ stage, error }) => logger.error({ err: error, stage: stage.en }, "error while closing a stage"),
  });
  const spool = await stages.start({ ja: "スプール", en: "spool", keys: "dataDir" }, () => openSpool(config.dataDir));
  // before any recovery (the audit journal and spill files included): a second gateway on the
  // same data directory must not "recover" the first one's work
  await stages.start({ ja: "スプールのロック", en: "spool lock", keys: "dataDir" }, () => lockSpool(spool.root), (lock) => lock.release());
  const ownAudit: AuditLog | undefined = options.audit
    ? undefined
    : await stages.start(
        { ja: "監査ログ", en: "audit log", keys: "audit.url / dataDir" },
        () =>
          openAuditLog({
            config: config.audit,
            dataDir: config.dataDir,
            gateway: hostname,
            logger,
            metrics,
            serving: true,
            ...(config.log.subjects ? { logSubjects: true } : {}),
          }),
        // a start that failed does not wait for a failing store: what it cannot take is spilled at once
        (log, reason) => log.close(reason === "start-failed" ? { waitMs: 0 } : {}),
      );
  const audit: AuditSink & { close?(): Promise<void> } = options.audit ?? ownAudit!;
  if (options.audit) {
    const given = options.audit;
    await stages.start({ ja: "監査ログ", en: "audit log" }, () => given, (a) => (a.close ? a.close() : a.flush()));
  }
  // every spooled message got a 250: its `received` comes before anything the queue manager records
  await stages.start({ ja: "監査の復旧", en: "audit recovery", keys: "dataDir" }, () =>
    recoverReceived({
      spool,
      audit,
      ...(ownAudit ? { known: (ids: string[]) => ownAudit.knownMessages(ids) } : {}),
      logger,
      headerPeek: createHeaderPeek,
    }),
  );
  const rules = await stages.start(
    { ja: "ルール", en: "rules", keys: "rules.file" },
    () => openRules({ config: config.rules, logger, audit }),
    (r) => r.close(),
  );
  const originals = await stages.start({ ja: "原本の保管", en: "originals store", keys: "originals" }, () =>
    openOriginals({ config: config.originals, dataDir: config.dataDir, audit }),
  );
  // alerts (mail through the DSN relay, syslog): absent when alerts.to and alerts.syslog are both unset.
  // Closed after the queue (started before it): a message held while the queue drains still raises its alert
  const alerts = await stages.start({ ja: "通知", en: "alerts", keys: "alerts" }, () => createAlerts(config, logger), (a) => a?.close());
  // daily: audit events, kept texts and originals past their retention
  if (ownAudit) {
    await stages.start(
      { ja: "保存期間の処理", en: "retention" },
      () => startRetention({ audit: ownAudit, originals, config, logger }),
      (stop) => stop(),
    );
  }
  const noticeTemplate = await stages.start({ ja: "通知文のテンプレート", en: "notice template", keys: "sanitize.noticeTemplate" }, () =>
    config.sanitize.noticeTemplate ? readFileSync(config.sanitize.noticeTemplate, "utf8") : undefined,
  );
  const pool = await stages.start(
    { ja: "無害化ワーカー", en: "sanitizer workers" },
    () => createSanitizePool({ size: options.workers ?? DEFAULT_WORKERS }),
    (p) => p.close(),
  );
  const deliverer: Deliverer = await stages.start(
    { ja: "配送", en: "deliverer", keys: "delivery" },
    () =>
      config.delivery.mode === "smtp"
        ? createSmtpDeliverer(config.delivery, hostname)
        : createDirectoryDeliverer(config.delivery.directory ?? path.join(config.dataDir, "outbox")),
    (d) => d.close(),
  );
  const dsn = await stages.start(
    { ja: "配送状態通知", en: "DSN sender", keys: "delivery.dsnRelay" },
    () => (config.delivery.dsnRelay ? createDsnSender(config.delivery.dsnRelay, hostname, config.delivery.connectTimeoutMs) : undefined),
    (d) => d?.close(),
  );
  // mailauth (about 17 MiB of PSS with its DNS and crypto code) is loaded only when authentication is on
  const authentication = await stages.start(
    { ja: "送信者認証", en: "sender authentication", keys: "authentication" },
    async () =>
      config.authentication.enabled
        ? (await import("./authenticate/index.ts")).openAuthentication(config.authentication, hostname, config.sanitize.limits.maxHeaderBytes, metrics)
        : undefined,
    (a) => a?.close(),
  );
  const queue = await stages.start(
    { ja: "キュー管理", en: "queue manager", keys: "dataDir" },
    async () => {
      const q = createQueueManager({
        spool,
        delivery: config.delivery,
        limits: config.sanitize.limits,
        hostname,
        pool,
        deliverer,
        ...(dsn ? { dsn } : {}),
        rules,
        renderOptions: (auditId, now) => renderOptionsFromConfig(config.sanitize, { auditId, now, hostname }, noticeTemplate),
        audit: alerts ? watchHeld(audit, alerts.alerter) : audit,
        ...(ownAudit ? { story: (id: string) => ownAudit.story(id) } : {}),
        logger,
        metrics,
        originals,
        ...(authentication ? { authenticate: { stage: authentication.stage, policy: config.authentication } } : {}),
      });
      try {
        await q.start();
      } catch (error) {
        await q.close(); // its timers may already run
        throw error;
      }
      return q;
    },
    (q) => q.close(),
  );
  const onQueued = (id: string, info?: RecordInfo) => queue.enqueue(id, info);
  // a thread of its own by default: receiving and delivering then use both cores
  const verify = config.smtp.verifyRecipients.enabled && config.delivery.mode === "smtp"
    ? {
        hosts: [{ host: config.delivery.host, port: config.delivery.port }, ...config.delivery.failover],
        helo: hostname,
        timeoutMs: config.smtp.verifyRecipients.timeoutMs,
        cacheSeconds: config.smtp.verifyRecipients.cacheSeconds,
        unknownCacheSeconds: config.smtp.verifyRecipients.unknownCacheSeconds,
      }
    : undefined;
  const smtpStage: StageName = { ja: "SMTP の受信", en: "SMTP listener", keys: "smtp.host / smtp.port / smtp.tls" };
  const receiver = await stages.start(
    smtpStage,
    async () => {
      if (options.inProcessReceiver) {
        // smtp-server in this isolate only when asked (tests): by default it lives in the receiver thread alone
        const { createReceiver } = await import("./receive/smtp-receiver.ts");
        const { createRecipientVerifier } = await import("./receive/recipient-verify.ts");
        return createReceiver({ smtp: config.smtp, hostname, spool, audit, logger, metrics, onQueued, ...(verify ? { verifier: createRecipientVerifier(verify) } : {}) });
      }
      return createThreadedReceiver({
            ...(verify ? { verify } : {}),
            smtp: config.smtp,
            hostname,
            dataDir: config.dataDir,
            // the thread logs with a pino of its own, at the level of the logger it was given (a test's silence included)
            log: { ...config.log, level: logger.level as Config["log"]["level"] },
            audit,
            logger,
            metrics,
            onQueued,
          });
    },
    // before the queue it feeds (started after it): no new message while the queue drains
    (r) => r.close(),
  );
  const address = await stages.start(smtpStage, () => receiver.listen());
  logger.info({ host: address.address, port: address.port, mode: config.delivery.mode, dataDir: config.dataDir }, "mumuka gateway listening");

  // the console's delete parks its record in the queue manager's done/ (one done journal per process)
  const queueAdmin = openQueueAdmin(config.dataDir, audit, originals, { done: queue.done, logger });
  await stages.start(
    { ja: "監視", en: "alert monitor", keys: "alerts" },
    () =>
      alerts
        ? createAlertMonitor({
            alerter: alerts.alerter,
            config: config.alerts,
            logger,
            probes: {
              async queue() {
                const waiting = (await queueAdmin.list()).filter((e) => e.state !== "corrupt");
                const deferred = waiting.filter((e) => e.state === "deferred").map((e) => e.receivedAt).sort();
                return { depth: waiting.length, ...(deferred[0] ? { oldestDeferred: deferred[0] } : {}) };
              },
              ...(config.delivery.mode === "smtp"
                ? { downstream: { target: `${config.delivery.host}:${config.delivery.port}`, probe: async () => (await probeTcp(config.delivery.host, config.delivery.port)).ok } }
                : {}),
              auditFlush: () => audit.flush(),
              ...(ownAudit ? { verify: async () => (await ownAudit.verify()).ok } : {}),
            },
          })
        : undefined,
    (m) => m?.stop(),
  );
  const releaseStore = await stages.start({ ja: "原本の申請台帳", en: "release store", keys: "dataDir" }, () => openReleaseStore(config.dataDir), (s) => s.close());
  const releases = createReleaseDesk({
    store: releaseStore,
    originals,
    audit,
    config: config.originals.release,
    log: logger,
    ...(alerts ? { onBreakGlass: (e: { auditId: string; actor: string }) => void alerts.alerter.event("break-glass", { auditIds: [e.auditId], actor: e.actor }, `break-glass:${e.auditId}`) } : {}),
  });

  let admin: AdminServer | undefined;
  const reader = audit as AuditSink & Partial<AuditReader>;
  if (config.admin.enabled && typeof reader.search === "function") {
    const searchable = reader as AuditSink & AuditReader;
    // the console's modules (fastify, mailparser, the sanitizer, the rule replay) are imported only when it runs,
    // inside its stages: a failed import closes what was started like any failed stage (docs/relay.md, memory)
    // the console's "try a message": sanitized in a worker pool of its own (one thread, started at the first trial)
    const trial = await stages.start(
      { ja: "ルールの試行", en: "rule trial" },
      async () => (await import("./admin/index.ts")).createRuleTrial({ rules, sanitize: config.sanitize, hostname, dmarcPolicy: config.authentication }),
      (t) => t.close(),
    );
    // a console that cannot start is a configuration error: stop cleanly rather than run half-configured
    admin = await stages.start(
      { ja: "管理コンソール", en: "admin console", keys: "admin.host / admin.port / admin.tls" },
      async () => {
        const { createHealthCheck, startAdmin } = await import("./admin/index.ts");
        const { createTextReplay } = await import("./rules/rules-replay.ts");
        return startAdmin({
          config: config.admin,
          dataDir: config.dataDir,
          logger,
          metrics,
          audit: searchable,
          queue: queueAdmin,
          rules,
          releases,
          health: createHealthCheck({
            spoolDir: spool.root,
            audit: searchable,
            ...(config.delivery.mode === "smtp" ? { downstream: { host: config.delivery.host, port: config.delivery.port } } : {}),
          }),
          sanitizeText: trial,
          rulesReplay: createTextReplay({
            rules,
            audit: searchable,
            originals,
            limits: config.sanitize.limits,
            maxMessageBytes: config.smtp.maxMessageBytes,
            defaults: { links: config.sanitize.links, language: config.sanitize.language },
            // one analyzer thread: a replay from the console must leave the cores to the relay
            workers: 1,
          }),
        });
      },
      // first at shutdown: the console answers 503 while the relay drains
      (a) => a.close(),
    );
  } else if (config.admin.enabled) {
    logger.warn("admin console not started: the audit sink given to the gateway cannot be searched");
  }

  let closing: Promise<void> | undefined;
  return {
    address,
    spool,
    queue,
    rules,
    metrics,
    audit,
    logger,
    ...(admin ? { admin } : {}),
    close() {
      closing ??= (async () => {
        logger.info("shutting down: no new connections, finishing messages in flight");
        const failures = await stages.closeAll("shutdown");
        if (failures.length) throw failures[0]!.error;
        logger.info("stopped");
      })();
      return closing;
    },
  };
}
