/**
 * Alerts: the door. createAlerts() builds the alerter with the transports a
 * configuration asks for (mail through delivery.dsnRelay to alerts.to, syslog
 * to alerts.syslog), or nothing when it asks for none; watchHeld() lets the
 * alerter see the "held" events a writer records.
 *
 * SECURITY: the destinations are operator configuration; what is sent is
 * built by alert-mail.ts and syslog.ts from ids and numbers only.
 * Crash state: nothing kept (see alerter.ts).
 */
import os from "node:os";
import type { AuditSink } from "../audit/audit-types.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../lib/logger.ts";
import { createNullSenderMailer } from "../deliver/dsn-sender.ts";
import { buildAlertMail } from "./alert-mail.ts";
import { createAlerter, type Alerter, type AlertTransport } from "./alerter.ts";
import { createSyslogSender, formatSyslog } from "./syslog.ts";

export { createAlerter, type Alerter } from "./alerter.ts";
export { createAlertMonitor, type AlertMonitor, type MonitorProbes } from "./monitor.ts";

export interface Alerts {
  alerter: Alerter;
  close(): void;
}

/** undefined when the configuration names no destination */
export function createAlerts(config: Pick<Config, "alerts" | "delivery" | "smtp">, logger: Logger, now?: () => number): Alerts | undefined {
  const a = config.alerts;
  const hostname = config.smtp.hostname ?? os.hostname();
  const transports: AlertTransport[] = [];
  const closers: (() => void)[] = [];
  const relay = config.delivery.dsnRelay;
  if (a.to.length > 0 && relay) {
    const mailer = createNullSenderMailer(relay, hostname, config.delivery.connectTimeoutMs);
    const from = a.from.includes("@") ? a.from : `${a.from}@${hostname}`;
    transports.push({ name: "mail", deliver: (alert) => mailer.send(a.to, buildAlertMail(alert, { from, to: a.to, hostname, now: new Date(alert.at) })) });
    closers.push(() => mailer.close());
  }
  if (a.syslog) {
    const facility = a.syslog.facility;
    const sender = createSyslogSender(a.syslog);
    transports.push({ name: "syslog", deliver: (alert) => sender.send(formatSyslog(alert, facility, hostname, process.pid)) });
    closers.push(() => sender.close());
  }
  if (transports.length === 0) return undefined;
  const alerter = createAlerter({ intervalMinutes: a.intervalMinutes, gateway: hostname, transports, logger: logger.child({ component: "alerts" }), ...(now ? { now } : {}) });
  return { alerter, close: () => closers.forEach((c) => c()) };
}

/**
 * A sink that records into `audit` and tells the alerter of every message held — once: a `held`
 * event rebuilt at start (`recovered: true`, deliver/final-recovery.ts) is not alerted again. Its
 * alert was raised when the message was held (alerts go out at once, not in the audit batch a
 * crash loses), and the message is in the queue for the monitor's depth check all the same.
 */
export function watchHeld(audit: AuditSink, alerter: Alerter): AuditSink {
  return {
    record(event) {
      audit.record(event);
      if (event.type === "held" && event.auditId && event.data?.recovered !== true) void alerter.event("held", { auditIds: [event.auditId] });
    },
    flush: () => audit.flush(),
    ...(audit.afterStored ? { afterStored: (fn: () => void) => audit.afterStored!(fn) } : {}),
  };
}
