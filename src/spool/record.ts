/**
 * The spool record: one file per received message, holding the SMTP envelope
 * and the raw message exactly as received.
 *
 *   MUMUKA-SPOOL/1 <envelope length>\r\n
 *   <envelope JSON, exactly that many bytes>\r\n
 *   <raw message bytes>
 *   \r\nMUMUKA-END <message length> <sha256 hex>\r\n
 *
 * Versioned and length-checked at both ends (Postfix's record discipline): a
 * half-written or truncated file never parses, and `readRecordInfo()` says
 * why, so the recovery scan can move it to `corrupt/`.
 *
 * SECURITY: the envelope and message are sender-controlled bytes. The envelope
 * is JSON (no injection into the framing); the message region is located by
 * lengths, never by searching for markers inside it.
 */
import { open } from "node:fs/promises";

export const RECORD_VERSION = 1;
const MAGIC = "MUMUKA-SPOOL/";
/** the first line is short; 64 bytes covers "MUMUKA-SPOOL/1 " + any sane length */
const HEADER_PEEK = 64;
/** "\r\nMUMUKA-END " + up to 15 digits + " " + 64 hex + "\r\n" is at most 96 bytes */
const TRAILER_PEEK = 128;
/** an envelope has at most a few hundred recipients of ≤ 256 bytes; 1 MiB is far beyond */
const MAX_ENVELOPE_BYTES = 1024 * 1024;

export interface SpoolEnvelope {
  v: 1;
  /** audit id = queue id = file name */
  id: string;
  /** ISO 8601 UTC */
  receivedAt: string;
  /** "" for the null sender <> */
  mailFrom: string;
  rcptTo: string[];
  clientAddress: string;
  clientHelo: string;
  /** "ESMTP", "ESMTPS", "SMTP" */
  protocol: string;
  /** the client used SMTPUTF8 */
  smtputf8: boolean;
  /** the original client as the Internet-zone MTA passed it on (XFORWARD/XCLIENT from smtp.forwarders); clientAddress stays the TCP peer */
  forwarded?: { source: "xforward" | "xclient"; address: string; helo: string };
}

export interface RecordInfo {
  envelope: SpoolEnvelope;
  /** byte offset of the raw message in the file */
  messageOffset: number;
  messageLength: number;
  /** SHA-256 of the raw message as received, lower-case hex */
  sha256: string;
  fileSize: number;
}

export class CorruptRecordError extends Error {
  override name = "CorruptRecordError";
  readonly code = "ECORRUPT";
}

export function encodeRecordHead(envelope: SpoolEnvelope): Buffer {
  const json = Buffer.from(JSON.stringify(envelope), "utf8");
  return Buffer.concat([Buffer.from(`${MAGIC}${RECORD_VERSION} ${json.length}\r\n`, "latin1"), json, Buffer.from("\r\n")]);
}

export function encodeRecordTrailer(messageLength: number, sha256: string): Buffer {
  return Buffer.from(`\r\nMUMUKA-END ${messageLength} ${sha256}\r\n`, "latin1");
}

const TRAILER = /\r\nMUMUKA-END (\d{1,15}) ([0-9a-f]{64})\r\n$/;
const HEAD = /^MUMUKA-SPOOL\/(\d+) (\d{1,8})\r\n/;

/** Reads and checks the framing of a record file (not the message hash: see the caller). */
export async function readRecordInfo(file: string): Promise<RecordInfo> {
  const handle = await open(file, "r");
  try {
    const { size } = await handle.stat();
    const headBuf = Buffer.alloc(Math.min(HEADER_PEEK, size));
    await handle.read(headBuf, 0, headBuf.length, 0);
    const head = HEAD.exec(headBuf.toString("latin1"));
    if (!head) throw new CorruptRecordError("no spool header");
    if (Number(head[1]) !== RECORD_VERSION) throw new CorruptRecordError(`unknown spool version ${head[1]}`);
    const envLength = Number(head[2]);
    if (envLength > MAX_ENVELOPE_BYTES) throw new CorruptRecordError("envelope too long");
    const envOffset = head[0].length;
    const messageOffset = envOffset + envLength + 2;
    if (messageOffset > size) throw new CorruptRecordError("truncated envelope");
    const envBuf = Buffer.alloc(envLength + 2);
    await handle.read(envBuf, 0, envBuf.length, envOffset);
    if (envBuf.subarray(envLength).toString("latin1") !== "\r\n") throw new CorruptRecordError("envelope length mismatch");
    let envelope: SpoolEnvelope;
    try {
      envelope = JSON.parse(envBuf.subarray(0, envLength).toString("utf8")) as SpoolEnvelope;
    } catch {
      throw new CorruptRecordError("envelope is not JSON");
    }
    if (!isEnvelope(envelope)) throw new CorruptRecordError("envelope fields missing");

    const tailLength = Math.min(TRAILER_PEEK, size - messageOffset);
    const tailBuf = Buffer.alloc(tailLength);
    await handle.read(tailBuf, 0, tailLength, size - tailLength);
    const tail = TRAILER.exec(tailBuf.toString("latin1"));
    if (!tail) throw new CorruptRecordError("no trailer (incomplete write)");
    const messageLength = Number(tail[1]);
    if (messageOffset + messageLength + tail[0].length !== size) throw new CorruptRecordError("message length mismatch");
    return { envelope, messageOffset, messageLength, sha256: tail[2]!, fileSize: size };
  } finally {
    await handle.close();
  }
}

function isEnvelope(value: unknown): value is SpoolEnvelope {
  const e = value as SpoolEnvelope;
  return (
    typeof e === "object" &&
    e !== null &&
    e.v === 1 &&
    typeof e.id === "string" &&
    typeof e.receivedAt === "string" &&
    typeof e.mailFrom === "string" &&
    Array.isArray(e.rcptTo) &&
    e.rcptTo.every((r) => typeof r === "string")
  );
}
