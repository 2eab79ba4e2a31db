/**
 * Files hidden inside text: uuencode, yEnc and BinHex blocks. Thunderbird and
 * Outlook turn such blocks in a text/plain body back into attachments, so a
 * text-only gateway that let them through would deliver attachments after all.
 * Each block is cut out of the text (a marker stays in its place, turned into
 * words by render) and reported as a removed part with its decoded size and
 * SHA-256.
 *
 * SECURITY: the text is sender-controlled; the scans are line-based and
 * linear, and decoding never throws. Nothing decoded is kept beyond hashing
 * and sniffing.
 */

/** Marker left in the text: U+E005 kind U+E006 file name U+E007 (render puts words there). */
export const EMBEDDED_RE = /\uE005([^\uE006]*)\uE006([^\uE007]*)\uE007/g;

export interface EmbeddedFile {
  kind: "uuencode" | "yenc" | "binhex";
  filename: string;
  bytes: Buffer;
}

function uudecodeLine(line: string): Buffer {
  const length = (line.charCodeAt(0) - 32) & 63;
  const out: number[] = [];
  for (let i = 1; i + 3 < line.length + 3 && out.length < length; i += 4) {
    const c = [0, 1, 2, 3].map((k) => ((line.charCodeAt(i + k) || 32) - 32) & 63);
    out.push(((c[0]! << 2) | (c[1]! >> 4)) & 255, ((c[1]! << 4) | (c[2]! >> 2)) & 255, ((c[2]! << 6) | c[3]!) & 255);
  }
  return Buffer.from(out.slice(0, length));
}

function ydecode(lines: string[]): Buffer {
  const out: number[] = [];
  for (const line of lines) {
    for (let i = 0; i < line.length; i++) {
      let b = line.charCodeAt(i) & 255;
      if (b === 0x3d && i + 1 < line.length) {
        i++;
        b = ((line.charCodeAt(i) & 255) - 64) & 255;
      }
      out.push((b - 42) & 255);
    }
  }
  return Buffer.from(out);
}

const UU_BEGIN = /^begin(-base64)? [0-7]{3,4} (\S.*)$/;
const Y_BEGIN = /^=ybegin .*name=(.*)$/;
const BINHEX = /^\(This file must be converted with BinHex/;

/** Cuts embedded files out of a text (LF line ends). */
export function extractEmbedded(text: string): { text: string; files: EmbeddedFile[] } {
  if (!/^(?:begin|=ybegin|\(This file must)/m.test(text)) return { text, files: [] };
  const lines = text.split("\n");
  const out: string[] = [];
  const files: EmbeddedFile[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const uu = UU_BEGIN.exec(line);
    const y = uu ? null : Y_BEGIN.exec(line);
    const bh = uu || y ? false : BINHEX.test(line);
    if (!uu && !y && !bh) {
      out.push(line);
      continue;
    }
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const l = lines[j]!;
      if (uu && (uu[1] ? l.trim() === "====" : l.trim() === "end")) break;
      if (y && l.startsWith("=yend")) break;
      if (bh && body.length > 0 && l.trimEnd().endsWith(":")) {
        body.push(l);
        break;
      }
      if (!y || !l.startsWith("=ypart")) body.push(l);
    }
    let bytes: Buffer;
    let kind: EmbeddedFile["kind"];
    let filename: string;
    if (uu) {
      kind = "uuencode";
      filename = uu[2]!.trim();
      bytes = uu[1] ? Buffer.from(body.join(""), "base64") : Buffer.concat(body.filter((l) => l.length > 0).map(uudecodeLine));
    } else if (y) {
      kind = "yenc";
      filename = y[1]!.trim();
      bytes = ydecode(body);
    } else {
      kind = "binhex";
      filename = "";
      bytes = Buffer.from([line, ...body].join("\n"), "latin1");
    }
    files.push({ kind, filename, bytes });
    out.push(`\uE005${kind}\uE006${filename.replace(/[\uE000-\uE00F]/g, "")}\uE007`);
    i = j; // the end line goes with the block
  }
  return { text: out.join("\n"), files };
}
