import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { judgeRecipient, judgeSender, pathFacts, rawPath, routingCharacters } from "../../src/receive/envelope-address.ts";
import { routedRecipient, sourceRouted } from "./routing-arbitraries.ts";

const SEED = Number(process.env.MUMUKA_FUZZ_SEED ?? 20261206);
const none = new Set<"%" | "!">();
const rcpt = (path: string | Buffer) => Buffer.concat([Buffer.from("RCPT TO:<"), Buffer.from(path), Buffer.from(">")]);
const judge = (path: string, smtputf8 = true, allowed = none) => {
  const raw = rawPath(rcpt(path));
  if (!raw) throw new Error(`no path in ${path}`);
  return judgeRecipient(pathFacts(raw), smtputf8, allowed);
};

describe("the raw path of a MAIL FROM / RCPT TO line", () => {
  it("is the bytes between the angle brackets, quoted strings and parameters included correctly", () => {
    expect(rawPath(Buffer.from("RCPT TO:<a@b.example> NOTIFY=NEVER"))?.toString()).toBe("a@b.example");
    expect(rawPath(Buffer.from("MAIL FROM: <>"))?.toString()).toBe("");
    expect(rawPath(Buffer.from('RCPT TO:<"a> b"@c.example>'))?.toString()).toBe('"a> b"@c.example');
    expect(rawPath(Buffer.from('RCPT TO:<"a\\"> b"@c.example>'))?.toString()).toBe('"a\\"> b"@c.example');
    expect(rawPath(Buffer.from("RCPT TO:a@b.example"))).toBeUndefined();
    expect(rawPath(Buffer.from("RCPT TO:<a@b.example"))).toBeUndefined();
  });
});

describe("recipient local parts that route elsewhere", () => {
  it("names each trick: percent hack, bang path, quoted or escaped @, source route", () => {
    expect(judge("user%other.example@city.example.lg.jp")).toBe("percent-hack");
    expect(judge("other.example!user@city.example.lg.jp")).toBe("bang-path");
    expect(judge('"user@other.example"@city.example.lg.jp')).toBe("quoted-at");
    expect(judge("user\\@other.example@city.example.lg.jp")).toBe("quoted-at");
    expect(judge("user@other.example@city.example.lg.jp")).toBe("quoted-at");
    expect(judge("@relay.example,@other.example:user@city.example.lg.jp")).toBe("source-route");
    expect(judge('"user%other"@city.example.lg.jp')).toBe("percent-hack");
    expect(judge("user\\%other@city.example.lg.jp")).toBe("percent-hack");
    expect(judge("ユーザー％other.example@city.example.lg.jp")).toBe("percent-hack");
    expect(judge("ユーザー＠other.example@city.example.lg.jp")).toBe("quoted-at");
  });

  it("leaves ordinary local parts alone, UTF-8 ones included", () => {
    expect(judge("staff@city.example.lg.jp")).toBeUndefined();
    expect(judge("first.last+tag@city.example.lg.jp")).toBeUndefined();
    expect(judge('"first last"@city.example.lg.jp')).toBeUndefined();
    expect(judge("山田.太郎@city.example.lg.jp")).toBeUndefined();
    expect(judge("postmaster")).toBeUndefined();
  });

  it("lets an operator allow % or !, but never a quoted @ or a source route", () => {
    const allowed = new Set<"%" | "!">(["%"]);
    expect(judge("user%other@city.example.lg.jp", true, allowed)).toBeUndefined();
    expect(judge("other!user@city.example.lg.jp", true, allowed)).toBe("bang-path");
    expect(judge('"a@b"@city.example.lg.jp', true, new Set(["%", "!"]))).toBe("quoted-at");
    expect(judge("@relay.example:a@city.example.lg.jp", true, new Set(["%", "!"]))).toBe("source-route");
  });

  it("property: a routing character anywhere in the local part, in any form, is refused", () => {
    fc.assert(
      fc.property(routedRecipient, ({ path, ascii }) => {
        const problem = judge(path);
        expect(problem).toBeDefined();
        expect(routingCharacters(pathFacts(rawPath(rcpt(path))!).localPart)).toContain(ascii);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it("property: any source route is refused", () => {
    fc.assert(
      fc.property(sourceRouted, (path) => {
        expect(judge(path)).toBe("source-route");
      }),
      { seed: SEED, numRuns: 500 },
    );
  });
});

describe("8-bit addresses", () => {
  it("refuses bytes that are not UTF-8, with or without SMTPUTF8", () => {
    const latin1 = Buffer.from([0x6a, 0xf6, 0x72, 0x67, 0x40, 0x65, 0x2e, 0x78]); // "jörg@e.x" in ISO-8859-1
    const facts = pathFacts(rawPath(Buffer.concat([Buffer.from("MAIL FROM:<"), latin1, Buffer.from(">")]))!);
    expect(judgeSender(facts, false)).toBe("invalid-utf8");
    expect(judgeSender(facts, true)).toBe("invalid-utf8");
    // a truncated UTF-8 sequence, an overlong "/" and a UTF-16 surrogate are not UTF-8 either
    for (const bad of [[0xe3, 0x81], [0xc0, 0xaf], [0xed, 0xa0, 0x80]]) {
      const path = Buffer.concat([Buffer.from("a"), Buffer.from(bad), Buffer.from("@city.example.lg.jp")]);
      expect(judgeRecipient(pathFacts(rawPath(rcpt(path))!), true, none)).toBe("invalid-utf8");
    }
  });

  it("requires SMTPUTF8 for a non-ASCII address (RFC 6531 3.4)", () => {
    expect(judge("jörg@city.example.lg.jp", false)).toBe("needs-smtputf8");
    expect(judge("jörg@city.example.lg.jp", true)).toBeUndefined();
    expect(judgeSender(pathFacts(Buffer.from("jörg@example.com")), false)).toBe("needs-smtputf8");
    expect(judgeSender(pathFacts(Buffer.from("joerg@example.com")), false)).toBeUndefined();
  });
});
