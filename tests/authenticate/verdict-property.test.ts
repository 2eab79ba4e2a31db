/**
 * Every hostile shape of a verifier's answer is a class: whatever strings
 * mailauth hands back (they come from the message and from DNS: CR/LF,
 * semicolons, quotes, non-ASCII, huge), the verdict keeps only closed words
 * and checked tokens, and the Authentication-Results / X-Mumuka-Auth fields
 * built from it always pass the one header encoder's checks and never carry a
 * line break or a second field.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { authResultsTokens, authSummaryTokens } from "../../src/authenticate/auth-header.ts";
import { authResults } from "../../src/authenticate/auth-types.ts";
import { toVerdict } from "../../src/authenticate/auth-verdict.ts";
import { foldedTokens, headerBlock } from "../../src/sanitize/header-encode.ts";

const hostile = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.constantFrom("pass", "fail", "temperr", "skipped", "PASS", "example.com", "a.example\r\nBcc: x@y", "ｅｘａｍｐｌｅ.jp", "例え.テスト", "x;y=z", '"q"', "(c)", "a".repeat(2000)),
);
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

const mailauthLike = fc.record({
  spf: fc.oneof(fc.constant(false as const), fc.record({ domain: maybe(hostile), status: fc.record({ result: maybe(hostile) }) })),
  dkim: fc.record({
    results: fc.array(
      fc.record({
        signingDomain: maybe(hostile),
        selector: maybe(hostile),
        status: fc.record({ result: maybe(hostile), aligned: fc.oneof(fc.constant(false as const), hostile), header: fc.record({ b: maybe(hostile) }) }),
      }),
      { maxLength: 5 },
    ),
  }),
  dmarc: fc.oneof(
    fc.constant(false as const),
    fc.record({
      domain: maybe(hostile),
      policy: maybe(hostile),
      status: fc.record({ result: maybe(hostile), header: fc.record({ from: maybe(hostile) }) }),
      alignment: fc.record({ spf: fc.record({ result: maybe(hostile) }), dkim: fc.record({ result: maybe(hostile) }) }),
    }),
  ),
  arc: fc.oneof(fc.constant(false as const), fc.record({ i: fc.oneof(fc.constant(false as const), fc.integer({ min: 0, max: 60 })), status: fc.record({ result: maybe(hostile) }) })),
});

const client = fc.record({ address: fc.constantFrom("192.0.2.1", "2001:db8::1", ""), helo: fc.constantFrom("mail.example", ""), source: fc.constantFrom("xforward" as const, "peer" as const) });

describe("a verifier's answer, whatever it holds", () => {
  it("gives closed result words and header fields the encoder accepts", () => {
    fc.assert(
      fc.property(mailauthLike, client, (result, c) => {
        const v = toVerdict(result as never, "mumuka.test", c, "");
        for (const word of [v.spf.result, v.dmarc.result, v.arc.result, ...v.dkim.map((d) => d.result)]) expect(authResults).toContain(word);
        const fields = [foldedTokens("Authentication-Results", authResultsTokens(v)), foldedTokens("X-Mumuka-Auth", authSummaryTokens(v))];
        const bytes = headerBlock(fields).toString("latin1");
        // exactly two fields: no value could start a line of its own
        expect(bytes.split("\r\n").filter((line) => /^\S/.test(line))).toHaveLength(2);
        expect(bytes).not.toMatch(/[^\x20-\x7e\r\n]/);
      }),
      { numRuns: 300 },
    );
  });
});
