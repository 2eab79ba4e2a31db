/**
 * Who may hand mail to mumuka, and for which domains: the no-open-relay rule.
 * Pure functions over the smtp.clients / smtp.recipientDomains settings.
 *
 * SECURITY: the client address comes from the socket (trusted); the recipient
 * address comes from the client and is only compared, never used as a path or
 * a logger name.
 */
import { BlockList, isIPv4, isIPv6 } from "node:net";

export class PolicyConfigError extends Error {
  override name = "PolicyConfigError";
}

/** An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d; this gives a.b.c.d. */
export function plainAddress(address: string): string {
  return address.startsWith("::ffff:") && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/** Builds the allow-list of client networks; throws naming the bad entry (and the key, "smtp.clients" unless told). */
export function clientAllowList(cidrs: readonly string[], key = "smtp.clients"): (address: string) => boolean {
  const list = new BlockList();
  for (const entry of cidrs) {
    const [net, bitsText] = entry.split("/");
    const family = net && isIPv4(net) ? "ipv4" : net && isIPv6(net) ? "ipv6" : undefined;
    if (!net || !family) throw new PolicyConfigError(`${key}: not an IP network: ${entry}`);
    const max = family === "ipv4" ? 32 : 128;
    const bits = bitsText === undefined ? max : Number(bitsText);
    if (!Number.isInteger(bits) || bits < 0 || bits > max) throw new PolicyConfigError(`${key}: bad prefix length: ${entry}`);
    list.addSubnet(net, bits, family);
  }
  return (address: string) => {
    const plain = plainAddress(address);
    if (isIPv4(plain)) return list.check(plain, "ipv4");
    if (isIPv6(plain)) return list.check(plain, "ipv6");
    return false;
  };
}

/** Matches recipient domains: exact (case-insensitive) or "*" for any. No implicit subdomains. */
export function recipientDomainMatcher(domains: readonly string[]): (rcpt: string) => "ok" | "denied" | "syntax" {
  const any = domains.includes("*");
  const set = new Set(domains.map((d) => d.toLowerCase().replace(/\.$/, "")));
  return (rcpt: string) => {
    const at = rcpt.lastIndexOf("@");
    if (at <= 0 || at === rcpt.length - 1) return "syntax";
    if (any) return "ok";
    const domain = rcpt.slice(at + 1).toLowerCase().replace(/\.$/, "");
    return set.has(domain) ? "ok" : "denied";
  };
}

/**
 * Where the domainless "RCPT TO:<postmaster>" goes (RFC 5321 4.5.1 requires
 * accepting it): smtp.postmaster when set, else postmaster@ the first
 * configured recipient domain. With only "*" (the loopback trial setting)
 * there is no domain of our own, so it is postmaster@ the gateway's host name.
 */
export function postmasterAddress(configured: string | undefined, recipientDomains: readonly string[], hostname: string): string {
  if (configured) return configured;
  const own = recipientDomains.find((d) => d !== "*");
  return `postmaster@${(own ?? hostname).replace(/\.$/, "")}`;
}
