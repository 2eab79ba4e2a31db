/**
 * A faster scan for mailauth's relaxed body hash (RFC 6376 3.4.4; mailauth 7.1,
 * lib/dkim/body/relaxed.js, RelaxedHash.update) on the pieces feedWhole hands it.
 *
 * RelaxedHash.update looks at every byte of the body in JavaScript to find the lines that
 * need rewriting (a TAB, two spaces in a row, a space before the line end, a bare LF); every
 * other line is hashed as it is. On a 100 KB message (a base64 attachment: long lines of
 * letters) that loop was the biggest single cost of verifying it in the gateway. Here the
 * same question is asked of a whole piece with Buffer.indexOf (native): when no line of the
 * piece needs rewriting, the piece is hashed exactly as that loop would have hashed it (its
 * complete lines now, what follows its last LF kept for the next piece); otherwise, and for
 * anything else (a piece after a partial line, the final call), mailauth's own update runs.
 *
 * The equivalence is tested against RelaxedHash itself on generated bodies, split anywhere
 * (tests/authenticate/relaxed-body.test.ts), and through feedWhole on the corpus
 * (tests/authenticate/feed-whole.test.ts). mailauth is pinned to exactly 7.1.0 for this (package.json):
 * it relies on RelaxedHash's fields (remainder, byteLength, _pushBodyHash), so a new version must be
 * read, and these tests run, before it is taken.
 *
 * Pure: no I/O; changes only the hasher instances it is given.
 */
import relaxedModule from "mailauth/lib/dkim/body/relaxed.js";

const LF = 0x0a;
const CR = 0x0d;
const TAB = 0x09;
const TWO_SPACES = Buffer.from("  ");
const SPACE_CRLF = Buffer.from(" \r\n");

type RelaxedHash = InstanceType<typeof relaxedModule.RelaxedHash>;

/**
 * True when RelaxedHash.update's loop would rewrite no line of `piece` (given no partial line
 * before it): no TAB, no two spaces in a row, no space before a CRLF, and every LF after a CR
 * (and not first). Those are exactly the loop's reasons to rewrite a line. `crlfOnly`: the caller
 * knows every LF of the bytes the piece comes from follows a CR (everyLineCrlf), so that scan, the
 * dearest of these on a long body, is not made again.
 */
export function needsNoRewrite(piece: Buffer, crlfOnly = false): boolean {
  if (piece[0] === LF || piece.indexOf(TAB) !== -1 || piece.indexOf(TWO_SPACES) !== -1 || piece.indexOf(SPACE_CRLF) !== -1) return false;
  if (crlfOnly) return true;
  for (let at = piece.indexOf(LF); at !== -1; at = piece.indexOf(LF, at + 1)) {
    if (piece[at - 1] !== CR) return false;
  }
  return true;
}

/** `hasher.update` with the fast path in front (see the header); the hasher's own update is used for everything else */
function fastUpdate(crlfOnly: boolean) {
  return function update(this: RelaxedHash, chunk: Buffer | null, final?: boolean): void {
    if (final || !chunk || chunk.length === 0 || (this.remainder && this.remainder.length) || !needsNoRewrite(chunk, crlfOnly)) {
      relaxedModule.RelaxedHash.prototype.update.call(this, chunk, final);
      return;
    }
    // what the loop does with a piece none of whose lines needs rewriting: its complete lines are
    // hashed (_pushBodyHash holds back the empty lines at their end), the rest waits for the next piece
    this.byteLength += chunk.length;
    const lastLf = chunk.lastIndexOf(LF);
    if (lastLf > 0) this._pushBodyHash(chunk.subarray(0, lastLf + 1));
    if (lastLf + 1 < chunk.length) this.remainder = chunk.subarray(lastLf + 1);
  };
}
const ANY_BODY = fastUpdate(false);
const CRLF_BODY = fastUpdate(true);

/**
 * Gives every relaxed body hasher among `hashers` the fast path; the others are left as they are.
 * `crlfOnly`: every LF of the body to come follows a CR (feedWhole's bytes, checked by everyLineCrlf).
 */
export function speedUpRelaxed(hashers: Iterable<unknown>, crlfOnly = false): void {
  for (const hasher of hashers) {
    if (hasher instanceof relaxedModule.RelaxedHash) hasher.update = crlfOnly ? CRLF_BODY : ANY_BODY;
  }
}
