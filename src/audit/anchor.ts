/**
 * Anchors: the chain's head (seq, hash, time) written OUTSIDE the audit store,
 * so that whoever can edit the database cannot also make the chain look whole.
 *
 * The hash chain alone proves that no event in the middle was changed; it
 * cannot notice that the last events were deleted, that every hash was
 * recomputed after an edit, or that an older copy of the database was put
 * back. An anchor can: the event at the anchored seq must still carry the
 * anchored hash, and the chain must reach that seq. An attacker who rewrites
 * the chain would have to rewrite every anchor too, which is why the anchor
 * file belongs on another host (a log server, syslog, a WORM share), not
 * beside the database.
 *
 * Each anchor is one line in the operational log (msg "audit-anchor"),
 * optionally appended (and fsynced) to `audit.anchor.file`, and optionally
 * sent to a syslog server (RFC 5424 over UDP). `parseAnchors()` reads any of
 * these back: the file's lines, a copy of the pino log, a syslog export, or
 * `SEQ:HASH` typed by hand.
 *
 * SECURITY: an anchors file given to verify is operator input; lines that do
 * not parse are skipped (and counted), numbers are bounded. No mail content
 * is ever part of an anchor.
 * Crash state: an anchor line is either whole in the file (written with one
 * write, then fsynced) or absent; a torn last line does not parse and is skipped.
 */
import { mkdir, open, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../lib/logger.ts";
import { createSyslogSender, syslogPri } from "../lib/syslog.ts";
import type { AuditStore } from "./audit-store.ts";
import { formatJst } from "../lib/japan-time.ts";
import type { Anchor, AnchorFailure, VerifyResult } from "./audit-types.ts";

const HASH = /^[0-9a-f]{64}$/;
/** seq numbers beyond this are not real (a 64-bit store would need centuries to get there) */
const MAX_SEQ = Number.MAX_SAFE_INTEGER;
/** anchor files are read whole; one line is ~150 bytes, so 64 MiB is hundreds of thousands of anchors */
const MAX_ANCHOR_FILE_BYTES = 64 * 1024 * 1024;

/** The anchor's line in a file or a syslog message: plain text an operator can read and grep. */
export function formatAnchorLine(a: Anchor): string {
  return `${a.ts ?? ""} audit-anchor gateway=${a.gateway ?? "-"} seq=${a.seq} hash=${a.hash}`.trim();
}

function anchorOf(seq: unknown, hash: unknown, ts?: unknown, gateway?: unknown): Anchor | undefined {
  const n = typeof seq === "string" && /^\d{1,16}$/.test(seq) ? Number(seq) : seq;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1 || n > MAX_SEQ) return undefined;
  if (typeof hash !== "string" || !HASH.test(hash)) return undefined;
  return {
    seq: n,
    hash,
    ...(typeof ts === "string" && Number.isFinite(Date.parse(ts)) ? { ts } : {}),
    ...(typeof gateway === "string" && gateway !== "-" ? { gateway } : {}),
  };
}

/**
 * Anchors in a text: lines `SEQ:HASH`, anchor-file / syslog lines (`… seq=N hash=H`), or pino JSON
 * lines whose msg is "audit-anchor". Everything else is skipped.
 */
export function parseAnchors(text: string): { anchors: Anchor[]; skipped: number } {
  const anchors: Anchor[] = [];
  let skipped = 0;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    let found: Anchor | undefined;
    const plain = /^(\d{1,16}):([0-9a-f]{64})$/.exec(line);
    if (plain) found = anchorOf(plain[1], plain[2]);
    else if (line.startsWith("{")) {
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        const a = (o.anchor ?? o) as Record<string, unknown>;
        if (o.msg === "audit-anchor" || o.anchor !== undefined) found = anchorOf(a.seq, a.hash, a.ts, a.gateway);
      } catch {
        // not JSON after all
      }
    } else if (line.includes("audit-anchor")) {
      const m = /audit-anchor(?:\s+gateway=(\S+))?\s+seq=(\d{1,16})\s+hash=([0-9a-f]{64})/.exec(line);
      // the time is the line's first word (anchor file) or the RFC 5424 timestamp before it (syslog)
      const ts = /\d{4}-\d{2}-\d{2}T[0-9:.]+Z/.exec(line)?.[0];
      if (m) found = anchorOf(m[2], m[3], ts, m[1]);
    }
    if (found) anchors.push(found);
    else skipped += 1;
  }
  return { anchors, skipped };
}

export async function readAnchorFile(file: string): Promise<{ anchors: Anchor[]; skipped: number }> {
  const handle = await open(file, "r");
  try {
    const { size } = await handle.stat();
    if (size > MAX_ANCHOR_FILE_BYTES) throw new Error(`${file} is larger than ${MAX_ANCHOR_FILE_BYTES} bytes; give verify the recent part of it`);
  } finally {
    await handle.close();
  }
  return parseAnchors(await readFile(file, "utf8"));
}

/** The newest anchor of a file (highest seq), or undefined when there is none or the file is absent. */
export async function lastAnchorIn(file: string): Promise<Anchor | undefined> {
  try {
    const { anchors } = await readAnchorFile(file);
    return anchors.reduce<Anchor | undefined>((best, a) => (!best || a.seq >= best.seq ? a : best), undefined);
  } catch {
    return undefined;
  }
}

export interface AnchorCheck {
  checked: number;
  /** anchors before the first retained event (purged by retention): nothing left to compare */
  purged: number;
  latest?: Anchor;
  failure?: { anchor: Anchor; kind: AnchorFailure; reason: string };
}

/** Where the chain the anchors are compared with begins and ends (from verify's walk). */
export interface ChainSpan {
  firstSeq?: number;
  headSeq?: number;
}

/**
 * Compares anchors with the chain: each anchor's seq must exist and carry the anchored hash.
 * Call it on a chain whose links verify: then a matching anchor proves every event up to it
 * unchanged, and the lowest failing anchor says best what happened.
 */
export async function checkAnchors(store: Pick<AuditStore, "eventsAfter">, anchors: readonly Anchor[], span: ChainSpan): Promise<AnchorCheck> {
  const sorted = [...anchors].sort((a, b) => a.seq - b.seq);
  const out: AnchorCheck = { checked: 0, purged: 0 };
  const bySeq = new Map<number, Anchor>();
  for (const a of sorted) {
    const other = bySeq.get(a.seq);
    if (other && other.hash !== a.hash) {
      return { ...out, failure: { anchor: a, kind: "conflict", reason: `two anchors name seq ${a.seq} with different hashes: the chain was rewritten between them (or the anchors come from different stores)` } };
    }
    bySeq.set(a.seq, a);
  }
  for (const a of bySeq.values()) {
    const when = a.ts ? ` (${a.ts})` : "";
    if (span.headSeq === undefined || a.seq > span.headSeq) {
      const end = span.headSeq ?? 0;
      return {
        ...out,
        failure: {
          anchor: a,
          kind: "truncated",
          reason: `the chain ends at seq ${end} but the anchor${when} names seq ${a.seq}: events ${end + 1}–${a.seq} were removed (the end was cut off, or an older copy of the database restored)`,
        },
      };
    }
    if (span.firstSeq !== undefined && a.seq < span.firstSeq) {
      out.purged += 1;
      continue;
    }
    const [event] = await store.eventsAfter(a.seq - 1, 1);
    if (!event || event.seq !== a.seq) {
      return { ...out, failure: { anchor: a, kind: "truncated", reason: `the anchored event seq ${a.seq}${when} is missing` } };
    }
    if (event.hash !== a.hash) {
      const later = a.ts !== undefined && Date.parse(event.ts) > Date.parse(a.ts);
      const since = out.latest ? ` (the chain still matches the anchor at seq ${out.latest.seq})` : "";
      return {
        ...out,
        failure: later
          ? {
              anchor: a,
              kind: "rolled-back",
              reason: `seq ${a.seq} was written again at ${event.ts}, after the anchor${when}: the database was rolled back to an older copy and written on${since}`,
            }
          : {
              anchor: a,
              kind: "rewritten",
              reason: `the event at seq ${a.seq} does not carry the anchored hash${when}: events up to seq ${a.seq} were changed and the chain's hashes recomputed${since}`,
            },
      };
    }
    out.checked += 1;
    out.latest = a;
  }
  return out;
}

export interface AnchorWriter {
  /** writes one anchor everywhere configured; never throws (a failing destination is logged) */
  write(anchor: Anchor): Promise<void>;
}

/** severity "notice": an anchor is worth keeping, not an error */
const SEVERITY_NOTICE = 5;

/** The anchor destinations of a configuration: the operational log always, a file and syslog when configured. */
export function createAnchorWriter(config: Config["audit"]["anchor"], logger: Logger): AnchorWriter {
  return {
    async write(anchor) {
      logger.info({ anchor }, "audit-anchor");
      const line = formatAnchorLine(anchor);
      if (config.file) {
        try {
          await mkdir(path.dirname(config.file), { recursive: true, mode: 0o750 });
          const handle = await open(config.file, "a", 0o640);
          try {
            await handle.write(`${line}\n`);
            await handle.sync();
          } finally {
            await handle.close();
          }
        } catch (error) {
          logger.error({ err: error, file: config.file }, "audit: the anchor could not be appended to the anchor file");
        }
      }
      if (config.syslog) {
        const { host, port, facility } = config.syslog;
        const pri = syslogPri(facility, SEVERITY_NOTICE);
        const message = `<${pri}>1 ${anchor.ts ?? new Date().toISOString()} ${os.hostname()} mumuka ${process.pid} audit-anchor - ${line}`;
        const sender = createSyslogSender({ host, port });
        try {
          await sender.send(message);
        } catch (error) {
          logger.error({ err: error, host, port }, "audit: the anchor could not be sent to syslog");
        } finally {
          sender.close();
        }
      }
    },
  };
}

/**
 * One line for the console: the gateway's last anchor and whether the chain reaches it
 * (Japanese, then English), or undefined when no anchor was written yet.
 */
export function describeLastAnchor(result: Pick<VerifyResult, "lastAnchor"> | undefined): string | undefined {
  const a = result?.lastAnchor;
  if (!a) return undefined;
  const when = a.ts ? ` (${formatJst(a.ts)} JST)` : "";
  return a.reached
    ? `最終アンカー seq ${a.seq}${when}: チェーンは到達しています / the chain reaches the last anchor`
    : `最終アンカー seq ${a.seq}${when}: チェーンが到達しません(末尾の削除・書き換え・巻き戻し) / the chain does NOT reach the last anchor (cut, rewritten or rolled back)`;
}
