/**
 * The release of a retained original with two people (the "four eyes"
 * rule): an operator or administrator asks, with a reason; a DIFFERENT
 * administrator approves or refuses; only then may the requester take the
 * original out, within `originals.release.windowHours` of the approval and
 * `originals.release.downloads` times. `originals.release.approvals: 1` (set
 * explicitly) is the single-person mode: the request approves itself, and
 * says so in the trail. Shared by the console (pages/releases.ts) and
 * `mumuka original` (original-command.ts); the state is in release-store.ts.
 *
 * Every step is an audit event on the message's audit id (type "admin",
 * data.action original-release-*; the download itself is the store's
 * "original-retrieved" carrying the request id), so the message's story
 * shows who asked, why, who decided and each download. A refused download is
 * recorded too. The emergency path (`breakGlass`) needs a reason, is recorded
 * before anything is read, logged at error level and raises an alert.
 *
 * People: an actor is "admin:<name>" (a console account) or "cli:<login>" (an
 * OS login running the CLI); the person is the name after the prefix, so "a
 * different administrator" means a different name on either channel, and the
 * requester may take the original out from either. A decision is always a
 * console account's: the CLI decides only `--as` an administrator account
 * whose password it was given (original-command.ts), because an OS login can
 * be shared (root, a maintenance account) and names no one.
 *
 * SECURITY: reasons and notes are free text typed by staff: reduced to one
 * line of at most MAX_REASON characters without control characters before
 * they are stored or recorded. Ids are checked (isAuditId, isRequestId).
 * Crash state: see release-store.ts; a download taken and then not served
 * (the original unreadable) is given back.
 */
import { storedWithin } from "../audit/stored-within.ts";
import type { AuditSink } from "../audit/audit-types.ts";
import type { Config } from "../config/schema.ts";
import { isAuditId } from "../lib/ids.ts";
import type { OriginalStore } from "./index.ts";
import { isRequestId, type ReleaseRequest, type ReleaseStore } from "./release-store.ts";

/** A reason is a request number or a sentence, not a document. */
export const MAX_REASON = 500;
const HOUR_MS = 3600 * 1000;
const DAY_MS = 24 * HOUR_MS;

export type ReleaseErrorCode =
  | "ENOREQUEST"
  | "EBADREASON"
  | "ENOORIGINAL"
  | "ESELF"
  | "ENOTOPEN"
  | "ENOTREQUESTER"
  | "ENOTAPPROVED"
  | "EREFUSED"
  | "EEXPIRED"
  | "EUSEDUP"
  | "ECANCELLED"
  | "ELAPSED"
  | "ENOTYOURS";

/** Japanese first, English after: the console and the CLI show these as they are. */
const MESSAGES: Record<ReleaseErrorCode, string> = {
  ENOREQUEST: "該当する申請がありません / no such request",
  EBADREASON: `理由を入力してください(${MAX_REASON}文字以内) / a reason is required (at most ${MAX_REASON} characters)`,
  ENOORIGINAL: "このメールの原本は保存されていません / no retained original for this message",
  ESELF: "自分の申請は承認・却下できません。別の管理者が判断します / you cannot decide your own request: a different administrator must",
  ENOTOPEN: "この申請はすでに判断済みです / this request has already been decided",
  ENOTREQUESTER: "原本を取り出せるのは申請者本人だけです / only the requester may take the original out",
  ENOTAPPROVED: "この申請はまだ承認されていません / this request has not been approved yet",
  EREFUSED: "この申請は却下されました / this request was refused",
  EEXPIRED: "承認の有効期限が過ぎています。あらためて申請してください / the approval has expired: request again",
  EUSEDUP: "この申請で許可された取り出し回数を使い切りました / the downloads this request allows are used up",
  ECANCELLED: "この申請は申請者が取り消しました / the requester cancelled this request",
  ELAPSED: "この申請は判断されないまま期限が切れました。あらためて申請してください / this request expired undecided: request again",
  ENOTYOURS: "申請を取り消せるのは申請者本人だけです / only the requester may cancel a request",
};

export class ReleaseError extends Error {
  override name = "ReleaseError";
  readonly code: ReleaseErrorCode;
  constructor(code: ReleaseErrorCode, detail?: string) {
    super(detail ? `${MESSAGES[code]} (${detail})` : MESSAGES[code]);
    this.code = code;
  }
}

/** The person behind an actor: "admin:sato" and "cli:sato" are the same person. */
export function personOf(actor: string): string {
  return actor.slice(actor.indexOf(":") + 1).toLowerCase();
}

/** One line, no control characters, bounded; empty when nothing is left. */
export function cleanReason(text: string): string {
  return text
    .replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]+/g, " ")
    .replace(/\s+/g, " ")
    .trim();
}

export interface ReleaseDesk {
  readonly approvals: 1 | 2;
  request(auditId: string, actor: string, reason: string): Promise<ReleaseRequest>;
  /** `via`: the channel a console account decided through when not the console (the CLI's OS login), recorded */
  approve(id: string, actor: string, note?: string, via?: string): ReleaseRequest;
  refuse(id: string, actor: string, note: string, via?: string): ReleaseRequest;
  /** the requester withdraws a request still open */
  cancel(id: string, actor: string): ReleaseRequest;
  /** marks (and records) every request undecided for openDays as expired; the other steps do this first themselves */
  expireStale(): ReleaseRequest[];
  /** the original for the requester of an approved request; takes one of its downloads */
  download(id: string, actor: string): Promise<{ request: ReleaseRequest; stream: NodeJS.ReadableStream }>;
  /** the emergency path: no approval, a reason, loudly recorded and alerted */
  breakGlass(auditId: string, actor: string, reason: string): Promise<NodeJS.ReadableStream>;
  get(id: string): ReleaseRequest | undefined;
  list(limit?: number): ReleaseRequest[];
  /** whether a request of this id may still be downloaded now (approved, not expired, not used up) */
  usable(request: ReleaseRequest): boolean;
}

export interface ReleaseDeskDeps {
  store: ReleaseStore;
  originals: Pick<OriginalStore, "get" | "has">;
  audit: Pick<AuditSink, "record"> & Partial<Pick<AuditSink, "flush">>;
  config: Config["originals"]["release"];
  now?: () => Date;
  /** told of every break-glass retrieval (the alerts); never throws */
  onBreakGlass?: (event: { auditId: string; actor: string; reason: string }) => void;
  /** logs the break-glass retrieval at error level */
  log?: { error(obj: object, msg: string): void };
}

export function createReleaseDesk(deps: ReleaseDeskDeps): ReleaseDesk {
  const { store, audit, config } = deps;
  const now = deps.now ?? (() => new Date());

  const reasonOf = (text: string): string => {
    const reason = cleanReason(text);
    if (reason === "" || [...reason].length > MAX_REASON) throw new ReleaseError("EBADREASON");
    return reason;
  };
  const found = (id: string): ReleaseRequest => {
    const request = isRequestId(id) ? store.get(id) : undefined;
    if (!request) throw new ReleaseError("ENOREQUEST");
    return request;
  };
  const expired = (r: ReleaseRequest, at: Date) => r.expiresAt !== undefined && r.expiresAt <= at.toISOString();
  /** why this request cannot be downloaded now, or undefined */
  const blocker = (r: ReleaseRequest, at: Date): ReleaseErrorCode | undefined =>
    r.status === "open"
      ? "ENOTAPPROVED"
      : r.status === "refused"
        ? "EREFUSED"
        : r.status === "cancelled"
          ? "ECANCELLED"
          : r.status === "expired"
            ? "ELAPSED"
            : expired(r, at)
              ? "EEXPIRED"
              : r.downloadsUsed >= r.downloadsAllowed
                ? "EUSEDUP"
                : undefined;

  /**
   * Requests undecided for openDays become expired, each on record (actor "system": no person
   * decided). Run at the start of every step, so whoever looks next — console or CLI — finds
   * them expired and the trail says when; no timer is needed for it.
   */
  const expireStale = (): ReleaseRequest[] => {
    const at = now();
    const gone = store.expireOpen(new Date(at.getTime() - config.openDays * DAY_MS), at);
    for (const r of gone) {
      audit.record({
        type: "admin",
        auditId: r.auditId,
        actor: "system",
        data: { action: "original-release-expired", request: r.id, requester: r.requester, requestedAt: r.createdAt, openDays: config.openDays },
      });
    }
    return gone;
  };

  function decide(id: string, actor: string, status: "approved" | "refused", note: string, via: string | undefined): ReleaseRequest {
    expireStale();
    const request = found(id);
    if (request.status !== "open") throw new ReleaseError("ENOTOPEN");
    if (personOf(actor) === personOf(request.requester)) {
      audit.record({ type: "admin", auditId: request.auditId, actor, data: { action: "original-release-self-decision-refused", request: id } });
      throw new ReleaseError("ESELF");
    }
    const at = now();
    const expiresAt = status === "approved" ? new Date(at.getTime() + config.windowHours * HOUR_MS) : undefined;
    if (!store.decide(id, { status, by: actor, note, at, ...(expiresAt ? { expiresAt } : {}) })) throw new ReleaseError("ENOTOPEN");
    audit.record({
      type: "admin",
      auditId: request.auditId,
      actor,
      data: {
        action: status === "approved" ? "original-release-approved" : "original-release-refused",
        request: id,
        requester: request.requester,
        ...(note ? { note } : {}),
        ...(expiresAt ? { expiresAt: expiresAt.toISOString(), downloads: request.downloadsAllowed } : {}),
        ...(via ? { via } : {}),
      },
    });
    return store.get(id)!;
  }

  return {
    approvals: config.approvals,

    async request(auditId, actor, reasonText) {
      expireStale();
      if (!isAuditId(auditId)) throw new ReleaseError("ENOORIGINAL");
      const reason = reasonOf(reasonText);
      if (!(await deps.originals.has(auditId))) throw new ReleaseError("ENOORIGINAL");
      const at = now();
      const request = store.create({ auditId, requester: actor, reason, downloadsAllowed: config.downloads, now: at });
      audit.record({
        type: "admin",
        auditId,
        actor,
        data: { action: "original-release-requested", request: request.id, reason, approvals: config.approvals },
      });
      if (config.approvals === 1) {
        // single-person mode (set explicitly): the request approves itself, on record as such
        const expiresAt = new Date(at.getTime() + config.windowHours * HOUR_MS);
        store.decide(request.id, { status: "approved", by: actor, note: "originals.release.approvals: 1", at, expiresAt });
        audit.record({
          type: "admin",
          auditId,
          actor,
          data: { action: "original-release-approved", request: request.id, requester: actor, singlePerson: true, expiresAt: expiresAt.toISOString(), downloads: config.downloads },
        });
        return store.get(request.id)!;
      }
      return request;
    },

    approve: (id, actor, note = "", via) => decide(id, actor, "approved", cleanReason(note).slice(0, MAX_REASON), via),

    refuse(id, actor, note, via) {
      return decide(id, actor, "refused", reasonOf(note), via);
    },

    cancel(id, actor) {
      expireStale();
      const request = found(id);
      if (personOf(actor) !== personOf(request.requester)) throw new ReleaseError("ENOTYOURS");
      if (request.status !== "open" || !store.decide(id, { status: "cancelled", by: actor, note: "", at: now() })) throw new ReleaseError("ENOTOPEN");
      audit.record({ type: "admin", auditId: request.auditId, actor, data: { action: "original-release-cancelled", request: id } });
      return store.get(id)!;
    },

    expireStale,

    async download(id, actor) {
      expireStale();
      const request = found(id);
      const at = now();
      const refuse = (code: ReleaseErrorCode): never => {
        audit.record({ type: "admin", auditId: request.auditId, actor, data: { action: "original-release-download-refused", request: id, why: code } });
        throw new ReleaseError(code);
      };
      if (personOf(actor) !== personOf(request.requester)) refuse("ENOTREQUESTER");
      const before = blocker(request, at);
      if (before) refuse(before);
      const used = store.take(id, at);
      // someone else (another tab, the CLI) took the last download between the look and the take
      if (used === undefined) refuse(blocker(store.get(id)!, at) ?? "EUSEDUP");
      try {
        const stream = await deps.originals.get(request.auditId, actor, { request: id, download: used, of: request.downloadsAllowed });
        // the retrieval on record before a byte leaves (as the CLI does by closing its log first);
        // bounded, so an audit store that is down delays a download, it does not hang it
        await storedWithin(audit);
        return { request: store.get(id)!, stream };
      } catch (error) {
        store.giveBack(id);
        throw error;
      }
    },

    async breakGlass(auditId, actor, reasonText) {
      if (!isAuditId(auditId)) throw new ReleaseError("ENOORIGINAL");
      const reason = reasonOf(reasonText);
      // on record before anything is read: an attempt that fails is still an attempt
      audit.record({ type: "admin", auditId, actor, data: { action: "original-break-glass", reason } });
      deps.log?.error({ auditId, actor }, "BREAK-GLASS: an original is taken out without an approved request");
      try {
        deps.onBreakGlass?.({ auditId, actor, reason });
      } catch {
        // an alert that cannot be raised must not hide the retrieval: it is in the audit trail
      }
      return deps.originals.get(auditId, actor, { breakGlass: true, reason });
    },

    get: (id) => {
      expireStale();
      return isRequestId(id) ? store.get(id) : undefined;
    },
    list: (limit = 200) => {
      expireStale();
      return store.list(limit);
    },
    usable: (r) => blocker(r, now()) === undefined,
  };
}
