/**
 * fast-check generators for recipient paths that ask for sender-specified
 * routing: a routing character (% ! @, and their full-width and small forms
 * that NFKC folds to them) at every position of the local part, bare,
 * backslash-escaped, inside a quoted string (with spaces), upper-cased; and
 * source routes of one to three hops. Shared by the pure and the socket tests.
 */
import fc from "fast-check";

export const DOMAIN = "city.example.lg.jp";

const atomChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-_=.#$&'*/?^`{|}~".split("");
/** inside quotes a space, a comma, a colon and a ">" are ordinary characters too */
const quotedChars = [...atomChars, " ", ",", ":", ">", "<", "(", ")", "[", "]", ";"];
export const routingChars = ["%", "!", "@", "％", "！", "＠", "﹪", "﹗", "﹫"] as const;

export interface RoutedLocalPart {
  path: string;
  /** the routing character as an ASCII character after NFKC */
  ascii: "%" | "!" | "@";
}

export const routedRecipient: fc.Arbitrary<RoutedLocalPart> = fc
  .record({
    style: fc.constantFrom("bare", "escaped", "quoted", "quoted-escaped"),
    ch: fc.constantFrom(...routingChars),
    before: fc.array(fc.constantFrom(...atomChars), { maxLength: 10 }),
    after: fc.array(fc.constantFrom(...atomChars), { maxLength: 10 }),
    quotedBefore: fc.array(fc.constantFrom(...quotedChars), { maxLength: 10 }),
    quotedAfter: fc.array(fc.constantFrom(...quotedChars), { maxLength: 10 }),
    upper: fc.boolean(),
  })
  .map(({ style, ch, before, after, quotedBefore, quotedAfter, upper }) => {
    const quoted = style.startsWith("quoted");
    const left = (quoted ? quotedBefore : before).join("");
    const right = (quoted ? quotedAfter : after).join("");
    const mark = style.endsWith("escaped") ? `\\${ch}` : ch;
    const local = quoted ? `"${left}${mark}${right}"` : `${left}${mark}${right}`;
    const path = `${local}@${DOMAIN}`;
    return { path: upper ? path.toUpperCase() : path, ascii: ch.normalize("NFKC") as "%" | "!" | "@" };
  });

const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}[a-z0-9]$/);
export const sourceRouted: fc.Arbitrary<string> = fc
  .record({ hops: fc.array(fc.tuple(label, label), { minLength: 1, maxLength: 3 }), local: fc.stringMatching(/^[a-z][a-z0-9.]{0,10}[a-z0-9]$/) })
  .map(({ hops, local }) => `${hops.map(([a, b]) => `@${a}.${b}`).join(",")}:${local.replace(/\.\.+/g, ".")}@${DOMAIN}`);
