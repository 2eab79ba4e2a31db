/**
 * Fixed-rate (open-loop) sending for the latency benchmark
 * (`npm run bench -- --rate N`), and the figures read from it.
 *
 * A closed-loop sender (smtp-source, a pool sending as fast as replies come)
 * measures latency at saturation: every figure is mostly the time a message
 * waited behind the others. Here message i is due at t0 + i/rate, whatever
 * happened to the ones before it; it goes out on the first of a fixed set of
 * open SMTP sessions that is free. If none is free when it is due (the
 * gateway's replies take longer than sessions/rate), or this process's timer
 * fires late (the machine is busy), it starts late: the lag (start − due) of
 * every message is kept, and `paceSummary` says whether the run held its
 * rate, so that a run that could not is never reported as if it had.
 *
 * The clock, the sleep and the send are passed in (`runPaced`), so the
 * schedule is tested on a virtual clock (tests/bench/pace.test.ts); the real
 * SMTP sessions are in bench/paced-sender.ts.
 *
 * Untrusted input: none (our own benchmark traffic). State after a crash:
 * none (in memory only).
 */

/** one message of a paced run; times in ms on the clock passed to runPaced, `due` and `start` relative to t0 */
export interface Sent {
  i: number;
  /** when it was due: i × 1000 / rate */
  due: number;
  /** when its transaction began on a session */
  start: number;
  /** every session was busy when it was due: it waited for one (the gateway, not this process, was slow) */
  waitedForSession: boolean;
  /** when the final reply to its DATA came (relative to t0), once it has */
  done?: number;
  /** that reply, e.g. "250 2.0.0 Ok: queued as …" */
  reply?: string;
  /** the send failed: the error's message */
  error?: string;
}

export interface PaceDeps<S> {
  /** a monotonic clock, ms */
  now(): number;
  /** resolves after about `ms` */
  sleep(ms: number): Promise<void>;
  /** the open sessions; a session carries one transaction at a time */
  sessions: readonly S[];
  /** one transaction of message i on `session`; resolves with the final reply (rejects on failure) */
  send(session: S, i: number): Promise<string>;
}

/**
 * Sends `count` messages at `rate` per second over `deps.sessions`: message i
 * starts at its due time t0 + i × 1000 / rate, or as soon after as a session
 * is free. Resolves once every transaction has ended, with one Sent per message.
 */
export async function runPaced<S>(rate: number, count: number, deps: PaceDeps<S>): Promise<Sent[]> {
  if (!(rate > 0) || !Number.isFinite(rate)) throw new Error(`rate must be a positive number of messages per second, not ${rate}`);
  if (deps.sessions.length === 0) throw new Error("at least one session is needed");
  const free = [...deps.sessions];
  /** at most one: the schedule waits for a session one message at a time */
  let waiting: ((session: S) => void) | undefined;
  const release = (session: S) => {
    const w = waiting;
    waiting = undefined;
    if (w) w(session);
    else free.push(session);
  };
  const sent: Sent[] = [];
  const inFlight: Promise<void>[] = [];
  const t0 = deps.now();
  for (let i = 0; i < count; i++) {
    const due = (i * 1000) / rate;
    // a timer may fire a fraction of a ms early (libuv rounds to whole ms): sleep again for the rest
    for (let ahead = t0 + due - deps.now(); ahead > 0; ahead = t0 + due - deps.now()) await deps.sleep(ahead);
    let session = free.shift();
    const waitedForSession = session === undefined;
    if (session === undefined) session = await new Promise<S>((resolve) => (waiting = resolve));
    const record: Sent = { i, due, start: deps.now() - t0, waitedForSession };
    sent.push(record);
    const s = session;
    inFlight.push(
      deps.send(s, i).then(
        (reply) => {
          record.done = deps.now() - t0;
          record.reply = reply;
        },
        (error: unknown) => {
          record.done = deps.now() - t0;
          record.error = error instanceof Error ? error.message : String(error);
        },
      ).finally(() => release(s)),
    );
  }
  await Promise.all(inFlight);
  return sent;
}

export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** nearest-rank percentiles (the smallest value with at least q of the values at or below it); undefined for no values */
export function percentiles(values: readonly number[]): Percentiles | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
  return { count: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1]! };
}

/** a run held its rate when it sent at least this share of the target rate … */
export const RATE_FLOOR = 0.97;
/** … and 99 % of its messages started within this many ms of their due time (a burst shorter than this is still the rate) */
export const LAG_P99_LIMIT_MS = 50;

export interface PaceSummary {
  targetRate: number;
  /** messages started per second, first start to last (n − 1 intervals) */
  achievedRate: number;
  /** start − due, ms */
  lagMs: Percentiles;
  /** messages that found every session busy when they were due */
  waitedForSession: number;
  /** transactions that failed (no 250) */
  errors: number;
  /** the achieved rate reached RATE_FLOOR × target and the p99 lag stayed within LAG_P99_LIMIT_MS */
  held: boolean;
  /** why not, in words (empty when held) */
  why: string;
}

/** how a paced run went against its schedule */
export function paceSummary(targetRate: number, sent: readonly Sent[]): PaceSummary {
  if (sent.length === 0) throw new Error("no messages were sent");
  const first = sent[0]!.start;
  const last = sent[sent.length - 1]!.start;
  // one message has no interval: it held its rate if it started on time
  const achievedRate = sent.length > 1 ? ((sent.length - 1) * 1000) / Math.max(last - first, 1e-9) : targetRate;
  const lagMs = percentiles(sent.map((s) => s.start - s.due))!;
  const waitedForSession = sent.filter((s) => s.waitedForSession).length;
  const errors = sent.filter((s) => s.error !== undefined).length;
  const reasons: string[] = [];
  if (achievedRate < RATE_FLOOR * targetRate) reasons.push(`sent at ${achievedRate.toFixed(1)} msg/s, below ${Math.round(RATE_FLOOR * 100)} % of ${targetRate}`);
  if (lagMs.p99 > LAG_P99_LIMIT_MS) reasons.push(`p99 schedule lag ${Math.round(lagMs.p99)} ms > ${LAG_P99_LIMIT_MS} ms`);
  if (reasons.length && waitedForSession > 0) reasons.push(`${waitedForSession} messages found every session busy at their due time (the gateway's 250 came slower than sessions/rate, or a late start bunched them)`);
  return { targetRate, achievedRate, lagMs, waitedForSession, errors, held: reasons.length === 0, why: reasons.join("; ") };
}

/** the audit id in mumuka's reply to DATA ("250 2.0.0 Ok: queued as ID"), if any */
export function queuedId(reply: string | undefined): string | undefined {
  return reply === undefined ? undefined : /\bqueued as ([A-Za-z0-9._-]+)/.exec(reply)?.[1];
}

/**
 * Per message, the ms from the moment the sender read the 250 (`sentAt`, wall
 * clock) to a later wall-clock instant keyed by the same id (`deliveredAt`):
 * both read on this machine's one clock, so the difference is a latency.
 * Ids without a match are counted apart, not guessed.
 */
export function matchLatencies(sentAt: ReadonlyMap<string, number>, deliveredAt: ReadonlyMap<string, number>): { ms: number[]; unmatched: number } {
  const ms: number[] = [];
  let unmatched = 0;
  for (const [id, t] of sentAt) {
    const d = deliveredAt.get(id);
    if (d === undefined) unmatched++;
    else ms.push(d - t);
  }
  return { ms, unmatched };
}
