/**
 * How header values a sender wrote are shown: RFC 2047 encoded words decoded
 * (the audit summary may carry the raw header value), then control and bidi
 * characters made visible. The result is still untrusted text: it goes
 * through `html```, which escapes it.
 */
import { decodeWords } from "../sanitize/header-decode.ts";
import { visible } from "./html.ts";

/** Longest header value decoded for display; longer ones are cut (the full value stays in the audit trail). */
const MAX_HEADER_CHARS = 2000;

export function headerText(value: string): string {
  const cut = value.length > MAX_HEADER_CHARS ? `${value.slice(0, MAX_HEADER_CHARS)}…` : value;
  let decoded = cut;
  try {
    decoded = decodeWords(cut);
  } catch {
    decoded = cut; // undecodable: shown as written
  }
  return visible(decoded);
}
