/**
 * Sends delivery status notifications through delivery.dsnRelay (usually the
 * Internet-zone MTA, which routes them back to the sender), always with the
 * null reverse-path (MAIL FROM:<>) as RFC 5321 §4.5.5 requires.
 *
 * SECURITY: the DSN is built by dsn.ts from cleaned values; the recipient is
 * the original envelope sender, passed as an envelope address only.
 */
import type { Transporter } from "nodemailer";
import type { Config } from "../config/schema.ts";
import type { DsnSender } from "./bounce.ts";

/**
 * Mail through delivery.dsnRelay with the null reverse-path: the DSNs, and
 * the alerts (src/alerts), which must not bounce back into the gateway either.
 * Every wait is bounded by timeoutMs (a relay that hangs mid-dialogue too).
 */
export function createNullSenderMailer(relay: NonNullable<Config["delivery"]["dsnRelay"]>, hostname: string, timeoutMs: number): { send(to: string[], message: Buffer): Promise<void>; close(): void } {
  // nodemailer's full mailer is loaded with the first message, not at start: most gateways send
  // few DSNs and alerts, and what the main isolate loads stays for the life of the process (issue 13)
  let transport: Promise<Transporter> | undefined;
  const open = async (): Promise<Transporter> =>
    (await import("nodemailer")).default.createTransport({
      host: relay.host,
      port: relay.port,
      secure: false,
      name: hostname,
      tls: { rejectUnauthorized: false },
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      disableFileAccess: true,
      disableUrlAccess: true,
    });
  return {
    async send(to, message) {
      if (!transport) {
        const opening = open();
        // a load that failed (EMFILE at the first alert …) is tried again by the next mail, not kept
        opening.catch(() => {
          if (transport === opening) transport = undefined;
        });
        transport = opening;
      }
      await (await transport).sendMail({ envelope: { from: "", to }, raw: message });
    },
    close: () => void transport?.then((t) => t.close(), () => undefined),
  };
}

export function createDsnSender(relay: NonNullable<Config["delivery"]["dsnRelay"]>, hostname: string, timeoutMs: number): DsnSender & { close(): void } {
  const mailer = createNullSenderMailer(relay, hostname, timeoutMs);
  return { send: (to: string, message: Buffer) => mailer.send([to], message), close: mailer.close };
}
