/**
 * text/plain; format=flowed (RFC 3676): soft line breaks joined back, so
 * paragraphs read as written (Thunderbird sends Japanese mail this way, with
 * DelSp=yes so no space appears between joined Japanese characters).
 *
 * SECURITY: sender text in, text out; linear. Pure.
 */

/** Unflows LF-separated text. */
export function unflow(text: string, delSp: boolean): string {
  const out: string[] = [];
  let current: { depth: number; text: string } | undefined;
  for (const raw of text.split("\n")) {
    const depth = /^>*/.exec(raw)![0].length;
    let line = raw.slice(depth);
    if (line.startsWith(" ")) line = line.slice(1); // space-stuffing (or the space after quote marks)
    const flowed = line.endsWith(" ") && line !== "-- ";
    const piece = flowed && delSp ? line.slice(0, -1) : line;
    if (current && current.depth === depth) current.text += piece;
    else {
      if (current) out.push(`${">".repeat(current.depth)}${current.depth ? " " : ""}${current.text}`);
      current = { depth, text: piece };
    }
    if (!flowed) {
      out.push(`${">".repeat(current.depth)}${current.depth ? " " : ""}${current.text}`);
      current = undefined;
    }
  }
  if (current) out.push(`${">".repeat(current.depth)}${current.depth ? " " : ""}${current.text}`);
  return out.join("\n");
}
