/**
 * The envelope the rules see, built from a spool envelope and the sender-authentication verdict:
 * one function for the relay (deliver/sanitize-stage.ts) and the replay (rules-replay.ts), so that
 * `client_ip` means the same in both.
 *
 * SECURITY: addresses and HELO names are sender-controlled text, passed on as data.
 * Crash state: pure.
 */
import type { AuthVerdict } from "../authenticate/auth-types.ts";
import type { SpoolEnvelope } from "../spool/record.ts";
import type { Envelope } from "./rules-types.ts";

/**
 * What the rules see of the transaction. `client_ip` is the original client, as operators mean it
 * (the TCP peer is always the Internet-zone MTA in front of mumuka): the client authentication
 * checked (XFORWARD/XCLIENT, a trusted Received hop), else the forwarded one, else the peer;
 * `peer_ip` is the TCP peer.
 */
export function rulesEnvelope(env: Pick<SpoolEnvelope, "mailFrom" | "rcptTo" | "clientAddress" | "clientHelo" | "forwarded">, auth: AuthVerdict | undefined): Envelope {
  // a verdict that fell back to the peer (nothing forwarded, or verification lost) says nothing the envelope does not
  const checked = auth && auth.client.source !== "peer" && auth.client.address ? { address: auth.client.address, helo: auth.client.helo } : undefined;
  const client = checked ?? env.forwarded ?? { address: env.clientAddress, helo: env.clientHelo };
  return {
    mailFrom: env.mailFrom,
    rcptTo: env.rcptTo,
    clientAddress: client.address,
    clientHelo: client.helo,
    peerAddress: env.clientAddress,
    ...(auth ? { auth } : {}),
  };
}
