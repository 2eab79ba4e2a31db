/**
 * The PDF stream filters that can multiply data (Flate, LZW, RunLength) and the
 * ASCII ones that may sit in front of them, decoded here under a hard output
 * cap — for pdf.ts's pre-scan, so that a decompression bomb is refused before
 * pdf.js (whose buffers grow without a limit, outside the V8 heap) decodes it.
 *
 * SECURITY: the data is the sender's. Every decoder stops with BombError the
 * moment its output would pass `room`; malformed data ends a decoder quietly
 * (pdf.js will judge it). Pure; no state.
 */
import { inflateSync, constants as zlib } from "node:zlib";

export class BombError extends Error {}

/** the filter names of a stream dictionary, in order ("/Filter /FlateDecode" or "/Filter [/A85 /Fl]") */
export function filtersOf(dict: string): string[] {
  const m = /\/Filter\s*(\[[^\]]{0,200}\]|\/[A-Za-z0-9]+)/.exec(dict);
  if (!m) return [];
  return [...m[1]!.matchAll(/\/([A-Za-z0-9]+)/g)].map((x) => x[1]!);
}

const NAMES: Record<string, string> = { Fl: "FlateDecode", LZW: "LZWDecode", RL: "RunLengthDecode", AHx: "ASCIIHexDecode", A85: "ASCII85Decode" };

function flate(data: Buffer, room: number): Buffer {
  try {
    // a truncated stream is common in damaged PDFs: take what inflates (SYNC_FLUSH)
    return inflateSync(data, { maxOutputLength: Math.max(1, room), finishFlush: zlib.Z_SYNC_FLUSH });
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError) throw new BombError();
    return Buffer.alloc(0);
  }
}

function asciiHex(data: Buffer): Buffer {
  const hex = data.toString("latin1").replace(/>[\s\S]*$/, "").replace(/[^0-9A-Fa-f]/g, "");
  return Buffer.from(hex.length % 2 ? `${hex}0` : hex, "hex");
}

function ascii85(data: Buffer, room: number): Buffer {
  const text = data.toString("latin1").replace(/~>[\s\S]*$/, "").replace(/\s/g, "");
  // "z" stands for four zero bytes: one character in, four out
  const zs = text.split("z").length - 1;
  const capacity = zs * 4 + Math.ceil(((text.length - zs) * 4) / 5) + 4;
  if (capacity > room + 4) throw new BombError();
  const out = Buffer.alloc(capacity);
  let n = 0;
  let group: number[] = [];
  const flush = (count: number) => {
    let value = 0;
    for (let i = 0; i < 5; i++) value = value * 85 + (group[i] ?? 84);
    for (let i = 0; i < count - 1; i++) out[n++] = (value >>> (24 - 8 * i)) & 0xff;
  };
  for (const ch of text) {
    if (ch === "z" && group.length === 0) {
      n += 4; // four zero bytes (out is zero-filled)
      continue;
    }
    const c = ch.charCodeAt(0) - 33;
    if (c < 0 || c > 84) break;
    group.push(c);
    if (group.length === 5) {
      flush(5);
      group = [];
    }
  }
  if (group.length > 1) flush(group.length);
  return out.subarray(0, n);
}

/** RunLength: counts the output without building it (RunLength feeds no other filter in practice) */
function runLengthSize(data: Buffer, room: number): number {
  let size = 0;
  for (let i = 0; i < data.length; ) {
    const len = data[i]!;
    if (len === 128) break;
    if (len < 128) {
      size += len + 1;
      i += len + 2;
    } else {
      size += 257 - len;
      i += 2;
    }
    if (size > room) throw new BombError();
  }
  return size;
}

/** LZW (PDF flavour, EarlyChange 1): counts the output without building it, which is all the pre-scan needs */
function lzwSize(data: Buffer, room: number): number {
  const lengths = new Uint32Array(4096);
  let next = 258;
  let width = 9;
  let prev = -1;
  let bits = 0;
  let acc = 0;
  let size = 0;
  for (const byte of data) {
    acc = ((acc << 8) | byte) >>> 0;
    bits += 8;
    while (bits >= width) {
      bits -= width;
      const code = (acc >>> bits) & ((1 << width) - 1);
      if (code === 256) {
        next = 258;
        width = 9;
        prev = -1;
        continue;
      }
      if (code === 257) return size;
      let len: number;
      if (code < 256) len = 1;
      else if (code < next) len = lengths[code]!;
      else if (code === next && prev >= 0) len = (prev < 256 ? 1 : lengths[prev]!) + 1;
      else return size; // broken data: pdf.js will judge
      size += len;
      if (size > room) throw new BombError();
      if (prev >= 0 && next < 4096) {
        lengths[next] = (prev < 256 ? 1 : lengths[prev]!) + 1;
        next++;
      }
      prev = code;
      if (next + 1 >= 1 << width && width < 12) width++;
    }
  }
  return size;
}

/**
 * Decodes a stream's filter chain as far as it can, under `room` bytes of
 * output; returns the decoded size (what pdf.js would hold) and the bytes when
 * they were built. Throws BombError past `room`. LZW and RunLength are counted,
 * not built, so a filter after them (never seen in real files) is not looked at.
 */
export function decodedSize(data: Buffer, filters: string[], room: number): { size: number; bytes?: Buffer } {
  let current = data;
  for (const raw of filters) {
    const name = NAMES[raw] ?? raw;
    if (name === "ASCIIHexDecode") current = asciiHex(current);
    else if (name === "ASCII85Decode") current = ascii85(current, room);
    else if (name === "FlateDecode") current = flate(current, room);
    else if (name === "LZWDecode") return { size: lzwSize(current, room) };
    else if (name === "RunLengthDecode") return { size: runLengthSize(current, room) };
    else return { size: current.length }; // an image codec or encryption: not decoded for text
  }
  return { size: current.length, bytes: current };
}
