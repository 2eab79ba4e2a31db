/**
 * The contract of the queue as administrators see it (CLI and console).
 * The spool owns the files; this is the only way others act on them.
 */

export type QueueState = "incoming" | "active" | "deferred" | "held" | "corrupt";

export interface QueueEntry {
  /** the audit id of the message */
  id: string;
  state: QueueState;
  receivedAt: string;
  mailFrom: string;
  /** recipients still to be delivered */
  rcptTo: string[];
  size: number;
  attempts: number;
  nextAttemptAt?: string;
  lastError?: string;
  holdReason?: string;
}

export interface QueueAdmin {
  list(filter?: { state?: QueueState }): Promise<QueueEntry[]>;
  get(id: string): Promise<QueueEntry | undefined>;
  /** deferred or held → delivered again as soon as possible */
  retry(id: string, actor: string): Promise<void>;
  hold(id: string, actor: string, reason?: string): Promise<void>;
  release(id: string, actor: string): Promise<void>;
  /** removes the message from the queue (it stays in the audit trail and retained originals) */
  delete(id: string, actor: string): Promise<void>;
}
