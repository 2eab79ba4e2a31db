/**
 * The one adapter over the MIME splitter (@zone-eu/mailsplit, which mailparser
 * is built on). Nothing else in mumuka imports it: should the splitter need
 * replacing, this file is the seam.
 *
 * A split session takes raw bytes as they arrive and reports each MIME node
 * (its raw header block, its place in the tree) and the still
 * transfer-encoded body bytes of leaf nodes. It keeps no body: memory is
 * bounded by the splitter's own line buffer and the header limit.
 *
 * SECURITY: the input is a raw, hostile message. The splitter bounds header
 * size and node count itself (it fails with EMAXLEN); a failure ends the
 * session's structure — the caller keeps consuming the input (to hash it) and
 * reports the limit, it never crashes. Backpressure: a body consumer may
 * return a promise; the splitter is paused until it settles, so a slow nested
 * consumer cannot make buffers grow.
 */
import { Splitter } from "@zone-eu/mailsplit";
import type { MimeNode, SplitterChunk } from "@zone-eu/mailsplit";
import type { Transform } from "node:stream";

export interface RawNode {
  /** sequential id within this session */
  id: number;
  /** id of the enclosing multipart node; undefined for the root */
  parentId: number | undefined;
  /** nesting depth within this session (root 0) */
  depth: number;
  /** raw header block, as received */
  header: Buffer;
  /** true when the splitter treats the node as a multipart container */
  multipart: boolean;
}

export interface SplitSink {
  node(node: RawNode): void;
  /** body bytes of a leaf node, still transfer-encoded; a returned promise pauses the splitter */
  body(id: number, chunk: Buffer): Promise<void> | void;
  /** bytes of a multipart node outside its parts (preamble, epilogue, text no delimiter matched) */
  data?(id: number, chunk: Buffer): void;
}

export type SplitFailure = "maxHeaderBytes" | "maxParts" | "malformed";

export interface SplitSession {
  /** feed raw bytes; resolves when the splitter can take more */
  write(chunk: Buffer): Promise<void>;
  /** no more input; resolves when every node and body has been reported */
  end(): Promise<void>;
  /** set once the splitter gave up: the rest of the input is not split */
  readonly failure: SplitFailure | undefined;
}

export interface SplitOptions {
  maxHeaderBytes: number;
  /** the splitter's own node cap, a backstop behind the caller's part limit */
  maxNodes: number;
}

const CR = Buffer.from("\r");
const LF = Buffer.from("\n");

export function createSplitSession(sink: SplitSink, options: SplitOptions): SplitSession {
  // message/rfc822 bodies are left as leaves: the caller decodes their transfer
  // encoding and feeds them to a nested session, which also handles base64-encoded
  // forwarded messages the splitter would not look into
  const splitter = new Splitter({ ignoreEmbedded: true, maxHeadSize: options.maxHeaderBytes, maxChildNodes: options.maxNodes });
  // the package types only declare "data"; the other events are the Transform's own
  const stream = splitter as unknown as Transform;
  const ids = new WeakMap<MimeNode, { id: number; depth: number }>();
  let nextId = 0;
  let failure: SplitFailure | undefined;
  let ended = false;
  let settle: (() => void) | undefined;
  const done = new Promise<void>((resolve) => {
    settle = resolve;
  });

  splitter.on("data", (chunk: SplitterChunk) => {
    if (failure) return;
    try {
      if (chunk.type === "node") {
        const parent = chunk.parentNode ? ids.get(chunk.parentNode) : undefined;
        const info = { id: nextId++, depth: parent ? parent.depth + 1 : 0 };
        ids.set(chunk, info);
        sink.node({
          id: info.id,
          parentId: parent?.id,
          depth: info.depth,
          header: chunk.getHeaders(),
          // a multipart without a boundary has no children: its content is reported as a body
          multipart: Boolean(chunk.multipart && chunk._boundary),
        });
      } else if (chunk.type === "body" || (chunk.type === "data" && chunk.node.multipart && !chunk.node._boundary)) {
        const info = ids.get(chunk.node);
        if (!info) return;
        const wait = sink.body(info.id, chunk.value);
        if (wait) {
          splitter.pause();
          void wait
            .catch(() => {
              failure = "malformed";
            })
            .finally(() => splitter.resume());
        }
      } else if (chunk.type === "data" && chunk.node) {
        // preambles and epilogues; when no delimiter ever matches, the whole content
        const info = ids.get(chunk.node);
        if (info) sink.data?.(info.id, chunk.value);
      }
    } catch {
      failure = "malformed";
    }
  });
  stream.on("error", (error: Error & { code?: string }) => {
    if (!failure) {
      if (error.code === "EMAXLEN") failure = /child/i.test(error.message) ? "maxParts" : "maxHeaderBytes";
      else failure = "malformed";
    }
    settle?.();
  });
  stream.on("end", () => settle?.());

  // Old Mac mailers (and mangled relays) end lines with a bare CR, which the splitter
  // does not take for a line break: a header block would never end. A lone CR becomes
  // LF before splitting; a CR at the end of a chunk waits to see what follows it.
  let pendingCr = false;
  const normalise = (input: Buffer): Buffer => {
    let chunk = pendingCr ? Buffer.concat([CR, input]) : input;
    pendingCr = false;
    if (chunk.length > 0 && chunk[chunk.length - 1] === 0x0d) {
      chunk = chunk.subarray(0, chunk.length - 1);
      pendingCr = true;
    }
    let copy: Buffer | undefined;
    for (let i = chunk.indexOf(0x0d); i >= 0; i = chunk.indexOf(0x0d, i + 1)) {
      if (chunk[i + 1] !== 0x0a) {
        copy ??= Buffer.from(chunk);
        copy[i] = 0x0a;
      }
    }
    return copy ?? chunk;
  };

  return {
    get failure() {
      return failure;
    },
    async write(input: Buffer): Promise<void> {
      if (failure || ended) return;
      const chunk = normalise(input);
      if (!splitter.write(chunk)) {
        await Promise.race([new Promise((resolve) => stream.once("drain", resolve)), done]);
      }
    },
    async end(): Promise<void> {
      if (!ended) {
        ended = true;
        if (!failure) splitter.end(pendingCr ? LF : undefined);
      }
      if (failure) {
        splitter.destroy();
        return;
      }
      await done;
    },
  };
}
