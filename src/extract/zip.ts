/**
 * A bounded reader of ZIP containers held in memory (OOXML and ODF files are
 * ZIP files): the central directory, and one entry at a time inflated with
 * node:zlib under a hard output cap.
 *
 * Why not a library: the formats need only "list the names, inflate a few
 * entries", and node:zlib's `maxOutputLength` is the one bound a zip bomb
 * cannot talk its way past (the sizes a ZIP declares are the sender's word and
 * are never trusted: the cap is on what inflation actually produces).
 *
 * SECURITY: the bytes are hostile. Every offset is checked against the buffer;
 * entries, name lengths and the total decompressed bytes are bounded; ZIP64,
 * encrypted entries and methods other than stored/deflate are refused with a
 * reason. Pure (zlib is computation, not I/O); no state beyond the reader.
 */
import { inflateRawSync } from "node:zlib";
import { ExtractError } from "./extract-error.ts";

/** real documents hold a few hundred entries; a directory of more is a shape of attack */
const MAX_ENTRIES = 20_000;
/** the end-of-central-directory record sits in the last 22 + 65,535 (comment) bytes */
const EOCD_WINDOW = 22 + 0xffff;

export interface ZipEntry {
  name: string;
  method: number;
  encrypted: boolean;
  compressedSize: number;
  localOffset: number;
}

export interface ZipReader {
  readonly entries: ReadonlyMap<string, ZipEntry>;
  has(name: string): boolean;
  /** the entry's bytes (undefined when absent); throws ExtractError past the inflate budget */
  read(name: string): Buffer | undefined;
  /** decompressed bytes produced so far */
  readonly inflated: number;
}

export function openZip(bytes: Uint8Array, maxInflatedBytes: number): ZipReader {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - EOCD_WINDOW); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ExtractError("malformed", "zip: no end of central directory");
  const count = buf.readUInt16LE(eocd + 10);
  const cdSize = buf.readUInt32LE(eocd + 12);
  const cdOffset = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdOffset === 0xffffffff) throw new ExtractError("malformed", "zip: ZIP64 is not read");
  if (count > MAX_ENTRIES) throw new ExtractError("malformed", `zip: more than ${MAX_ENTRIES} entries`);
  if (cdOffset + cdSize > buf.length) throw new ExtractError("malformed", "zip: central directory outside the file");
  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== 0x02014b50) throw new ExtractError("malformed", "zip: broken central directory");
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const compressedSize = buf.readUInt32LE(p + 20);
    const nameLength = buf.readUInt16LE(p + 28);
    const extraLength = buf.readUInt16LE(p + 30);
    const commentLength = buf.readUInt16LE(p + 32);
    const localOffset = buf.readUInt32LE(p + 42);
    if (p + 46 + nameLength > buf.length) throw new ExtractError("malformed", "zip: broken central directory");
    const name = buf.toString("utf8", p + 46, p + 46 + nameLength);
    // the first entry of a name wins; a later duplicate cannot swap the content read
    if (!entries.has(name)) entries.set(name, { name, method, encrypted: (flags & 1) === 1, compressedSize, localOffset });
    p += 46 + nameLength + extraLength + commentLength;
  }
  let inflated = 0;
  return {
    entries,
    has: (name) => entries.has(name),
    get inflated() {
      return inflated;
    },
    read(name) {
      const entry = entries.get(name);
      if (!entry) return undefined;
      if (entry.encrypted) throw new ExtractError("encrypted", "zip: encrypted entry");
      const lo = entry.localOffset;
      if (lo + 30 > buf.length || buf.readUInt32LE(lo) !== 0x04034b50) throw new ExtractError("malformed", "zip: broken local header");
      const start = lo + 30 + buf.readUInt16LE(lo + 26) + buf.readUInt16LE(lo + 28);
      const end = start + entry.compressedSize;
      if (end > buf.length) throw new ExtractError("malformed", "zip: entry outside the file");
      const data = buf.subarray(start, end);
      const room = maxInflatedBytes - inflated;
      let out: Buffer;
      if (entry.method === 0) {
        if (data.length > room) throw new ExtractError("decompression-bomb", `zip: more than ${maxInflatedBytes} bytes of content`);
        out = data;
      } else if (entry.method === 8) {
        try {
          // maxOutputLength: zlib stops and throws the moment output passes the room left
          out = inflateRawSync(data, { maxOutputLength: Math.max(1, room) });
        } catch (error) {
          const e = error as NodeJS.ErrnoException;
          if (e.code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError) {
            throw new ExtractError("decompression-bomb", `zip: more than ${maxInflatedBytes} bytes once decompressed`);
          }
          throw new ExtractError("malformed", `zip: ${e.code ?? "inflate error"}`);
        }
      } else throw new ExtractError("malformed", `zip: compression method ${entry.method}`);
      inflated += out.length;
      return out;
    },
  };
}
