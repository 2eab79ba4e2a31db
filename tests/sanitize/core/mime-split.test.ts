/**
 * The MIME splitter (src/sanitize/mime-adapter.ts) reads messages as
 * @zone-eu/mailsplit does — the corpus and the analysis were built on its
 * reading of malformed MIME — and gives the same nodes and bodies however the
 * input is cut into writes.
 *
 * The reference is mailsplit's own Splitter, mapped to nodes and bodies as the
 * adapter before this splitter did. Messages are generated with the shapes
 * real mail gets wrong: delimiters whose boundary is a prefix of another,
 * closing delimiters in a preamble, missing closing delimiters, delimiters
 * inside header blocks, whitespace after delimiters, a boundary parameter on a
 * type that is not multipart, LF, CRLF and bare CR line ends.
 */
import { Splitter } from "@zone-eu/mailsplit";
import type { MimeNode, SplitterChunk } from "@zone-eu/mailsplit";
import type { Transform } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createSplitSession, type RawNode } from "../../../src/sanitize/mime-adapter.ts";

interface Split {
  nodes: Array<Omit<RawNode, "header"> & { header: string }>;
  bodies: Record<number, string>;
  data: Record<number, string>;
  failure: string | undefined;
}

const LIMITS = { maxHeaderBytes: 4096, maxNodes: 40 };

async function splitNew(input: Buffer, cuts: number[] = []): Promise<Split> {
  const out: Split = { nodes: [], bodies: {}, data: {}, failure: undefined };
  const session = createSplitSession(
    {
      node: (n) => out.nodes.push({ ...n, header: n.header.toString("latin1") }),
      body: (id, chunk) => {
        out.bodies[id] = (out.bodies[id] ?? "") + chunk.toString("latin1");
      },
      data: (id, chunk) => {
        out.data[id] = (out.data[id] ?? "") + chunk.toString("latin1");
      },
    },
    LIMITS,
  );
  let at = 0;
  for (const cut of [...cuts.filter((c) => c > 0 && c < input.length)].sort((a, b) => a - b)) {
    await session.write(input.subarray(at, cut));
    at = cut;
  }
  await session.write(input.subarray(at));
  await session.end();
  out.failure = session.failure;
  return out;
}

/** mailsplit given the whole message in one write, its events mapped as the former adapter mapped them */
async function splitReference(input: Buffer): Promise<Split> {
  const out: Split = { nodes: [], bodies: {}, data: {}, failure: undefined };
  const splitter = new Splitter({ ignoreEmbedded: true, maxHeadSize: LIMITS.maxHeaderBytes, maxChildNodes: LIMITS.maxNodes });
  const ids = new Map<MimeNode, { id: number; depth: number }>();
  let next = 0;
  splitter.on("data", (chunk: SplitterChunk) => {
    if (out.failure) return;
    if (chunk.type === "node") {
      const parent = chunk.parentNode ? ids.get(chunk.parentNode as MimeNode) : undefined;
      const info = { id: next++, depth: parent ? parent.depth + 1 : 0 };
      ids.set(chunk, info);
      out.nodes.push({ id: info.id, parentId: parent?.id, depth: info.depth, header: chunk.getHeaders().toString("latin1"), multipart: Boolean(chunk.multipart && chunk._boundary) });
    } else if (chunk.type === "body" || (chunk.type === "data" && chunk.node.multipart && !chunk.node._boundary)) {
      const info = ids.get(chunk.node);
      if (info) out.bodies[info.id] = (out.bodies[info.id] ?? "") + chunk.value.toString("latin1");
    } else if (chunk.type === "data") {
      const info = ids.get(chunk.node);
      if (info) out.data[info.id] = (out.data[info.id] ?? "") + chunk.value.toString("latin1");
    }
  });
  const stream = splitter as unknown as Transform;
  await new Promise<void>((resolve) => {
    stream.on("error", (error: Error) => {
      out.failure ??= /child/i.test(error.message) ? "maxParts" : "maxHeaderBytes";
      resolve();
    });
    stream.on("end", () => resolve());
    // the former adapter's line-end normalisation: a bare CR is a line end (one at the very end is
    // written as LF when the input ends)
    const text = input.toString("latin1");
    const lastCr = text.endsWith("\r");
    splitter.write(Buffer.from((lastCr ? text.slice(0, -1) : text).replace(/\r(?!\n)/g, "\n"), "latin1"));
    splitter.end(lastCr ? Buffer.from("\n") : undefined);
  });
  return out;
}

const boundaries = ["a", "ab", "b-1", "=_x"];
const line = fc.oneof(
  fc.constantFrom("text", "", "  indented", "-- ", "--", "---", "Content-Type: text/plain", "=3D=0A", "QUJD"),
  fc.constantFrom(...boundaries).chain((b) => fc.constantFrom(`--${b}`, `--${b}--`, `--${b} \t`, `--${b}--  `, `--${b}x`, `x--${b}`)),
);
const header = fc.oneof(
  fc.constantFrom("Content-Type: text/plain", "Content-Type: application/octet-stream", "Content-Type: message/rfc822", "X-A: 1", "Subject: s"),
  fc.constantFrom(...boundaries).map((b) => `Content-Type: text/html; boundary="${b}"`),
);

type Part = { kind: "leaf"; headers: string[]; body: string[] } | { kind: "multi"; boundary: string; extra: string[]; preamble: string[]; parts: Part[]; close: boolean; epilogue: string[] };
const part: fc.Memo<Part> = fc.memo((n) =>
  n <= 1
    ? fc.record({ kind: fc.constant("leaf" as const), headers: fc.array(header, { maxLength: 2 }), body: fc.array(line, { maxLength: 4 }) })
    : fc.oneof(
        fc.record({ kind: fc.constant("leaf" as const), headers: fc.array(header, { maxLength: 2 }), body: fc.array(line, { maxLength: 4 }) }),
        fc.record({
          kind: fc.constant("multi" as const),
          boundary: fc.constantFrom(...boundaries),
          extra: fc.array(header, { maxLength: 1 }),
          preamble: fc.array(line, { maxLength: 2 }),
          parts: fc.array(part(n - 1), { maxLength: 3 }),
          close: fc.boolean(),
          epilogue: fc.array(line, { maxLength: 2 }),
        }),
      ),
);

function lines(p: Part): string[] {
  if (p.kind === "leaf") return [...p.headers, "", ...p.body];
  return [
    `Content-Type: multipart/mixed; boundary="${p.boundary}"`,
    ...p.extra,
    "",
    ...p.preamble,
    ...p.parts.flatMap((c) => [`--${p.boundary}`, ...lines(c)]),
    ...(p.close ? [`--${p.boundary}--`] : []),
    ...p.epilogue,
  ];
}

const message = fc.record({ root: part(4), eol: fc.constantFrom("\r\n", "\n", "\r"), mixed: fc.boolean(), final: fc.boolean() }).map(({ root, eol, mixed, final }) => {
  const text = lines(root)
    .map((l, i) => l + (mixed && i % 3 === 1 ? "\n" : eol))
    .join("");
  return Buffer.from(final ? text : text.replace(/(\r\n|\n|\r)$/, ""), "latin1");
});

describe("the MIME splitter", () => {
  it("reports the nodes, bodies and preambles mailsplit reports (one write)", async () => {
    await fc.assert(
      fc.asyncProperty(message, async (input) => {
        // a message that ends in a bare CR reached mailsplit in two writes (the CR waited for what
        // followed), and its reading of a part whose body is one line ending depends on writes
        fc.pre(input.at(-1) !== 0x0d);
        expect(await splitNew(input)).toEqual(await splitReference(input));
      }),
      { numRuns: 400, seed: 20261206 },
    );
  });

  it("reports the same nodes and bodies however the input is cut into writes", async () => {
    await fc.assert(
      fc.asyncProperty(message, fc.array(fc.nat(400), { maxLength: 6 }), async (input, cuts) => {
        const whole = await splitNew(input);
        const cut = await splitNew(input, cuts);
        expect({ nodes: cut.nodes, bodies: cut.bodies, failure: cut.failure }).toEqual({ nodes: whole.nodes, bodies: whole.bodies, failure: whole.failure });
      }),
      { numRuns: 400, seed: 20261206 },
    );
  });

  it("hands on a body as a view of the input, not a copy", async () => {
    const input = Buffer.from('Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\nAAAA\r\nBBBB\r\n--b--\r\n');
    const views: Buffer[] = [];
    const session = createSplitSession({ node: () => {}, body: (_id, chunk) => void views.push(chunk) }, LIMITS);
    await session.write(input);
    await session.end();
    expect(views).toHaveLength(1);
    expect(views[0]!.toString()).toBe("AAAA\r\nBBBB");
    expect(views[0]!.buffer).toBe(input.buffer);
  });

  it("fails with maxHeaderBytes on an endless header block, and with maxParts past the node cap", async () => {
    const long = Buffer.from(`Subject: x\r\n${"X-Filler: yyyyyyyyyyyyyyyyyyyyyyyy\r\n".repeat(200)}\r\nbody`);
    expect((await splitNew(long)).failure).toBe("maxHeaderBytes");
    const many = Buffer.from(`Content-Type: multipart/mixed; boundary="b"\r\n\r\n${"--b\r\n\r\nx\r\n".repeat(60)}--b--\r\n`);
    const split = await splitNew(many);
    expect(split.failure).toBe("maxParts");
    expect(split).toEqual(await splitReference(many));
  });
});
