/**
 * The `auth:` rule condition: matches on the sender-authentication verdict
 * (src/authenticate/) taken on the original before sanitizing.
 *
 *   when:
 *     auth: { dmarc: fail, from_domain: "*.lg.jp" }
 *
 * Keys (all given must match): spf, dkim (the message's overall DKIM word),
 * dmarc, arc — one result word or a list; from_domain (the From domain DMARC
 * evaluated) and aligned (the domain that passed aligned) — domain globs.
 * Without a verdict (authentication.enabled: false) an `auth:` condition never
 * matches: `not: { auth: … }` then matches every message (the docs say so).
 *
 * SECURITY: runs for every message; compares closed result words and globs on
 * short, checked domain tokens (no regular expressions built from input).
 */
import type { Node } from "yaml";
import { authResults, dkimSummary, type AuthResult, type AuthVerdict } from "../authenticate/auth-types.ts";
import type { Condition, MatchContext } from "./rules-engine.ts";
import { fold, globMatch } from "./rules-match.ts";

export const AUTH_KEYS = ["spf", "dkim", "dmarc", "arc", "from_domain", "aligned"] as const;
type AuthKey = (typeof AUTH_KEYS)[number];

/** the part of rules-file.ts's Walker this condition uses */
export interface AuthConditionWalker {
  err(at: Node | null | undefined, message: string): void;
  map(node: unknown, what: string, allowed: readonly string[]): Map<string, { value: Node | null }> | undefined;
  strings(node: Node | null, what: string): { value: string; node: Node }[] | undefined;
}

const DOMAIN_GLOB = /^[a-z0-9*?](?:[a-z0-9*?.-]{0,252})$/;

function wordOf(v: AuthVerdict, key: "spf" | "dkim" | "dmarc" | "arc"): AuthResult {
  if (key === "dkim") return dkimSummary(v);
  return v[key].result;
}

export function authCondition(w: AuthConditionWalker, node: Node | null): Condition | undefined {
  const m = w.map(node, "auth", AUTH_KEYS);
  if (!m) return undefined;
  if (m.size === 0) {
    w.err(node, "auth: give at least one of " + AUTH_KEYS.join(", "));
    return undefined;
  }
  const tests: { describe: string; test: (v: AuthVerdict) => boolean }[] = [];
  let ok = true;
  for (const [key, { value }] of m as Map<AuthKey, { value: Node | null }>) {
    const list = w.strings(value, `auth.${key}`);
    if (!list) {
      ok = false;
      continue;
    }
    const values = list.map((x) => fold(x.value));
    if (key === "from_domain" || key === "aligned") {
      const bad = list.find((x, i) => !DOMAIN_GLOB.test(values[i]!));
      if (bad) {
        w.err(bad.node, `auth.${key}: "${bad.value}" is not a domain pattern (letters, digits, "-", ".", "*", "?")`);
        ok = false;
        continue;
      }
      const field = key === "from_domain" ? (v: AuthVerdict) => v.dmarc.domain : (v: AuthVerdict) => v.dmarc.alignedDomain;
      tests.push({ describe: `${key}: ${values.join(", ")}`, test: (v) => field(v) !== "" && values.some((p) => globMatch(p, field(v))) });
      continue;
    }
    const bad = list.find((x, i) => !(authResults as readonly string[]).includes(values[i]!));
    if (bad) {
      w.err(bad.node, `auth.${key}: "${bad.value}" is not a result (one of ${authResults.join(", ")})`);
      ok = false;
      continue;
    }
    tests.push({ describe: `${key}: ${values.join(", ")}`, test: (v) => values.includes(wordOf(v, key)) });
  }
  if (!ok) return undefined;
  return {
    kind: "leaf",
    describe: `auth: { ${tests.map((t) => t.describe).join("; ")} }`,
    children: [],
    test: (ctx: MatchContext) => ctx.auth !== undefined && tests.every((t) => t.test(ctx.auth!)),
    observed: (ctx: MatchContext) => {
      const v = ctx.auth;
      if (!v) return "(not verified: authentication is off)";
      return `spf=${v.spf.result} dkim=${dkimSummary(v)} dmarc=${v.dmarc.result} arc=${v.arc.result} from=${v.dmarc.domain || "-"} aligned=${v.dmarc.alignedDomain || "-"}`;
    },
  };
}
