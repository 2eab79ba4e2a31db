/**
 * What the console needs from the rest of the gateway: narrow interfaces, wired
 * by the composition root (src/serve.ts).
 */
import type { TextReplay } from "../rules/rules-replay.ts";
import type { Config } from "../config/schema.ts";
import type { AuditReader, AuditSink } from "../audit/audit-types.ts";
import type { QueueAdmin } from "../spool/queue-types.ts";
import type { Metrics } from "../lib/metrics.ts";
import type { Logger } from "../lib/logger.ts";
import type { Envelope, RuleDecision } from "../rules/rules-types.ts";
import type { RulesHolder } from "../rules/index.ts";
import type { MessageFacts } from "../sanitize/sanitize-types.ts";
import type { ReleaseDesk } from "../originals/release-desk.ts";

/**
 * The rules as the console sees them: the live holder from src/rules
 * (`openRules()` returns one; pass it as is).
 */
export type RulesView = Pick<RulesHolder, "current" | "status"> & Partial<Pick<RulesHolder, "reload">>;

/** The result of trying a message against the rules in force (the engine of `mumuka rules test`). */
export interface RuleTrial {
  facts: MessageFacts;
  decision: RuleDecision;
  /** the sanitized message's text as staff would receive it (decoded body) */
  text: string;
}

export type HealthCheck = { ok: boolean; checks: Record<string, { ok: boolean; detail?: string }> };

export interface AdminDeps {
  config: Config["admin"];
  dataDir: string;
  logger: Logger;
  metrics: Metrics;
  audit: AuditSink & AuditReader;
  queue: QueueAdmin;
  rules?: RulesView;
  /** the release of originals with two people (originals/release-desk.ts); absent: no originals in the console */
  releases?: ReleaseDesk;
  health: () => Promise<HealthCheck>;
  /** tries a raw message against the rules in force and the sanitizer; absent: the form says unavailable */
  sanitizeText?: (raw: Buffer, envelope: Envelope) => Promise<RuleTrial>;
  /** "この変更で何が変わるか": candidate rules replayed over retained mail; absent: the page says unavailable */
  rulesReplay?: TextReplay & { readonly busy: boolean };
  /** tests only: the clock of sessions and rate limits */
  now?: () => number;
  /** tests only: scrypt cost of accounts created from the console */
  scryptCost?: { log2N: number; r: number; p: number };
}

export interface AdminServer {
  address: { host: string; port: number };
  close(): Promise<void>;
}
