/**
 * Sender authentication as a step of a message's pass, just before the
 * sanitizer. Two halves:
 *
 * - verifyRecord: reads the original from its spool record (its bytes for
 *   mailauth, the header block for a trusted Received hop) and verifies it.
 *   Runs in the authentication thread (auth-thread.ts), off the main thread.
 * - createAuthStage: what the sanitize stage calls on the main thread: asks
 *   for the verdict, counts it in Prometheus, logs it. The sanitize stage
 *   passes the verdict on to the rules (`auth:`), the renderer
 *   (Authentication-Results, X-Mumuka-Auth, the notice) and the audit trail,
 *   as data.
 *
 * SECURITY: reads only the message region of the record (offset/length); the
 * header block is read up to maxHeaderBytes at most. Never logs mail content.
 * Crash state: nothing is written; the next pass verifies again.
 */
import { closeSync, createReadStream, openSync, readSync } from "node:fs";
import type { Metrics } from "../lib/metrics.ts";
import type { Logger } from "../lib/logger.ts";
import type { RecordInfo } from "../spool/record.ts";
import { dkimSummary, type AuthVerdict } from "./auth-types.ts";
import type { AuthEnvelope, Authenticator } from "./authenticator.ts";

export type AuthStage = (file: string, info: RecordInfo, log: Logger) => Promise<AuthVerdict>;

/** where the original is in its spool record */
export interface RecordRegion {
  file: string;
  offset: number;
  length: number;
}

/** a verdict; `readError`: why the record could not be read (the verdict is then temperror) */
export interface RecordVerdict {
  verdict: AuthVerdict;
  readError?: string;
}

export type VerifyRecord = (region: RecordRegion, envelope: AuthEnvelope) => Promise<RecordVerdict>;

/** verifies the original in `region` with `authenticator`; never throws */
export async function verifyRecord(authenticator: Authenticator, maxHeaderBytes: number, region: RecordRegion, envelope: AuthEnvelope): Promise<RecordVerdict> {
  const { file, offset, length } = region;
  const end = offset + length - 1;
  try {
    // a small message is read once, whole (its header block comes with it); a large one is streamed
    const whole = length <= WHOLE_READ_BYTES ? readRange(file, offset, length) : undefined;
    const verdict = await authenticator.verify(
      envelope,
      () => whole ?? createReadStream(file, { start: offset, end: Math.max(offset, end) }),
      async () => {
        const bytes = whole ?? readRange(file, offset, Math.min(length, maxHeaderBytes));
        return headerBlock(bytes, bytes.length === length);
      },
    );
    return { verdict };
  } catch (error) {
    // the record could not be read: the sanitizer will say why; the verdict is "could not verify", never a pass
    const e = error as NodeJS.ErrnoException;
    return { verdict: authenticator.unverified(envelope.clientAddress), readError: e?.code ?? e?.message ?? String(error) };
  }
}

export interface AuthStageDeps {
  verify: VerifyRecord;
  metrics?: Pick<Metrics, "authResults">;
}

export function createAuthStage(deps: AuthStageDeps): AuthStage {
  return async function authStage(file, info, log) {
    const envelope = info.envelope;
    const { verdict, readError } = await deps.verify(
      { file, offset: info.messageOffset, length: info.messageLength },
      {
        mailFrom: envelope.mailFrom,
        clientAddress: envelope.clientAddress,
        clientHelo: envelope.clientHelo,
        ...(envelope.forwarded ? { forwarded: envelope.forwarded } : {}),
      },
    );
    if (readError !== undefined) log.warn({ err: readError }, "sender authentication: the original could not be read");
    const m = deps.metrics?.authResults;
    if (m) {
      m.inc({ method: "spf", result: verdict.spf.result });
      m.inc({ method: "dkim", result: dkimSummary(verdict) });
      m.inc({ method: "dmarc", result: verdict.dmarc.result });
      m.inc({ method: "arc", result: verdict.arc.result });
    }
    log.debug({ spf: verdict.spf.result, dkim: dkimSummary(verdict), dmarc: verdict.dmarc.result, arc: verdict.arc.result, client: verdict.client.source }, "sender authentication");
    return verdict;
  };
}

/** messages up to this size are read into memory in one read (cheaper than a stream); larger ones are streamed */
const WHOLE_READ_BYTES = 1024 * 1024;

/**
 * Read synchronously: this runs in the authentication thread, whose other work meanwhile is only
 * verifications waiting on DNS, and the record was just written (in the page cache). Three
 * asynchronous file operations per message cost that thread and libuv's pool more than the read.
 */
function readRange(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.allocUnsafe(length);
    const bytesRead = readSync(fd, buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    closeSync(fd);
  }
}

/**
 * The header section (latin1: only ASCII field names and the Received line matter) up to the
 * blank line (where /\r?\n\r?\n/ first matches); a message without a body is all header;
 * undefined when `bytes` is only the start of a longer header (then nothing may be concluded
 * from what is missing). Only the header becomes a string: `bytes` may be the whole message.
 */
export function headerBlock(bytes: Buffer, whole: boolean): string | undefined {
  for (let lf = bytes.indexOf(0x0a); lf !== -1; lf = bytes.indexOf(0x0a, lf + 1)) {
    const next = bytes[lf + 1];
    if (next === 0x0a || (next === 0x0d && bytes[lf + 2] === 0x0a)) return bytes.toString("latin1", 0, lf > 0 && bytes[lf - 1] === 0x0d ? lf - 1 : lf);
  }
  return whole ? bytes.toString("latin1") : undefined;
}
