/**
 * analyze()'s side of extraction: while an attachment streams past (hashed
 * and discarded as ever), the bytes of one that starts like a document (PDF,
 * ZIP package, OLE file) are kept, within bounds, so that its text can be
 * extracted after the rules have decided. Anything else is never kept.
 *
 * Bounds: MAX_FILE_BYTES per attachment and MAX_MESSAGE_BYTES for all of a
 * message; a document past them is listed as "too-large" and its bytes let go.
 * Legacy Office files keep no bytes at all (they are only listed).
 *
 * SECURITY: the bytes are hostile and are only held here, never parsed beyond
 * the ZIP directory (detect.ts). Pure: no I/O, no clock.
 */
import type { RemovedPart } from "../sanitize/sanitize-types.ts";
import type { KeptDocument } from "./extract-types.ts";
import { documentKindOf, kindOfUnread, mayBeDocument } from "./detect.ts";

/** 20 MiB: larger office documents and PDFs are rare in mail, and their text is past any budget staff can read */
export const MAX_FILE_BYTES = 20 * 1024 * 1024;
/** 40 MiB kept for one message at most (the worker heap holds text; these bytes are outside it, but still memory) */
export const MAX_MESSAGE_BYTES = 40 * 1024 * 1024;
/** bytes seen before deciding whether a part may be a document (a PDF header may follow up to 1 KiB of junk) */
const DECIDE_BYTES = 1024;

interface Keeping {
  chunks: Buffer[];
  bytes: number;
  /** undefined: not decided yet */
  candidate?: boolean;
  tooLarge?: "file" | "message";
}

export interface DocumentKeeper {
  /** decoded bytes of an attachment (`key` is the part's own record) */
  update(key: object, data: Buffer): void;
  /** the attachment ended; `part` is its removed-part entry (sniffed type, encryption) */
  finish(key: object, part: RemovedPart): void;
  /** kept documents, in message order */
  readonly documents: KeptDocument[];
}

export function createDocumentKeeper(maxFileBytes = MAX_FILE_BYTES, maxMessageBytes = MAX_MESSAGE_BYTES): DocumentKeeper {
  const keeping = new Map<object, Keeping>();
  const documents: KeptDocument[] = [];
  let messageLeft = maxMessageBytes;

  const drop = (k: Keeping, why: "file" | "message") => {
    messageLeft += k.bytes;
    k.chunks = [];
    k.tooLarge = why;
  };

  return {
    documents,
    update(key, data) {
      let k = keeping.get(key);
      if (!k) {
        k = { chunks: [], bytes: 0 };
        keeping.set(key, k);
      }
      if (k.candidate === false || k.tooLarge) {
        k.bytes += data.length;
        return;
      }
      k.chunks.push(Buffer.from(data));
      k.bytes += data.length;
      messageLeft -= data.length;
      if (k.candidate === undefined && k.bytes >= DECIDE_BYTES) {
        k.candidate = mayBeDocument(Buffer.concat(k.chunks));
        if (!k.candidate) {
          messageLeft += k.bytes;
          k.chunks = [];
          return;
        }
      }
      if (k.bytes > maxFileBytes) drop(k, "file");
      else if (messageLeft < 0) drop(k, "message");
    },
    finish(key, part) {
      const k = keeping.get(key);
      keeping.delete(key);
      if (!k || k.candidate === false) return;
      const entry = { path: part.path, filename: part.filename, sniffedType: part.sniffedType ?? "", encrypted: part.encrypted, size: part.size };
      if (k.tooLarge) {
        const kind = kindOfUnread(part.sniffedType, part.filename);
        if (kind) documents.push({ ...entry, kind, tooLarge: k.tooLarge });
        return;
      }
      const bytes = Buffer.concat(k.chunks);
      k.chunks = [];
      const kind = bytes.length > 0 ? documentKindOf(bytes) : undefined;
      if (!kind) {
        messageLeft += bytes.length;
        return;
      }
      if (kind === "legacy-office" || part.encrypted) {
        // listed only: nothing of it will be read
        messageLeft += bytes.length;
        documents.push({ ...entry, kind });
        return;
      }
      documents.push({ ...entry, kind, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
    },
  };
}
