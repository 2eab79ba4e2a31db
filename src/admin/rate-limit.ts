/**
 * Login rate limiting: failed attempts counted per key (client IP, account
 * name) in a sliding window. Pure except for the injected clock.
 *
 * Limits: per IP 20 failures / 15 min (an office behind one NAT address still
 * has room for typos); per account 5 failures / 15 min (online guessing of one
 * password gets ~480 tries a day at most). A blocked key is refused before the
 * password is checked, so an attacker cannot make us compute scrypt at will.
 */
export interface LimiterOptions {
  max: number;
  windowMs: number;
  now?: () => number;
}

/** Keys tracked at most; past it the oldest are forgotten (bounded memory under a spray of IPs). */
const MAX_KEYS = 50_000;

export interface FailureLimiter {
  /** true while `key` has reached its limit of failures in the window */
  blocked(key: string): boolean;
  /** counts a failure; returns true when this failure reached the limit */
  fail(key: string): boolean;
  /** forgets a key's failures (after a successful login) */
  reset(key: string): void;
}

export function createFailureLimiter(options: LimiterOptions): FailureLimiter {
  const now = options.now ?? Date.now;
  const failures = new Map<string, number[]>();
  const recent = (key: string): number[] => {
    const t = now();
    const list = (failures.get(key) ?? []).filter((at) => t - at < options.windowMs);
    if (list.length === 0) failures.delete(key);
    else failures.set(key, list);
    return list;
  };
  return {
    blocked(key) {
      return recent(key).length >= options.max;
    },
    fail(key) {
      const list = recent(key);
      list.push(now());
      failures.delete(key); // re-insert: keeps Map order by last failure
      failures.set(key, list);
      if (failures.size > MAX_KEYS) {
        const oldest = failures.keys().next().value;
        if (oldest !== undefined) failures.delete(oldest);
      }
      return list.length === options.max;
    },
    reset(key) {
      failures.delete(key);
    },
  };
}

export const IP_LIMIT = { max: 20, windowMs: 15 * 60_000 };
export const ACCOUNT_LIMIT = { max: 5, windowMs: 15 * 60_000 };

/**
 * At most `concurrent` password verifications at a time, `queued` more waiting;
 * beyond that a login is refused at once. Each scrypt verification holds
 * 128 MiB (see password.ts): without this gate, many simultaneous logins from
 * many addresses could exhaust the gateway's memory.
 */
export interface Gate {
  /** runs `fn` when a slot is free; resolves to undefined when too many are already waiting */
  run<T>(fn: () => Promise<T>): Promise<T | undefined>;
}

export function createGate(concurrent: number, queued: number): Gate {
  let active = 0;
  const waiting: (() => void)[] = [];
  return {
    async run(fn) {
      if (active >= concurrent) {
        if (waiting.length >= queued) return undefined;
        await new Promise<void>((resolve) => waiting.push(resolve));
      } else {
        active++;
      }
      try {
        return await fn();
      } finally {
        const next = waiting.shift();
        if (next) next(); // hand the slot over: `active` stays the same
        else active--;
      }
    },
  };
}

/** Two verifications at once (256 MiB at most), 16 waiting (a few seconds of queue at ~0.4 s each). */
export const HASH_GATE = { concurrent: 2, queued: 16 };
