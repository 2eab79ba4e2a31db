/**
 * mailauth's `authenticate()` for verification only (mailauth 7.1, lib/mailauth.js), composed
 * from its exported steps so that one thing can change: the DKIM public keys are kept across
 * messages. mailauth caches a key for one message only and hands `crypto.verify` a PEM text,
 * so every message paid for parsing the DER key, exporting it as PEM and parsing that PEM
 * again: about a third of the whole verification of a small signed message. The rest is
 * mailauth's own code in mailauth's order: DKIM (with the header parse ARC reuses), SPF, ARC,
 * DMARC with its alignment fix-up of the DKIM rows. A message in memory whose every line ends in
 * CRLF (what SMTP carries) is handed to the DKIM verifier's own steps directly (feedWhole): its
 * stream front end looks for the end of the header block one byte at a time, copying a small
 * array for every byte, which was half of what verifying a small message allocated; anything else
 * goes through that front end as before (mailauth is pinned to exactly 7.1.0 in package.json for this: a
 * change to MessageParser must be read before an upgrade; tests/authenticate/feed-whole.test.ts
 * compares both paths). On that path the body goes in pieces of whole lines, which the relaxed
 * body hashers scan natively (relaxed-body.ts). What `authenticate()` does besides
 * (sealing, BIMI, Received parsing for trustReceived, the Authentication-Results text) is
 * not needed here and not done: the verdict is built from the structured results only.
 *
 * SPF results are kept too, per (client address, MAIL FROM, HELO): RFC 7208 makes the result a
 * function of those and of the DNS answers, so a result is kept until the first of the answers it
 * read expires from the resolver's cache (their TTL), and only when every one of them was an
 * answer or a "no such name/data": a temperror (time-out, SERVFAIL) is never kept, nor anything
 * that saw one. The RFC's lookup limits apply to the evaluation that is kept.
 *
 * The key cache is keyed by the key record itself (the TXT answer, as the resolver gives it:
 * from its cache, within its TTL) and the options that change the outcome; a lookup that fails
 * (time-out, SERVFAIL) throws before the cache is consulted, so a DNS failure is never
 * remembered here and still ends as temperror. A record that changes is a new key.
 *
 * SECURITY: the message is sender-controlled bytes; key records come from DNS names the message
 * chose: the cache is bounded in entries (least recently used evicted first).
 * Crash state: memory only.
 */
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import type { Readable } from "node:stream";
import dkimVerifierModule from "mailauth/lib/dkim/dkim-verifier.js";
import spfModule from "mailauth/lib/spf/index.js";
import arcModule from "mailauth/lib/arc/index.js";
import dmarcModule from "mailauth/lib/dmarc/index.js";
import tools from "mailauth/lib/tools.js";
import type { DnsResolve } from "./dns-resolver.ts";
import { speedUpRelaxed } from "./relaxed-body.ts";

export interface VerifyOptions {
  ip?: string;
  helo?: string;
  sender: string;
  mta: string;
  maxResolveCount: number;
  maxVoidCount: number;
  disableArc: boolean;
}

/** what toVerdict (auth-verdict.ts) reads; the shape of authenticate()'s result */
export interface VerifyResult {
  dkim: { results: DkimRow[] };
  spf: unknown;
  dmarc: unknown;
  arc: unknown;
}

interface DkimRow {
  signingDomain?: string;
  id?: string;
  status: { result?: string; aligned?: string | false; underSized?: unknown };
}

interface KeyAnswer {
  publicKey: string | KeyObject;
  [k: string]: unknown;
}

/** DKIM/ARC key records parsed, kept across messages */
export interface KeyCache {
  /** mailauth's per-message key cache interface (lib/tools.js createKeyCache) */
  forMessage(): { resolver: DnsResolve; get(type: string, name: string, minBitLength: number | undefined, options?: { strict?: boolean; hashAlgo?: string }): Promise<KeyAnswer> };
  size(): number;
}

/** a few hundred signing keys cover the senders of a municipality's mail many times over */
const KEY_CACHE_ENTRIES = 1000;

export function createKeyCache(resolve: DnsResolve, entries = KEY_CACHE_ENTRIES): KeyCache {
  const parsed = new Map<string, Promise<KeyAnswer>>();
  return {
    size: () => parsed.size,
    forMessage() {
      // one message asks for the same record once (several signatures, ARC seals): as mailauth's own cache
      const mine = new Map<string, Promise<KeyAnswer>>();
      return {
        resolver: resolve,
        get(type, name, minBitLength, options = {}) {
          const question = [!!options.strict, minBitLength ?? "", options.hashAlgo ?? "", name].join(":");
          let lookup = mine.get(question);
          if (!lookup) {
            lookup = lookUp(type, name, minBitLength, options);
            lookup.catch(() => false);
            mine.set(question, lookup);
          }
          return lookup;
        },
      };
    },
  };

  async function lookUp(type: string, name: string, minBitLength: number | undefined, options: { strict?: boolean; hashAlgo?: string }): Promise<KeyAnswer> {
    // a DNS failure throws here, before anything is cached: the signature's result is temperror
    const answer = await resolve(tools.toALabel(name), "TXT");
    // the record by its digest: a TXT answer may be kilobytes, and a thousand of them are kept
    const key = [type, !!options.strict, minBitLength ?? "", options.hashAlgo ?? "", createHash("sha256").update(JSON.stringify(answer)).digest("base64")].join("\u0000");
    let entry = parsed.get(key);
    if (entry) {
      // least recently used goes first
      parsed.delete(key);
      parsed.set(key, entry);
      return entry;
    }
    // mailauth's own checks of the record (syntax, version, service, h=, key type and size), on the answer just read
    entry = tools.getPublicKey(type, name, minBitLength, async () => answer, options).then((res) => ({
      ...res,
      // parsed once: crypto.verify takes the KeyObject as it is, where a PEM text is parsed anew each time
      publicKey: typeof res.publicKey === "string" ? createPublicKey(res.publicKey) : res.publicKey,
    }));
    // a record that does not parse fails the same way for every message: kept too, as an answer
    entry.catch(() => false);
    parsed.set(key, entry);
    while (parsed.size > entries) parsed.delete(parsed.keys().next().value!);
    return entry;
  }
}

/** what the verdict and DMARC read of an SPF result */
interface SpfOutcome {
  status: { result: string };
  domain?: string;
}

/** SPF results within the TTL of the DNS answers they read (see the header) */
export interface SpfCache {
  evaluate(key: { ip: string; sender: string; helo: string }, run: (resolve: DnsResolve) => Promise<SpfOutcome | false>): Promise<SpfOutcome | false>;
  size(): number;
}

const SPF_CACHE_ENTRIES = 1000;
/** results that depend on DNS only through answers; temperror is not one */
const KEPT_SPF_RESULTS = new Set(["pass", "fail", "softfail", "neutral", "none", "permerror"]);

export function createSpfCache(resolve: DnsResolve, expiry: (name: string, rrtype: string) => number | undefined, now: () => number = Date.now, entries = SPF_CACHE_ENTRIES): SpfCache {
  const kept = new Map<string, { until: number; outcome: SpfOutcome | false }>();
  return {
    size: () => kept.size,
    async evaluate(key, run) {
      const id = JSON.stringify([key.ip, key.sender, key.helo]);
      const hit = kept.get(id);
      if (hit && hit.until > now()) {
        kept.delete(id);
        kept.set(id, hit);
        return hit.outcome;
      }
      kept.delete(id);
      const asked: [string, string][] = [];
      let failed = false;
      const outcome = await run(async (name, rrtype) => {
        asked.push([name, rrtype]);
        try {
          return await resolve(name, rrtype);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code !== "ENOTFOUND" && code !== "ENODATA") failed = true;
          throw error;
        }
      });
      const result = outcome ? outcome.status.result : "none";
      if (failed || !KEPT_SPF_RESULTS.has(result)) return outcome;
      let until = Infinity;
      for (const [name, rrtype] of asked) {
        const expires = expiry(name, rrtype);
        if (expires === undefined) return outcome;
        until = Math.min(until, expires);
      }
      // no DNS read at all (no sender domain): nothing bounds it, so nothing is kept
      if (until === Infinity) return outcome;
      kept.set(id, { until, outcome: outcome && { status: { result: outcome.status.result }, ...(outcome.domain ? { domain: outcome.domain } : {}) } });
      while (kept.size > entries) kept.delete(kept.keys().next().value!);
      return outcome;
    },
  };
}

/** authenticate(input, { strict: true, disableBimi: true, … }) of mailauth, with `keys` for the DKIM and ARC keys and `spfResults` for SPF */
export async function verifyMessage(input: Readable | Buffer, opts: VerifyOptions, resolver: DnsResolve, keys: KeyCache, spfResults?: SpfCache): Promise<VerifyResult> {
  const strict = true;
  const keyCache = keys.forMessage();
  const verifier = new dkimVerifierModule.DkimVerifier({ resolver, sender: opts.sender, strict });
  verifier.keyCache = keyCache;
  // the ARC validation looks the keys up through this hidden property (lib/dkim/dkim-verifier.js)
  Object.defineProperty(verifier.arc, "keyCache", { value: keyCache, enumerable: false, configurable: true, writable: true });
  if (Buffer.isBuffer(input) && everyLineCrlf(input)) await feedWhole(verifier, input);
  else await tools.writeToStream(verifier, input);
  const dkim = { results: verifier.results as DkimRow[] };

  let helo = opts.helo ?? "";
  if (!helo && opts.ip) helo = opts.ip;
  if (helo && isIP(helo)) helo = `[${helo}]`;
  const checkSpf = async (resolve: DnsResolve) =>
    (await spfModule.spf({
      sender: opts.sender,
      ...(opts.ip ? { ip: opts.ip } : {}),
      ...(helo ? { helo } : {}),
      mta: opts.mta,
      resolver: resolve,
      maxResolveCount: opts.maxResolveCount,
      maxVoidCount: opts.maxVoidCount,
      strict,
    })) as SpfOutcome | false;
  const spf = spfResults ? await spfResults.evaluate({ ip: opts.ip ?? "", sender: opts.sender, helo }, checkSpf) : await checkSpf(resolver);

  const arc = opts.disableArc ? undefined : await arcModule.arc(verifier.arc, { resolver, strict, ...(opts.ip ? { ip: opts.ip } : {}) });

  let dmarc: unknown = false;
  const headerFrom = verifier.headerFrom as string[];
  if (headerFrom) {
    const evaluated = await dmarcModule.evaluateDmarc({
      headerFrom,
      fromFields: verifier.fromFields,
      spfDomains: spf && spf.status.result === "pass" && spf.domain ? [spf.domain] : [],
      dkimDomains: dkim.results
        .filter((r) => r.status.result === "pass")
        .map((r) => ({ id: r.id, domain: r.signingDomain, aligned: r.status.aligned, underSized: r.status.underSized })),
      arcResult: arc,
      resolver,
      strict,
    });
    const response = evaluated.response as { status: { header: { from: string } }; alignment: { dkim: { strict?: boolean } } } | false;
    if (evaluated.dkimAligned && response) {
      // as authenticate() does: passing signatures take the DMARC verdict, failing ones the record's alignment mode
      const fromDomain = response.status.header.from;
      for (const row of dkim.results) {
        if (row.status.result === "pass") row.status.aligned = evaluated.dkimAligned.has(tools.formatDomain(row.signingDomain ?? "")) ? (row.signingDomain ?? false) : false;
        else if (response.alignment.dkim.strict) {
          const strictly = row.status.aligned ? tools.getAlignment(fromDomain, [row.signingDomain ?? ""], true) : false;
          row.status.aligned = strictly ? strictly.domain : false;
        }
      }
    }
    dmarc = response || false;
  }
  return { dkim, spf, dmarc, arc: arc ?? false };
}

/** no LF without a CR before it: MessageParser.ensureLinebreaks would leave these bytes as they are */
export function everyLineCrlf(bytes: Buffer): boolean {
  for (let at = bytes.indexOf(0x0a); at !== -1; at = bytes.indexOf(0x0a, at + 1)) {
    if (at === 0 || bytes[at - 1] !== 0x0d) return false;
  }
  return true;
}

/**
 * The body goes to the hashers in pieces of up to this size, each ending after a line end where one
 * is found (a line longer than a piece is cut; the hashers carry a partial line over, as they do
 * between stream chunks): a piece of whole lines takes the relaxed hasher's fast path (relaxed-body.ts).
 */
const BODY_PIECE = 64 * 1024;

/**
 * What MessageParser's write path does with `bytes` in one piece, given everyLineCrlf(bytes): the
 * header block ends with the first empty line (the CRLF that starts the message, or the second CRLF
 * of the first CRLF CRLF), and is handed over whole; the rest is body, in pieces of whole lines (the
 * relaxed hashers scan those natively, relaxed-body.ts); without an empty line it is all header. Equal results on both paths: tests/authenticate/feed-whole.test.ts.
 */
export async function feedWhole(verifier: InstanceType<typeof dkimVerifierModule.DkimVerifier>, bytes: Buffer): Promise<void> {
  const blank = bytes[0] === 0x0d && bytes[1] === 0x0a ? 0 : bytes.indexOf("\r\n\r\n");
  if (blank === -1) {
    if (bytes.length) verifier.headerChunks.push(bytes);
  } else {
    const bodyStart = blank === 0 ? 2 : blank + 4;
    await verifier.emitHeaders(bytes.subarray(0, bodyStart));
    // given everyLineCrlf(bytes): the pieces' line ends need not be looked at again
    speedUpRelaxed(verifier.bodyHashes.values(), true);
    for (let at = bodyStart, end = 0; at < bytes.length; at = end) {
      end = Math.min(bytes.length, at + BODY_PIECE);
      if (end < bytes.length) {
        // searched within the piece only: a line longer than many pieces is not scanned back to its start each time
        const lineEnd = bytes.subarray(at, end).lastIndexOf(0x0a);
        if (lineEnd !== -1) end = at + lineEnd + 1;
      }
      await verifier.nextChunk(bytes.subarray(at, end));
    }
  }
  await verifier.finish();
}
