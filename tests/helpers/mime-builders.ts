/**
 * Builders for test messages: small functions that assemble raw RFC 5322 /
 * MIME bytes exactly as hostile or odd senders produce them (wrong charsets,
 * split encoded words, injection attempts, deep nesting, real ZipCrypto
 * archives …), so focused tests need no binary fixtures.
 *
 * Everything here produces bytes for the sanitizer to read; nothing is sent.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import Encoding from "encoding-japanese";
import iconv from "iconv-lite";
import { ascii85Digits } from "./documents.ts";

export const CRLF = "\r\n";

export type Charset = "utf-8" | "iso-2022-jp" | "shift_jis" | "cp932" | "euc-jp" | "iso-8859-1";

/** Text → bytes in a charset (ISO-2022-JP through encoding-japanese: iconv-lite lacks it). */
export function encodeText(text: string, charset: Charset): Buffer {
  if (charset === "iso-2022-jp") {
    const codes = Encoding.convert(Encoding.stringToCode(text), { to: "JIS", from: "UNICODE" });
    return Buffer.from(codes);
  }
  return iconv.encode(text, charset === "cp932" ? "cp932" : charset);
}

/** One RFC 2047 encoded-word (no length check: tests decide how to split). */
export function encodedWord(text: string | Buffer, charset: string = "UTF-8", encoding: "B" | "Q" = "B"): string {
  const bytes = typeof text === "string" ? encodeText(text, charset.toLowerCase() as Charset) : text;
  if (encoding === "B") return `=?${charset}?B?${bytes.toString("base64")}?=`;
  let q = "";
  for (const b of bytes) {
    if (b === 0x20) q += "_";
    else if ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)) q += String.fromCharCode(b);
    else q += `=${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return `=?${charset}?Q?${q}?=`;
}

/** base64 in 76-character lines, CRLF. */
export function base64Lines(data: Buffer): string {
  return (data.toString("base64").match(/.{1,76}/g) ?? []).join(CRLF);
}

export interface PartSpec {
  /** full Content-Type value, e.g. `text/plain; charset=utf-8` */
  contentType: string;
  /** extra header lines (without CRLF), raw */
  headers?: string[];
  /** Content-Transfer-Encoding: `base64` encodes `body` for you */
  encoding?: "7bit" | "8bit" | "base64" | "quoted-printable" | "binary";
  /** the decoded content (for base64) or the raw content (otherwise) */
  body: string | Buffer;
}

/** One MIME entity (headers + blank line + body) as bytes. */
export function part(spec: PartSpec): Buffer {
  const head = [`Content-Type: ${spec.contentType}`, ...(spec.headers ?? [])];
  if (spec.encoding) head.push(`Content-Transfer-Encoding: ${spec.encoding}`);
  const raw = typeof spec.body === "string" ? Buffer.from(spec.body, "utf8") : spec.body;
  const body = spec.encoding === "base64" ? Buffer.from(base64Lines(raw), "latin1") : raw;
  // header lines are written as UTF-8: ASCII stays ASCII, and a test that wants raw 8-bit headers gets them
  return Buffer.concat([Buffer.from(head.join(CRLF) + CRLF + CRLF, "utf8"), body]);
}

/** A multipart entity from ready parts. */
export function multipart(subtype: string, parts: Buffer[], options: { boundary?: string; params?: string; close?: boolean } = {}): Buffer {
  const boundary = options.boundary ?? `b-${subtype}-${parts.length}-${createHash("sha1").update(Buffer.concat(parts)).digest("hex").slice(0, 12)}`;
  const chunks: Buffer[] = [
    Buffer.from(`Content-Type: multipart/${subtype}; boundary="${boundary}"${options.params ?? ""}${CRLF}${CRLF}This is a multi-part message in MIME format.${CRLF}`, "latin1"),
  ];
  for (const p of parts) chunks.push(Buffer.from(`--${boundary}${CRLF}`, "latin1"), p, Buffer.from(CRLF, "latin1"));
  if (options.close !== false) chunks.push(Buffer.from(`--${boundary}--${CRLF}`, "latin1"));
  return Buffer.concat(chunks);
}

export interface MessageSpec {
  from?: string;
  to?: string;
  subject?: string;
  date?: string;
  messageId?: string;
  /** more raw header lines (may contain 8-bit bytes: pass a Buffer line via rawHeaders) */
  headers?: string[];
  rawHeaders?: Buffer[];
  /** the top-level entity: from part()/multipart(), which supply Content-Type */
  entity: Buffer;
}

/** A complete message: envelope-ish headers + MIME-Version + the entity. */
export function message(spec: MessageSpec): Buffer {
  const head = [
    `From: ${spec.from ?? "Sender <sender@example.jp>"}`,
    `To: ${spec.to ?? "staff@city.example.lg.jp"}`,
    ...(spec.subject !== undefined ? [`Subject: ${spec.subject}`] : []),
    `Date: ${spec.date ?? "Thu, 26 Nov 2026 18:00:00 +0900"}`,
    `Message-ID: ${spec.messageId ?? "<test-1@example.jp>"}`,
    ...(spec.headers ?? []),
    "MIME-Version: 1.0",
  ];
  return Buffer.concat([
    Buffer.from(head.join(CRLF) + CRLF, "utf8"),
    ...(spec.rawHeaders ?? []).map((line) => Buffer.concat([line, Buffer.from(CRLF)])),
    spec.entity,
  ]);
}

/** A plain text message in one charset (Subject as an encoded-word in the same charset). */
export function textMessage(text: string, options: { charset?: Charset; subject?: string; encoding?: PartSpec["encoding"]; from?: string } = {}): Buffer {
  const charset = options.charset ?? "utf-8";
  const encoding = options.encoding ?? (charset === "iso-2022-jp" ? "7bit" : "8bit");
  return message({
    subject: options.subject,
    from: options.from,
    entity: part({ contentType: `text/plain; charset=${charset}`, encoding, body: encodeText(text.replace(/\r?\n/g, CRLF), charset) }),
  });
}

/**
 * An attachment part with a file name, written the way common mailers do:
 * ASCII names quoted, other names as RFC 2231 (Content-Disposition) and
 * RFC 2047 (the Content-Type name parameter).
 */
export function attachment(filename: string, contentType: string, content: Buffer, extraHeaders?: string[]): Buffer {
  const ascii = /^[\x20-\x7e]*$/.test(filename) && !/["\\]/.test(filename);
  const rfc2231 = [...Buffer.from(filename, "utf8")]
    .map((b) => (/[A-Za-z0-9.\-_]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`))
    .join("");
  return part({
    contentType: ascii ? `${contentType}; name="${filename}"` : `${contentType}; name="${encodedWord(filename)}"`,
    headers: extraHeaders ?? [ascii ? `Content-Disposition: attachment; filename="${filename}"` : `Content-Disposition: attachment; filename*=UTF-8''${rfc2231}`],
    encoding: "base64",
    body: content,
  });
}

/** multipart/mixed nested `depth` times around one text part. */
export function nestedMultipart(depth: number, innermost: Buffer): Buffer {
  let entity = innermost;
  for (let i = 0; i < depth; i++) entity = multipart("mixed", [entity], { boundary: `nest-${i}` });
  return entity;
}

/** message/rfc822 nested `depth` times around one message. */
export function nestedRfc822(depth: number, innermost: Buffer): Buffer {
  let msg = innermost;
  for (let i = 0; i < depth; i++) {
    msg = message({ subject: `Fwd level ${i}`, messageId: `<nest-${i}@example.jp>`, entity: part({ contentType: "message/rfc822", body: msg }) });
  }
  return msg;
}

// --- PPAP: a real password-protected ZIP (traditional PKWARE encryption) -------

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32Update(crc: number, byte: number): number {
  return (CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8)) >>> 0;
}

export function crc32(data: Buffer): number {
  let crc = 0xffffffff;
  for (const b of data) crc = crc32Update(crc, b);
  return (crc ^ 0xffffffff) >>> 0;
}

export interface ZipEntry {
  name: string;
  content: Buffer;
  /** encrypt this entry with ZipCrypto (general purpose flag bit 0), as `zip -e` does */
  password?: string;
}

/** ZipCrypto encryption of one entry's data (12-byte header + content). */
function zipCrypto(content: Buffer, password: string, crc: number): Buffer {
  let k0 = 0x12345678;
  let k1 = 0x23456789;
  let k2 = 0x34567890;
  const update = (b: number) => {
    k0 = crc32Update(k0, b);
    k1 = (Math.imul((k1 + (k0 & 0xff)) >>> 0, 134775813) + 1) >>> 0;
    k2 = crc32Update(k2, k1 >>> 24);
  };
  const streamByte = () => {
    const t = (k2 | 2) & 0xffff;
    return (Math.imul(t, t ^ 1) >>> 8) & 0xff;
  };
  for (const ch of Buffer.from(password, "utf8")) update(ch);
  // 12-byte encryption header: 11 fixed "random" bytes (deterministic test) + CRC high byte
  const plain = Buffer.concat([Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, crc >>> 24]), content]);
  const cipher = Buffer.alloc(plain.length);
  for (let i = 0; i < plain.length; i++) {
    cipher[i] = plain[i]! ^ streamByte();
    update(plain[i]!);
  }
  return cipher;
}

/** A ZIP archive of stored (uncompressed) entries, each optionally ZipCrypto-encrypted. `unzip -P` opens it. */
export function zipArchive(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const crc = crc32(entry.content);
    const data = entry.password !== undefined ? zipCrypto(entry.content, entry.password, crc) : entry.content;
    const flags = (entry.password !== undefined ? 0x0001 : 0) | 0x0800; // encrypted?, UTF-8 names
    const fileName = Buffer.from(entry.name, "utf8");
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(0x5b7a, 12); // a date in 2025
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(entry.content.length, 22);
    local.writeUInt16LE(fileName.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(0x5b7a, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(entry.content.length, 24);
    central.writeUInt16LE(fileName.length, 28);
    central.writeUInt32LE(offset, 42); // local header offset
    locals.push(local, fileName, data);
    centrals.push(central, fileName);
    offset += local.length + fileName.length + data.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

/** A ZIP with one stored file encrypted with ZipCrypto: what `zip -e` makes and what PPAP mail carries. */
export function encryptedZip(name: string, content: Buffer, password: string): Buffer {
  return zipArchive([{ name, content, password }]);
}

/** A plain (unencrypted) ZIP with one stored file, to contrast with encryptedZip. */
export function plainZip(name: string, content: Buffer): Buffer {
  return zipArchive([{ name, content }]);
}

// --- big messages, streamed -----------------------------------------------------

/** Deterministic pseudo-random bytes: SHA-256 in counter mode. */
export function pseudoRandom(size: number, seed = "mumuka"): Buffer {
  const out = Buffer.alloc(size);
  let offset = 0;
  for (let i = 0; offset < size; i++) {
    const block = createHash("sha256").update(`${seed}:${i}`).digest();
    offset += block.copy(out, offset);
  }
  return out;
}

/**
 * A message with one attachment of `size` bytes, produced as a stream so the
 * test itself never holds it: yields the head, then base64 lines computed
 * chunk by chunk. `expected` gives the SHA-256 of the decoded attachment.
 */
export function streamingAttachmentMessage(size: number, filename = "big.bin"): { stream: Readable; sha256: string } {
  const CHUNK = 57 * 1024; // a multiple of 57 bytes → whole 76-char base64 lines
  const hash = createHash("sha256");
  const chunks: Array<() => Buffer> = [];
  const boundary = "big-boundary-0001";
  const head = Buffer.from(
    [
      "From: Big <big@example.jp>",
      "To: staff@city.example.lg.jp",
      "Subject: big attachment",
      "Date: Thu, 26 Nov 2026 18:00:00 +0900",
      "Message-ID: <big@example.jp>",
      "MIME-Version: 1.0",
      `Content-Type: multipart/mixed; boundary="${boundary}"`,
      "",
      `--${boundary}`,
      "Content-Type: text/plain; charset=utf-8",
      "",
      "添付ファイルをお送りします。",
      `--${boundary}`,
      `Content-Type: application/octet-stream; name="${filename}"`,
      `Content-Disposition: attachment; filename="${filename}"`,
      "Content-Transfer-Encoding: base64",
      "",
      "",
    ].join(CRLF),
    "utf8",
  );
  // hash synchronously up front (cheap: SHA-256 of the generated stream) so the caller knows the answer
  let produced = 0;
  let i = 0;
  while (produced < size) {
    const n = Math.min(CHUNK, size - produced);
    const index = i++;
    const block = chunkAt(index, n);
    hash.update(block);
    produced += n;
    chunks.push(() => Buffer.from(base64Lines(chunkAt(index, n)) + CRLF, "latin1"));
  }
  const tail = Buffer.from(`--${boundary}--${CRLF}`, "latin1");
  function* generate() {
    yield head;
    for (const make of chunks) yield make();
    yield tail;
  }
  return { stream: Readable.from(generate(), { objectMode: false }), sha256: hash.digest("hex") };
}

function chunkAt(index: number, size: number): Buffer {
  const seed = createHash("sha256").update(`chunk:${index}`).digest();
  const out = Buffer.alloc(size);
  for (let o = 0; o < size; o += seed.length) seed.copy(out, o, 0, Math.min(seed.length, size - o));
  out.writeUInt32LE(index, 0 % Math.max(1, size - 4));
  return out;
}

// --- files written as text: the encodings a sender can hide a file in ----------------

/** The first bytes of real file formats (what sniffing recognises, what staff must never get back). */
export const SIGNATURES: Record<"MZ" | "ELF" | "PK" | "PDF" | "OLE", Buffer> = {
  MZ: Buffer.from("4d5a90000300000004000000ffff0000b800000000000000400000000000000000000000000000000000000000000000000000000000000000000000800000000e1fba0e00b409cd21b8014ccd21546869732070726f6772616d2063616e6e6f742062652072756e20696e20444f53206d6f64652e0d0d0a2400000000000000", "hex"),
  ELF: Buffer.from("7f454c4602010100000000000000000002003e0001000000", "hex"),
  PK: Buffer.from("504b0304140000000800", "hex"),
  PDF: Buffer.from("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "latin1"),
  OLE: Buffer.from("d0cf11e0a1b11ae1000000000000000000000000000000003e000300feff0900", "hex"),
};

/** A Windows executable's head plus deterministic noise: 1,500 bytes. */
export const EXE = Buffer.concat([SIGNATURES.MZ, pseudoRandom(1500 - SIGNATURES.MZ.length, "exe")]);

function uuLines(data: Buffer): string[] {
  const out: string[] = [];
  const ch = (v: number) => String.fromCharCode(v === 0 ? 0x60 : v + 32);
  for (let i = 0; i < data.length; i += 45) {
    const chunk = data.subarray(i, i + 45);
    let line = ch(chunk.length);
    for (let j = 0; j < chunk.length; j += 3) {
      const [a = 0, b = 0, c = 0] = [chunk[j], chunk[j + 1], chunk[j + 2]];
      line += ch(a >> 2) + ch(((a << 4) | (b >> 4)) & 63) + ch(((b << 2) | (c >> 6)) & 63) + ch(c & 63);
    }
    out.push(line);
  }
  return [...out, "`"];
}

function yencode(data: Buffer): string[] {
  const lines: string[] = [];
  let line = "";
  for (const byte of data) {
    const c = (byte + 42) & 255;
    line += c === 0x00 || c === 0x0a || c === 0x0d || c === 0x3d ? `=${String.fromCharCode((c + 64) & 255)}` : String.fromCharCode(c);
    if (line.length >= 128) {
      lines.push(line);
      line = "";
    }
  }
  if (line) lines.push(line);
  return lines;
}

const BINHEX_ALPHABET = "!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";
/** BinHex 4.0's 6-bit encoding of the data fork (run-length marker 0x90 escaped), in 64-character lines between colons. */
function binhexLines(data: Buffer): string[] {
  const escaped: number[] = [];
  for (const b of data) escaped.push(...(b === 0x90 ? [0x90, 0x00] : [b]));
  let bits = "";
  for (const b of escaped) bits += b.toString(2).padStart(8, "0");
  while (bits.length % 6) bits += "0";
  let text = ":";
  for (let i = 0; i < bits.length; i += 6) text += BINHEX_ALPHABET[parseInt(bits.slice(i, i + 6), 2)];
  text += ":";
  return text.match(/.{1,64}/g) ?? [];
}

function quotedPrintable(data: Buffer): string {
  const lines: string[] = [];
  let line = "";
  for (const b of data) {
    const piece = b >= 33 && b <= 126 && b !== 0x3d ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, "0")}`;
    if (line.length + piece.length > 75) {
      lines.push(`${line}=`);
      line = "";
    }
    line += piece;
  }
  lines.push(line);
  return lines.join("\r\n");
}

/** `data` in groups of `size` (the last may be shorter). */
function groups<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
const hexByte = (b: number): string => b.toString(16).padStart(2, "0");

/** RFC 4648 base32, wrapped at 76 columns as GNU base32 does. */
function base32(data: Buffer): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  let out = "";
  for (const b of data) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= 255;
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  while (out.length % 8) out += "=";
  return (out.match(/.{1,76}/g) ?? []).join(CRLF);
}

/** Adobe Ascii85 between `<~` and `~>`, wrapped at 75 columns (Python's a85encode(adobe=True, wrapcol=75)). */
function ascii85(data: Buffer): string {
  return (`<~${ascii85Digits(data)}~>`.match(/.{1,75}/g) ?? []).join(CRLF);
}

/** ZeroMQ Z85 (its input a multiple of 4 bytes: the file padded with NULs), on one line. */
function z85(data: Buffer): string {
  const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  const padded = Buffer.concat([data, Buffer.alloc((4 - (data.length % 4)) % 4)]);
  let out = "";
  for (let i = 0; i < padded.length; i += 4) {
    let v = padded.readUInt32BE(i);
    let group = "";
    for (let k = 0; k < 5; k++) {
      group = alphabet[v % 85]! + group;
      v = Math.floor(v / 85);
    }
    out += group;
  }
  return out;
}

/** Python's repr() of bytes: printable ASCII as itself, the rest as \xNN. */
function pythonRepr(data: Buffer): string {
  let out = "b'";
  for (const b of data) {
    if (b === 0x5c || b === 0x27) out += `\\${String.fromCharCode(b)}`;
    else if (b === 0x09) out += "\\t";
    else if (b === 0x0a) out += "\\n";
    else if (b === 0x0d) out += "\\r";
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${hexByte(b)}`;
  }
  return `${out}'`;
}

/** base64 cut into pieces of 3 to 9 characters (lengths from the data itself), joined by `glue`. */
function base64Pieces(data: Buffer, glue: (i: number) => string): string {
  const b64 = data.toString("base64");
  const pieces: string[] = [];
  for (let i = 0, k = 0; i < b64.length; k++) {
    const n = 3 + (data[k % data.length]! % 7);
    pieces.push(b64.slice(i, i + n));
    i += n;
  }
  return pieces.map((p, i) => (i === 0 ? p : glue(i) + p)).join("");
}

/** Every way a file's bytes can be written as text (CRLF line ends). */
export const encodings = {
  base64: (data: Buffer) => base64Lines(data),
  "base64 without line breaks": (data: Buffer) => data.toString("base64"),
  "base64 in 64-character lines (PEM style)": (data: Buffer) => (data.toString("base64").match(/.{1,64}/g) ?? []).join(CRLF),
  hex: (data: Buffer) => (data.toString("hex").match(/.{1,64}/g) ?? []).join(CRLF),
  "hex dump": (data: Buffer) => (data.toString("hex").match(/.{1,32}/g) ?? []).map((l) => l.match(/../g)!.join(" ")).join(CRLF),
  "hex dump with offsets (xxd)": (data: Buffer) =>
    (data.toString("hex").match(/.{1,32}/g) ?? []).map((l, i) => `${(i * 16).toString(16).padStart(8, "0")}: ${l.match(/.{1,4}/g)!.join(" ")}  ................`).join(CRLF),
  uuencode: (data: Buffer) => ["begin 644 tool.exe", ...uuLines(data), "end"].join(CRLF),
  "uuencode without a name": (data: Buffer) => ["begin 644 ", ...uuLines(data), "end"].join(CRLF),
  "uuencode data lines alone": (data: Buffer) => uuLines(data).join(CRLF),
  yEnc: (data: Buffer) => [`=ybegin line=128 size=${data.length} name=tool.exe`, ...yencode(data), `=yend size=${data.length}`].join(CRLF),
  "yEnc without a name": (data: Buffer) => [`=ybegin line=128 size=${data.length}`, ...yencode(data), `=yend size=${data.length}`].join(CRLF),
  BinHex: (data: Buffer) => ["(This file must be converted with BinHex 4.0)", ...binhexLines(data)].join(CRLF),
  "BinHex without its header line": (data: Buffer) => binhexLines(data).join(CRLF),
  "quoted-printable": (data: Buffer) => quotedPrintable(data),
  // --- spellings a program or a script turns back into bytes (docs/sanitize.md) ---
  "C array of hex bytes": (data: Buffer) => ["unsigned char tool[] = {", ...groups([...data], 12).map((g) => `  ${g.map((b) => `0x${hexByte(b)}`).join(", ")},`), "};"].join(CRLF),
  "C array of decimal bytes": (data: Buffer) => ["{", ...groups([...data], 16).map((g) => ` ${g.join(", ")},`), "}"].join(CRLF),
  "Java signed byte array": (data: Buffer) => ["byte[] tool = new byte[] {", ...groups([...data], 16).map((g) => `  ${g.map((b) => (b > 127 ? b - 256 : b)).join(", ")},`), "};"].join(CRLF),
  "PowerShell [byte[]] on one line": (data: Buffer) => `[byte[]]$b = (${[...data].join(",")})`,
  "VBA Chr() concatenation": (data: Buffer) => `s = ${groups([...data], 8).map((g) => g.map((b) => `Chr(${b})`).join(" & ")).join(` & _${CRLF}    `)}`,
  "hex escapes in strings (\\x4d)": (data: Buffer) => groups([...data], 16).map((g) => `"${g.map((b) => `\\x${hexByte(b)}`).join("")}"`).join(CRLF),
  "Python bytes repr": (data: Buffer) => pythonRepr(data),
  "octal escapes in strings (\\115)": (data: Buffer) => groups([...data], 16).map((g) => `"${g.map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("")}"`).join(CRLF),
  "percent-encoding": (data: Buffer) => [...data].map((b) => `%${hexByte(b).toUpperCase()}`).join(""),
  "percent-encoding with literal characters": (data: Buffer) => [...data].map((b) => (/[A-Za-z0-9._~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${hexByte(b).toUpperCase()}`)).join(""),
  "hex with colons": (data: Buffer) => [...data].map(hexByte).join(":"),
  "hex with dashes (.NET BitConverter)": (data: Buffer) => [...data].map((b) => hexByte(b).toUpperCase()).join("-"),
  "hex with spaces, 8 a line": (data: Buffer) => groups([...data], 8).map((g) => g.map(hexByte).join(" ")).join(CRLF),
  "hexdump -C": (data: Buffer) =>
    groups([...data], 16)
      .map((g, i) => {
        const hexes = g.map(hexByte);
        const ascii = g.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
        return `${(i * 16).toString(16).padStart(8, "0")}  ${hexes.slice(0, 8).join(" ")}  ${hexes.slice(8).join(" ")}  |${ascii}|`;
      })
      .join(CRLF),
  "od -b (octal bytes with offsets)": (data: Buffer) => groups([...data], 16).map((g, i) => `${(i * 16).toString(8).padStart(7, "0")} ${g.map((b) => b.toString(8).padStart(3, "0")).join(" ")}`).join(CRLF),
  "binary digits": (data: Buffer) => groups([...data], 8).map((g) => g.map((b) => b.toString(2).padStart(8, "0")).join(" ")).join(CRLF),
  base32: (data: Buffer) => base32(data),
  "Ascii85 (<~ ~>)": (data: Buffer) => ascii85(data),
  Z85: (data: Buffer) => z85(data),
  "data: URI": (data: Buffer) => `data:application/octet-stream;base64,${data.toString("base64")}`,
  "base64 in 8-column lines": (data: Buffer) => (data.toString("base64").match(/.{1,8}/g) ?? []).join(CRLF),
  "base64 in pieces separated by spaces": (data: Buffer) => base64Pieces(data, (i) => (i % 9 === 0 ? CRLF : " ")),
  "base64 as string concatenation (\"…\" + \"…\")": (data: Buffer) => `$s = ${(data.toString("base64").match(/.{1,60}/g) ?? []).map((l) => `"${l}"`).join(` +${CRLF}  `)}`,
  "base64 in a JSON string with \\n escapes": (data: Buffer) => `{"name": "tool", "data": "${(data.toString("base64").match(/.{1,64}/g) ?? []).join("\\n")}"}`,
} satisfies Record<string, (data: Buffer) => string>;
