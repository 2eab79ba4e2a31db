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
import { authenticate } from "mailauth";
import type { AuthenticationConfig } from "../config/schema.ts";
import type { AuthClient, AuthVerdict } from "./auth-types.ts";
import { safeDomain, safeIp, temperrorVerdict, toVerdict } from "./auth-verdict.ts";
import type { DnsResolve } from "./dns-resolver.ts";
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
}

export function createAuthenticator(deps: AuthenticatorDeps): Authenticator {
  const { config } = deps;
  const authservId = config.authservId ?? (safeDomain(deps.hostname) || "localhost");

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
    unverified: (peer) => temperrorVerdict(authservId, { address: safeIp(peer), helo: "", source: "peer" }, ""),
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
        const run = authenticate(input, {
          ...(noArc ? { disableArc: true } : {}),
          ...(client.address ? { ip: client.address } : {}),
          ...(client.helo ? { helo: client.helo } : {}),
          // the null sender: SPF checks the HELO identity (RFC 7208 2.4)
          sender: envelope.mailFrom,
          mta: authservId,
          resolver: deps.resolve as never,
          maxResolveCount: config.maxSpfLookups,
          maxVoidCount: config.maxVoidLookups,
          disableBimi: true,
          // RFC behaviour: a body changed in transit is dkim=fail, not neutral
          strict: true,
        } as Parameters<typeof authenticate>[1]);
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
