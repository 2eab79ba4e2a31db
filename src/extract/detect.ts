/**
 * Which document an attachment is, from its bytes only (the sniffed type and
 * the package's own parts), never from its name: a PDF by its header, an
 * OOXML package by its main part (word/document.xml, xl/workbook.xml,
 * ppt/presentation.xml), an OpenDocument file by its `mimetype` entry, a
 * legacy binary Office file by the OLE compound-file signature.
 *
 * SECURITY: reads only the ZIP central directory and the small stored
 * `mimetype` entry (bounded), no XML. Pure.
 */
import type { DocumentKind } from "./extract-types.ts";
import { openZip } from "./zip.ts";

/** the ODF `mimetype` entry is a few dozen bytes; reading more of it is never needed */
const MIMETYPE_BYTES = 256;
const PDF_HEADER_WINDOW = 1024;
const CFB = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);

/** True when the first bytes may start a document worth keeping (a PDF, a ZIP package, an OLE file). */
export function mayBeDocument(head: Uint8Array): boolean {
  const b = Buffer.from(head.buffer, head.byteOffset, Math.min(head.byteLength, PDF_HEADER_WINDOW));
  return (b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04) || b.includes("%PDF-") || b.subarray(0, 8).equals(CFB);
}

export function documentKindOf(bytes: Uint8Array): DocumentKind | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.subarray(0, 8).equals(CFB)) return "legacy-office";
  if (b.subarray(0, PDF_HEADER_WINDOW).includes("%PDF-")) return "pdf";
  if (!(b[0] === 0x50 && b[1] === 0x4b)) return undefined;
  try {
    // the budget only covers the mimetype entry: nothing else is inflated here
    const zip = openZip(bytes, MIMETYPE_BYTES);
    if (zip.has("word/document.xml")) return "docx";
    if (zip.has("xl/workbook.xml")) return "xlsx";
    if (zip.has("ppt/presentation.xml")) return "pptx";
    const mimetype = zip.has("mimetype") ? zip.read("mimetype")?.toString("latin1").trim() : undefined;
    if (mimetype === "application/vnd.oasis.opendocument.text") return "odt";
    if (mimetype === "application/vnd.oasis.opendocument.spreadsheet") return "ods";
    if (mimetype === "application/vnd.oasis.opendocument.presentation") return "odp";
  } catch {
    return undefined; // not a readable package: an ordinary (or broken) archive, not a document
  }
  return undefined;
}

/** the kind a too-large file was probably, for the report: its sniffed type, with the name's extension only to pick among OOXML/ODF */
export function kindOfUnread(sniffedType: string | undefined, filename: string): DocumentKind | undefined {
  const ext = /\.([a-z]{3,4})$/i.exec(filename)?.[1]?.toLowerCase() ?? "";
  if (sniffedType === "application/pdf") return "pdf";
  if (sniffedType === "application/x-ole-storage") return "legacy-office";
  if (sniffedType === "application/vnd.openxmlformats-officedocument" && ["docx", "xlsx", "pptx"].includes(ext)) return ext as DocumentKind;
  if (sniffedType === "application/vnd.oasis.opendocument" && ["odt", "ods", "odp"].includes(ext)) return ext as DocumentKind;
  return undefined;
}
