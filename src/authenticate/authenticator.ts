/**
 * Verifies one original message: SPF (RFC 7208) for the real client, every
 * DKIM signature (RFC 6376), DMARC (RFC 7489: alignment and policy, with the
 * subdomain policy) and the ARC chain (RFC 8617), with mailauth (Postal
 * Systems, the authors of smtp-server and nodemailer: the same family as the
 * libraries mumuka stands on, maintained, pure JavaScript, one call for the
 * four methods with a resolver we provide).
 *
 * The result is an AuthVerdict (auth-types.ts), built by allow-list from
 * mailauth's answer. Whatever goes wrong (DNS budget exhausted, a library
 * error on a hostile message) gives temperror, never a pass, and never an
 * exception to the caller.
 *
 * SECURITY: the message is sender-controlled bytes, read as a stream (mailauth
 * hashes the body as it passes; only the header block is kept). DNS names
 * derived from it go through the bounded resolver (dns-resolver.ts); SPF is
 * bounded by the RFC's 10 DNS-querying terms and 2 void lookups.
 * Crash state: none; nothing is written.
 */
import { isIP } from "node:net";
import type { Readable } from "node:stream";
import type { AuthenticationConfig } from "../config/schema.ts";
import type { AuthClient, AuthVerdict } from "./auth-types.ts";
import { safeDomain, safeIp, temperrorVerdict, toVerdict } from "./auth-verdict.ts";
import type { DnsResolve } from "./dns-resolver.ts";
import { createKeyCache, createSpfCache, verifyMessage } from "./mailauth-run.ts";
import { clientFromReceived } from "./received-client.ts";

/** What the spool record knows of the transaction (a slice of SpoolEnvelope). */
export interface AuthEnvelope {
  mailFrom: string;
  clientAddress: string;
  clientHelo: string;
  /** the original client passed on by the Internet-zone MTA (XFORWARD/XCLIENT) */
  forwarded?: { source: "xforward" | "xclient"; address: string; helo: string };
}

export interface Authenticator {
  /**
   * `header`: the original's header block, up to the blank line (undefined when it is longer than
   * the caller reads); `open`: the whole original, as a stream or, for a small message, its bytes
   */
  verify(envelope: AuthEnvelope, open: () => Readable | Buffer, header: () => Promise<string | undefined>): Promise<AuthVerdict>;
  /** the verdict when the original could not even be read: temperror, never a pass */
  unverified(peer: string): AuthVerdict;
}

/** an ARC set starts with ARC-Seal (RFC 8617 4.1.3); without one there is no chain to verify */
const ARC_SEAL = /^arc-seal[ \t]*:/im;

export interface AuthenticatorDeps {
  config: AuthenticationConfig;
  hostname: string;
  resolve: DnsResolve;
  /** the resolver's cache expiry of a question (CachedResolver.expiry); given, SPF results are kept within it */
  expiry?: (name: string, rrtype: string) => number | undefined;
  /** the resolver's clock (tests move it) */
  now?: () => number;
}

/** this gateway's authserv-id (RFC 8601 2.5): authentication.authservId, else the host name */
function authservIdOf(config: Pick<AuthenticationConfig, "authservId">, hostname: string): string {
  return config.authservId ?? (safeDomain(hostname) || "localhost");
}

/** the verdict when the original could not even be verified (unreadable, the thread lost): temperror, never a pass */
export function unverifiedVerdict(config: Pick<AuthenticationConfig, "authservId">, hostname: string, peer: string): AuthVerdict {
  return temperrorVerdict(authservIdOf(config, hostname), { address: safeIp(peer), helo: "", source: "peer" }, "");
}

export function createAuthenticator(deps: AuthenticatorDeps): Authenticator {
  const { config } = deps;
  const authservId = authservIdOf(config, deps.hostname);
  // DKIM/ARC keys parsed once per key record, not once per message (mailauth-run.ts)
  const keys = createKeyCache(deps.resolve);
  // SPF results per (client, MAIL FROM, HELO), within the TTL of the answers they read (mailauth-run.ts)
  const spfResults = deps.expiry ? createSpfCache(deps.resolve, deps.expiry, deps.now) : undefined;

  async function realClient(envelope: AuthEnvelope, header: () => Promise<string | undefined>): Promise<AuthClient> {
    if (envelope.forwarded && isIP(envelope.forwarded.address)) {
      return { address: envelope.forwarded.address, helo: envelope.forwarded.helo, source: envelope.forwarded.source };
    }
    if (config.trustedReceivedBy.length) {
      const block = await header();
      const fromReceived = block === undefined ? undefined : clientFromReceived(block, config.trustedReceivedBy);
      if (fromReceived) return { ...fromReceived, source: "received" };
    }
    return { address: envelope.clientAddress, helo: envelope.clientHelo, source: "peer" };
  }

  return {
    unverified: (peer) => unverifiedVerdict(config, deps.hostname, peer),
    async verify(envelope, open, header) {
      let client: AuthClient = { address: safeIp(envelope.clientAddress), helo: "", source: "peer" };
      let timer: NodeJS.Timeout | undefined;
      let input: Readable | Buffer | undefined;
      try {
        client = await realClient(envelope, header);
        client = { ...client, address: safeIp(client.address), helo: safeDomain(client.helo.replace(/^\[|\]$/g, "")) || "" };
        // ARC costs about a third of the verification even with no chain: skip it when the header shows none
        const block = await header();
        const noArc = block !== undefined && !ARC_SEAL.test(block);
        input = open();
        const run = verifyMessage(
          input,
          {
            disableArc: noArc,
            ...(client.address ? { ip: client.address } : {}),
            ...(client.helo ? { helo: client.helo } : {}),
            // the null sender: SPF checks the HELO identity (RFC 7208 2.4)
            sender: envelope.mailFrom,
            mta: authservId,
            maxResolveCount: config.maxSpfLookups,
            maxVoidCount: config.maxVoidLookups,
          },
          deps.resolve,
          keys,
          spfResults,
        );
        const expired = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), config.timeoutMs);
        });
        const result = await Promise.race([run, expired]);
        if (result === "timeout") {
          // the lookups still running end on their own (each bounded by the resolver's time-out)
          run.catch(() => undefined);
          return temperrorVerdict(authservId, client, "");
        }
        return toVerdict(result as never, authservId, client, "");
      } catch {
        return temperrorVerdict(authservId, client, "");
      } finally {
        clearTimeout(timer);
        if (input && !Buffer.isBuffer(input)) input.destroy();
      }
    },
  };
}
