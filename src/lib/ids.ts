/**
 * Audit ids: one per message, shown to staff in the notice, used as the spool
 * file name and the audit key. Sortable by time (so a directory listing is in
 * arrival order) and unique across gateways (80 random bits).
 *
 *   20261126T095312Z-7K3QX9PA4M2D8RFT
 */
import { randomFillSync } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; // Crockford base32: no I, L, O, U

/**
 * Random bytes drawn from the CSPRNG 4 KiB at a time (as crypto.randomUUID()
 * does): one call into OpenSSL per 409 ids instead of one per message.
 */
const ID_RANDOM_BYTES = 10;
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function randomForId(): Buffer {
  if (poolOffset + ID_RANDOM_BYTES > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  poolOffset += ID_RANDOM_BYTES;
  return pool.subarray(poolOffset - ID_RANDOM_BYTES, poolOffset);
}

export function newAuditId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const bytes = randomForId();
  let out = "";
  let acc = 0;
  let bits = 0;
  for (const byte of bytes) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >> bits) & 31];
    }
  }
  return `${stamp}-${out}`;
}

const AUDIT_ID = /^\d{8}T\d{6}Z-[0-9A-HJKMNP-TV-Z]{16}$/;

/** True for a well-formed audit id; anything else must never reach a file path. */
export function isAuditId(value: string): boolean {
  return AUDIT_ID.test(value);
}
