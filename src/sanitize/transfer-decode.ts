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

export function base64Decoder(): TransferDecoder {
  let pending = "";
  const take = (chunk: Buffer): Buffer => {
    const out: Buffer[] = [];
    // "=" ends a group: what precedes it is decoded at once, so a second
    // base64 body glued after the first (seen in the wild) stays aligned
    const segments = chunk.toString("latin1").split("=");
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
    return out.length === 1 ? out[0]! : Buffer.concat(out);
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
