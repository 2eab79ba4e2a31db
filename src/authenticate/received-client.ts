/**
 * The fallback for finding the real client when the Internet-zone MTA passed
 * nothing with XFORWARD/XCLIENT: its own Received line. Only the topmost
 * Received field is looked at, and only when its `by` host is one the
 * operator named (authentication.trustedReceivedBy): that line was written by
 * the MTA in front of mumuka; anything below it was written by the Internet.
 *
 * SECURITY: `headerBlock` is the original's header, sender-controlled except
 * for that topmost line. Parsed by mailauth's Received parser (the address
 * from the TCP-info comment, never a HELO literal); bounded by the header
 * block the caller read (at most maxHeaderBytes).
 * Pure; no I/O.
 */
import { isIP } from "node:net";
// CommonJS module of mailauth, no types of its own: see mailauth-tools.d.ts
import received from "mailauth/lib/parse-received.js";

/** `headerBlock`: the header section of the original (up to the blank line); `trusted`: host names, compared case-insensitively */
export function clientFromReceived(headerBlock: string, trusted: string[]): { address: string; helo: string } | undefined {
  const top = firstField(headerBlock, "received");
  if (!top) return undefined;
  const parsed = received.parseReceived(top);
  if (!parsed) return undefined;
  const by = typeof parsed.by?.value === "string" ? parsed.by.value.toLowerCase().replace(/\.$/, "") : "";
  if (!trusted.some((host) => host.toLowerCase().replace(/\.$/, "") === by)) return undefined;
  const address = received.getClientAddress(parsed.from);
  if (typeof address !== "string" || !isIP(address)) return undefined;
  return { address, helo: typeof parsed.from?.value === "string" ? parsed.from.value : "" };
}

/** the first field named `name` (lower case), unfolded */
function firstField(headerBlock: string, name: string): string | undefined {
  const fields = headerBlock.split(/\r?\n(?![ \t])/);
  const field = fields.find((f) => f.slice(0, f.indexOf(":")).trim().toLowerCase() === name);
  return field?.replace(/\r?\n[ \t]/g, " ");
}
