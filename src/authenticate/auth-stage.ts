/**
 * Sender authentication as a step of a message's pass, just before the
 * sanitizer: reads the original from its spool record (a stream for mailauth,
 * the header block for a trusted Received hop), verifies it, counts the
 * verdicts in Prometheus. The sanitize stage passes the verdict on to the
 * rules (`auth:`), the renderer (Authentication-Results, X-Mumuka-Auth, the
 * notice) and the audit trail, as data.
 *
 * SECURITY: reads only the message region of the record (offset/length); the
 * header block is read up to maxHeaderBytes at most.
 * Crash state: nothing is written; the next pass verifies again.
 */
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import type { Metrics } from "../lib/metrics.ts";
import type { Logger } from "../lib/logger.ts";
import type { RecordInfo } from "../spool/record.ts";
import { dkimSummary, type AuthVerdict } from "./auth-types.ts";
import type { Authenticator } from "./authenticator.ts";

export type AuthStage = (file: string, info: RecordInfo, log: Logger) => Promise<AuthVerdict>;

export interface AuthStageDeps {
  authenticator: Authenticator;
  maxHeaderBytes: number;
  metrics?: Pick<Metrics, "authResults">;
}

export function createAuthStage(deps: AuthStageDeps): AuthStage {
  return async function authStage(file, info, log) {
    const start = info.messageOffset;
    const end = info.messageOffset + info.messageLength - 1;
    const envelope = info.envelope;
    let verdict: AuthVerdict;
    try {
      // a small message is read once, whole (its header block comes with it); a large one is streamed
      const whole = info.messageLength <= WHOLE_READ_BYTES ? await readRange(file, start, info.messageLength) : undefined;
      verdict = await deps.authenticator.verify(
        {
          mailFrom: envelope.mailFrom,
          clientAddress: envelope.clientAddress,
          clientHelo: envelope.clientHelo,
          ...(envelope.forwarded ? { forwarded: envelope.forwarded } : {}),
        },
        () => whole ?? createReadStream(file, { start, end: Math.max(start, end) }),
        async () => {
          const bytes = whole ?? (await readRange(file, start, Math.min(info.messageLength, deps.maxHeaderBytes)));
          return headerBlock(bytes, bytes.length === info.messageLength);
        },
      );
    } catch (error) {
      // the record could not be read: the sanitizer will say why; the verdict is "could not verify", never a pass
      log.warn({ err: error }, "sender authentication: the original could not be read");
      verdict = deps.authenticator.unverified(envelope.clientAddress);
    }
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

async function readRange(file: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(file, "r");
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * The header section (latin1: only ASCII field names and the Received line matter) up to the
 * blank line; a message without a body is all header; undefined when `bytes` is only the start
 * of a longer header (then nothing may be concluded from what is missing).
 */
function headerBlock(bytes: Buffer, whole: boolean): string | undefined {
  const text = bytes.toString("latin1");
  const blank = text.search(/\r?\n\r?\n/);
  if (blank >= 0) return text.slice(0, blank);
  return whole ? text : undefined;
}
