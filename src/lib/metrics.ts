/**
 * Prometheus metrics of one gateway process (prom-client). The relay updates
 * them; the admin listener serves them at /metrics. One registry per process,
 * created by the composition root and passed down (no global registry).
 */
import { createRequire } from "node:module";
import type { Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * What the relay does with each metric, and no more (inc, set, observe): so a gateway whose metrics no
 * one reads can be given unreadMetrics(), and a call it does not have (dec, labels, a timer) does not
 * type-check instead of failing only in that configuration.
 */
export interface Metrics {
  /** the registry /metrics reads; absent when no one reads them (unreadMetrics) */
  registry?: Registry;
  /** messages by final outcome: delivered, bounced, held, rejected, expired, deleted */
  messages: Pick<Counter<"outcome">, "inc">;
  /**
   * SMTP refusals at the door, by reason: client, relay, size, recipients, tempfail; per address
   * (percent-hack, bang-path, quoted-at, source-route, invalid-utf8, needs-smtputf8); per connection
   * (busy: no slot, client-limit: maxConnectionsPerClient, timeout: transactionTimeoutMs, slow:
   * minDataBytesPerSecond, errors: too many refused addresses). A bounded set of labels, never an address.
   */
  refused: Pick<Counter<"reason">, "inc">;
  attachmentsRemoved: Pick<Counter, "inc">;
  linksDisarmed: Pick<Counter, "inc">;
  /** seconds from the 250 reply to the downstream server's acceptance */
  deliveryLatency: Pick<Histogram, "observe">;
  deliveryAttempts: Pick<Counter<"result">, "inc">;
  /** messages waiting in the spool, by state */
  queueDepth: Pick<Gauge<"state">, "set">;
  /** audit events recorded but not yet stored */
  auditLag: Pick<Gauge, "set">;
  /** sender-authentication verdicts, by method (spf, dkim, dmarc, arc) and result word */
  authResults: Pick<Counter<"method" | "result">, "inc">;
}

export function createMetrics(): Metrics & { registry: Registry } {
  // loaded here, not at the top: a gateway whose metrics no one reads never loads prom-client (below)
  const { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } = createRequire(import.meta.url)("prom-client") as typeof import("prom-client");
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "mumuka_process_" });
  const registers = [registry];
  return {
    registry,
    messages: new Counter({ name: "mumuka_messages_total", help: "Messages by final outcome", labelNames: ["outcome"], registers }),
    refused: new Counter({ name: "mumuka_smtp_refused_total", help: "SMTP refusals (transactions, recipients, connections), by reason", labelNames: ["reason"], registers }),
    attachmentsRemoved: new Counter({ name: "mumuka_attachments_removed_total", help: "Attachments removed", registers }),
    linksDisarmed: new Counter({ name: "mumuka_links_disarmed_total", help: "Links defanged or removed", registers }),
    deliveryLatency: new Histogram({
      name: "mumuka_delivery_latency_seconds",
      help: "Seconds from acceptance to downstream acceptance",
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 3600, 86400],
      registers,
    }),
    deliveryAttempts: new Counter({ name: "mumuka_delivery_attempts_total", help: "Delivery attempts by result", labelNames: ["result"], registers }),
    queueDepth: new Gauge({ name: "mumuka_queue_depth", help: "Messages in the spool by state", labelNames: ["state"], registers }),
    auditLag: new Gauge({ name: "mumuka_audit_lag_events", help: "Audit events recorded but not yet stored", registers }),
    authResults: new Counter({ name: "mumuka_auth_results_total", help: "Sender authentication verdicts by method and result", labelNames: ["method", "result"], registers }),
  };
}

/**
 * The metrics of a gateway that does not serve them (admin.enabled or admin.metrics false): the
 * same calls, counted nowhere, and prom-client (with @opentelemetry/api, about 80 modules, and the
 * default collectors' event-loop monitor) never loaded into the main isolate, where whatever is
 * loaded stays for the life of the process (issue 13). Only what the relay calls exists (inc, set,
 * observe); there is no registry to read.
 */
export function unreadMetrics(): Metrics {
  const counter = { inc: () => {} };
  const gauge = { set: () => {} };
  const histogram = { observe: () => {} };
  return {
    messages: counter,
    refused: counter,
    attachmentsRemoved: counter,
    linksDisarmed: counter,
    deliveryLatency: histogram,
    deliveryAttempts: counter,
    queueDepth: gauge,
    auditLag: gauge,
    authResults: counter,
  };
}
