/**
 * "A message with a big PDF must not stall other messages": through the real
 * sanitizer pool (two workers, each with its extraction thread), a message whose
 * PDF takes seconds to read is still being extracted while the plain messages
 * sent after it are sanitized and done. Event order, not the clock.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createSanitizePool, type SanitizePool } from "../../src/sanitize-pool/index.ts";
import { attachment, message, multipart, part, textMessage } from "../helpers/mime-builders.ts";
import { testOptions } from "../helpers/options.ts";
import { manyPagesPdf } from "../helpers/documents.ts";

const pools: SanitizePool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.close();
});

describe("the pool keeps flowing while a document is extracted", () => {
  it("finishes plain messages sent after a 5,000-page PDF before that PDF's message", async () => {
    const pool = createSanitizePool({ size: 2 });
    pools.push(pool);
    const { limits, signal: _s, ...options } = testOptions({ limits: { maxTimeMs: 120_000 } });
    const render = { ...options, extractLimits: { ...options.extractLimits!, maxPages: 5000, maxCharsPerFile: 1_000_000, maxTimeMsPerFile: 100_000, maxTimeMsPerMessage: 100_000 } };
    const order: string[] = [];
    const heavy = message({
      subject: "heavy",
      entity: multipart("mixed", [part({ contentType: "text/plain; charset=utf-8", body: "重い添付" }), attachment("5000.pdf", "application/pdf", manyPagesPdf(5000))]),
    });
    const heavyDone = pool.run({ bytes: heavy, limits }, () => ({ render, context: "heavy" })).then((o) => {
      order.push("heavy");
      return o;
    });
    const light = Array.from({ length: 5 }, (_, i) =>
      pool.run({ bytes: textMessage(`軽いメール ${i}`), limits }, () => ({ render, context: `light-${i}` })).then((o) => {
        order.push(`light-${i}`);
        return o;
      }),
    );
    const outcomes = await Promise.all([heavyDone, ...light]);
    expect(outcomes.map((o) => o.kind)).toEqual(Array(6).fill("rendered"));
    expect(order.at(-1)).toBe("heavy");
    const report = outcomes[0]!.kind === "rendered" ? outcomes[0]!.report : undefined;
    expect(report?.extraction?.[0]).toMatchObject({ status: "extracted", pages: 5000, shown: 5000 });
  });
});
