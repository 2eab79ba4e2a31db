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
import { syslogPri } from "../lib/syslog.ts";
import { lineOf, severityOf, token, type Alert } from "./alert-texts.ts";

/** an enterprise number for the SD-ID: 32473 is the one RFC 5612 reserves for documentation and examples */
const SD_ID = "mumuka@32473";
const BOM = "\uFEFF";

const sdValue = (v: string) => token(v).replace(/(["\\\]])/g, "\\$1");

/** The RFC 5424 line of an alert. */
export function formatSyslog(alert: Alert, facility: string, hostname: string, pid: number): string {
  const pri = syslogPri(facility, severityOf(alert));
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

export { createSyslogSender, type SyslogSender } from "../lib/syslog.ts";
