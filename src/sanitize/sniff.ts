/**
 * Type sniffing and password-protection (PPAP) detection on streamed parts.
 *
 * A sniffer sees every decoded chunk of one part: it keeps only the first
 * HEAD_BYTES bytes (for magic numbers) plus a few bytes of carry-over for the
 * patterns that can sit anywhere (/Encrypt in a PDF trailer, the
 * "EncryptionInfo" stream name of an encrypted OOXML file in a CFB directory),
 * so memory does not grow with the part.
 *
 * SECURITY: the bytes are sender-controlled; nothing is executed or
 * decompressed, only compared. The result is advisory (shown to staff and
 * administrators); removal does not depend on it — every part is removed.
 */

/** enough for every magic number below, and for the first ZIP entry's name */
const HEAD_BYTES = 4096;

const PDF_ENCRYPT = Buffer.from("/Encrypt");
const CFB_ENCRYPTION_INFO = Buffer.from("EncryptionInfo", "utf16le");
const CARRY = Math.max(PDF_ENCRYPT.length, CFB_ENCRYPTION_INFO.length);

export interface SniffResult {
  /** MIME-like name of the recognised type, e.g. "application/x-msdownload" */
  sniffedType?: string;
  /** family used to compare with the declared type and extension */
  family?: string;
  encrypted: boolean;
}

export interface Sniffer {
  update(chunk: Buffer): void;
  finish(): SniffResult;
}

interface Magic {
  family: string;
  type: string;
  test: (head: Buffer) => boolean;
}

const starts = (sig: string | number[], offset = 0) => (head: Buffer): boolean => {
  const bytes = typeof sig === "string" ? Buffer.from(sig, "latin1") : Buffer.from(sig);
  return head.length >= offset + bytes.length && head.subarray(offset, offset + bytes.length).equals(bytes);
};

const MAGICS: Magic[] = [
  { family: "exe", type: "application/x-msdownload", test: (h) => starts("MZ")(h) },
  { family: "exe", type: "application/x-elf", test: starts([0x7f, 0x45, 0x4c, 0x46]) },
  {
    family: "exe",
    type: "application/x-mach-binary",
    test: (h) =>
      [[0xfe, 0xed, 0xfa, 0xce], [0xfe, 0xed, 0xfa, 0xcf], [0xce, 0xfa, 0xed, 0xfe], [0xcf, 0xfa, 0xed, 0xfe]].some((s) => starts(s)(h)) ||
      // universal binary; Java class files share CAFEBABE, told apart by a small arch count
      (starts([0xca, 0xfe, 0xba, 0xbe])(h) && h.length >= 8 && h.readUInt32BE(4) < 20),
  },
  { family: "exe", type: "application/java-vm", test: (h) => starts([0xca, 0xfe, 0xba, 0xbe])(h) },
  { family: "lnk", type: "application/x-ms-shortcut", test: starts([0x4c, 0x00, 0x00, 0x00, 0x01, 0x14, 0x02, 0x00]) },
  { family: "pdf", type: "application/pdf", test: (h) => h.subarray(0, 1024).includes("%PDF-") },
  {
    family: "zip",
    type: "application/vnd.openxmlformats-officedocument",
    test: (h) => starts("PK\x03\x04")(h) && (h.includes("[Content_Types].xml") || h.includes("word/") || h.includes("xl/") || h.includes("ppt/")),
  },
  { family: "zip", type: "application/vnd.oasis.opendocument", test: (h) => starts("PK\x03\x04")(h) && h.includes("mimetypeapplication/vnd.oasis") },
  { family: "zip", type: "application/zip", test: (h) => starts("PK\x03\x04")(h) || starts("PK\x05\x06")(h) || starts("PK\x07\x08")(h) },
  { family: "cfb", type: "application/x-ole-storage", test: starts([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]) },
  { family: "archive", type: "application/vnd.rar", test: starts("Rar!\x1a\x07") },
  { family: "archive", type: "application/x-7z-compressed", test: starts([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]) },
  { family: "archive", type: "application/gzip", test: starts([0x1f, 0x8b]) },
  { family: "archive", type: "application/x-bzip2", test: starts("BZh") },
  { family: "archive", type: "application/x-xz", test: starts([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) },
  { family: "archive", type: "application/vnd.ms-cab-compressed", test: starts("MSCF") },
  { family: "archive", type: "application/x-lzh-compressed", test: (h) => /^-lh[0-7d]-$/.test(h.subarray(2, 7).toString("latin1")) },
  { family: "archive", type: "application/x-iso9660-image", test: starts("CD001", 0x8001) },
  { family: "tnef", type: "application/ms-tnef", test: starts([0x78, 0x9f, 0x3e, 0x22]) },
  { family: "image", type: "image/png", test: starts([0x89, 0x50, 0x4e, 0x47]) },
  { family: "image", type: "image/jpeg", test: starts([0xff, 0xd8, 0xff]) },
  { family: "image", type: "image/gif", test: starts("GIF8") },
  { family: "image", type: "image/bmp", test: (h) => starts("BM")(h) && h.length > 14 },
  { family: "image", type: "image/webp", test: (h) => starts("RIFF")(h) && starts("WEBP", 8)(h) },
  { family: "image", type: "image/tiff", test: (h) => starts("II*\x00")(h) || starts("MM\x00*")(h) },
  { family: "rtf", type: "application/rtf", test: starts("{\\rtf") },
  { family: "script", type: "text/x-shellscript", test: starts("#!") },
  {
    family: "html",
    type: "text/html",
    test: (h) => /^\s*(?:<!doctype html|<html|<head|<body|<script|<svg|<hta:)/i.test(h.subarray(0, 512).toString("latin1")),
  },
];

function recognise(head: Buffer): Magic | undefined {
  return MAGICS.find((m) => m.test(head));
}

/** ZIP: bit 0 of the general purpose flags of the first local file header = entry encrypted. */
function zipFirstEncrypted(head: Buffer): boolean {
  return head.length >= 8 && starts("PK\x03\x04")(head) && (head.readUInt16LE(6) & 0x0001) === 1;
}

/** RAR 4: archive header flag 0x0080 (headers encrypted); RAR 5: an archive encryption header (type 4). */
function rarEncrypted(head: Buffer): boolean {
  if (starts("Rar!\x1a\x07\x00")(head) && head.length >= 12) return (head.readUInt16LE(10) & 0x0080) !== 0;
  if (starts("Rar!\x1a\x07\x01\x00")(head) && head.length >= 14) {
    // after the 8-byte signature: CRC32 (4), header size (vint), header type (vint)
    let i = 12;
    while (i < head.length && (head[i]! & 0x80) !== 0) i++;
    return head[i + 1] === 4;
  }
  return false;
}

const ZIP_LOCAL = Buffer.from("PK\x03\x04", "latin1");
/** a local file header is 30 bytes; this much is carried over so a header split between chunks is still read */
const ZIP_HEADER = 30;
/** compression methods real archives use (stored, deflate, deflate64, bzip2, LZMA, zstd, xz, PPMd, AES) */
const ZIP_METHODS = new Set([0, 8, 9, 12, 14, 93, 95, 98, 99]);

/** An encrypted entry among plausible local file headers in this window (not only the first: PPAP archives may start with a readme). */
function zipWindowEncrypted(window: Buffer): boolean {
  for (let i = window.indexOf(ZIP_LOCAL); i >= 0 && i + ZIP_HEADER <= window.length; i = window.indexOf(ZIP_LOCAL, i + 1)) {
    const version = window.readUInt16LE(i + 4);
    const flags = window.readUInt16LE(i + 6);
    const method = window.readUInt16LE(i + 8);
    const nameLength = window.readUInt16LE(i + 26);
    // the plausibility checks keep a "PK\3\4" inside compressed data from counting
    if (version < 100 && ZIP_METHODS.has(method) && nameLength > 0 && nameLength <= 1024 && (flags & 0x0001) === 1) return true;
  }
  return false;
}

export function createSniffer(): Sniffer {
  let zipLike: boolean | undefined;
  let zipCarry = Buffer.alloc(0);
  let zipEncrypted = false;
  const headChunks: Buffer[] = [];
  let headLength = 0;
  let carry = Buffer.alloc(0);
  let pdfEncrypt = false;
  let cfbEncryption = false;
  return {
    update(chunk: Buffer): void {
      if (zipLike === undefined && chunk.length >= 2) zipLike = headLength === 0 && chunk[0] === 0x50 && chunk[1] === 0x4b;
      if (zipLike && !zipEncrypted) {
        const window = zipCarry.length ? Buffer.concat([zipCarry, chunk]) : chunk;
        zipEncrypted = zipWindowEncrypted(window);
        zipCarry = Buffer.from(window.subarray(Math.max(0, window.length - (ZIP_HEADER - 1))));
      }
      if (headLength < HEAD_BYTES) {
        const take = chunk.subarray(0, HEAD_BYTES - headLength);
        headChunks.push(Buffer.from(take));
        headLength += take.length;
      }
      if (pdfEncrypt && cfbEncryption) return;
      const window = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      if (!pdfEncrypt && window.includes(PDF_ENCRYPT)) pdfEncrypt = true;
      if (!cfbEncryption && window.includes(CFB_ENCRYPTION_INFO)) cfbEncryption = true;
      carry = Buffer.from(window.subarray(Math.max(0, window.length - CARRY)));
    },
    finish(): SniffResult {
      const head = Buffer.concat(headChunks);
      const magic = recognise(head);
      if (!magic) return { encrypted: false };
      let encrypted = false;
      if (magic.family === "zip") encrypted = zipEncrypted || zipFirstEncrypted(head);
      else if (magic.type === "application/pdf") encrypted = pdfEncrypt;
      else if (magic.family === "cfb") encrypted = cfbEncryption;
      else if (magic.type === "application/vnd.rar") encrypted = rarEncrypted(head);
      return { sniffedType: magic.type, family: magic.family, encrypted };
    },
  };
}

/** File extensions (lower case) and the family their content should belong to. */
const EXTENSION_FAMILY: Record<string, string> = {
  exe: "exe", dll: "exe", scr: "exe", com: "exe", sys: "exe", cpl: "exe", ocx: "exe", pif: "exe", efi: "exe", so: "exe", dylib: "exe", bin: "",
  lnk: "lnk",
  pdf: "pdf",
  zip: "zip", docx: "zip", xlsx: "zip", pptx: "zip", docm: "zip", xlsm: "zip", pptm: "zip", odt: "zip", ods: "zip", odp: "zip", jar: "zip", apk: "zip", epub: "zip", kmz: "zip", xps: "zip",
  doc: "cfb", xls: "cfb", ppt: "cfb", msg: "cfb", msi: "cfb", vsd: "cfb", pub: "cfb",
  rar: "archive", "7z": "archive", gz: "archive", tgz: "archive", bz2: "archive", xz: "archive", cab: "archive", lzh: "archive", lha: "archive", iso: "archive",
  dat: "",
  png: "image", jpg: "image", jpeg: "image", gif: "image", bmp: "image", webp: "image", tif: "image", tiff: "image",
  rtf: "rtf",
  txt: "text", csv: "text", log: "text", ics: "text", vcf: "text", xml: "text", json: "text", md: "text", eml: "text",
  htm: "html", html: "html", hta: "html", svg: "html",
  sh: "script", py: "script", pl: "script",
};

/** Declared MIME types and their family. */
function typeFamily(contentType: string): string | undefined {
  if (contentType.startsWith("image/")) return "image";
  if (contentType === "application/pdf") return "pdf";
  if (contentType === "application/zip" || contentType === "application/x-zip-compressed" || contentType.includes("openxmlformats") || contentType.includes("opendocument"))
    return "zip";
  if (contentType === "application/msword" || contentType === "application/vnd.ms-excel" || contentType === "application/vnd.ms-powerpoint" || contentType === "application/vnd.ms-outlook")
    return "cfb";
  if (contentType === "text/html") return "html";
  if (contentType.startsWith("text/")) return "text";
  if (contentType === "application/ms-tnef" || contentType === "application/vnd.ms-tnef") return "tnef";
  if (contentType === "application/x-msdownload" || contentType === "application/x-msdos-program" || contentType === "application/x-dosexec") return "exe";
  return undefined; // application/octet-stream and the rest: no claim made
}

/**
 * A file name as Windows opens it: trailing dots and spaces are dropped by
 * the file system, so "invoice.exe." and "invoice.exe  " are invoice.exe.
 * A loop, not an end-anchored regex (quadratic on long runs).
 */
export function windowsName(filename: string): string {
  let end = filename.length;
  while (end > 0 && (filename[end - 1] === "." || filename[end - 1] === " " || filename[end - 1] === "\t")) end--;
  return filename.slice(0, end);
}

export function extensionOf(filename: string): string {
  const m = /\.([A-Za-z0-9]{1,10})$/.exec(windowsName(filename).slice(-11));
  return m ? (m[1] ?? "").toLowerCase() : "";
}

/**
 * True when the sniffed family contradicts what the file name's extension or
 * the declared type claims. Executables contradict every non-executable claim;
 * images never contradict other images (a PNG named .jpg deceives nobody).
 */
export function isMismatch(sniffedFamily: string | undefined, contentType: string, filename: string): boolean {
  if (!sniffedFamily) return false;
  const claims = [EXTENSION_FAMILY[extensionOf(filename)], typeFamily(contentType)].filter((c): c is string => Boolean(c));
  return claims.some((claim) => claim !== sniffedFamily && !(claim === "text" && sniffedFamily === "script"));
}
