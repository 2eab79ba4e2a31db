/**
 * The floor under the DATA rate (smtp.minDataBytesPerSecond): a client that
 * sends its message slower than the floor over a whole window (the
 * socketTimeoutMs) is cut. The idle timeout alone cannot do it, since every
 * byte resets it, and the per-message deadline is long enough for a large
 * message on a slow link; the floor catches a trickle much sooner.
 *
 * Time the receiver spends waiting on its own spool (back-pressure: the
 * client cannot send while we do not read) is not the client's: it is
 * subtracted, and a window that was mostly ours is not judged. Nor is a
 * window whose check came late: our thread was stalled (CPU starvation, a
 * long GC), and bytes may be waiting unread in the socket.
 *
 * SECURITY: counts bytes only; never sees their content.
 */

/** a check this much later than its window (1.5 windows) means our thread was stalled */
const STALL_FACTOR = 1.5;

export interface DataRateOptions {
  windowMs: number;
  minBytesPerSecond: number;
  onTooSlow(): void;
  /** the clock (ms); tests pass a fake one */
  now?: () => number;
}

export interface DataRateWatch {
  /** bytes arrived from the client */
  received(bytes: number): void;
  /** the receiver starts / stops waiting on the spool */
  waiting(on: boolean): void;
  stop(): void;
}

export function watchDataRate(o: DataRateOptions): DataRateWatch {
  const now = o.now ?? (() => performance.now());
  let windowStart = now();
  let bytes = 0;
  let ours = 0; // ms of this window spent waiting on the spool
  let waitingSince: number | undefined;
  const timer = setInterval(() => {
    const t = now();
    if (waitingSince !== undefined) {
      ours += t - waitingSince;
      waitingSince = t;
    }
    const stalled = t - windowStart > o.windowMs * STALL_FACTOR;
    const theirs = t - windowStart - ours;
    if (!stalled && theirs >= o.windowMs / 2 && bytes < (o.minBytesPerSecond * theirs) / 1000) {
      clearInterval(timer);
      o.onTooSlow();
      return;
    }
    windowStart = t;
    bytes = 0;
    ours = 0;
  }, o.windowMs);
  timer.unref();
  return {
    received(n) {
      bytes += n;
    },
    waiting(on) {
      if (on && waitingSince === undefined) waitingSince = now();
      else if (!on && waitingSince !== undefined) {
        ours += now() - waitingSince;
        waitingSince = undefined;
      }
    },
    stop: () => clearInterval(timer),
  };
}
