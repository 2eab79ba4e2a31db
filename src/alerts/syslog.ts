/**
 * Alerts to syslog: one RFC 5424 message per alert over UDP to
 * alerts.syslog (host:port), with the condition as structured data.
 *
 *   <PRI>1 TIMESTAMP HOSTNAME mumuka PROCID alert [mumuka@32473 kind="…" state="…" …] BOM message
 *
 * SECURITY: ids, counts and host:port only (alert-texts.ts); SD-PARAM values
 * are escaped as RFC 5424 §6.3.3 requires (" \ ]), and bounded tokens. UDP
 * is fire-and-forget: nothing is kept, a lost datagram is lost.
 */
import { createSocket } from "node:dgram";
import type { Config } from "../config/schema.ts";
import { lineOf, severityOf, token, type Alert } from "./alert-texts.ts";

/** Syslog facility numbers (RFC 5424 §6.2.1). */
const FACILITY: Record<string, number> = {
  user: 1,
  daemon: 3,
  auth: 4,
  authpriv: 10,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};
/** an enterprise number for the SD-ID: 32473 is the one RFC 5612 reserves for documentation and examples */
const SD_ID = "mumuka@32473";
const BOM = "\uFEFF";

const sdValue = (v: string) => token(v).replace(/(["\\\]])/g, "\\$1");

/** The RFC 5424 line of an alert. */
export function formatSyslog(alert: Alert, facility: string, hostname: string, pid: number): string {
  const pri = (FACILITY[facility] ?? 16) * 8 + severityOf(alert);
  const f = alert.facts;
  const params: [string, string | number | undefined][] = [
    ["kind", alert.kind],
    ["state", alert.state],
    ["gateway", alert.gateway],
    ["target", f.target],
    ["value", f.value],
    ["threshold", f.threshold],
    ["actor", f.actor],
    ["auditIds", f.auditIds?.slice(0, 10).join(",")],
    ["suppressed", f.suppressed || undefined],
  ];
  const sd = params
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k, v]) => `${k}="${sdValue(String(v))}"`)
    .join(" ");
  const host = token(hostname).slice(0, 255) || "-";
  return `<${pri}>1 ${alert.at} ${host} mumuka ${pid} alert [${SD_ID} ${sd}] ${BOM}${lineOf(alert)}`;
}

export interface SyslogSender {
  send(line: string): Promise<void>;
  close(): void;
}

export function createSyslogSender(target: NonNullable<Config["alerts"]["syslog"]>): SyslogSender {
  const socket = createSocket(target.host.includes(":") ? "udp6" : "udp4");
  socket.unref();
  // an ICMP "port unreachable" on a later send surfaces here: it must not take the gateway down
  socket.on("error", () => {});
  return {
    send(line) {
      return new Promise((resolve, reject) => {
        socket.send(Buffer.from(line, "utf8"), target.port, target.host, (error) => (error ? reject(error) : resolve()));
      });
    },
    close: () => socket.close(),
  };
}
