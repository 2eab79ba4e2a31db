/**
 * The message bytes of a spool record (or of a retained original, the same
 * framing): one synchronous read for messages up to 1 MiB, a bounded stream
 * for larger ones. Shared by the sanitizer workers and the rules replay's.
 *
 * Synchronous on purpose: such a worker does one job at a time and has
 * nothing else to do meanwhile, and a read from the page cache is far cheaper
 * than three round trips through libuv's thread pool (open, read, close). A
 * hung disk stalls only that worker, which its pool's budget then replaces.
 *
 * SECURITY: the region comes from our own framing (record.ts), not from the
 * sender; a file shorter than its framing says is an error, never a short read.
 */
import { closeSync, createReadStream, openSync, readSync } from "node:fs";
import type { Readable } from "node:stream";

/** messages up to 1 MiB (nearly all mail) are read with one read; larger ones are streamed (bounded memory) */
export const READ_ONCE_BYTES = 1024 * 1024;

export interface Region {
  file: string;
  offset: number;
  length: number;
}

function readRegion({ file, offset, length }: Region): Buffer {
  const buffer = Buffer.allocUnsafe(length);
  const fd = openSync(file, "r");
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(fd, buffer, done, length - done, offset + done);
      if (n === 0) throw new Error(`${file} is shorter than its framing says`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return buffer;
}

/** the region's bytes: read at once when small, else a stream of exactly that range */
export function regionInput(region: Region): Buffer | Readable {
  if (region.length <= READ_ONCE_BYTES) return readRegion(region);
  return createReadStream(region.file, { start: region.offset, end: region.offset + region.length - 1 });
}
