/**
 * The composition root of the gateway: the one place where the concrete parts
 * (spool, receiver, sanitizer pool, rules, queue manager, deliverer, audit
 * log, metrics) are created and wired together. Nothing else imports across
 * stages; `receive/` never imports `deliver/`.
 *
 * SECURITY: reads the operator's configuration (already validated) and the
 * notice template file. No sender input is handled here.
 * Crash state: see the spool; everything in it is resumed at the next start.
 */
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { createHealthCheck, createRuleTrial, startAdmin, type AdminServer } from "./admin/index.ts";
import { openAuditLog, recoverReceived, startRetention, type AuditLog } from "./audit/index.ts";
import type { AuditReader, AuditSink } from "./audit/audit-types.ts";
import type { Config } from "./config/schema.ts";
import { createDirectoryDeliverer } from "./deliver/directory-delivery.ts";
import type { Deliverer } from "./deliver/delivery-types.ts";
import { createDsnSender } from "./deliver/dsn-sender.ts";
import { createQueueManager, type QueueManager } from "./deliver/queue-manager.ts";
import { createSanitizePool } from "./sanitize-pool/index.ts";
import { createSmtpDeliverer } from "./deliver/smtp-delivery.ts";
import { createLogger, type Logger } from "./lib/logger.ts";
import { createMetrics, type Metrics } from "./lib/metrics.ts";
import { createHeaderPeek } from "./receive/header-peek.ts";
import { openAuthentication } from "./authenticate/index.ts";
import { createThreadedReceiver } from "./receive/receiver-thread.ts";
import { createReceiver } from "./receive/smtp-receiver.ts";
import { createRecipientVerifier } from "./receive/recipient-verify.ts";
import { openOriginals } from "./originals/index.ts";
import { createReleaseDesk } from "./originals/release-desk.ts";
import { openReleaseStore } from "./originals/release-store.ts";
import { createAlertMonitor, createAlerts, watchHeld } from "./alerts/index.ts";
import { probeTcp } from "./admin/health.ts";
import { openRules, type RulesHolder } from "./rules/index.ts";
import { createTextReplay } from "./rules/rules-replay.ts";
import type { RecordInfo } from "./spool/record.ts";
import { renderOptionsFromConfig } from "./sanitize/index.ts";
import { openQueueAdmin } from "./spool/queue-admin.ts";
import { lockSpool } from "./spool/spool-lock.ts";
import { openSpool, type Spool } from "./spool/spool.ts";

/** two sanitizer workers: this gateway's machines have 2 cores, and receiving/delivering needs the event loop */
const DEFAULT_WORKERS = Math.max(1, Math.min(2, os.availableParallelism()));

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
  const metrics = options.metrics ?? createMetrics();
  const hostname = config.smtp.hostname ?? os.hostname();
  const spool = await openSpool(config.dataDir);
  // before any recovery (the audit journal and spill files included): a second gateway on the
  // same data directory must not "recover" the first one's work
  const lock = await lockSpool(spool.root);
  const ownAudit: AuditLog | undefined = options.audit
    ? undefined
    : await openAuditLog({
        config: config.audit,
        dataDir: config.dataDir,
        gateway: hostname,
        logger,
        metrics,
        serving: true,
        ...(config.log.subjects ? { logSubjects: true } : {}),
      });
  const audit: AuditSink & { close?(): Promise<void> } = options.audit ?? ownAudit!;
  // every spooled message got a 250: its `received` comes before anything the queue manager records
  await recoverReceived({
    spool,
    audit,
    ...(ownAudit ? { known: (ids: string[]) => ownAudit.knownMessages(ids) } : {}),
    logger,
    headerPeek: createHeaderPeek,
  });
  const rules = await openRules({ config: config.rules, logger, audit });
  const originals = openOriginals({ config: config.originals, dataDir: config.dataDir, audit });
  // alerts (mail through the DSN relay, syslog): absent when alerts.to and alerts.syslog are both unset
  const alerts = createAlerts(config, logger);
  // daily: audit events, kept texts and originals past their retention
  const stopRetention = ownAudit ? startRetention({ audit: ownAudit, originals, config, logger }) : undefined;
  const noticeTemplate = config.sanitize.noticeTemplate ? readFileSync(config.sanitize.noticeTemplate, "utf8") : undefined;
  const pool = createSanitizePool({ size: options.workers ?? DEFAULT_WORKERS });
  const deliverer: Deliverer =
    config.delivery.mode === "smtp"
      ? createSmtpDeliverer(config.delivery, hostname)
      : createDirectoryDeliverer(config.delivery.directory ?? path.join(config.dataDir, "outbox"));
  const dsn = config.delivery.dsnRelay ? createDsnSender(config.delivery.dsnRelay, hostname, config.delivery.connectTimeoutMs) : undefined;
  const authentication = openAuthentication(config.authentication, hostname, config.sanitize.limits.maxHeaderBytes, metrics);
  const queue = createQueueManager({
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
  await queue.start();
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
  const receiver = options.inProcessReceiver
    ? createReceiver({ smtp: config.smtp, hostname, spool, audit, logger, metrics, onQueued, ...(verify ? { verifier: createRecipientVerifier(verify) } : {}) })
    : createThreadedReceiver({
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
  let address: AddressInfo;
  try {
    address = await receiver.listen();
  } catch (error) {
    await queue.close();
    await pool.close();
    await authentication?.close();
    alerts?.close();
    await lock.release();
    throw error;
  }
  logger.info({ host: address.address, port: address.port, mode: config.delivery.mode, dataDir: config.dataDir }, "mumuka gateway listening");

  // the console's delete parks its record in the queue manager's done/ (one done journal per process)
  const queueAdmin = openQueueAdmin(config.dataDir, audit, originals, { done: queue.done, logger });
  const monitor = alerts
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
    : undefined;
  const releaseStore = openReleaseStore(config.dataDir);
  const releases = createReleaseDesk({
    store: releaseStore,
    originals,
    audit,
    config: config.originals.release,
    log: logger,
    ...(alerts ? { onBreakGlass: (e: { auditId: string; actor: string }) => void alerts.alerter.event("break-glass", { auditIds: [e.auditId], actor: e.actor }, `break-glass:${e.auditId}`) } : {}),
  });

  let admin: AdminServer | undefined;
  // the console's "try a message": sanitized in a worker pool of its own (one thread, started at the first trial)
  const trial = createRuleTrial({ rules, sanitize: config.sanitize, hostname, dmarcPolicy: config.authentication });
  const reader = audit as AuditSink & Partial<AuditReader>;
  if (config.admin.enabled && typeof reader.search === "function") {
    const searchable = reader as AuditSink & AuditReader;
    try {
      admin = await startAdmin({
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
    } catch (error) {
      // a console that cannot start is a configuration error: stop cleanly rather than run half-configured
      await receiver.close();
      await queue.close();
      await pool.close();
      await authentication?.close();
      await trial.close();
      monitor?.stop();
      alerts?.close();
      releaseStore.close();
      await lock.release();
      throw error;
    }
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
        await admin?.close();
        monitor?.stop();
        releaseStore.close();
        await trial.close();
        await receiver.close();
        await queue.close();
        // after the queue: a message held while it drains still raises its alert
        alerts?.close();
        await pool.close();
        await authentication?.close();
        await deliverer.close();
        dsn?.close();
        rules.close();
        stopRetention?.();
        if (options.audit?.close) await options.audit.close();
        else if (ownAudit) await ownAudit.close();
        else await audit.flush();
        await lock.release();
        logger.info("stopped");
      })();
      return closing;
    },
  };
}
