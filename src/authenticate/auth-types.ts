/**
 * The contract of sender authentication, shared by the stage that verifies
 * (this folder), the rules engine (the `auth:` condition), the renderer (the
 * Authentication-Results header, the X-Mumuka-Auth summary, the notice line),
 * the audit trail and the console.
 *
 * An AuthVerdict is plain, structured-clone-able data: it crosses into the
 * sanitizer workers like the time and the ids do. Every string in it is either
 * one of the closed result words below or a domain/selector/address checked to
 * be a safe ASCII token (see auth-verdict.ts): the renderer may write it into a
 * header without further checks, though it still goes through the encoder.
 */

/** RFC 8601 result words (SPF: RFC 7208 2.6; DKIM: RFC 6376; DMARC: RFC 7489 11.2; ARC: RFC 8617) */
export const authResults = ["pass", "fail", "softfail", "neutral", "none", "temperror", "permerror", "policy"] as const;
export type AuthResult = (typeof authResults)[number];

export const dmarcPolicies = ["none", "quarantine", "reject"] as const;
export type DmarcPolicy = (typeof dmarcPolicies)[number];

/** where the client address that SPF was checked against came from */
export type ClientSource = "xforward" | "xclient" | "received" | "peer";

export interface AuthClient {
  address: string;
  helo: string;
  source: ClientSource;
}

export interface DkimSignatureVerdict {
  result: AuthResult;
  /** d= */
  domain: string;
  /** s= */
  selector: string;
  /** first 8 characters of b= (RFC 6008 header.b), "" when absent */
  b: string;
  /** d= is aligned with the From domain (the DMARC alignment mode applied) */
  aligned: boolean;
}

export interface AuthVerdict {
  /** this gateway's authserv-id (RFC 8601 2.5) */
  authservId: string;
  client: AuthClient;
  spf: {
    result: AuthResult;
    /** the MAIL FROM domain (or the HELO name for the null sender), "" when unknown */
    domain: string;
  };
  /** every DKIM signature, in header order (empty: unsigned) */
  dkim: DkimSignatureVerdict[];
  dmarc: {
    result: AuthResult;
    /** the RFC5322.From domain, "" when there is none or several */
    domain: string;
    /** the policy that applies (sp= for a subdomain), "none" without a record */
    policy: DmarcPolicy;
    /** the domain that passed aligned (SPF or DKIM), "" when none */
    alignedDomain: string;
  };
  arc: {
    result: AuthResult;
    /** the highest ARC instance, 0 without a chain */
    instance: number;
  };
}

/** The overall DKIM word of a message: pass when any signature passes, none when unsigned, else the first signature's result. */
export function dkimSummary(verdict: Pick<AuthVerdict, "dkim">): AuthResult {
  if (verdict.dkim.length === 0) return "none";
  if (verdict.dkim.some((s) => s.result === "pass")) return "pass";
  return verdict.dkim[0]!.result;
}

/**
 * The sender could not be shown to own the From domain: DMARC failed, or
 * nothing passed aligned with the From domain (no DMARC record, and neither an
 * aligned DKIM signature nor SPF for the same domain). What the notice warns of.
 */
export function senderUnverified(verdict: AuthVerdict): boolean {
  if (verdict.dmarc.result === "pass") return false;
  if (verdict.dmarc.result === "fail") return true;
  return verdict.dmarc.alignedDomain === "";
}
