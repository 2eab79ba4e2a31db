/**
 * Alert mail: built here (the header block by the one header encoder,
 * headerBlock(), as DSNs are) and sent through delivery.dsnRelay with the
 * null reverse-path, so an alert that cannot be delivered never bounces back
 * into the gateway.
 *
 * SECURITY: the content is alert-texts.ts's (ids and numbers only); the body
 * is base64 of UTF-8, so no line of it can be read as a header or a dot line.
 * The recipients are operator configuration (alerts.to), checked by the
 * schema. Nothing is kept: a crash loses at most an alert being sent.
 */
import { randomBytes } from "node:crypto";
import { addressHeader, headerBlock, tokenHeader, unstructuredHeader } from "../sanitize/header-encode.ts";
import { bodyOf, subjectOf, type Alert } from "./alert-texts.ts";

export function buildAlertMail(alert: Alert, options: { from: string; to: string[]; hostname: string; now: Date }): Buffer {
  const domain = options.hostname.replace(/[^A-Za-z0-9.-]/g, "") || "localhost";
  const header = headerBlock([
    addressHeader("From", [{ name: "mumuka", address: options.from }], "utf-8"),
    addressHeader("To", options.to.map((address) => ({ name: "", address })), "utf-8"),
    unstructuredHeader("Subject", subjectOf(alert), "utf-8"),
    tokenHeader("Date", options.now.toUTCString().replace("GMT", "+0000")),
    tokenHeader("Message-ID", `<alert.${options.now.getTime()}.${randomBytes(6).toString("hex")}@${domain}>`),
    tokenHeader("Auto-Submitted", "auto-generated"),
    tokenHeader("X-Mumuka-Alert", `${alert.kind} ${alert.state}`),
    tokenHeader("MIME-Version", "1.0"),
    tokenHeader("Content-Type", "text/plain; charset=utf-8"),
    tokenHeader("Content-Transfer-Encoding", "base64"),
  ]);
  const body = Buffer.from(bodyOf(alert), "utf8").toString("base64").replace(/.{76}/g, "$&\r\n");
  return Buffer.concat([header, Buffer.from(`\r\n${body}\r\n`, "ascii")]);
}
