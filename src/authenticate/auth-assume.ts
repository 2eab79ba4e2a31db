/**
 * A sender-authentication verdict stated by an operator, for trying rules
 * without DNS (`mumuka rules test --auth …`, the console's "try a message"):
 * the `auth:` conditions and the DMARC policy then see what the gateway would
 * have found. Written like the rules' own keys:
 *
 *   "dmarc=fail spf=softfail from_domain=city.example.lg.jp policy=reject"
 *
 * Keys: spf, dkim, dmarc, arc (result words); from_domain (or from), aligned
 * (domains); policy (the DMARC policy: none, quarantine, reject). Unstated
 * methods are "none"; an aligned domain makes the stated passes aligned.
 *
 * SECURITY: operator text, parsed from a closed vocabulary; domains go through
 * the same allow-list as verified ones (auth-verdict.ts). Pure; no I/O.
 */
import { authResults, dmarcPolicies, type AuthResult, type AuthVerdict, type DmarcPolicy } from "./auth-types.ts";
import { safeDomain, safeIp } from "./auth-verdict.ts";

const WORD_KEYS = ["spf", "dkim", "dmarc", "arc"] as const;
const KEYS = [...WORD_KEYS, "from_domain", "from", "aligned", "policy"] as const;
/** the longest statement accepted (a form field, a command-line option) */
export const MAX_ASSUMED_CHARS = 300;

/** `text` as a verdict for `clientAddress`, or a message (English, the vocabulary named) saying what is wrong */
export function parseAssumedVerdict(text: string, clientAddress = ""): AuthVerdict | string {
  if (text.length > MAX_ASSUMED_CHARS) return `at most ${MAX_ASSUMED_CHARS} characters`;
  const words: Partial<Record<(typeof WORD_KEYS)[number], AuthResult>> = {};
  let fromDomain = "";
  let aligned = "";
  let policy: DmarcPolicy = "none";
  const items = text.trim().split(/[\s,;]+/).filter(Boolean);
  if (items.length === 0) return `write key=value, e.g. "dmarc=fail from_domain=example.lg.jp" (keys: ${KEYS.join(", ")})`;
  for (const item of items) {
    const m = /^([a-z_]+)=(.+)$/i.exec(item);
    const key = m?.[1]!.toLowerCase();
    const value = m?.[2]!.toLowerCase() ?? "";
    if (!m || !(KEYS as readonly string[]).includes(key!)) return `"${item}": write key=value (keys: ${KEYS.join(", ")})`;
    if ((WORD_KEYS as readonly string[]).includes(key!)) {
      if (!(authResults as readonly string[]).includes(value)) return `"${item}": the result is one of ${authResults.join(", ")}`;
      words[key as (typeof WORD_KEYS)[number]] = value as AuthResult;
    } else if (key === "policy") {
      if (!(dmarcPolicies as readonly string[]).includes(value)) return `"${item}": the policy is one of ${dmarcPolicies.join(", ")}`;
      policy = value as DmarcPolicy;
    } else {
      const domain = safeDomain(value);
      if (!domain) return `"${item}": not a domain`;
      if (key === "aligned") aligned = domain;
      else fromDomain = domain;
    }
  }
  const dkim = words.dkim ?? "none";
  const dmarc = words.dmarc ?? "none";
  // what passed aligned: the stated domain, else the From domain when DMARC is stated to pass
  const alignedDomain = aligned || (dmarc === "pass" ? fromDomain : "");
  return {
    authservId: "assumed",
    client: { address: safeIp(clientAddress), helo: "", source: "peer" },
    spf: { result: words.spf ?? "none", domain: fromDomain },
    dkim: dkim === "none" ? [] : [{ result: dkim, domain: alignedDomain || fromDomain, selector: "", b: "", aligned: dkim === "pass" && alignedDomain !== "" }],
    dmarc: { result: dmarc, domain: fromDomain, policy, alignedDomain },
    arc: { result: words.arc ?? "none", instance: 0 },
  };
}
