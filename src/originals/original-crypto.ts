/**
 * Encryption at rest of retained originals: AES-256-GCM in independently
 * authenticated 64 KiB chunks, so a message of any size is encrypted and
 * decrypted as a stream and no unauthenticated byte is ever released.
 *
 * File layout (all integers big-endian):
 *   header  "MMKORIG1" (8) · key fingerprint (8) · nonce prefix (8, random)
 *   chunk*  final flag (1) · ciphertext length (4) · ciphertext · GCM tag (16)
 * Chunk i uses nonce = prefix ‖ uint32(i); its additional data is the header
 * and its final flag. Reordered, dropped, truncated or appended chunks, a
 * different key and any flipped bit all fail authentication. The fingerprint
 * (first 8 bytes of SHA-256 of the key) only lets a wrong key be named as
 * such instead of reported as damage.
 *
 * SECURITY: the key comes from the environment, never from a file in the
 * repository or the configuration; it is never logged.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

const MAGIC = Buffer.from("MMKORIG1", "ascii");
const HEADER_BYTES = 24;
/** Plaintext bytes per chunk: small enough to bound memory, large enough that the 21-byte framing is noise. */
const CHUNK_BYTES = 64 * 1024;
const TAG_BYTES = 16;
const RECORD_HEAD_BYTES = 5;

export class OriginalKeyError extends Error {
  override name = "OriginalKeyError";
  readonly code = "EORIGINALKEY";
}

/** Parses a 32-byte key given as 64 hex digits or as base64. */
export function parseKey(text: string, source: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, "hex") : /^[A-Za-z0-9+/]{43}=?$/.test(t) ? Buffer.from(t, "base64") : undefined;
  if (!key || key.length !== 32) {
    throw new OriginalKeyError(`${source} must hold a 32-byte key as 64 hex digits or base64 (e.g. from: openssl rand -hex 32)`);
  }
  return key;
}

export function keyFingerprint(key: Buffer): string {
  return createHash("sha256").update(key).digest().subarray(0, 8).toString("hex");
}

export function isEncryptedHeader(head: Buffer): boolean {
  return head.length >= MAGIC.length && head.subarray(0, MAGIC.length).equals(MAGIC);
}

/** The fingerprint recorded in an encrypted file's header. */
export function headerFingerprint(head: Buffer): string {
  return head.subarray(8, 16).toString("hex");
}

function nonce(prefix: Buffer, index: number): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0, 0, 8);
  n.writeUInt32BE(index, 8);
  return n;
}

export function encryptStream(key: Buffer): Transform {
  const header = Buffer.concat([MAGIC, Buffer.from(keyFingerprint(key), "hex"), randomBytes(8)]);
  const prefix = header.subarray(16, 24);
  let index = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let headerSent = false;

  const seal = (plain: Buffer, final: boolean): Buffer => {
    const cipher = createCipheriv("aes-256-gcm", key, nonce(prefix, index));
    index += 1;
    cipher.setAAD(Buffer.concat([header, Buffer.from([final ? 1 : 0])]));
    const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
    const head = Buffer.alloc(RECORD_HEAD_BYTES);
    head.writeUInt8(final ? 1 : 0, 0);
    head.writeUInt32BE(ct.length, 1);
    return Buffer.concat([head, ct, cipher.getAuthTag()]);
  };

  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      if (!headerSent) {
        this.push(header);
        headerSent = true;
      }
      pending.push(chunk);
      pendingBytes += chunk.length;
      // keep at least one byte back: the last chunk must be the one marked final
      while (pendingBytes > CHUNK_BYTES) {
        const all = Buffer.concat(pending);
        this.push(seal(all.subarray(0, CHUNK_BYTES), false));
        const rest = all.subarray(CHUNK_BYTES);
        pending = [rest];
        pendingBytes = rest.length;
      }
      done();
    },
    flush(done: TransformCallback) {
      if (!headerSent) this.push(header);
      this.push(seal(Buffer.concat(pending), true));
      done();
    },
  });
}

export function decryptStream(key: Buffer, what: string): Transform {
  let buf: Buffer = Buffer.alloc(0);
  let header: Buffer | undefined;
  let index = 0;
  let finished = false;
  const fail = (reason: string): Error => new OriginalKeyError(`${what}: ${reason}`);

  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      try {
        if (!header) {
          if (buf.length < HEADER_BYTES) return done();
          header = buf.subarray(0, HEADER_BYTES);
          buf = buf.subarray(HEADER_BYTES);
          if (!isEncryptedHeader(header)) throw fail("not an encrypted original (bad header)");
          if (headerFingerprint(header) !== keyFingerprint(key)) {
            throw fail(`encrypted with a different key (fingerprint ${headerFingerprint(header)}, the configured key is ${keyFingerprint(key)})`);
          }
        }
        for (;;) {
          if (buf.length === 0) break;
          if (finished) throw fail("data after the final chunk (file was appended to)");
          if (buf.length < RECORD_HEAD_BYTES) break;
          const final = buf.readUInt8(0);
          const len = buf.readUInt32BE(1);
          if (final > 1 || len > CHUNK_BYTES) throw fail("damaged (bad chunk header)");
          const total = RECORD_HEAD_BYTES + len + TAG_BYTES;
          if (buf.length < total) break;
          const decipher = createDecipheriv("aes-256-gcm", key, nonce(header.subarray(16, 24), index));
          index += 1;
          decipher.setAAD(Buffer.concat([header, Buffer.from([final])]));
          decipher.setAuthTag(buf.subarray(RECORD_HEAD_BYTES + len, total));
          let plain: Buffer;
          try {
            plain = Buffer.concat([decipher.update(buf.subarray(RECORD_HEAD_BYTES, RECORD_HEAD_BYTES + len)), decipher.final()]);
          } catch {
            throw fail(`authentication failed at chunk ${index - 1}: the file was altered or damaged`);
          }
          buf = buf.subarray(total);
          finished = final === 1;
          this.push(plain);
        }
        done();
      } catch (error) {
        done(error as Error);
      }
    },
    flush(done: TransformCallback) {
      if (!header) return done(fail("truncated (no header)"));
      if (!finished || buf.length) return done(fail("truncated (the final chunk is missing)"));
      done();
    },
  });
}
