/**
 * Looking for files spelled in text costs little on ordinary mail (issue 13): the
 * costly scanners of byte-spellings.ts and embedded.ts run only where one pass
 * (possibleSpellings) finds something they could cut, so prose — English,
 * Japanese, a quoted reply, links — is read in a few steps per character, and
 * skipping a scanner never lets a file through. Cost is counted in work steps,
 * not wall-clock time. The step tests fail on the code before the prefilter
 * (7.5 steps a character on English prose, 6.4 on Japanese, 8.2 on links).
 */
import { describe, expect, it } from "vitest";
import { extractEmbedded } from "../../src/sanitize/embedded.ts";
import {
  type Cut,
  findBase85,
  findByteLists,
  findSeparatedRuns,
  MAY_BASE85,
  MAY_LISTS,
  MAY_PIECES,
  MAY_RUNS,
  possibleSpellings,
} from "../../src/sanitize/byte-spellings.ts";
import { encodings, EXE, pseudoRandom } from "../helpers/mime-builders.ts";

const EN =
  "Dear Ms. Tanaka,\n\nThank you for your e-mail of 3 December. Please find attached the revised invoice for November, 2026 " +
  "(No. 2026-1187); the amount is unchanged at 1,250,000 yen. If you have any questions, feel free to contact me.\n\n" +
  "Best regards,\nJohn Smith | Sales Department | Tel. 03-1234-5678\n\n";
const JA =
  "お世話になっております。来週の会議の資料を送付いたします。ご確認のほどよろしくお願いいたします。\n" +
  "なお、12月10日(水)14時からの打合せは第3会議室に変更となりました。\n\n";
const QUOTED =
  "承知しました。\n\n> 2026年12月5日(金) 10:15 Suzuki Taro <suzuki@example.lg.jp>:\n> 先日の件、来週火曜日でいかがでしょうか。\n" +
  ">> On Thu, Dec 4, 2026 at 9:02 AM John Smith wrote:\n>> Could we meet next week to go over the draft?\n";
const LINKS =
  "詳細はこちら: https://www.example.go.jp/news/2026/12/06/subsidy-announcement.html?utm_source=newsletter&utm_medium=email\n" +
  "[1] https://mail.example.com/track/click?u=aHR0cHM6Ly93d3cuZXhhbXBsZS5jb20v&id=Zk9xR2tLdTJ3&e=c3V6dWtpQGV4YW1wbGU\n";

const steps = (text: string): number => {
  const work = { steps: 0 };
  extractEmbedded(text, { maxHtmlBytes: 1024 * 1024, work });
  return work.steps / text.length;
};

describe("ordinary prose is read in a few steps a character", () => {
  it.each([
    ["English", EN],
    ["Japanese", JA],
    ["a quoted reply", QUOTED],
  ])("%s: no costly scanner runs", (_name, unit) => {
    const text = unit.repeat(40);
    expect(possibleSpellings(text, { steps: 0 })).toBe(0);
    // the announced blocks, the prefilter and the escape and hex-dump lines: one step each
    expect(steps(text)).toBeLessThan(3.5);
  });

  it("links: only the data-run scanner, which the tracking parameters need", () => {
    const text = LINKS.repeat(40);
    expect(possibleSpellings(text, { steps: 0 })).toBe(MAY_RUNS);
    expect(steps(text)).toBeLessThan(6);
  });
});

/** the byte-spelling scanners the prefilter can skip, by the bit that lets each run */
const SCANNERS = [
  [MAY_LISTS, findByteLists],
  [MAY_PIECES, findSeparatedRuns],
  [MAY_BASE85, findBase85],
] as const;

describe("the prefilter never hides a file from its scanner", () => {
  it("every spelling of tests/helpers' encodings: a scanner that cuts it had its bit set (alone, amid prose, quoted)", () => {
    const cut = new Set<string>();
    for (const [name, encode] of Object.entries(encodings)) {
      const shape = encode(EXE).replace(/\r\n/g, "\n");
      for (const text of [shape, `${EN}${shape}\n${JA}`, `${JA}\n${shape}\n`, shape.replace(/^/gm, "> ")]) {
        const may = possibleSpellings(text, { steps: 0 });
        for (const [bit, scan] of SCANNERS) {
          const cuts: Cut[] = [];
          scan(text, cuts, { steps: 0 });
          if (cuts.length === 0) continue;
          cut.add(name);
          expect(may & bit, name).toBe(bit);
        }
      }
    }
    // the byte lists, separated runs and base85 among them did reach their scanners
    for (const name of ["C array of hex bytes", "Java signed byte array", "VBA Chr() concatenation", "binary digits", "base32", "Z85", "base64 in pieces separated by spaces", "base64 in a JSON string with \\n escapes"]) {
      expect([...cut], name).toContain(name);
    }
  });

  it("a base64 block sets the data-run bit", () => {
    const text = `${EN}${EXE.toString("base64").replace(/(.{76})/g, "$1\n")}\n${EN}`;
    expect(possibleSpellings(text, { steps: 0 }) & MAY_RUNS).toBe(MAY_RUNS);
    expect(extractEmbedded(text).files.map((f) => f.kind)).toEqual(["base64"]);
  });

  it("generated texts: whenever a scanner cuts, the prefilter had said it could", () => {
    // pieces of every shape, repeated and interrupted, so lists and blocks start and end everywhere
    const atoms = [
      "0x4d", "4d", "77", "-112", "\\x90", "%9F", "=4D", "115", "01001101", "Chr(77)", "(byte)", "byte", "a", "he", "the", "word", "あ",
      ", ", " ", "  ", "|", "|MZ..hello|", "\n", "\n\n\n", ":", ".", "00000010: ", "000000000010  ", "\\n", '" +\n"', "=", "www.", "https://",
      "TVqQAAMAAAAEAAAA", "V03x", "Zk9xR2tLdTJ3", "o<iRU0@@r3", "^!/*?&", "base64", "X-Header", "nAbC9",
    ];
    const random = pseudoRandom(40_000, "prefilter");
    let at = 0;
    const next = (limit: number): number => random[at++ % random.length]! % limit;
    let cutsSeen = 0;
    for (let t = 0; t < 1500; t++) {
      const motif = Array.from({ length: 1 + next(4) }, () => atoms[next(atoms.length)]!);
      let text = "";
      const reps = next(200);
      for (let r = 0; r < reps; r++) text += motif.join("") + (next(20) === 0 ? atoms[next(atoms.length)] : "");
      const may = possibleSpellings(text, { steps: 0 });
      for (const [bit, scan] of SCANNERS) {
        const cuts: Cut[] = [];
        scan(text, cuts, { steps: 0 });
        if (cuts.length > 0) {
          cutsSeen++;
          expect(may & bit, JSON.stringify(text.slice(0, 200))).toBe(bit);
        }
      }
    }
    expect(cutsSeen).toBeGreaterThan(50); // the texts did reach the scanners
  });
});
