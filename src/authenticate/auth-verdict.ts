/**
 * mailauth's result → mumuka's AuthVerdict, by an allow-list: result words
 * from a closed set (anything else becomes permerror), domains and selectors
 * only when they are safe ASCII tokens (A-labels), nothing else carried over.
 * mailauth's own header text and comments (which quote sender-controlled
 * values) are never used.
 *
 * Pure; no I/O.
 */
import { domainToASCII } from "node:url";
// mailauth's relaxed-alignment test (organizational domains from the public suffix list); a plain CommonJS module
import tools from "mailauth/lib/tools.js";
import { authResults, dmarcPolicies, type AuthClient, type AuthResult, type AuthVerdict, type DkimSignatureVerdict, type DmarcPolicy } from "./auth-types.ts";

/** a host name or domain as an RFC 8601 value can carry it unquoted */
const DOMAIN_TOKEN = /^[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*$/;
const SELECTOR_TOKEN = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,62})$/;
const B_TOKEN = /^[A-Za-z0-9+/]{1,8}$/;
const IP_TOKEN = /^[0-9a-fA-F.:]{2,45}$/;

export function safeDomain(value: unknown): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 253) return "";
  const ascii = domainToASCII(value.trim().replace(/\.$/, "").toLowerCase());
  return DOMAIN_TOKEN.test(ascii) ? ascii : "";
}

export function safeIp(value: unknown): string {
  return typeof value === "string" && IP_TOKEN.test(value) ? value : "";
}

function word(value: unknown): AuthResult {
  const v = typeof value === "string" ? value.toLowerCase() : "";
  if (v === "temperr") return "temperror";
  // mailauth reports a skipped check (e.g. no From domain for DMARC) as none
  if (v === "skipped" || v === "declined") return "none";
  return (authResults as readonly string[]).includes(v) ? (v as AuthResult) : "permerror";
}

function policy(value: unknown): DmarcPolicy {
  const v = typeof value === "string" ? value.toLowerCase() : "";
  return (dmarcPolicies as readonly string[]).includes(v) ? (v as DmarcPolicy) : "none";
}

interface MailauthLike {
  spf?: { domain?: string; status?: { result?: string } } | false;
  dkim?: { results?: { signingDomain?: string; selector?: string; status?: { result?: string; aligned?: string | false; header?: { b?: string } } }[] };
  dmarc?: { domain?: string; policy?: string; status?: { result?: string; header?: { from?: string } }; alignment?: { spf?: { result?: string | false }; dkim?: { result?: string | false } } } | false;
  arc?: { i?: number | false; status?: { result?: string } } | false;
}

export function toVerdict(result: MailauthLike, authservId: string, client: AuthClient, fromDomainHint: string): AuthVerdict {
  // an unsigned message comes back as one "none" row without a signing domain: no signature to list
  const rows = (result.dkim?.results ?? []).filter((row) => !(row.status?.result === "none" && !row.signingDomain));
  const dkim: DkimSignatureVerdict[] = rows.map((row) => {
    const b = row.status?.header?.b ?? "";
    return {
      result: word(row.status?.result),
      domain: safeDomain(row.signingDomain),
      selector: typeof row.selector === "string" && SELECTOR_TOKEN.test(row.selector) ? row.selector : "",
      b: B_TOKEN.test(b) ? b : "",
      aligned: typeof row.status?.aligned === "string" && row.status.aligned !== "",
    };
  });
  const spf = result.spf || undefined;
  const dmarc = result.dmarc || undefined;
  const arc = result.arc || undefined;
  const alignedSpf = safeDomain(dmarc?.alignment?.spf?.result);
  const alignedDkim = safeDomain(dmarc?.alignment?.dkim?.result);
  // without a DMARC record mailauth still says which signatures align; SPF aligns when its domain is the From domain's
  // status.header.from is the From domain; dmarc.domain is where the record was found (its organizational domain)
  const fromDomain = safeDomain(dmarc?.status?.header?.from) || safeDomain(dmarc?.domain) || fromDomainHint;
  const spfDomain = safeDomain(spf?.domain);
  const spfAligned = spf?.status?.result === "pass" && spfDomain !== "" && fromDomain !== "" && sameOrgish(spfDomain, fromDomain) ? spfDomain : "";
  const dkimAligned = dkim.find((s) => s.result === "pass" && s.aligned)?.domain ?? "";
  return {
    authservId,
    client,
    spf: { result: spf ? word(spf.status?.result) : "none", domain: spfDomain },
    dkim,
    dmarc: {
      result: dmarc ? word(dmarc.status?.result) : "none",
      domain: fromDomain,
      policy: dmarc ? policy(dmarc.policy) : "none",
      alignedDomain: alignedDkim || alignedSpf || dkimAligned || spfAligned,
    },
    arc: { result: arc ? word(arc.status?.result) : "none", instance: arc && typeof arc.i === "number" ? arc.i : 0 },
  };
}

/** relaxed alignment (RFC 7489 3.1): the same organizational domain */
function sameOrgish(a: string, b: string): boolean {
  return tools.getAlignment(b, [a], false) !== false;
}

/** A verdict for a message that could not be verified at all (DNS budget exhausted, a library error): temperror everywhere, never a pass. */
export function temperrorVerdict(authservId: string, client: AuthClient, fromDomain: string): AuthVerdict {
  return {
    authservId,
    client,
    spf: { result: "temperror", domain: "" },
    dkim: [],
    dmarc: { result: "temperror", domain: fromDomain, policy: "none", alignedDomain: "" },
    arc: { result: "none", instance: 0 },
  };
}
