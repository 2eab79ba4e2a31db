/**
 * What the sanitized message says about sender authentication: the
 * Authentication-Results field (RFC 8601) under mumuka's own authserv-id, the
 * X-Mumuka-Auth one-line summary, and whether the notice warns staff.
 *
 * The original's own Authentication-Results (and ARC-*, Received-SPF) never
 * reach the output: only allow-listed headers are rebuilt (DESIGN.md), so the
 * only Authentication-Results staff see is this one.
 *
 * Pure: builds token lists from an AuthVerdict whose strings are already safe
 * tokens (auth-verdict.ts); the one header encoder (header-encode.ts) folds
 * and checks them.
 */
import { dkimSummary, type AuthVerdict } from "./auth-types.ts";

/** the tokens of the Authentication-Results value, for foldedTokens() */
export function authResultsTokens(v: AuthVerdict): string[] {
  const groups: string[][] = [];
  const spf = [`spf=${v.spf.result}`];
  if (v.client.address) spf.push(`(client-ip=${v.client.address})`);
  if (v.spf.domain) spf.push(`smtp.mailfrom=${v.spf.domain}`);
  if (v.client.helo) spf.push(`smtp.helo=${v.client.helo}`);
  groups.push(spf);
  if (v.dkim.length === 0) groups.push(["dkim=none"]);
  for (const sig of v.dkim) {
    const g = [`dkim=${sig.result}`];
    if (sig.domain) g.push(`header.d=${sig.domain}`);
    if (sig.selector) g.push(`header.s=${sig.selector}`);
    if (sig.b) g.push(`header.b=${sig.b}`);
    groups.push(g);
  }
  const dmarc = [`dmarc=${v.dmarc.result}`];
  if (v.dmarc.result === "pass" || v.dmarc.result === "fail") dmarc.push(`policy.dmarc=${v.dmarc.policy}`);
  if (v.dmarc.domain) dmarc.push(`header.from=${v.dmarc.domain}`);
  groups.push(dmarc);
  groups.push(v.arc.instance > 0 ? [`arc=${v.arc.result}`, `(i=${v.arc.instance})`] : [`arc=${v.arc.result}`]);
  const tokens = [`${v.authservId};`];
  groups.forEach((g, i) => {
    if (i < groups.length - 1) g[g.length - 1] += ";";
    tokens.push(...g);
  });
  return tokens;
}

/** X-Mumuka-Auth: the verdicts in one line, for filters and people reading headers */
export function authSummaryTokens(v: AuthVerdict): string[] {
  return [
    `spf=${v.spf.result};`,
    `dkim=${dkimSummary(v)};`,
    `dmarc=${v.dmarc.result};`,
    `arc=${v.arc.result};`,
    ...(v.dmarc.domain ? [`from-domain=${v.dmarc.domain};`] : []),
    ...(v.dmarc.alignedDomain ? [`aligned=${v.dmarc.alignedDomain};`] : []),
    `client=${v.client.source}`,
  ];
}
