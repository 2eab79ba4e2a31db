/**
 * Recipient verification against the LGWAN-side server (a "callout", as
 * Postfix's reject_unverified_recipient does on its own side): at RCPT time
 * mumuka asks the delivery host whether it would accept the address (EHLO,
 * MAIL FROM:<>, RCPT TO, QUIT; no message is sent) and answers the same way.
 *
 * Why: only the LGWAN-side server knows which mailboxes exist. Without this,
 * mumuka accepts every address at its recipient domains, and mail for an
 * unknown one is refused only at delivery, after the 250: mumuka must then
 * bounce it to a sender that is usually forged (backscatter). With it, an
 * unknown recipient is refused in the dialogue (550 5.1.1), and the
 * Internet-side MTA's own address-verification probes
 * (reject_unverified_recipient) through mumuka get the LGWAN server's answer.
 *
 * Answers are cached per address (lower-cased), known ones longer than
 * unknown ones, and a probe in progress is shared by every session asking for
 * the same address; the cache is bounded. A server that cannot be asked
 * (unreachable, 4xx, timeout) gives "unverifiable": the RCPT gets a 450
 * (the client retries later), never a 250 that might turn into a bounce,
 * never a 550 that would lose mail. Nothing of that is cached.
 *
 * SECURITY: the address comes from the sender, already parsed and checked by
 * smtp-server and address-rules.ts (printable, no routing characters); it is
 * written into one RCPT command only after refusing CR, LF and NUL again. The
 * replies read are the LGWAN server's, bounded in length; only their code is
 * used and a capped, printable excerpt logged.
 * Crash state: none (a cache in memory).
 */
import net from "node:net";

export type RecipientVerdict = "exists" | "unknown" | "unverifiable";

export interface RecipientVerifier {
  verify(address: string): Promise<RecipientVerdict>;
}

export interface VerifyTarget {
  hosts: Array<{ host: string; port: number }>;
  /** our name in EHLO */
  helo: string;
  timeoutMs: number;
  cacheSeconds: number;
  unknownCacheSeconds: number;
}

/** the answer of one probe: the RCPT reply's code, or why there was none */
export interface ProbeResult {
  code?: number;
  error?: string;
}

/** addresses remembered at most; past it the oldest answer is forgotten (a flood of random names cannot grow memory) */
const MAX_ENTRIES = 10_000;
/** bytes of replies read from one probe session at most */
const MAX_REPLY_BYTES = 64 * 1024;

export function createRecipientVerifier(
  target: VerifyTarget,
  deps: { probe?: (host: { host: string; port: number }, address: string) => Promise<ProbeResult>; now?: () => number } = {},
): RecipientVerifier {
  const probe = deps.probe ?? ((host, address) => probeRecipient(host, address, target.helo, target.timeoutMs));
  const now = deps.now ?? Date.now;
  const cache = new Map<string, { verdict: "exists" | "unknown"; until: number }>();
  const inFlight = new Map<string, Promise<RecipientVerdict>>();

  async function ask(address: string): Promise<RecipientVerdict> {
    for (const host of target.hosts) {
      const result = await probe(host, address);
      if (result.code === undefined || (result.code >= 400 && result.code < 500)) continue; // the next host may answer
      return result.code >= 200 && result.code < 300 ? "exists" : result.code >= 500 ? "unknown" : "unverifiable";
    }
    return "unverifiable";
  }

  return {
    verify(address: string): Promise<RecipientVerdict> {
      const key = address.toLowerCase();
      const hit = cache.get(key);
      if (hit && hit.until > now()) return Promise.resolve(hit.verdict);
      if (hit) cache.delete(key);
      const pending = inFlight.get(key);
      if (pending) return pending;
      const p = ask(address).then((verdict) => {
        inFlight.delete(key);
        if (verdict !== "unverifiable") {
          if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
          cache.set(key, { verdict, until: now() + 1000 * (verdict === "exists" ? target.cacheSeconds : target.unknownCacheSeconds) });
        }
        return verdict;
      });
      inFlight.set(key, p);
      return p;
    },
  };
}

/**
 * One probe session: greeting, EHLO (HELO if refused), MAIL FROM:<>, RCPT TO,
 * QUIT. Resolves with the RCPT reply's code, or an error when the session
 * did not get that far (refused greeting, timeout, connection lost).
 */
export function probeRecipient(host: { host: string; port: number }, address: string, helo: string, timeoutMs: number): Promise<ProbeResult> {
  if (/[\r\n\0<>]/.test(address) || /[\r\n\0\s]/.test(helo)) return Promise.resolve({ error: "refused to write an address with a line break" });
  return new Promise<ProbeResult>((resolve) => {
    const socket = net.connect({ host: host.host, port: host.port });
    let buffer = "";
    let read = 0;
    let step = 0; // 0 greeting, 1 EHLO, 2 HELO, 3 MAIL, 4 RCPT
    let done = false;
    const finish = (result: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!socket.destroyed) socket.end("QUIT\r\n");
      setImmediate(() => socket.destroy());
      resolve(result);
    };
    const timer = setTimeout(() => finish({ error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    socket.on("error", (error) => finish({ error: error.message }));
    socket.on("close", () => finish({ error: "connection closed" }));
    socket.on("data", (chunk: Buffer) => {
      read += chunk.length;
      if (read > MAX_REPLY_BYTES) return finish({ error: "reply too long" });
      buffer += chunk.toString("latin1");
      for (;;) {
        // a reply ends with a line "NNN text" (a space after the code); "NNN-text" lines continue it
        const m = /^(\d{3}) [^\n]*\n/m.exec(buffer) ?? /^(\d{3})\r?\n/m.exec(buffer);
        if (!m) return;
        buffer = buffer.slice(m.index + m[0].length);
        const code = Number(m[1]);
        if (step === 0) {
          if (code !== 220) return finish({ code: code >= 500 ? 421 : code }); // a refused greeting says nothing of the address
          step = 1;
          socket.write(`EHLO ${helo}\r\n`);
        } else if (step === 1 || step === 2) {
          if (code !== 250) {
            if (step === 1) {
              step = 2;
              socket.write(`HELO ${helo}\r\n`);
              continue;
            }
            return finish({ code: 421 });
          }
          step = 3;
          socket.write("MAIL FROM:<>\r\n");
        } else if (step === 3) {
          if (code !== 250) return finish({ code: code >= 500 ? 421 : code }); // the null sender refused: not an answer about the address
          step = 4;
          socket.write(`RCPT TO:<${address}>\r\n`);
        } else {
          return finish({ code });
        }
      }
    });
  });
}
