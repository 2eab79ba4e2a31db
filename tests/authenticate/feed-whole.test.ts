/**
 * The DKIM verifier fed a message in memory directly (feedWhole, src/authenticate/mailauth-run.ts)
 * must end in exactly the state mailauth's own stream front end leaves it in: the same signature
 * results (body hash, header hash, RSA), the same From fields for DMARC, the same ARC chain. The
 * short path is taken only for messages whose every line ends in CRLF; each case below is fed
 * both ways and the whole outcome compared, on built messages (the edges of the header/body split)
 * and on the shared corpus, its line ends made CRLF as SMTP carries them.
 */
import { describe, expect, it } from "vitest";
import dkimVerifierModule from "mailauth/lib/dkim/dkim-verifier.js";
import tools from "mailauth/lib/tools.js";
import { dkimSign } from "mailauth";
import { everyLineCrlf, feedWhole } from "../../src/authenticate/mailauth-run.ts";
import { arcSeal, makeKey, plainMessage, sign, type TestKey } from "../helpers/auth-fixtures.ts";
import { corpusEntries, readCorpusMessage, requireCorpus, sampleEvery } from "../helpers/corpus.ts";

const key: TestKey = makeKey();
const other: TestKey = makeKey();
const zone: Record<string, string[][]> = {
  "sel._domainkey.feed.example": [[key.record]],
  "hop._domainkey.list.example": [[other.record]],
};
/** DNS from memory: the keys above, NXDOMAIN for everything else (the corpus's own selectors) */
async function resolver(name: string, rrtype: string): Promise<unknown> {
  const answer = rrtype === "TXT" ? zone[name.toLowerCase()] : undefined;
  if (answer) return answer;
  throw Object.assign(new Error(`${name} not found`), { code: "ENOTFOUND" });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** everything verifyMessage reads from the verifier afterwards, as data */
async function outcome(bytes: Buffer, way: "whole" | "stream"): Promise<unknown> {
  const verifier = new dkimVerifierModule.DkimVerifier({ resolver, sender: "alice@feed.example", strict: true });
  if (way === "whole") await feedWhole(verifier, bytes);
  else await tools.writeToStream(verifier, bytes);
  const arc = verifier.arc as { chain?: unknown; [k: string]: unknown };
  // each result row has a random id (a UUID) of its own: compared without it
  return JSON.parse(JSON.stringify({ results: verifier.results, headerFrom: verifier.headerFrom, fromFields: verifier.fromFields, arc }), (k, v: unknown) => (k === "id" && typeof v === "string" && UUID.test(v) ? "(id)" : v));
}

async function sameBothWays(bytes: Buffer): Promise<void> {
  expect(everyLineCrlf(bytes)).toBe(true);
  expect(await outcome(bytes, "whole")).toEqual(await outcome(bytes, "stream"));
}

const crlf = (text: string) => Buffer.from(text.replace(/\r?\n/g, "\r\n"));
const signedWith = async (message: string, canonicalization: string, extra: Record<string, unknown> = {}) => {
  const result = await dkimSign(message, {
    canonicalization,
    signatureData: [{ signingDomain: "feed.example", selector: "sel", privateKey: key.privateKey, algorithm: "rsa-sha256", ...extra }],
  } as Parameters<typeof dkimSign>[1]);
  return result.signatures + message;
};

describe("feedWhole: the DKIM verifier's state, fed directly or through its stream front end", () => {
  const message = plainMessage("Alice <alice@feed.example>", { subject: "請求書", body: "line one  \r\n\r\n\ttabbed\r\n\r\n\r\n" });

  it("a signed message, relaxed and simple, passes the same way", async () => {
    const relaxed = Buffer.from(await sign(message, [{ domain: "feed.example", selector: "sel", key }]));
    expect(((await outcome(relaxed, "whole")) as { results: { status: { result: string } }[] }).results[0]!.status.result).toBe("pass");
    await sameBothWays(relaxed);
    await sameBothWays(Buffer.from(await signedWith(message, "simple/simple")));
    await sameBothWays(Buffer.from(await signedWith(message, "relaxed/simple")));
  });

  it("one changed body byte fails the same way; a body longer than the l= count the same way", async () => {
    const signed = await sign(message, [{ domain: "feed.example", selector: "sel", key }]);
    await sameBothWays(Buffer.from(signed.replace("line one", "line 0ne")));
    await sameBothWays(Buffer.from((await signedWith(message, "relaxed/relaxed", { maxBodyLength: 10 })) + "appended\r\n"));
  });

  it("a body of several 64 KiB pieces, and a header block of several too", async () => {
    const long = plainMessage("Alice <alice@feed.example>", { body: `${"ｘ".repeat(70).concat(" \r\n").repeat(3000)}end\r\n`, extraHeaders: Array.from({ length: 900 }, (_, i) => `X-Filler-${i}: ${"v".repeat(70)}`) });
    await sameBothWays(Buffer.from(await sign(long, [{ domain: "feed.example", selector: "sel", key }])));
  });

  it("bodies the relaxed hash takes its fast path for, over several pieces: a base64 attachment, a line longer than a piece, l=", async () => {
    const b64 = Buffer.alloc(150_000, 0x5a).toString("base64").replace(/.{76}/g, "$&\r\n");
    const bodies = [
      `--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n--b--\r\n`,
      `${"y".repeat(70_000)}\r\nshort\r\n${"z".repeat(200_000)}\r\n\r\n\r\n`,
      `${"w".repeat(65_534)}\r\n${"v".repeat(65_535)}\r\n${"u".repeat(65_533)} \r\nend`,
    ];
    for (const body of bodies) {
      const plain = plainMessage("Alice <alice@feed.example>", { body });
      const signed = Buffer.from(await sign(plain, [{ domain: "feed.example", selector: "sel", key }]));
      expect(((await outcome(signed, "whole")) as { results: { status: { result: string } }[] }).results[0]!.status.result).toBe("pass");
      await sameBothWays(signed);
      await sameBothWays(Buffer.from(signed.toString("latin1").replace("short", "shorT"), "latin1"));
      await sameBothWays(Buffer.from(await signedWith(plain, "relaxed/relaxed", { maxBodyLength: 65_600 })));
    }
  });

  it("the edges of the header/body split: empty header, no body, no blank line, nothing at all", async () => {
    const signed = await sign(message, [{ domain: "feed.example", selector: "sel", key }]);
    const header = signed.slice(0, signed.indexOf("\r\n\r\n"));
    for (const bytes of [
      crlf(`\nBody only, the message starts with its empty line\n`),
      crlf(`\n\nTwo empty lines first\n`),
      Buffer.from(`${header}\r\n`),
      Buffer.from(`${header}\r\n\r\n`),
      Buffer.from(header),
      Buffer.from(`${header}\r\n\r\n\r\n\r\n`),
      Buffer.alloc(0),
      Buffer.from("\r\n"),
    ]) {
      await sameBothWays(bytes);
    }
  });

  it("several signatures and an ARC set: the same chain and the same rows", async () => {
    const twice = await sign(message, [
      { domain: "feed.example", selector: "sel", key },
      { domain: "list.example", selector: "hop", key: other },
    ]);
    const sealed = await arcSeal(twice, { domain: "list.example", selector: "hop", key: other }, resolver, { ip: "192.0.2.1", helo: "mx.feed.example", sender: "alice@feed.example" });
    await sameBothWays(Buffer.from(sealed));
  });

  it("a message with a bare LF is not taken for the short path", () => {
    expect(everyLineCrlf(Buffer.from("A: b\r\n\r\nbody\nmore\r\n"))).toBe(false);
    expect(everyLineCrlf(Buffer.from("\nA: b\r\n"))).toBe(false);
    expect(everyLineCrlf(Buffer.from("A: b\r\n\r\nbody\r\n"))).toBe(true);
  });
});

const dir = requireCorpus();
describe.skipIf(!dir)("feedWhole on the shared corpus", () => {
  it("every message of a sample, its line ends made CRLF, ends in the same verifier state both ways", async () => {
    const entries = sampleEvery(corpusEntries(dir), 400);
    // the signed ones too: their selectors are not in DNS here, which is an outcome both ways must agree on
    const signed = corpusEntries(dir).filter((e) => e.tags.includes("dkim"));
    for (const entry of [...entries, ...signed]) {
      const bytes = Buffer.from(readCorpusMessage(entry, dir).toString("latin1").replace(/\r?\n/g, "\r\n"), "latin1");
      try {
        await sameBothWays(bytes);
      } catch (error) {
        throw new Error(`${entry.path}: ${(error as Error).message}`);
      }
    }
  }, 120_000);
});
