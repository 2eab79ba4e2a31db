/**
 * Collects the header block of a message as it streams past, bounded, so the
 * "received" audit event can name its From, Subject and Message-ID without a
 * second read. Values are kept as sent (RFC 2047 words undecoded); the
 * "sanitized" event carries the decoded ones.
 *
 * SECURITY: sender-controlled bytes. Bounded to HEADER_LIMIT bytes, values cut
 * to VALUE_LIMIT characters, control characters replaced; only ever stored as
 * audit data, never as log keys or paths.
 */

/** 64 KiB: far more than From/Subject/Message-ID need; bounds memory per session */
const HEADER_LIMIT = 64 * 1024;
/** RFC 5322's line limit; longer values are cut */
const VALUE_LIMIT = 998;

export interface HeaderPeek {
  push(chunk: Buffer): void;
  result(): { from: string; subject: string; messageId: string };
}

export function createHeaderPeek(): HeaderPeek {
  const parts: Buffer[] = [];
  let length = 0;
  let done = false;
  return {
    push(chunk) {
      if (done) return;
      const room = HEADER_LIMIT - length;
      const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
      parts.push(piece);
      length += piece.length;
      if (length >= HEADER_LIMIT || piece.includes("\r\n\r\n") || piece.includes("\n\n")) done = true;
    },
    result() {
      const text = Buffer.concat(parts).toString("latin1");
      const end = text.search(/\r?\n\r?\n/);
      const block = (end >= 0 ? text.slice(0, end) : text).replace(/\r?\n[ \t]+/g, " ");
      const get = (name: string) => {
        for (const line of block.split(/\r?\n/)) {
          const colon = line.indexOf(":");
          if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === name) {
            const value = Buffer.from(line.slice(colon + 1).trim(), "latin1").toString("utf8");
            return value.replace(/[\u0000-\u001f\u007f]/g, " ").slice(0, VALUE_LIMIT);
          }
        }
        return "";
      };
      return { from: get("from"), subject: get("subject"), messageId: get("message-id") };
    },
  };
}
