/**
 * A spool record file (envelope + raw message + hash trailer, as the receiver
 * writes it) made from raw bytes: what the originals store retires.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { encodeRecordHead, encodeRecordTrailer, type SpoolEnvelope } from "../../src/spool/record.ts";

export function writeSpoolRecord(file: string, id: string, raw: Buffer | string, envelope: Partial<SpoolEnvelope> = {}): void {
  const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
  const head = encodeRecordHead({
    v: 1,
    id,
    receivedAt: new Date().toISOString(),
    mailFrom: "sender@example.com",
    rcptTo: ["staff@city.example.lg.jp"],
    clientAddress: "127.0.0.1",
    clientHelo: "mx.example.com",
    protocol: "ESMTP",
    smtputf8: false,
    ...envelope,
  });
  const trailer = encodeRecordTrailer(bytes.length, createHash("sha256").update(bytes).digest("hex"));
  writeFileSync(file, Buffer.concat([head, bytes, trailer]), { mode: 0o600 });
}
