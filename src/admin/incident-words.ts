/**
 * Wording of the incident pages (search by what was removed, "who else
 * received this?", the monthly report, the timeline's fold-out), Japanese
 * first and English. Kept beside i18n.ts so these pages can grow without
 * touching the shared dictionary. Pure.
 */
import type { Lang } from "./i18n.ts";

const ja = {
  searchRemoved: "削除・無効化したもので探す（添付・リンク・差出人ドメイン・判定）",
  sha256: "添付の SHA-256",
  attachmentName: "添付ファイル名（一部）",
  sniffedType: "添付の実際の形式",
  linkDomain: "リンクのドメイン",
  url: "リンクの URL（原文のまま）",
  senderDomain: "差出人ドメイン",
  verdict: "判定",
  whoElse: "ほかに誰が受け取った？",
  linksInMessage: "本文中のリンク",
  urlAsWritten: "URL（無効化して表示）",
  linksDefangedNote: "URL はクリックできない形（hxxps[://]…）で表示しています。検索には原文の URL を使います。",
  rawFields: "記録された項目",
  incident: "インシデント調査",
  incidentHelp: "削除した添付ファイルの SHA-256、リンクのドメインまたは URL を入力すると、同じものを受け取ったすべてのメールと宛先を日別に表示します。",
  lookup: "調べる",
  messagesWith: "該当するメール",
  recipients: "受け取った宛先",
  perDay: "日別の件数",
  day: "日付",
  messages: "通数",
  recipientCount: "宛先数",
  recipientsPartial: "件数が多いため、宛先の集計は新しい 10,000 通までです（総数と日別の件数は正確です）。",
  nothingFound: "該当するメールはありません。",
  badHash: "SHA-256 は 16 進数 64 桁で入力してください。",
  kindSha256: "添付の SHA-256",
  kindDomain: "リンクのドメイン",
  kindUrl: "リンクの URL",
  report: "月次報告",
  reportTitle: "自己点検報告",
  month: "対象月",
  show: "表示",
  download: "ダウンロード",
  badMonth: "対象月は YYYY-MM の形で指定してください。",
  reportAudited: "ダウンロードは監査ログに記録されます。",
  printHint: "印刷用の HTML をダウンロードして、ブラウザーの印刷（A4）で PDF にできます。",
};

export type IncidentWords = typeof ja;

const en: IncidentWords = {
  searchRemoved: "Search by what was removed or disarmed (attachments, links, sender domain, verdicts)",
  sha256: "Attachment SHA-256",
  attachmentName: "Attachment name (part)",
  sniffedType: "Attachment's real type",
  linkDomain: "Link domain",
  url: "Link URL (as written)",
  senderDomain: "Sender domain",
  verdict: "Verdict",
  whoElse: "Who else received this?",
  linksInMessage: "Links in the text",
  urlAsWritten: "URL (shown disarmed)",
  linksDefangedNote: "URLs are shown in a form no client makes clickable (hxxps[://]…); searches use the URL as written.",
  rawFields: "Recorded fields",
  incident: "Incident lookup",
  incidentHelp: "Enter a removed attachment's SHA-256, a link's domain or URL: every message and recipient that had the same, per day.",
  lookup: "Look up",
  messagesWith: "Messages",
  recipients: "Recipients",
  perDay: "Per day",
  day: "Day",
  messages: "Messages",
  recipientCount: "Recipients",
  recipientsPartial: "Many matches: the recipients are counted over the newest 10,000 messages (the total and the counts per day are exact).",
  nothingFound: "No message matches.",
  badHash: "A SHA-256 is 64 hexadecimal digits.",
  kindSha256: "attachment SHA-256",
  kindDomain: "link domain",
  kindUrl: "link URL",
  report: "Monthly report",
  reportTitle: "Self-inspection report",
  month: "Month",
  show: "Show",
  download: "Download",
  badMonth: "Give the month as YYYY-MM.",
  reportAudited: "Downloads are recorded in the audit trail.",
  printHint: "Download the printable HTML and print it (A4) from the browser to make a PDF.",
};

export function incidentWords(lang: Lang): IncidentWords {
  return lang === "en" ? en : ja;
}
