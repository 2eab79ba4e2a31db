/**
 * The sanitize stage's worker pool: the door. The pool (pool.ts) runs the pure
 * sanitizer core (src/sanitize/) in worker threads (worker.ts) with resource
 * limits and a time budget, so one pathological message cannot take the
 * gateway down. The queue manager and the console's "try a message" use it.
 *
 * SECURITY / crash state: see pool.ts and worker.ts.
 */
export { createSanitizePool, HELD_LIMITS, limitReason } from "./pool.ts";
export type { Decision, PoolOptions, PoolOutcome, SanitizeJob, SanitizePool, SanitizeSource } from "./pool.ts";
