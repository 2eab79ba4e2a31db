/**
 * When to try a deferred message again, and when to give up: pure functions
 * of the attempt count, the configuration and the clock.
 *
 * Exponential backoff (doubling, as Postfix's minimal/maximal backoff does):
 * the first retry comes after retryFirstSeconds, each later one after twice the
 * previous wait, capped at retryMaxSeconds.
 */

export interface RetryPolicy {
  retryFirstSeconds: number;
  retryMaxSeconds: number;
  maxQueueDays: number;
}

/** seconds to wait after the `attempts`-th failed attempt (1 = the first attempt failed) */
export function retryDelaySeconds(attempts: number, policy: RetryPolicy): number {
  const exponent = Math.max(0, attempts - 1);
  // 2^30 s is ~34 years: past any cap, and keeps the arithmetic exact
  const delay = policy.retryFirstSeconds * 2 ** Math.min(exponent, 30);
  return Math.min(delay, policy.retryMaxSeconds);
}

export function nextAttemptAt(attempts: number, policy: RetryPolicy, now: Date): Date {
  return new Date(now.getTime() + retryDelaySeconds(attempts, policy) * 1000);
}

/** true once the message has been in the queue longer than maxQueueDays */
export function isExpired(queuedAt: string, policy: RetryPolicy, now: Date): boolean {
  const since = Date.parse(queuedAt);
  if (Number.isNaN(since)) return false;
  return now.getTime() - since >= policy.maxQueueDays * 86_400_000;
}
