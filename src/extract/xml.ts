/**
 * Streaming XML for the document formats: `sax` (strict mode) turned into
 * open / close / text callbacks, with the bounds the formats need.
 *
 * Why sax: a small, long-maintained streaming parser with no DOM (memory does
 * not grow with the document) and no DTD processing: it never reads an
 * external entity (it has no I/O at all) and with `strictEntities` knows only
 * the five XML entities. On top of that any DOCTYPE that declares an entity is
 * refused outright (billion laughs, external entities: "xml-entities"), and
 * element nesting is bounded ("xml-depth").
 *
 * SECURITY: the XML is the sender's. Pure; no state beyond one parse.
 */
import { TextDecoder } from "node:util";
import sax from "sax";
import { ExtractError } from "./extract-error.ts";

export interface XmlHandlers {
  open?(name: string, attributes: Record<string, string>): void;
  close?(name: string): void;
  text?(text: string): void;
}

/** thrown by a handler to end the parse early (a budget reached): not an error */
export class StopParsing extends Error {}

/**
 * bytes decoded and handed to sax at a time: the whole entry never becomes one string (a 64 MB
 * part would be 128 MB of heap), and a parse stopped early decodes no more
 */
const CHUNK_BYTES = 256 * 1024;

/** the decoder of an XML entity: UTF-16 by its byte order mark, UTF-8 otherwise (the formats allow no other) */
function decoderFor(bytes: Buffer): { decoder: TextDecoder; skip: number } {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return { decoder: new TextDecoder("utf-16le"), skip: 2 };
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return { decoder: new TextDecoder("utf-16be"), skip: 2 };
  return { decoder: new TextDecoder("utf-8"), skip: bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0 };
}

/** Parses `bytes` as XML; returns false when a handler stopped it early. */
export function parseXml(bytes: Buffer, maxDepth: number, handlers: XmlHandlers): boolean {
  const parser = sax.parser(true, { strictEntities: true, trim: false, normalize: false, xmlns: false, position: false });
  let depth = 0;
  let failure: Error | undefined;
  parser.onerror = (error) => {
    failure ??= error;
    throw error;
  };
  parser.ondoctype = (doctype) => {
    if (/<!ENTITY|SYSTEM|PUBLIC/i.test(doctype)) throw new ExtractError("xml-entities", "XML entity declarations are refused");
  };
  parser.onopentag = (tag) => {
    depth++;
    if (depth > maxDepth) throw new ExtractError("xml-depth", `XML nested deeper than ${maxDepth}`);
    handlers.open?.(tag.name, tag.attributes);
  };
  parser.onclosetag = (name) => {
    depth--;
    handlers.close?.(name);
  };
  if (handlers.text) {
    parser.ontext = handlers.text;
    parser.oncdata = handlers.text;
  }
  const { decoder, skip } = decoderFor(bytes);
  try {
    for (let i = skip; i < bytes.length; i += CHUNK_BYTES) parser.write(decoder.decode(bytes.subarray(i, i + CHUNK_BYTES), { stream: true }));
    parser.write(decoder.decode());
    parser.close();
  } catch (error) {
    if (error instanceof StopParsing) return false;
    if (error instanceof ExtractError) throw error;
    const message = (failure ?? (error as Error)).message.split("\n")[0] ?? "";
    if (/entity/i.test(message)) throw new ExtractError("xml-entities", `XML: ${message.slice(0, 100)}`);
    throw new ExtractError("malformed", `XML: ${message.slice(0, 100)}`);
  }
  return true;
}

/** the local part of a prefixed name: "w:t" → "t" */
export function local(name: string): string {
  const colon = name.indexOf(":");
  return colon < 0 ? name : name.slice(colon + 1);
}
