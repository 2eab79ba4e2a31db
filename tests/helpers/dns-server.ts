/**
 * A small authoritative DNS server on loopback (UDP) for the authentication
 * tests: serves TXT, A, AAAA and MX records from an in-memory zone, answers
 * NXDOMAIN for unknown names, SERVFAIL for names marked so, and never answers
 * names marked "drop" (a resolver time-out). No recursion, no Internet.
 *
 * Counts the queries it received, so a test can see that a cache answered.
 *
 * SECURITY: binds 127.0.0.1 only; queries are parsed with bounds checks and a
 * malformed one is ignored.
 */
import dgram from "node:dgram";

export type RecordSet = { TXT?: string[]; A?: string[]; AAAA?: string[]; MX?: { exchange: string; priority: number }[] };
export type Zone = Record<string, RecordSet | "servfail" | "drop">;

export interface DnsServer {
  /** "127.0.0.1:port", for a resolver's server list */
  address: string;
  zone: Zone;
  queries: { name: string; type: string }[];
  close(): Promise<void>;
}

const TYPES: Record<number, string> = { 1: "A", 15: "MX", 16: "TXT", 28: "AAAA" };
const CODES: Record<string, number> = { A: 1, MX: 15, TXT: 16, AAAA: 28 };

function readName(msg: Buffer, offset: number): { name: string; end: number } | undefined {
  const labels: string[] = [];
  let at = offset;
  while (at < msg.length) {
    const len = msg[at]!;
    if (len === 0) return { name: labels.join("."), end: at + 1 };
    if (len > 63 || at + 1 + len > msg.length) return undefined;
    labels.push(msg.subarray(at + 1, at + 1 + len).toString("latin1"));
    at += 1 + len;
  }
  return undefined;
}

function encodeName(name: string): Buffer {
  const parts = name.split(".").filter(Boolean).map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label, "latin1")]));
  return Buffer.concat([...parts, Buffer.from([0])]);
}

function rdata(type: string, value: string | { exchange: string; priority: number }): Buffer {
  if (type === "A") return Buffer.from((value as string).split(".").map(Number));
  if (type === "AAAA") {
    const full = (value as string).includes("::") ? expand6(value as string) : (value as string).split(":");
    return Buffer.concat(full.map((h) => Buffer.from([parseInt(h, 16) >> 8, parseInt(h, 16) & 255])));
  }
  if (type === "MX") {
    const mx = value as { exchange: string; priority: number };
    return Buffer.concat([Buffer.from([mx.priority >> 8, mx.priority & 255]), encodeName(mx.exchange)]);
  }
  // TXT: character-strings of at most 255 bytes (a 2048-bit DKIM key needs several)
  const bytes = Buffer.from(value as string, "latin1");
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length || i === 0; i += 255) {
    const piece = bytes.subarray(i, i + 255);
    chunks.push(Buffer.from([piece.length]), piece);
    if (bytes.length === 0) break;
  }
  return Buffer.concat(chunks);
}

function expand6(value: string): string[] {
  const [head, tail] = value.split("::") as [string, string];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  return [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
}

export async function startDnsServer(zone: Zone = {}): Promise<DnsServer> {
  const socket = dgram.createSocket("udp4");
  const queries: { name: string; type: string }[] = [];
  const server: DnsServer = {
    address: "",
    zone,
    queries,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on("message", (msg, rinfo) => {
    if (msg.length < 12) return;
    const q = readName(msg, 12);
    if (!q || q.end + 4 > msg.length) return;
    const qtype = msg.readUInt16BE(q.end);
    const type = TYPES[qtype] ?? String(qtype);
    const name = q.name.toLowerCase();
    queries.push({ name, type });
    const entry = server.zone[name];
    if (entry === "drop") return;
    const question = msg.subarray(12, q.end + 4);
    let rcode = 0;
    const answers: Buffer[] = [];
    if (entry === "servfail") rcode = 2;
    else if (!entry) rcode = 3;
    else {
      for (const value of (entry[type as keyof RecordSet] ?? []) as (string | { exchange: string; priority: number })[]) {
        const data = rdata(type, value);
        const fixed = Buffer.alloc(10);
        fixed.writeUInt16BE(CODES[type]!, 0);
        fixed.writeUInt16BE(1, 2);
        fixed.writeUInt32BE(300, 4);
        fixed.writeUInt16BE(data.length, 8);
        answers.push(Buffer.concat([Buffer.from([0xc0, 12]), fixed, data]));
      }
    }
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2);
    header.writeUInt16BE(0x8400 | (msg.readUInt16BE(2) & 0x0100) | rcode, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    socket.send(Buffer.concat([header, question, ...answers]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  server.address = `127.0.0.1:${socket.address().port}`;
  return server;
}
