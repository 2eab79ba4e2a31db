/**
 * Server-side console sessions, in memory.
 *
 * The cookie carries only a random 256-bit id; the user, role lookups and the
 * CSRF token live here. Sessions expire after `idleMinutes` without a request
 * and, whatever the activity, after ABSOLUTE_HOURS. A restart logs everybody
 * out (acceptable for a console; nothing else is lost). Anonymous sessions
 * exist only to carry the login form's CSRF token.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";

/** Even an active session ends after a working day, so a forgotten open browser does not stay logged in for ever. */
const ABSOLUTE_HOURS = 12;
/** Bounds memory of logged-in sessions (a municipality has tens of administrators, not thousands). */
const MAX_SESSIONS = 10_000;
/**
 * Anonymous (login form) sessions are capped on their own, and only they are
 * evicted when someone requests the login page in a loop: such a loop can
 * never push out the session of a logged-in administrator.
 */
const MAX_ANONYMOUS = 1_000;

export interface Session {
  id: string;
  csrf: string;
  user?: string;
  createdAt: number;
  lastSeen: number;
}

export interface SessionStore {
  create(user?: string): Session;
  /** the live session with this id, touched; undefined when unknown or expired */
  get(id: string | undefined): Session | undefined;
  destroy(id: string): void;
  /** ends every session of a user (account removed or password changed) */
  destroyUser(user: string): void;
  size(): number;
}

export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Constant-time comparison of a submitted token with the expected one. */
export function tokenEquals(given: unknown, expected: string): boolean {
  if (typeof given !== "string") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createSessionStore(idleMinutes: number, now: () => number = Date.now): SessionStore {
  const sessions = new Map<string, Session>();
  const idleMs = idleMinutes * 60_000;
  const expired = (s: Session, t: number) => t - s.lastSeen > idleMs || t - s.createdAt > ABSOLUTE_HOURS * 3_600_000;

  const anonymous = new Set<string>();
  const drop = (id: string) => {
    sessions.delete(id);
    anonymous.delete(id);
  };
  const sweep = () => {
    const t = now();
    for (const [id, s] of sessions) if (expired(s, t)) drop(id);
  };

  return {
    create(user) {
      if (user === undefined && anonymous.size >= MAX_ANONYMOUS) {
        sweep();
        // still full: drop the oldest anonymous one (a Set iterates in insertion order)
        const oldest = anonymous.values().next().value;
        if (anonymous.size >= MAX_ANONYMOUS && oldest !== undefined) drop(oldest);
      }
      if (user !== undefined && sessions.size - anonymous.size >= MAX_SESSIONS) {
        sweep();
        for (const [id, s] of sessions) {
          if (sessions.size - anonymous.size < MAX_SESSIONS) break;
          if (s.user !== undefined) drop(id);
        }
      }
      const t = now();
      const session: Session = { id: newToken(), csrf: newToken(), createdAt: t, lastSeen: t };
      if (user !== undefined) session.user = user;
      else anonymous.add(session.id);
      sessions.set(session.id, session);
      return session;
    },
    get(id) {
      if (!id) return undefined;
      const session = sessions.get(id);
      if (!session) return undefined;
      const t = now();
      if (expired(session, t)) {
        drop(id);
        return undefined;
      }
      session.lastSeen = t;
      return session;
    },
    destroy(id) {
      drop(id);
    },
    destroyUser(user) {
      for (const [id, s] of sessions) if (s.user?.toLowerCase() === user.toLowerCase()) drop(id);
    },
    size() {
      return sessions.size;
    },
  };
}
