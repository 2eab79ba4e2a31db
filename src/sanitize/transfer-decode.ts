/**
 * Streaming Content-Transfer-Encoding decoders (base64, quoted-printable).
 *
 * Written here rather than taken from a library because they must be tolerant
 * in known ways: bad base64 (stray characters, padding in the middle of a
 * concatenated body, a truncated tail) decodes what can be decoded and never
 * throws; a malformed QP escape is kept literally. Each decoder carries at most
 * a few bytes between chunks, so memory stays constant.
 *
 * SECURITY: input is sender-controlled encoded text; output is bytes that are
 * hashed, sniffed or decoded as text, never executed.
 */

export interface TransferDecoder {
  update(chunk: Buffer): Buffer;
  end(): Buffer;
}

const NOT_B64 = /[^A-Za-z0-9+/]+/g;
const EQ = 0x3d;
const CR = 0x0d;
const LF = 0x0a;
/** the first byte that is neither a base64 letter nor a line end ("-" and "_" included: Node would read them as URL-safe letters) */
const NOT_B64_OR_EOL = /[^A-Za-z0-9+/\r\n]/;
/** nothing but base64 letters (the few left pending after the fast path) */
const B64_LETTERS = /^[A-Za-z0-9+/]*$/;
const DASH = 0x2d;
const UNDERSCORE = 0x5f;

/** how often `ch` occurs in text[0, end) */
function count(text: string, ch: string, end: number): number {
  let n = 0;
  for (let p = text.indexOf(ch); p !== -1 && p < end; p = text.indexOf(ch, p + 1)) n++;
  return n;
}

/**
 * Tolerant base64: what the `slow` path below does for any input. The fast
 * path handles the clean run at the head of a chunk (line-wrapped base64, the
 * bulk of every attachment) with Node's native decoder, which skips CR/LF
 * itself (stripping them with a regex cost more than the decoding): it decodes
 * the longest prefix holding a multiple of 4 letters (pending included) and
 * leaves the rest, stripped, as pending; whatever follows the run goes through
 * the slow path. Both paths cut only at 4-letter group boundaries of the same
 * letter sequence, so the output is byte-identical (held to it by
 * tests/sanitize/transfer-decode.test.ts).
 */
export function base64Decoder(): TransferDecoder {
  let pending = "";
  const slow = (text: string, out: Buffer[]): void => {
    // "=" ends a group: what precedes it is decoded at once, so a second
    // base64 body glued after the first (seen in the wild) stays aligned
    const segments = text.split("=");
    let buf = pending;
    segments.forEach((segment, index) => {
      buf += segment.replace(NOT_B64, "");
      if (index < segments.length - 1 && buf.length % 4 !== 0) {
        out.push(Buffer.from(buf, "base64"));
        buf = "";
      }
    });
    const whole = buf.length - (buf.length % 4);
    if (whole > 0) out.push(Buffer.from(buf.slice(0, whole), "base64"));
    pending = buf.slice(whole);
  };
  /** text[0, end) holds only letters and line ends, `letters` of them letters */
  const fast = (text: string, end: number, letters: number, out: Buffer[]): void => {
    if (pending.length + letters < 4) {
      pending += text.slice(0, end).replace(/[\r\n]+/g, "");
      return;
    }
    // the last `keep` letters (and the line ends among them) stay pending; keep <= letters here
    let keep = (pending.length + letters) % 4;
    let cut = end;
    while (keep > 0) {
      const c = text.charCodeAt(--cut);
      if (c !== CR && c !== LF) keep--;
    }
    out.push(Buffer.from(cut === text.length ? pending + text : pending + text.slice(0, cut), "base64"));
    pending = text.slice(cut, end).replace(/[\r\n]+/g, "");
  };
  const take = (chunk: Buffer): Buffer => {
    const out: Buffer[] = [];
    const text = chunk.toString("latin1");
    // Likely letters and line ends up to the first "=" (a clean attachment and its padding): that
    // head goes to the fast path whole and is checked after. Node's decoder reads "-" and "_" as
    // letters (three memchr rule them and "=" out); any other junk byte it skips, so the output
    // then falls short of 3 bytes per 4 letters counted, or the letters left pending are not all
    // letters: the chunk then takes the path below. Cheaper than a regular expression over the text.
    const eq = chunk.indexOf(EQ);
    const head = eq === -1 ? text.length : eq;
    const dash = chunk.indexOf(DASH);
    const underscore = chunk.indexOf(UNDERSCORE);
    if (head > 0 && (dash === -1 || dash >= head) && (underscore === -1 || underscore >= head)) {
      const before = pending;
      const letters = head - count(text, "\n", head) - count(text, "\r", head);
      if (letters > 0) fast(text, head, letters, out);
      const decoded = out.length === 0 ? 0 : out[0]!.length;
      if (decoded === ((before.length + letters - pending.length) / 4) * 3 && B64_LETTERS.test(pending)) {
        if (head < text.length) slow(text.slice(head), out);
        return out.length === 1 ? out[0]! : out.length === 0 ? Buffer.alloc(0) : Buffer.concat(out);
      }
      pending = before;
      out.length = 0;
    }
    const junk = text.search(NOT_B64_OR_EOL);
    const end = junk === -1 ? text.length : junk;
    const letters = end - count(text, "\n", end) - count(text, "\r", end);
    if (letters > 0) fast(text, end, letters, out);
    if (end < text.length) slow(end > 0 ? text.slice(end) : text, out);
    return out.length === 1 ? out[0]! : out.length === 0 ? Buffer.alloc(0) : Buffer.concat(out);
  };
  return {
    update: take,
    end(): Buffer {
      const rest = pending;
      pending = "";
      return rest.length > 1 ? Buffer.from(rest, "base64") : Buffer.alloc(0);
    },
  };
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}

export function quotedPrintableDecoder(): TransferDecoder {
  let carry = Buffer.alloc(0);
  const decode = (data: Buffer, final: boolean): Buffer => {
    const out = Buffer.allocUnsafe(data.length);
    let o = 0;
    let i = 0;
    for (; i < data.length; i++) {
      const b = data[i]!;
      if (b !== EQ) {
        out[o++] = b;
        continue;
      }
      if (i + 2 >= data.length && !final) break; // need two more bytes to decide
      const n1 = data[i + 1];
      const n2 = data[i + 2];
      if (n1 === 0x0a) {
        i += 1; // soft line break (bare LF)
      } else if (n1 === 0x0d && n2 === 0x0a) {
        i += 2; // soft line break
      } else if (n1 !== undefined && n2 !== undefined && hexValue(n1) >= 0 && hexValue(n2) >= 0) {
        out[o++] = hexValue(n1) * 16 + hexValue(n2);
        i += 2;
      } else if (n1 === 0x0d && n2 === undefined) {
        i += 1;
      } else {
        out[o++] = b; // malformed escape: keep the "=" literally
      }
    }
    carry = Buffer.from(data.subarray(i));
    return Buffer.from(out.subarray(0, o));
  };
  return {
    update: (chunk) => decode(carry.length ? Buffer.concat([carry, chunk]) : chunk, false),
    end: () => decode(carry, true),
  };
}

export function identityDecoder(): TransferDecoder {
  return { update: (chunk) => chunk, end: () => Buffer.alloc(0) };
}

export function transferDecoder(encoding: string): TransferDecoder {
  if (encoding === "base64") return base64Decoder();
  if (encoding === "quoted-printable") return quotedPrintableDecoder();
  return identityDecoder();
}
