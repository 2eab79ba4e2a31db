/**
 * The MIME splitter: raw message bytes → MIME nodes (raw header block, place
 * in the tree) and the still transfer-encoded body bytes of leaf nodes.
 *
 * Boundaries are found with Buffer.indexOf over whole buffers, and bodies are
 * handed on as subarrays of the input (no copy, no Buffer per line). A worker
 * gives a message of up to 1 MiB in one write, so a part's body is usually one
 * view of the message buffer. Larger messages and nested sessions (forwarded
 * messages, recovered multiparts) arrive in several writes: what a write ends
 * on and may still be a delimiter (at most a boundary line, or an unfinished
 * header line, bounded by the header limit) is carried into the next one.
 *
 * The split follows @zone-eu/mailsplit's (which mailparser is built on, and
 * which this file replaced), because the corpus and the tests were built on
 * its reading of malformed MIME; its MimeNode still parses each header block
 * (Content-Type, boundary), so header semantics are its own:
 *   - lines end at LF; a lone CR is first made an LF (old Mac mailers);
 *   - a delimiter line is "--" boundary ["--"] [SP / HTAB]* line-end, where a
 *     closing delimiter may also end the input; the line ending before a
 *     delimiter belongs to it, not to the part before (except for a part whose
 *     whole body is one line ending, reported as such, as mailsplit does);
 *   - the boundary of every open ancestor multipart is matched too, so an inner
 *     multipart never closed does not swallow the rest of the message; a
 *     closing delimiter seen in a preamble does not end the multipart;
 *   - a delimiter inside a header block ends that block: the unfinished node
 *     is dropped, unless the delimiter closes its parent (then it is reported);
 *   - message/rfc822 bodies are leaves: the caller decodes them and feeds a
 *     nested session, which also reads base64-encoded forwarded messages.
 *
 * SECURITY: the input is a raw, hostile message. Header bytes per node are
 * bounded (maxHeaderBytes, counted as mailsplit counts them) and so is the
 * number of nodes (maxNodes); past either the session fails ("maxHeaderBytes",
 * "maxParts") and the caller keeps consuming the input (to hash it) and reports
 * the limit. A sink's promise is awaited before more is split, so a slow nested
 * consumer cannot make buffers grow. Bytes handed to the sink are views of the
 * caller's buffers: the sink copies what it keeps. No state survives a session.
 */
import { MimeNode } from "@zone-eu/mailsplit";

export interface RawNode {
  /** sequential id within this session */
  id: number;
  /** id of the enclosing multipart node; undefined for the root */
  parentId: number | undefined;
  /** nesting depth within this session (root 0) */
  depth: number;
  /** raw header block, as received */
  header: Buffer;
  /** true when the node is a multipart container (a multipart type and a usable boundary) */
  multipart: boolean;
}

export interface SplitSink {
  node(node: RawNode): void;
  /** body bytes of a leaf node, still transfer-encoded (a view: copy what is kept); a returned promise pauses the split */
  body(id: number, chunk: Buffer): Promise<void> | void;
  /** bytes of a multipart node outside its parts (preamble, epilogue, text no delimiter matched) */
  data?(id: number, chunk: Buffer): void;
}

export type SplitFailure = "maxHeaderBytes" | "maxParts" | "malformed";

export interface SplitSession {
  /** feed raw bytes; resolves when they have been split */
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
  /** asked after each turn of the event loop the split yields: true ends the split (a spent time budget) */
  stop?: () => boolean;
}

const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;
const LF_BYTE = Buffer.from("\n");
const EMPTY = Buffer.alloc(0);
const NL_DASH_DASH = Buffer.from("\n--");
/** SP and HTAB a delimiter line may carry before its line ending (mailsplit's BOUNDARY_LINE_TRAILING_WSP) */
const DELIMITER_TRAILING_WSP = 998;
/** what a delimiter line carries besides the boundary: "--", "--", the whitespace, CR LF */
const DELIMITER_OVERHEAD = 2 + 2 + DELIMITER_TRAILING_WSP + 2;
/**
 * After this many nodes the split lets the event loop turn (timers, so a time budget can be
 * seen), as mailsplit did every 16 KiB. Real mail has a few parts and never waits; a message of
 * thousands of tiny parts is split in steps a time budget can stop.
 */
const YIELD_NODES = 64;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** a node of the tree being split */
interface Open {
  /** mailsplit's node: collects the header lines, parses Content-Type and the boundary */
  mime: MimeNode;
  parent: Open | undefined;
  depth: number;
  /** set once reported to the sink */
  id: number | undefined;
  /** the boundary parameter of its header (once parsed): lines are matched against it, multipart or not */
  boundary: Buffer | undefined;
  /** a multipart type (with or without a boundary): its content is never trimmed before a delimiter */
  multipartType: boolean;
  /** body bytes reported since its header (or a delimiter line inside the body) */
  bodyBytes: number;
  /** the write it was created in */
  born: number;
}

/** 1: next part, 2: end of the node's own multipart, 3 / 4: the same for an ancestor (the owner) */
type Delimiter = { kind: 1 | 2 } | { kind: 3 | 4; owner: Open };

/** mailsplit's compareBoundary: the line is "--" boundary, "--"?, SP / HTAB, then a line ending or (closing only) the end */
function delimiterKind(line: Buffer, boundary: Buffer): 1 | 2 | false {
  if (line.length < boundary.length + 3 || line.length > boundary.length + DELIMITER_OVERHEAD) return false;
  if (line.compare(boundary, 0, boundary.length, 2, 2 + boundary.length) !== 0) return false;
  let i = boundary.length + 2;
  let kind: 1 | 2 = 1;
  if (line[i] === DASH) {
    if (line[i + 1] !== DASH) return false;
    kind = 2;
    i += 2;
  }
  while (i < line.length && (line[i] === 0x20 || line[i] === 0x09)) i++;
  if (i === line.length) return kind === 2 ? 2 : false;
  while (i < line.length && line[i] === CR) i++;
  if (i < line.length && line[i] === LF) i++;
  return i === line.length ? kind : false;
}

export function createSplitSession(sink: SplitSink, options: SplitOptions): SplitSession {
  let failure: SplitFailure | undefined;
  let ended = false;
  let nextId = 0;
  let nodeCount = 0;
  let head = true;
  /** the closing delimiter of the current multipart was seen: its boundary no longer counts (mailsplit's inEpilogue) */
  let inEpilogue = false;
  /** the node a run of "data" lines is reported to (see emit) */
  let dataRun: Open | undefined;
  /** writes split so far */
  let writes = 0;
  let nodesSinceTurn = 0;
  let current = newNode(undefined);
  /** bytes of earlier writes not decided yet: an unfinished line (and, in a body, the line ending before it) */
  let carry: Buffer | undefined;
  /** the next write continues a body line already reported (it cannot start a delimiter) */
  let midLine = false;
  /** the last write ended on a CR: whether it ends a line depends on what follows */
  let pendingCr = false;
  let queue: Promise<void> = Promise.resolve();
  /** the caller asked to stop (options.stop): the rest of the input is not split, and that is no failure */
  let stopped = false;

  function newNode(parent: Open | undefined): Open {
    nodeCount++;
    dataRun = undefined;
    head = true;
    inEpilogue = false;
    return {
      mime: new MimeNode(parent?.mime ?? false, {}),
      parent,
      depth: parent ? parent.depth + 1 : 0,
      id: undefined,
      boundary: undefined,
      multipartType: false,
      bodyBytes: 0,
      born: writes,
    };
  }

  /** the header block is complete (or the input ended in it): parse it and report the node; returns the block */
  function report(open: Open): Buffer {
    const mime = open.mime;
    mime.parseHeaders();
    dataRun = undefined;
    open.multipartType = Boolean(mime.multipart);
    // as in mailsplit, a boundary parameter counts even on a type that is not multipart: a text/html
    // part with one is split there (its "children" are not shown: the caller reads it as a leaf)
    open.boundary = mime._boundary || undefined;
    open.id = nextId++;
    nodesSinceTurn++;
    const header = mime.getHeaders();
    sink.node({ id: open.id, parentId: open.parent?.id, depth: open.depth, header, multipart: Boolean(mime.multipart && mime._boundary) });
    return header;
  }

  /** which delimiter a line is, if any: the current multipart's own boundary first, then each open ancestor's */
  function delimiterOf(line: Buffer): Delimiter | undefined {
    if (line.length < 4 || line[0] !== DASH || line[1] !== DASH) return undefined;
    if (!head && !inEpilogue && current.boundary) {
      const kind = delimiterKind(line, current.boundary);
      if (kind) return { kind };
    }
    for (let owner = current.parent; owner; owner = owner.parent) {
      if (!owner.boundary) continue;
      const kind = delimiterKind(line, owner.boundary);
      if (kind) return { kind: kind === 1 ? 3 : 4, owner };
    }
    return undefined;
  }

  /** the longest delimiter line that could still end the current node's content (0: none can) */
  function longestDelimiter(): number {
    let longest = !head && !inEpilogue && current.boundary ? current.boundary.length : -1;
    for (let owner = current.parent; owner; owner = owner.parent) {
      if (owner.boundary && owner.boundary.length > longest) longest = owner.boundary.length;
    }
    return longest < 0 ? 0 : longest + DELIMITER_OVERHEAD;
  }

  /**
   * Reports bytes of a node. As mailsplit types them: a delimiter line, and any content of a
   * multipart, is "data" (the sink's data, except for a multipart without a boundary, whose
   * content is its body); anything else is body.
   */
  async function emit(to: Open, bytes: Buffer, delimiter = false): Promise<void> {
    if (bytes.length === 0) return;
    const data = delimiter || to.multipartType;
    // mailsplit gives a run of "data" lines within one write to the node of its first line: after a
    // multipart's own content, an ancestor's closing delimiter and epilogue stay with that multipart
    const open = data ? (dataRun ?? to) : to;
    dataRun = data ? open : undefined;
    // a delimiter line within a body (kind 2) starts the body afresh, for the lone line ending rule
    if (data) to.bodyBytes = 0;
    else open.bodyBytes += bytes.length;
    if (open.id === undefined) return;
    if (data && !(open.multipartType && !open.boundary)) {
      sink.data?.(open.id, bytes);
      return;
    }
    const wait = sink.body(open.id, bytes);
    if (wait) {
      await wait.catch(() => {
        failure = "malformed";
      });
    }
  }

  function tooManyNodes(): boolean {
    if (nodeCount > options.maxNodes) failure = "maxParts";
    return failure !== undefined;
  }

  /** one line of a header block (final: the input ended in it); false when the session failed */
  function headLine(line: Buffer, final: boolean): boolean {
    const delimiter = delimiterOf(line);
    if (delimiter) {
      if (delimiter.kind === 3) {
        // the unfinished header block is dropped, as mailsplit drops it
        current = newNode((delimiter as { owner: Open }).owner);
        return !tooManyNodes();
      }
      // kind 4 (kinds 1 and 2 need a parsed header): a node with only header lines is still reported
      const owner = (delimiter as { owner: Open }).owner;
      const unfinished = current;
      const header = current.mime._headerlen > 0 ? report(current) : undefined;
      current = owner;
      inEpilogue = true;
      head = false;
      // as mailsplit has it, the owner's data takes that node's header lines, then the delimiter
      // (not when the delimiter is the unfinished last line: mailsplit's flush reports it alone,
      // and only the lines of this write: mailsplit's runs of lines end with a write)
      const joined = header && !final && unfinished.born === writes;
      if (owner.id !== undefined) sink.data?.(owner.id, joined ? Buffer.concat([header, line]) : line);
      dataRun = owner;
      owner.bodyBytes = 0;
      return true;
    }
    const endsBlock = current.mime.addHeaderChunk(line);
    if (current.mime.headerCost() > options.maxHeaderBytes) {
      failure = "maxHeaderBytes";
      return false;
    }
    if (final || endsBlock) {
      report(current);
      head = false;
    }
    return true;
  }

  /**
   * Splits `input` (after what was carried). Complete lines are decided here; an
   * unfinished last line that may still be a delimiter (or a header line) is carried,
   * unless `final`.
   */
  async function split(input: Buffer, final: boolean): Promise<void> {
    if (!final) return splitLines(input, false, false);
    // the end: the complete lines as in any write, then the unfinished last line on its own (as
    // mailsplit's flush takes it: never joined to a run of lines before it)
    await splitLines(input, false, true);
    if (!failure) await splitLines(EMPTY, true, false);
  }

  /** lets the event loop turn after many nodes; false when the caller asked to stop */
  async function turned(): Promise<boolean> {
    nodesSinceTurn = 0;
    await turn();
    if (options.stop?.()) stopped = true;
    return !stopped;
  }

  /** see split(); carryTail: carry the unfinished last line whatever it looks like */
  async function splitLines(input: Buffer, final: boolean, carryTail: boolean): Promise<void> {
    const buf = carry ? Buffer.concat([carry, input]) : input;
    carry = undefined;
    writes++;
    // mailsplit's runs of lines end with each write
    dataRun = undefined;
    let p = 0;
    /** p is at a line start (false: inside a body line already reported) */
    let atLineStart = !midLine;
    midLine = false;
    // complete lines end here; the rest is an unfinished line
    const lastLf = final ? buf.length - 1 : buf.lastIndexOf(LF);
    const complete = lastLf + 1;
    while (failure === undefined) {
      if (nodesSinceTurn >= YIELD_NODES && !(await turned())) return;
      if (head) {
        if (p >= complete) {
          if (!final) {
            // an unfinished header line waits for the rest; it already counts against the limit
            if (p < buf.length) {
              carry = Buffer.from(buf.subarray(p));
              if (current.mime.headerCost(carry.length) > options.maxHeaderBytes) failure = "maxHeaderBytes";
            }
            return;
          }
          // the input ended inside a header block (after a line ending): it is complete now
          if (!headLine(EMPTY, true)) return;
          continue;
        }
        const lf = buf.indexOf(LF, p);
        const terminated = lf >= 0 && lf < complete;
        const end = terminated ? lf + 1 : complete;
        const line = buf.subarray(p, end);
        p = end;
        atLineStart = true;
        if (!headLine(line, !terminated)) return;
        continue;
      }
      // a body: content up to the next delimiter line (or the end of the complete lines)
      const open = current;
      const contentStart = p;
      const trims = !open.multipartType && open.parent !== undefined;
      let found: { start: number; end: number; delimiter: Delimiter } | undefined;
      let q = p;
      if (longestDelimiter() > 0) {
        while (q < complete) {
          let start: number;
          if (atLineStart && q === p) start = q;
          else {
            const k = buf.indexOf(NL_DASH_DASH, q > 0 ? q - 1 : 0);
            if (k < 0 || k + 1 >= complete) break;
            start = k + 1;
          }
          atLineStart = true;
          const lf = buf.indexOf(LF, start);
          const end = lf < 0 || lf >= complete ? complete : lf + 1;
          const delimiter = delimiterOf(buf.subarray(start, end));
          if (delimiter) {
            if (delimiter.kind === 2 && open.multipartType) {
              // a closing delimiter in the preamble: the multipart goes on, the line is its data
              q = end;
              continue;
            }
            found = { start, end, delimiter };
            break;
          }
          q = end;
        }
      }
      if (!found) {
        // no delimiter in the complete lines: all of it is content, but for the line ending
        // before an unfinished last line (it may belong to a delimiter the next write completes)
        let contentEnd = complete;
        const tail = final ? EMPTY : buf.subarray(complete);
        const mayDelimit =
          !final && (carryTail || (longestDelimiter() > 0 && tail.length <= longestDelimiter() && (tail.length === 0 || tail[0] === DASH) && (tail.length < 2 || tail[1] === DASH)));
        if (mayDelimit && trims && contentEnd > contentStart && buf[contentEnd - 1] === LF) {
          contentEnd--;
          if (contentEnd > contentStart && buf[contentEnd - 1] === CR) contentEnd--;
        }
        await emit(open, buf.subarray(contentStart, contentEnd));
        if (final || failure) return;
        if (mayDelimit) carry = Buffer.from(buf.subarray(contentEnd));
        else {
          // an unfinished line is mailsplit's pending line: it starts a run of its own
          dataRun = undefined;
          await emit(open, tail);
          midLine = tail.length > 0;
        }
        return;
      }
      // content before the delimiter; the line ending in front of it is the delimiter's
      let contentEnd = found.start;
      if (trims && contentEnd > contentStart && buf[contentEnd - 1] === LF) {
        contentEnd--;
        if (contentEnd > contentStart && buf[contentEnd - 1] === CR) contentEnd--;
      }
      // body lines before the delimiter end a run of data lines, even when trimming left nothing of them
      if (found.start > contentStart && !open.multipartType) dataRun = undefined;
      const kind = found.delimiter.kind;
      if (kind === 2) {
        // a closing delimiter before any part, under a boundary parameter of a type that is not
        // multipart: the line is left out of the body, which goes on after it
        await emit(open, buf.subarray(contentStart, contentEnd));
        await emit(open, buf.subarray(contentEnd, found.end), true);
        if (failure) return;
        p = found.end;
        atLineStart = true;
        continue;
      }
      if (kind === 1 || kind === 3) {
        // mailsplit reports a part whose whole body is one line ending with that line ending
        const lone = found.start - contentStart;
        if (contentEnd === contentStart && open.bodyBytes === 0 && (lone === 1 || (lone === 2 && buf[contentStart] === CR))) contentEnd = found.start;
        await emit(open, buf.subarray(contentStart, contentEnd));
        if (failure) return;
        current = newNode(kind === 1 ? open : (found.delimiter as { owner: Open }).owner);
        if (tooManyNodes()) return;
        p = found.end;
        atLineStart = true;
        continue;
      }
      // kind 4: an ancestor's closing delimiter; what follows is its epilogue
      await emit(open, buf.subarray(contentStart, contentEnd));
      if (failure) return;
      current = (found.delimiter as { owner: Open }).owner;
      inEpilogue = true;
      // the delimiter line (with the line ending the part did not keep) is the owner's data
      await emit(current, buf.subarray(contentEnd, found.end), true);
      if (failure) return;
      p = found.end;
      atLineStart = true;
    }
  }

  /** a lone CR becomes LF (the splitter only knows LF line ends); a CR at the end waits for what follows */
  function normalise(input: Buffer): Buffer {
    let chunk = input;
    if (pendingCr) chunk = Buffer.concat([Buffer.from([CR]), input]);
    pendingCr = false;
    if (chunk.length > 0 && chunk[chunk.length - 1] === CR) {
      chunk = chunk.subarray(0, chunk.length - 1);
      pendingCr = true;
    }
    let copy: Buffer | undefined;
    for (let i = chunk.indexOf(CR); i >= 0; i = chunk.indexOf(CR, i + 1)) {
      if (chunk[i + 1] !== LF) {
        copy ??= Buffer.from(chunk);
        copy[i] = LF;
      }
    }
    return copy ?? chunk;
  }

  function run(step: () => Promise<void>): Promise<void> {
    const next = queue.then(async () => {
      if (failure || stopped) return;
      try {
        await step();
      } catch {
        failure = "malformed";
      }
    });
    queue = next;
    return next;
  }

  return {
    get failure() {
      return failure;
    },
    write(input: Buffer): Promise<void> {
      if (failure || ended) return Promise.resolve();
      return run(() => split(normalise(input), false));
    },
    end(): Promise<void> {
      if (!ended) {
        ended = true;
        return run(() => split(pendingCr ? LF_BYTE : EMPTY, true));
      }
      return queue;
    },
  };
}
