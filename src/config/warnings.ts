/**
 * Values that are valid but almost certainly a mistake: the configuration
 * loads, and `mumuka config check` (stderr) and `mumuka serve` (the log at
 * start) say why it probably does not do what was meant. An error would stop
 * a deliberate setup (a lab on loopback, a console behind a TLS proxy); a
 * warning only makes sure it is deliberate.
 *
 * Reads the validated configuration, the environment (only whether a
 * variable is set, never its value) and whether the configured files exist.
 * No state.
 */
import { existsSync } from "node:fs";
import os from "node:os";
import type { Config } from "./schema.ts";

/** one finding about a key: `path` locates it in the file, `key` names it in the message */
export interface ConfigNote {
  path: (string | number)[];
  key: string;
  message: string;
}

const WILDCARD = new Set(["0.0.0.0", "::", ""]);

function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\./.test(h) || h === "::ffff:127.0.0.1";
}

export function configWarnings(config: Config, env: NodeJS.ProcessEnv): ConfigNote[] {
  const notes: ConfigNote[] = [];
  const note = (path: (string | number)[], message: string) =>
    notes.push({ path, key: path.map((p) => (typeof p === "number" ? `[${p}]` : p)).join(".").replaceAll(".[", "["), message });
  const { smtp, delivery, admin, originals } = config;

  // the gateway's own listener: delivering there sends every sanitized message round again, forever
  const ownNames = new Set([smtp.hostname, os.hostname(), smtp.host].filter((h): h is string => !!h).map((h) => h.toLowerCase()));
  const isSelf = (host: string, port: number) =>
    port === smtp.port &&
    (ownNames.has(host.toLowerCase()) || (isLoopback(host) && (isLoopback(smtp.host) || WILDCARD.has(smtp.host))) || (WILDCARD.has(smtp.host) && WILDCARD.has(host)));
  if (delivery.mode === "smtp") {
    if (isSelf(delivery.host, delivery.port)) {
      note(["delivery", "host"], `delivers to ${delivery.host}:${delivery.port}, the gateway's own SMTP listener (smtp.host/smtp.port): every message would loop`);
    }
    delivery.failover.forEach((f, i) => {
      if (isSelf(f.host, f.port)) note(["delivery", "failover", i], `${f.host}:${f.port} is the gateway's own SMTP listener: messages would loop`);
    });
    if (delivery.directory !== undefined) note(["delivery", "directory"], "is only used in directory mode; delivery.mode is smtp");
  } else {
    if (delivery.failover.length > 0) note(["delivery", "failover"], "is only used in smtp mode; delivery.mode is directory");
    if (delivery.requireTls) note(["delivery", "requireTls"], "is only used in smtp mode; delivery.mode is directory");
  }
  if (delivery.dsnRelay && isSelf(delivery.dsnRelay.host, delivery.dsnRelay.port)) {
    note(["delivery", "dsnRelay"], `${delivery.dsnRelay.host}:${delivery.dsnRelay.port} is the gateway's own SMTP listener: delivery status notifications would come back in`);
  }
  if (delivery.retryFirstSeconds > delivery.retryMaxSeconds) {
    note(["delivery", "retryFirstSeconds"], `is larger than delivery.retryMaxSeconds (${delivery.retryMaxSeconds}): every retry waits retryMaxSeconds`);
  }

  if (!isLoopback(smtp.host)) {
    if (smtp.recipientDomains.includes("*")) {
      note(["smtp", "recipientDomains"], `"*" accepts mail for any domain while listening on ${smtp.host || "every address"}: list the LGWAN domains (an open relay otherwise)`);
    }
    smtp.clients.forEach((c, i) => {
      if (/\/0$/.test(c.trim())) note(["smtp", "clients", i], `${c} lets any host connect: list the Internet-zone MTA's network`);
    });
  }

  // XFORWARD/XCLIENT name the client SPF is checked against, and are believed from nobody by default:
  // with neither they nor a trusted Received line, SPF sees the Internet-zone MTA and fails every message
  if (config.authentication.enabled && smtp.forwarders.length === 0 && config.authentication.trustedReceivedBy.length === 0) {
    note(
      ["smtp", "forwarders"],
      "is empty: XFORWARD/XCLIENT (the original client) is believed from nobody, so SPF is checked against the Internet-zone MTA itself; list its address(es) here (or its host name in authentication.trustedReceivedBy)",
    );
  }

  if (originals.keyEnv !== undefined && originals.retentionDays > 0 && !env[originals.keyEnv]) {
    note(["originals", "keyEnv"], `the environment variable ${originals.keyEnv} is not set: originals cannot be encrypted or read`);
  }

  // files the gateway reads at start: missing, it would not start (other commands do not need them, so not an error)
  const files: [(string | number)[], string | undefined][] = [
    [["smtp", "tls", "cert"], smtp.tls?.cert],
    [["smtp", "tls", "key"], smtp.tls?.key],
    [["admin", "tls", "cert"], admin.enabled ? admin.tls?.cert : undefined],
    [["admin", "tls", "key"], admin.enabled ? admin.tls?.key : undefined],
    [["rules", "file"], config.rules.file],
    [["sanitize", "noticeTemplate"], config.sanitize.noticeTemplate],
  ];
  for (const [at, file] of files) {
    if (file !== undefined && !existsSync(file)) note(at, `${file} does not exist: mumuka serve would not start`);
  }

  if (admin.enabled && !isLoopback(admin.host) && !admin.tls) {
    note(["admin", "host"], `the console listens on ${admin.host || "every address"} without admin.tls: passwords and session cookies would cross the network in clear`);
  }
  return notes;
}
