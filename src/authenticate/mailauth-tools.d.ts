/**
 * The internal modules of mailauth used here (CommonJS, no types of their own): the
 * alignment and Received helpers, and the steps of authenticate() that mailauth-run.ts
 * composes. Only what is called is declared.
 */
declare module "mailauth/lib/tools.js" {
  const tools: {
    /** the entry of `domains` aligned with `fromDomain` (relaxed: same organizational domain), or false */
    getAlignment(fromDomain: string, domains: string[], strict: boolean): { domain: string } | false;
    toALabel(name: string): string;
    formatDomain(domain: string): string;
    /** fetches a key record with `resolver` and checks it; `publicKey` is a PEM text */
    getPublicKey(
      type: string,
      name: string,
      minBitLength: number | undefined,
      resolver: (name: string, type: string) => Promise<unknown>,
      options?: { strict?: boolean; hashAlgo?: string },
    ): Promise<{ publicKey: string; [k: string]: unknown }>;
    /** writes a Buffer (in chunks) or pipes a stream into `stream`, resolves when it has finished */
    writeToStream(stream: import("node:stream").Writable, input: import("node:stream").Readable | Buffer): Promise<void>;
  };
  export default tools;
}

declare module "mailauth/lib/dkim/dkim-verifier.js" {
  import type { Writable } from "node:stream";
  class DkimVerifier extends Writable {
    constructor(options: { resolver: unknown; sender?: string; strict?: boolean });
    keyCache: unknown;
    arc: object;
    results: unknown[];
    headerFrom: string[];
    fromFields: number;
    /** MessageParser's steps (lib/dkim/message-parser.js): the header block, found; a piece of the body; the end */
    headerChunks: Buffer[];
    /** the body hashers of the signatures, created by emitHeaders (lib/dkim/body) */
    bodyHashes: Map<string, unknown>;
    emitHeaders(chunk?: Buffer): Promise<void>;
    nextChunk(chunk: Buffer): Promise<void>;
    finish(): Promise<void>;
  }
  const verifier: { DkimVerifier: typeof DkimVerifier };
  export default verifier;
}

declare module "mailauth/lib/dkim/body/relaxed.js" {
  /** the relaxed body canonicalization and hash (RFC 6376 3.4.4), fed in pieces */
  class RelaxedHash {
    constructor(algorithm?: string, maxBodyLength?: number | false);
    /** what followed the last LF of the pieces so far (false: nothing) */
    remainder: Buffer | false;
    byteLength: number;
    canonicalizedLength: number;
    bodyHashedBytes: number;
    update(chunk: Buffer | null, final?: boolean): void;
    digest(encoding: "base64"): string;
    setContentType(contentType: { value: string; params: Record<string, string> }): void;
    getMimeStructureStart(): number;
    /** hashes canonical bytes, holding back the empty lines at their end */
    _pushBodyHash(chunk: Buffer): void;
  }
  const relaxed: { RelaxedHash: typeof RelaxedHash };
  export default relaxed;
}

declare module "mailauth/lib/spf/index.js" {
  const spf: { spf(opts: Record<string, unknown>): Promise<unknown> };
  export default spf;
}

declare module "mailauth/lib/arc/index.js" {
  const arc: { arc(data: object, opts: Record<string, unknown>): Promise<unknown> };
  export default arc;
}

declare module "mailauth/lib/dmarc/index.js" {
  const dmarc: {
    evaluateDmarc(opts: Record<string, unknown>): Promise<{ response: unknown; dkimAligned?: Set<string>; reason?: string }>;
  };
  export default dmarc;
}

declare module "mailauth/lib/parse-received.js" {
  interface ReceivedClause {
    value?: string;
    comment?: string;
  }
  const received: {
    parseReceived(field: string): ({ from?: ReceivedClause; by?: ReceivedClause } & Record<string, ReceivedClause | undefined>) | false;
    /** the address of the TCP-info comment of the from clause, or false */
    getClientAddress(from: ReceivedClause | undefined): string | false;
  };
  export default received;
}
