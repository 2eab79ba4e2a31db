/**
 * The authentication thread (started by auth-thread.ts): verifies originals
 * from their spool records, many at once (each mostly waits on DNS when the
 * cache is cold), with its own DNS resolver and cache and its own cache of
 * parsed DKIM keys. The CPU of verification (hashing, parsing, RSA) is spent
 * here, not on the main thread, which runs the queue, the rules and delivery.
 *
 * Protocol (main → thread → main):
 *   {id, region: {file, offset, length}, envelope} → {id, verdict, readError?}
 *
 * SECURITY: the message bytes and the DNS answers are hostile: this thread
 * runs with V8 resource limits (set by auth-thread.ts), so a pathological
 * message kills it, not the gateway; what goes back is an AuthVerdict built by
 * allow-list (auth-verdict.ts).
 * Crash state: none; a verification lost with the thread is temperror.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { AuthenticationConfig } from "../config/schema.ts";
import { verifyRecord, type RecordRegion } from "./auth-stage.ts";
import { createAuthenticator, type AuthEnvelope } from "./authenticator.ts";
import { createDnsResolver } from "./dns-resolver.ts";

export interface AuthThreadData {
  config: AuthenticationConfig;
  hostname: string;
  maxHeaderBytes: number;
}

export interface AuthRequest {
  id: number;
  region: RecordRegion;
  envelope: AuthEnvelope;
}

const { config, hostname, maxHeaderBytes } = workerData as AuthThreadData;
const dns = createDnsResolver(config.dns);
const authenticator = createAuthenticator({ config, hostname, resolve: dns.resolve, expiry: dns.expiry });
const port = parentPort!;

port.on("message", (request: AuthRequest) => {
  // verifyRecord never throws: a library error or a DNS failure is a temperror verdict
  void verifyRecord(authenticator, maxHeaderBytes, request.region, request.envelope).then((result) => port.postMessage({ id: request.id, ...result }));
});
