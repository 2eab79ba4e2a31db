/**
 * What a delivery attempt returns: a verdict per recipient, and a trace of the
 * hosts tried (for the audit trail). Shared by the SMTP and directory modes.
 */

export interface DeliveryJob {
  queueId: string;
  /** "" = null sender */
  mailFrom: string;
  rcptTo: string[];
  /** the sanitized message file, sent byte for byte */
  file: string;
  /** the same bytes as `file`, when the caller still has them in memory: sent instead of reading the file */
  message?: Buffer;
}

export interface RecipientResult {
  rcpt: string;
  /** accepted: delivered; rejected: permanent (5xx); deferred: try again later (4xx, unreachable) */
  status: "accepted" | "rejected" | "deferred";
  reply: string;
  code?: number;
  /** the host that gave the reply */
  host?: string;
}

export interface HostAttempt {
  host: string;
  /** the final reply or error of the transaction on this host */
  reply: string;
  ok: boolean;
}

export interface DeliveryResult {
  recipients: RecipientResult[];
  attempts: HostAttempt[];
}

export interface Deliverer {
  deliver(job: DeliveryJob): Promise<DeliveryResult>;
  close(): Promise<void>;
}
