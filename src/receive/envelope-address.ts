/**
 * What an envelope address (MAIL FROM / RCPT TO path) says beyond its plain
 * "local@domain": whether its bytes are UTF-8 at all, whether it needs
 * SMTPUTF8, and whether its local part asks for sender-specified routing
 * (percent hack, bang path, a quoted "@", a source route). Pure functions over
 * the raw bytes of the command line, so the judgement does not depend on how
 * smtp-server decodes or strips them (it decodes lossily to U+FFFD and drops
 * source routes silently).
 *
 * Why routing is refused: mumuka accepts mail for its recipient domains only.
 * `user%other.example@city.example.lg.jp` or `other.example!user@city…` is "at"
 * an accepted domain, but a downstream MTA that honours the percent hack or
 * UUCP bang paths (sendmail, older Exchange, Postfix with
 * allow_percent_hack) relays it on to other.example: an open relay through
 * the back door. Postfix refuses the same class (allow_untrusted_routing = no).
 *
 * What smtp-server (3.21) does with such paths, and why the raw bytes are
 * read here: it splits the path at "@" and wants exactly two parts, so a
 * quoted or escaped "@" got its generic 501 and a quoted local part with a
 * space breaks its whitespace split (with a routing character in them, they
 * now get the specific refusal; otherwise its 501 stands); it
 * drops a source route silently and keeps the mailbox; it keeps quotes and
 * backslashes in the local part ("a%b" and a\%b reach onRcptTo as written);
 * it decodes the line as UTF-8, turning bytes that are not UTF-8 into U+FFFD
 * (j\xf6rg@ became j\ufffdrg@ and was relayed so); it leaves case alone.
 * Here quotes and backslashes never hide a character, case does not matter
 * (the routing characters have none), and NFKC folds the full-width forms.
 *
 * SECURITY: every byte here is client input. The scanner is linear, bounded
 * by the command line length smtp-server allows, and never throws.
 */
import { isUtf8 } from "node:buffer";
import type { allowableLocalPartCharacters } from "../config/schema.ts";

/** The characters an operator may allow in local parts (smtp.allowLocalPartCharacters). */
export type AllowableLocalPartCharacter = (typeof allowableLocalPartCharacters)[number];

/** The facts read from a path's raw bytes; no judgement yet. */
export interface PathFacts {
  /** the bytes between < and > are valid UTF-8 */
  validUtf8: boolean;
  /** a byte above 0x7f appears (an internationalized address, or garbage) */
  nonAscii: boolean;
  /** an RFC 5321 A-d-l ("@relay.example,@other.example:") precedes the mailbox */
  sourceRoute: boolean;
  /** the local part as decoded text (lossy when not UTF-8), quotes and backslashes kept */
  localPart: string;
}

/** Names double as metric labels (mumuka_smtp_refused_total{reason}) and audit reasons. */
export type AddressProblem = "invalid-utf8" | "needs-smtputf8" | "source-route" | "percent-hack" | "bang-path" | "quoted-at";

/**
 * The raw path of a "MAIL FROM:<…>" or "RCPT TO:<…>" line: the bytes between
 * the angle brackets, honouring quoted strings (a ">" or a space inside quotes
 * does not end the path). undefined when the line holds no well-formed path;
 * smtp-server then answers its own syntax error.
 */
export function rawPath(command: Buffer): Buffer | undefined {
  const colon = command.indexOf(0x3a); // ":"
  if (colon < 0) return undefined;
  let i = colon + 1;
  while (i < command.length && (command[i] === 0x20 || command[i] === 0x09)) i++;
  if (command[i] !== 0x3c) return undefined; // "<"
  const start = i + 1;
  let quoted = false;
  for (i = start; i < command.length; i++) {
    const b = command[i];
    if (quoted && b === 0x5c) i++; // a quoted-pair: the next byte is literal
    else if (b === 0x22) quoted = !quoted;
    else if (!quoted && b === 0x3e) return command.subarray(start, i);
  }
  return undefined;
}

/** Reads the facts of a raw path (see rawPath). */
export function pathFacts(path: Buffer): PathFacts {
  const validUtf8 = isUtf8(path);
  const text = path.toString("utf8");
  let nonAscii = false;
  for (const b of path) if (b > 0x7f) nonAscii = true;
  // A-d-l: "@" domain *( "," "@" domain ) ":" — everything up to the first ":" outside quotes
  const sourceRoute = text.startsWith("@");
  const mailbox = sourceRoute ? text.slice(colonOutsideQuotes(text) + 1) : text;
  const at = lastAtOutsideQuotes(mailbox);
  return { validUtf8, nonAscii, sourceRoute, localPart: at < 0 ? mailbox : mailbox.slice(0, at) };
}

/**
 * The routing characters a local part contains, in order of appearance. The
 * check runs on the NFKC form so that full-width ％ ！ ＠ (U+FF05, U+FF01,
 * U+FF20) and the small forms (U+FE6A …), which a normalizing MTA downstream
 * may fold to % ! @, count as what they look like. Quotes and backslashes do
 * not hide a character: "a%b" and a\%b carry a "%" like a%b does.
 */
export function routingCharacters(localPart: string): Array<"%" | "!" | "@"> {
  const found: Array<"%" | "!" | "@"> = [];
  for (const ch of localPart.normalize("NFKC")) {
    if ((ch === "%" || ch === "!" || ch === "@") && !found.includes(ch)) found.push(ch);
  }
  return found;
}

/** The sender's problem, if any: bytes that are not UTF-8, or UTF-8 without SMTPUTF8 (RFC 6531 3.4). */
export function judgeSender(facts: PathFacts, smtputf8: boolean): AddressProblem | undefined {
  if (!facts.validUtf8) return "invalid-utf8";
  if (facts.nonAscii && !smtputf8) return "needs-smtputf8";
  return undefined;
}

/**
 * The recipient's problem, if any: as for the sender, then a source route,
 * then the first routing character the operator has not allowed.
 */
export function judgeRecipient(
  facts: PathFacts,
  smtputf8: boolean,
  allowed: ReadonlySet<AllowableLocalPartCharacter>,
): AddressProblem | undefined {
  const encoding = judgeSender(facts, smtputf8);
  if (encoding) return encoding;
  if (facts.sourceRoute) return "source-route";
  for (const ch of routingCharacters(facts.localPart)) {
    if (ch === "@") return "quoted-at";
    if (!allowed.has(ch)) return ch === "%" ? "percent-hack" : "bang-path";
  }
  return undefined;
}

function colonOutsideQuotes(text: string): number {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === "\\") i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === ":") return i;
  }
  return -1;
}

function lastAtOutsideQuotes(text: string): number {
  let quoted = false;
  let last = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === "\\") i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === "\\") i++; // an escaped character outside quotes (a\@b) is part of the local part
    else if (!quoted && c === "@") last = i;
  }
  return last;
}
