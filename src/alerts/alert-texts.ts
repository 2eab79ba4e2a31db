/**
 * What each alert says: the conditions mumuka alerts on, their subject and
 * lines in Japanese (first) and English, and their syslog severity. Pure.
 *
 * SECURITY: an alert carries ids, counts, thresholds and host:port only —
 * never a subject, an address, a hold reason or any other text a sender or a
 * remote server wrote (alert mail leaves the gateway; syslog is read widely).
 * Facts are typed as such (AlertFacts) and each is reduced to a bounded token.
 */

export const alertKinds = ["held", "queue-age", "queue-depth", "downstream", "audit-unwritable", "audit-verify", "break-glass", "audit-purge-override"] as const;
export type AlertKind = (typeof alertKinds)[number];

/** firing: the condition began (or is reminded of); resolved: it cleared */
export type AlertState = "firing" | "resolved";

/** ids, numbers and host:port; nothing a sender wrote */
export interface AlertFacts {
  auditIds?: string[];
  /** another actor-like token: "cli:root", "admin:kanri" */
  actor?: string;
  /** the measured value and its threshold (minutes, messages) */
  value?: number;
  threshold?: number;
  /** downstream host:port */
  target?: string;
  /** events of this kind not sent separately since the last message (rate limit) */
  suppressed?: number;
}

export interface Alert {
  kind: AlertKind;
  state: AlertState;
  facts: AlertFacts;
  /** ISO 8601 UTC */
  at: string;
  gateway: string;
}

const TITLES: Record<AlertKind, { ja: string; en: string }> = {
  held: { ja: "メールを保留しました", en: "a message was held" },
  "queue-age": { ja: "配送待ちのメールが滞留しています", en: "mail has been waiting too long in the queue" },
  "queue-depth": { ja: "キューのメールが多すぎます", en: "too many messages in the queue" },
  downstream: { ja: "配送先サーバーに接続できません", en: "the downstream server is unreachable" },
  "audit-unwritable": { ja: "監査ログに書き込めません", en: "the audit store is not taking events" },
  "audit-verify": { ja: "監査ログの検証に失敗しました", en: "audit verification failed" },
  "break-glass": { ja: "原本の緊急取り出し(承認なし)が行われました", en: "an original was taken out without approval (break-glass)" },
  "audit-purge-override": {
    ja: "保存期間内の監査ログが削除されました(保存期間の上書き)",
    en: "audit events inside the retention period were purged (retention override)",
  },
};

/** RFC 5424 severities: 3 error, 4 warning, 5 notice */
export function severityOf(alert: Pick<Alert, "kind" | "state">): number {
  if (alert.state === "resolved") return 5;
  return alert.kind === "break-glass" || alert.kind === "audit-purge-override" || alert.kind === "audit-unwritable" || alert.kind === "audit-verify" ? 3 : 4;
}

/** A fact as a bounded token of printable ASCII (ids, actors, host:port). */
export function token(value: string): string {
  return value.replace(/[^\x21-\x7e]/g, "?").slice(0, 128);
}

export function subjectOf(alert: Alert): string {
  const t = TITLES[alert.kind];
  return alert.state === "resolved" ? `[mumuka] 復旧: ${t.ja} / resolved: ${t.en}` : `[mumuka] 警告: ${t.ja} / alert: ${t.en}`;
}

/** The facts as "name: value" lines, Japanese labels first. */
function factLines(alert: Alert): string[] {
  const f = alert.facts;
  const lines: string[] = [];
  if (f.target) lines.push(`接続先 / server: ${token(f.target)}`);
  if (f.value !== undefined) lines.push(`現在の値 / value: ${f.value}`);
  if (f.threshold !== undefined) lines.push(`しきい値 / threshold: ${f.threshold}`);
  if (f.actor) lines.push(`実行者 / actor: ${token(f.actor)}`);
  if (f.auditIds?.length) lines.push(`監査ID / audit ids: ${f.auditIds.slice(0, 20).map(token).join(", ")}`);
  if (f.suppressed) lines.push(`この間に抑止した同種の通知 / suppressed since the last message: ${f.suppressed}`);
  return lines;
}

/** The mail body: Japanese, then English; what happened, the facts, where to look. */
export function bodyOf(alert: Alert): string {
  const t = TITLES[alert.kind];
  const head =
    alert.state === "resolved"
      ? [`次の状態は解消しました: ${t.ja}`, `This condition has cleared: ${t.en}`]
      : [`mumuka ゲートウェイ ${token(alert.gateway)} からの警告です: ${t.ja}`, `Alert from the mumuka gateway ${token(alert.gateway)}: ${t.en}`];
  return [
    ...head,
    "",
    `発生時刻 / at: ${alert.at} (UTC)`,
    ...factLines(alert),
    "",
    "詳細は管理コンソールまたは監査ログ(mumuka audit show)で確認してください。",
    "See the admin console or the audit trail (mumuka audit show) for details.",
    "",
    "この通知は同じ状態について一定間隔に1通だけ送られます。",
    "One message per condition per interval; a message is sent when it clears.",
    "",
  ].join("\r\n");
}

/** One line for syslog: Japanese / English title and the facts (ids and numbers only). */
export function lineOf(alert: Alert): string {
  const t = TITLES[alert.kind];
  const state = alert.state === "resolved" ? "復旧 / resolved" : "警告 / alert";
  return `${state}: ${t.ja} / ${t.en}`;
}
