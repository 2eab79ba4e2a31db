/**
 * Sender authentication (issue 14): SPF, DKIM, DMARC and ARC verified on the
 * original before sanitizing. The door: the factory the composition root
 * calls, and the types other stages use.
 */
import type { AuthenticationConfig } from "../config/schema.ts";
import type { Metrics } from "../lib/metrics.ts";
import { createAuthStage, type AuthStage } from "./auth-stage.ts";
import { createAuthenticator } from "./authenticator.ts";
import { createDnsResolver } from "./dns-resolver.ts";

export type { AuthVerdict, AuthResult } from "./auth-types.ts";
export { senderUnverified, dkimSummary } from "./auth-types.ts";
export { dmarcHoldReason, withDmarcPolicy } from "./auth-policy.ts";
export type { AuthStage } from "./auth-stage.ts";

/** The authentication step of the sanitize stage, or undefined when authentication is off. */
export function openAuthentication(config: AuthenticationConfig, hostname: string, maxHeaderBytes: number, metrics?: Pick<Metrics, "authResults">): AuthStage | undefined {
  if (!config.enabled) return undefined;
  const dns = createDnsResolver(config.dns);
  const authenticator = createAuthenticator({ config, hostname, resolve: dns.resolve });
  return createAuthStage({ authenticator, maxHeaderBytes, ...(metrics ? { metrics } : {}) });
}
