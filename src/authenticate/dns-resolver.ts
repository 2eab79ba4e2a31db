/**
 * The DNS resolver of sender authentication: Node's c-ares resolver with the
 * configured servers, time-out and tries, behind a bounded cache, shaped as
 * mailauth's `resolver(name, rrtype)` (the same results and error codes as
 * `dns.promises.resolve`).
 *
 * A DNS failure is never a pass: mailauth turns ENOTFOUND/ENODATA into "none"
 * and every other error (ETIMEOUT, ESERVFAIL, ECONNREFUSED …) into temperror.
 * Only answers and "no such name/no data" are cached; a time-out or a server
 * failure is not, so the next message asks again.
 *
 * Node's resolver returns TTLs only for A/AAAA, so every answer is kept for
 * min(its TTL when known, cacheSeconds); negative answers for negativeSeconds.
 *
 * SECURITY: names come from the message (From domain, DKIM d=/s=, SPF
 * includes): the cache is bounded in entries (oldest evicted first) and a name
 * longer than DNS allows is refused without a query.
 * Crash state: memory only.
 */
import { Resolver } from "node:dns/promises";

export interface DnsOptions {
  /** "ip" or "ip:port"; empty: the system's resolvers (/etc/resolv.conf) */
  servers: string[];
  /** per query attempt, milliseconds */
  timeoutMs: number;
  tries: number;
  cacheSeconds: number;
  negativeSeconds: number;
  cacheEntries: number;
}

export type DnsAnswer = unknown[];
export type DnsResolve = (name: string, rrtype: string) => Promise<DnsAnswer>;

interface Entry {
  expires: number;
  answer?: DnsAnswer;
  code?: string;
}

/** a name's length on the wire is at most 255 octets (RFC 1035 2.3.4); the text form at most 253 */
const MAX_NAME = 253;
const NEGATIVE = new Set(["ENOTFOUND", "ENODATA"]);
const TYPES = new Set(["A", "AAAA", "MX", "TXT", "PTR", "CNAME", "NS"]);

export interface CachedResolver {
  resolve: DnsResolve;
  /** when the cached answer (or "no such name/data") for this question expires (ms since the epoch); undefined: not cached */
  expiry(name: string, rrtype: string): number | undefined;
  /** entries now cached (for tests and metrics) */
  size(): number;
}

/**
 * The error of a cached "no such name / no data": what mailauth reads is the code. Without a stack
 * trace: every message of a sender asks for some name that does not exist (DMARC's tree walk asks
 * for _dmarc.<tld>), and capturing a stack for each was a visible part of a verification.
 */
function cachedFailure(code: string, name: string): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return Object.assign(new Error(`${code} ${name}`), { code });
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export function createDnsResolver(options: DnsOptions, now: () => number = Date.now): CachedResolver {
  const resolver = new Resolver({ timeout: options.timeoutMs, tries: options.tries });
  if (options.servers.length) resolver.setServers(options.servers);
  const cache = new Map<string, Entry>();
  const pending = new Map<string, Promise<DnsAnswer>>();

  function remember(key: string, entry: Entry): void {
    cache.delete(key);
    cache.set(key, entry);
    while (cache.size > options.cacheEntries) cache.delete(cache.keys().next().value!);
  }

  async function query(name: string, type: string): Promise<{ answer: DnsAnswer; ttl: number }> {
    if (type === "A" || type === "AAAA") {
      const records = type === "A" ? await resolver.resolve4(name, { ttl: true }) : await resolver.resolve6(name, { ttl: true });
      return { answer: records.map((r) => r.address), ttl: Math.min(...records.map((r) => r.ttl), options.cacheSeconds) };
    }
    return { answer: (await resolver.resolve(name, type as "TXT")) as DnsAnswer, ttl: options.cacheSeconds };
  }

  async function resolve(rawName: string, rrtype: string): Promise<DnsAnswer> {
    const name = rawName.toLowerCase().replace(/\.$/, "");
    const type = rrtype.toUpperCase();
    if (name.length === 0 || name.length > MAX_NAME || !TYPES.has(type)) throw Object.assign(new Error(`invalid query ${type}`), { code: "ENOTFOUND" });
    const key = `${type} ${name}`;
    const hit = cache.get(key);
    if (hit && hit.expires > now()) {
      if (hit.answer) return hit.answer;
      throw cachedFailure(hit.code!, name);
    }
    const inFlight = pending.get(key);
    if (inFlight) return inFlight;
    const promise = query(name, type).then(
      ({ answer, ttl }) => {
        remember(key, { expires: now() + ttl * 1000, answer });
        return answer;
      },
      (error: NodeJS.ErrnoException) => {
        if (error.code && NEGATIVE.has(error.code)) remember(key, { expires: now() + options.negativeSeconds * 1000, code: error.code });
        throw error;
      },
    );
    pending.set(key, promise);
    try {
      return await promise;
    } finally {
      pending.delete(key);
    }
  }

  function expiry(rawName: string, rrtype: string): number | undefined {
    const hit = cache.get(`${rrtype.toUpperCase()} ${rawName.toLowerCase().replace(/\.$/, "")}`);
    return hit && hit.expires > now() ? hit.expires : undefined;
  }

  return { resolve, expiry, size: () => cache.size };
}
