/**
 * The alert engine: de-duplication and rate limits, then the transports.
 *
 *   - A condition (queue too old or too deep, downstream unreachable, audit
 *     store unwritable, verification failing) is raised while it holds and
 *     cleared when it stops: one message when it begins, a reminder at most
 *     once per `alerts.intervalMinutes` while it lasts, and a "resolved"
 *     message when it clears (only when its beginning was announced: a
 *     condition that flapped inside the interval stays silent both ways).
 *   - An event (a message held, a break-glass retrieval) is sent at once when
 *     nothing of its key was sent within the interval; otherwise it is
 *     counted, and tick() sends one summary (with the ids) when the interval
 *     has passed. Held messages share one key. A break-glass retrieval and a
 *     purge of the audit trail by override are never rate-limited: each one
 *     is sent at once.
 * No timers here: the clock is given (`now`) and the gateway's monitor calls
 * tick() every alerts.checkSeconds, so tests drive time by value.
 *
 * SECURITY: alerts carry only AlertFacts (ids, numbers, host:port). A
 * transport failure is logged and never thrown into the caller (the relay
 * must not stop because a mail server for alerts is down).
 * Crash state: in memory only; after a restart a condition still present is
 * announced again, which is the safe direction.
 */
import type { Logger } from "../lib/logger.ts";
import type { Alert, AlertFacts, AlertKind, AlertState } from "./alert-texts.ts";

export interface Alerter {
  /** a condition holds now */
  raise(kind: AlertKind, facts?: AlertFacts): Promise<void>;
  /** the condition no longer holds */
  clear(kind: AlertKind, facts?: AlertFacts): Promise<void>;
  /** something happened (held, break-glass); `key` separates events that must not be folded together */
  event(kind: AlertKind, facts: AlertFacts, key?: string): Promise<void>;
  /** sends the summaries of events held back by the rate limit, once their interval has passed */
  tick(): Promise<void>;
  /** the conditions raised now */
  active(): AlertKind[];
}

export interface AlertTransport {
  name: string;
  deliver(alert: Alert): Promise<void>;
}

interface ConditionState {
  active: boolean;
  announced: boolean;
  lastSent?: number;
}

interface EventState {
  lastSent?: number;
  suppressed: number;
  auditIds: string[];
  facts?: AlertFacts;
  kind: AlertKind;
}

/** ids kept for one summary: enough to find them, bounded against a flood */
const MAX_SUMMARY_IDS = 20;

export function createAlerter(deps: {
  intervalMinutes: number;
  gateway: string;
  transports: AlertTransport[];
  logger: Pick<Logger, "warn" | "info">;
  now?: () => number;
}): Alerter {
  const now = deps.now ?? Date.now;
  const interval = deps.intervalMinutes * 60_000;
  const conditions = new Map<AlertKind, ConditionState>();
  const events = new Map<string, EventState>();

  const send = async (kind: AlertKind, state: AlertState, facts: AlertFacts): Promise<void> => {
    const alert: Alert = { kind, state, facts, at: new Date(now()).toISOString(), gateway: deps.gateway };
    const sent = await Promise.all(
      deps.transports.map(async (t) => {
        try {
          await t.deliver(alert);
          return t.name;
        } catch (error) {
          deps.logger.warn({ err: error, kind, state, transport: t.name }, "alert could not be sent");
          return undefined;
        }
      }),
    );
    const by = sent.filter((name) => name !== undefined);
    if (by.length) deps.logger.info({ kind, state, by }, "alert sent");
  };
  const due = (lastSent: number | undefined) => lastSent === undefined || now() - lastSent >= interval;

  return {
    async raise(kind, facts = {}) {
      const c = conditions.get(kind) ?? { active: false, announced: false };
      conditions.set(kind, c);
      c.active = true;
      if (!due(c.lastSent)) return;
      c.lastSent = now();
      c.announced = true;
      await send(kind, "firing", facts);
    },

    async clear(kind, facts = {}) {
      const c = conditions.get(kind);
      if (!c?.active) return;
      c.active = false;
      if (!c.announced) return;
      c.announced = false;
      await send(kind, "resolved", facts);
    },

    async event(kind, facts, key = kind) {
      // a break-glass retrieval is never folded into another, whatever key the caller gave:
      // each is an emergency someone must look at now (a second one on the same message included)
      // so is a purge of the audit trail inside its retention period (an override)
      if (kind === "break-glass" || kind === "audit-purge-override") return send(kind, "firing", facts);
      const e = events.get(key) ?? { suppressed: 0, auditIds: [], kind };
      events.set(key, e);
      if (due(e.lastSent)) {
        const suppressed = e.suppressed;
        const ids = [...e.auditIds, ...(facts.auditIds ?? [])].slice(-MAX_SUMMARY_IDS);
        e.lastSent = now();
        e.suppressed = 0;
        e.auditIds = [];
        await send(kind, "firing", { ...facts, ...(ids.length ? { auditIds: ids } : {}), ...(suppressed ? { suppressed } : {}) });
        return;
      }
      e.suppressed += 1;
      e.facts = facts;
      e.auditIds = [...e.auditIds, ...(facts.auditIds ?? [])].slice(-MAX_SUMMARY_IDS);
    },

    async tick() {
      for (const e of events.values()) {
        if (e.suppressed === 0 || !due(e.lastSent)) continue;
        const { suppressed, auditIds } = e;
        e.lastSent = now();
        e.suppressed = 0;
        e.auditIds = [];
        await send(e.kind, "firing", { ...(e.facts?.actor ? { actor: e.facts.actor } : {}), auditIds, value: suppressed, suppressed });
      }
    },

    active: () => [...conditions].filter(([, c]) => c.active).map(([k]) => k),
  };
}
