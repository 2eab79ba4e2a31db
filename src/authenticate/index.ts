/**
 * Sender authentication (issue 14): SPF, DKIM, DMARC and ARC verified on the
 * original before sanitizing. The door: the factory the composition root
 * calls, and the types other stages use.
 */
import type { AuthenticationConfig } from "../config/schema.ts";
import type { Metrics } from "../lib/metrics.ts";
import { createAuthStage, type AuthStage } from "./auth-stage.ts";
import { createAuthThread } from "./auth-thread.ts";
import { unverifiedVerdict } from "./authenticator.ts";

export type { AuthVerdict, AuthResult } from "./auth-types.ts";
export { senderUnverified, dkimSummary } from "./auth-types.ts";
export { dmarcHoldReason, withDmarcPolicy } from "./auth-policy.ts";
export { parseAssumedVerdict, MAX_ASSUMED_CHARS } from "./auth-assume.ts";
export type { AuthStage } from "./auth-stage.ts";

export interface Authentication {
  stage: AuthStage;
  /** ends the authentication thread (after the queue has stopped) */
  close(): Promise<void>;
}

/**
 * The authentication step of the sanitize stage, or undefined when authentication is off. The
 * verification runs in a thread of its own (auth-thread.ts), with its own DNS cache.
 */
export function openAuthentication(config: AuthenticationConfig, hostname: string, maxHeaderBytes: number, metrics?: Pick<Metrics, "authResults">): Authentication | undefined {
  if (!config.enabled) return undefined;
  const thread = createAuthThread({ config, hostname, maxHeaderBytes, unverified: (peer) => unverifiedVerdict(config, hostname, peer) });
  return { stage: createAuthStage({ verify: thread.verify, ...(metrics ? { metrics } : {}) }), close: thread.close };
}
