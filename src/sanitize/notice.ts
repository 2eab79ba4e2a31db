/**
 * The notice staff read on top of every sanitized message: what was done, in
 * Japanese (default) or English. The built-in templates are embedded here so
 * the pure core needs no file; the same text ships in config/notice/{ja,en}.txt
 * as the starting point for an operator's own (a test keeps them identical).
 *
 * Everything inserted into the template is produced by mumuka or made
 * display-safe first (file names are sender-controlled). Sender text inside
 * the notice is also link-disarmed, whatever the link mode: the notice is
 * mumuka's own voice, and a file name "https://evil.example/run.exe" must not
 * become a link staff trust because it stands there.
 */
import type { Language } from "../config/schema.ts";
import { processLinks } from "./links.ts";
import type { RemovedPart } from "./sanitize-types.ts";
import type { TemplateScope } from "./notice-template.ts";

export const NOTICE_JA = `━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━
【メール無害化のお知らせ】
{{#senderUnverified}}
⚠ 差出人のドメイン認証に失敗しました。差出人が偽装されている可能性があります。
{{/senderUnverified}}
{{#withheld}}
このメールは規則により保留されたため、本文と添付ファイルは届けていません。
理由: {{reason}}
内容の確認が必要な場合は、下の管理番号を添えてシステム管理者に
お問い合わせください。
{{/withheld}}
{{^withheld}}
このメールはインターネットから届いたため、安全のためテキストだけに変換しました。
{{#htmlConverted}}
・HTML形式の本文をテキストに変換しました。
{{/htmlConverted}}
{{#alternativeHtml}}
・テキスト版の本文が空または案内文だけだったため、HTML版を変換して表示しています。
{{/alternativeHtml}}
{{#linksDisarmed}}
{{#linksRemoved}}
・本文中のリンク {{linksDisarmed}} 件を削除しました。
{{/linksRemoved}}
{{^linksRemoved}}
・本文中のリンク {{linksDisarmed}} 件をクリックできない形にしました（例: hxxps[://]example[.]com）。
  開く必要があるときは、送信元に心当たりがあることを確かめてからにしてください。
{{/linksRemoved}}
{{/linksDisarmed}}
{{#deceptiveLinks}}
・⚠ 表示と実際のリンク先が異なるリンクが {{deceptiveLinks}} 件あります（本文中に注意書きがあります）。
{{/deceptiveLinks}}
{{#calendar}}
・会議の招待（カレンダー）を本文の先頭にテキストで示しました。招待ファイル自体は届けていません。
{{/calendar}}
{{#forwarded}}
・転送されたメール {{forwarded}} 件の本文を「転送メッセージ」として含めました。
{{/forwarded}}
{{#unreadable}}
・⚠ 暗号化されたメール（S/MIME または PGP）のため、内容を読み取れませんでした。
{{/unreadable}}
{{/withheld}}
{{#protectedFiles}}
・⚠ パスワード付きのファイルが {{protectedFiles}} 件ありました。このファイルは届きません。
  後からパスワードが届いても開けませんので、送信元に別の方法での送付を依頼してください。
{{/protectedFiles}}
{{#hasAttachments}}
・添付ファイルなど {{attachmentCount}} 件を削除しました:
{{#attachments}}
  - {{filename}}
    形式: {{contentType}}{{#sniffedType}}（中身から判定した形式: {{sniffedType}}）{{/sniffedType}}  大きさ: {{size}}
    SHA-256: {{sha256}}
{{#foundInText}}
    本文の中に文字（符号化されたデータ）として埋め込まれていたものです。
{{/foundInText}}
{{#mismatch}}
    ⚠ ファイル名や宣言された形式と、実際の中身が一致しません。
{{/mismatch}}
{{#encrypted}}
    ⚠ パスワード付きのファイルです。
{{/encrypted}}
{{/attachments}}
{{/hasAttachments}}
{{#limits}}
・処理の上限（{{label}}）に達したため、一部を省略しました。
{{/limits}}
管理番号: {{auditId}}
━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━
`;

export const NOTICE_EN = `━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━
[Mail sanitization notice]
{{#senderUnverified}}
WARNING: the sender's domain could not be verified. The sender may be forged.
{{/senderUnverified}}
{{#withheld}}
This message was held by a rule: its text and attachments were not delivered.
Reason: {{reason}}
If you need its content, contact your system administrator with the
reference below.
{{/withheld}}
{{^withheld}}
This message came from the Internet and was converted to plain text for safety.
{{#htmlConverted}}
- The HTML body was converted to text.
{{/htmlConverted}}
{{#alternativeHtml}}
- The plain-text version was empty or only a placeholder, so the HTML version is shown, converted.
{{/alternativeHtml}}
{{#linksDisarmed}}
{{#linksRemoved}}
- {{linksDisarmed}} link(s) in the text were removed.
{{/linksRemoved}}
{{^linksRemoved}}
- {{linksDisarmed}} link(s) in the text were made non-clickable (e.g. hxxps[://]example[.]com).
  Open one only if you trust the sender.
{{/linksRemoved}}
{{/linksDisarmed}}
{{#deceptiveLinks}}
- WARNING: {{deceptiveLinks}} link(s) show a different address than their real target (marked in the text).
{{/deceptiveLinks}}
{{#calendar}}
- A meeting invitation is shown as text at the top; the invitation file itself was not delivered.
{{/calendar}}
{{#forwarded}}
- The text of {{forwarded}} forwarded message(s) is included, marked "Forwarded message".
{{/forwarded}}
{{#unreadable}}
- WARNING: the message is encrypted (S/MIME or PGP) and could not be read.
{{/unreadable}}
{{/withheld}}
{{#protectedFiles}}
- WARNING: {{protectedFiles}} password-protected file(s) were attached. They will not arrive,
  even if the password follows: ask the sender to share the file another way.
{{/protectedFiles}}
{{#hasAttachments}}
- {{attachmentCount}} attachment(s) or other part(s) were removed:
{{#attachments}}
  - {{filename}}
    type: {{contentType}}{{#sniffedType}} (content looks like: {{sniffedType}}){{/sniffedType}}  size: {{size}}
    SHA-256: {{sha256}}
{{#foundInText}}
    It was found inside the text (encoded as text) and cut out.
{{/foundInText}}
{{#mismatch}}
    WARNING: the content does not match the file name or declared type.
{{/mismatch}}
{{#encrypted}}
    WARNING: password-protected file.
{{/encrypted}}
{{/attachments}}
{{/hasAttachments}}
{{#limits}}
- A processing limit ({{label}}) was reached: part of the message was left out.
{{/limits}}
Reference: {{auditId}}
━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━
`;

/**
 * What every notice must carry whatever the template says (DESIGN.md: each
 * removed part with name, type, size and SHA-256, and the audit id). When an
 * operator's template leaves any of it out, render appends this.
 */
export const MANDATORY_JA = `{{#hasAttachments}}
削除した添付ファイルなど:
{{#attachments}}
  - {{filename}}  {{contentType}}{{#sniffedType}}（中身: {{sniffedType}}）{{/sniffedType}}  {{size}}{{#encrypted}}  パスワード付き{{/encrypted}}{{#mismatch}}  ⚠形式不一致{{/mismatch}}
    SHA-256: {{sha256}}
{{/attachments}}
{{/hasAttachments}}
管理番号: {{auditId}}
`;

export const MANDATORY_EN = `{{#hasAttachments}}
Removed attachments and parts:
{{#attachments}}
  - {{filename}}  {{contentType}}{{#sniffedType}} (content: {{sniffedType}}){{/sniffedType}}  {{size}}{{#encrypted}}  password-protected{{/encrypted}}{{#mismatch}}  WARNING: type mismatch{{/mismatch}}
    SHA-256: {{sha256}}
{{/attachments}}
{{/hasAttachments}}
Reference: {{auditId}}
`;

export function builtinNotice(language: Language): string {
  return language === "en" ? NOTICE_EN : NOTICE_JA;
}

/** Words render() puts into the body, per language. */
export interface BodyWords {
  noFilename: string;
  deceptive: (shown: string, real: string) => string;
  embedded: (kind: string, name: string) => string;
  linkRemoved: string;
  forwardedStart: string;
  forwardedEnd: string;
  unreadable: Record<"smime" | "pgp", string>;
  attachmentText: (name: string) => string;
  calendarTitle: string;
  calendarFields: { summary: string; start: string; end: string; location: string; organizer: string };
  limitLabels: Record<string, string>;
  truncated: string;
  /** the notice's line when the sender's domain could not be verified (kept even by an operator's template) */
  senderUnverified: string;
}

export const WORDS: Record<Language, BodyWords> = {
  ja: {
    noFilename: "（名前なし）",
    deceptive: (shown, real) => `（⚠注意: リンクの表示は「${shown}」ですが、実際のリンク先は「${real}」です）`,
    linkRemoved: "[リンク削除]",
    embedded: (kind, name) => `[本文中の添付ファイル（${kind}）${name} を削除しました]`,
    forwardedStart: "---------- 転送メッセージ ----------",
    forwardedEnd: "---------- 転送メッセージここまで ----------",
    unreadable: { smime: "[暗号化（S/MIME）された部分のため表示できません]", pgp: "[暗号化（PGP）された部分のため表示できません]" },
    attachmentText: (name) => `---------- 添付ファイル ${name} の内容 ----------`,
    calendarTitle: "【会議の招待】",
    calendarFields: { summary: "件名", start: "開始", end: "終了", location: "場所", organizer: "主催者" },
    limitLabels: {
      maxDepth: "入れ子の深さ",
      maxParts: "パーツの数",
      maxHeaderBytes: "ヘッダーの大きさ",
      maxTextChars: "本文の文字数",
      maxHtmlBytes: "HTMLの大きさ",
      maxTimeMs: "処理時間",
    },
    truncated: "[……上限のため以下省略……]",
    senderUnverified: "差出人のドメイン認証に失敗しました。差出人が偽装されている可能性があります。",
  },
  en: {
    noFilename: "(no name)",
    deceptive: (shown, real) => `(WARNING: the link text shows "${shown}" but the real target is "${real}")`,
    linkRemoved: "[link removed]",
    embedded: (kind, name) => `[file inside the text (${kind}) ${name} removed]`,
    forwardedStart: "---------- Forwarded message ----------",
    forwardedEnd: "---------- End of forwarded message ----------",
    unreadable: { smime: "[encrypted (S/MIME) part: cannot be shown]", pgp: "[encrypted (PGP) part: cannot be shown]" },
    attachmentText: (name) => `---------- Content of attachment ${name} ----------`,
    calendarTitle: "[Meeting invitation]",
    calendarFields: { summary: "Title", start: "Start", end: "End", location: "Location", organizer: "Organizer" },
    limitLabels: {
      maxDepth: "nesting depth",
      maxParts: "number of parts",
      maxHeaderBytes: "header size",
      maxTextChars: "text length",
      maxHtmlBytes: "HTML size",
      maxTimeMs: "processing time",
    },
    truncated: "[... the rest was cut at a limit ...]",
    senderUnverified: "the sender's domain could not be verified. The sender may be forged.",
  },
};

export function humanSize(bytes: number, language: Language): string {
  const unit = language === "ja" ? "バイト" : "bytes";
  const grouped = bytes.toLocaleString("en-US");
  if (bytes < 1024) return `${grouped} ${unit}`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${value.toFixed(1)} ${units[i]} (${grouped} ${unit})`;
}

export interface NoticeFacts {
  auditId: string;
  language: Language;
  withheld?: string;
  htmlConverted: boolean;
  alternativeHtml: boolean;
  linksDisarmed: number;
  linksRemoved: boolean;
  deceptiveLinks: number;
  calendar: boolean;
  forwarded: number;
  unreadable: boolean;
  attachments: RemovedPart[];
  limitsHit: string[];
  /** sender authentication failed or proved nothing (authenticate/auth-types.ts senderUnverified) */
  senderUnverified?: boolean;
}

/** Sender text as the notice may show it: defanged in every link mode (never removed: staff must see the name). */
function senderText(value: string): string {
  return processLinks(value, "defang", "").text;
}

export function noticeScope(f: NoticeFacts): TemplateScope {
  const words = WORDS[f.language];
  const protectedFiles = f.attachments.filter((a) => a.encrypted).length;
  return {
    auditId: f.auditId,
    withheld: f.withheld !== undefined ? { reason: f.withheld } : false,
    htmlConverted: f.htmlConverted,
    alternativeHtml: f.alternativeHtml,
    linksDisarmed: f.linksDisarmed,
    linksRemoved: f.linksRemoved,
    deceptiveLinks: f.deceptiveLinks,
    calendar: f.calendar,
    forwarded: f.forwarded,
    unreadable: f.unreadable,
    protectedFiles,
    hasAttachments: f.attachments.length > 0,
    attachmentCount: f.attachments.length,
    attachments: f.attachments.map((a) => ({
      filename: a.filename ? senderText(a.filename) : words.noFilename,
      contentType: senderText(a.contentType),
      sniffedType: a.sniffedType && a.sniffedType !== a.contentType ? a.sniffedType : "",
      size: humanSize(a.size, f.language),
      bytes: a.size,
      sha256: a.sha256,
      mismatch: a.typeMismatch,
      // analyze numbers a file cut out of a text part "<part>#<n>" (embedded.ts)
      foundInText: a.path.includes("#"),
      encrypted: a.encrypted,
      path: a.path,
    })),
    limits: f.limitsHit.map((name) => ({ name, label: words.limitLabels[name] ?? name })),
    senderUnverified: f.senderUnverified === true,
  };
}
