/**
 * Keeps the raw original of a spooled message in the originals store: the
 * message region of the spool record (without its framing) is copied to a
 * temp file next to the spool's outputs and handed to the store, which links
 * or encrypts it. Runs inside the sanitizer workers (which read the message
 * anyway), off the queue manager's event loop.
 *
 * SECURITY: copies hostile bytes without interpreting them; file names are
 * audit ids. Crash state: a `.tmp-orig-*` file, removed by spool recovery.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { open, unlink, writeFile } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import type { OriginalStore } from "../originals/index.ts";
import { tempName } from "../spool/durable.ts";

/** originals up to 1 MiB are copied through one buffer; larger ones are streamed (bounded memory) */
const SMALL_ORIGINAL_BYTES = 1024 * 1024;

export interface MessageRegion {
  messageOffset: number;
  messageLength: number;
}

/** `bytes`: the message region already read by the caller (saves reading it again) */
export function createOriginalKeeper(
  store: Pick<OriginalStore, "keep">,
  tmpDir: string,
): (id: string, recordFile: string, region: MessageRegion, bytes?: Buffer) => Promise<void> {
  return async (id, recordFile, region, bytes) => {
    const tmp = tempName(tmpDir, `orig-${id}`);
    try {
      if (bytes && bytes.length === region.messageLength) {
        await writeFile(tmp, bytes, { flag: "wx", mode: 0o600 });
      } else if (region.messageLength <= SMALL_ORIGINAL_BYTES) {
        const buffer = Buffer.alloc(region.messageLength);
        const handle = await open(recordFile, "r");
        try {
          await handle.read(buffer, 0, region.messageLength, region.messageOffset);
        } finally {
          await handle.close();
        }
        await writeFile(tmp, buffer, { flag: "wx", mode: 0o600 });
      } else {
        const end = region.messageOffset + region.messageLength - 1;
        await pipeline(createReadStream(recordFile, { start: region.messageOffset, end }), createWriteStream(tmp, { flags: "wx", mode: 0o600 }));
      }
      await store.keep(id, tmp);
    } finally {
      await unlink(tmp).catch(() => {});
    }
  };
}
