/**
 * Retained originals: a spool record the gateway is done with is retired into
 * the store; the exact bytes come back, private on disk, encrypted when a key
 * is configured (and then useless without it), every retrieval is an audit
 * event naming who asked, a wrong key or an altered file fails clearly, a
 * message still queued is served from the spool, and nothing outlives its
 * retention.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditEventInput, AuditSink } from "../../src/audit/audit-types.ts";
import { originalsSchema } from "../../src/config/schema.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { OriginalKeyError, OriginalNotFoundError, openOriginals } from "../../src/originals/index.ts";
import { writeSpoolRecord } from "../helpers/spool-record.ts";

const KEY_HEX = "11".repeat(32);
const OTHER_KEY_B64 = Buffer.alloc(32, 7).toString("base64");
const DAY = 24 * 3600 * 1000;

function recordingSink(): AuditSink & { events: AuditEventInput[] } {
  const events: AuditEventInput[] = [];
  return { events, record: (e) => void events.push(e), flush: async () => {} };
}

async function bytes(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

describe("retained originals", () => {
  let dataDir: string;
  const raw = Buffer.concat([Buffer.from("From: a@example.jp\r\nSubject: =?UTF-8?B?5Lu25ZCN?=\r\n\r\n本文\r\n"), randomBytes(300_000)]);
  /** a spool record of `raw` for `id`, as the receiver wrote it */
  const spooled = (id: string, bytes: Buffer = raw): string => {
    const file = path.join(dataDir, `spooled-${id}`);
    writeSpoolRecord(file, id, bytes);
    return file;
  };

  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "mumuka-orig-"));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it("takes the record out of the spool, gives back the exact bytes, stored privately, and records who retrieved them", async () => {
    const audit = recordingSink();
    const store = openOriginals({ config: originalsSchema.parse({}), dataDir, audit });
    const id = newAuditId();
    const source = spooled(id);
    expect(await store.retire(id, source)).toBe(true);
    expect(existsSync(source)).toBe(false);
    const day = readdirSync(path.join(dataDir, "originals"))[0]!;
    const file = path.join(dataDir, "originals", day, `${id}.rec`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dataDir, "originals", day)).mode & 0o777).toBe(0o700);
    expect((await bytes(await store.get(id, "cli:tanaka"))).equals(raw)).toBe(true);
    expect(audit.events).toEqual([{ type: "original-retrieved", auditId: id, actor: "cli:tanaka", data: { encrypted: false, storedBytes: raw.length } }]);
  });

  it("encrypts at rest with the key from the environment, and decrypts to the exact bytes", async () => {
    const audit = recordingSink();
    const store = openOriginals({ config: originalsSchema.parse({ keyEnv: "MMK_KEY" }), dataDir, audit, env: { MMK_KEY: KEY_HEX } });
    const id = newAuditId();
    const source = spooled(id);
    expect(await store.retire(id, source)).toBe(true);
    expect(existsSync(source)).toBe(false);
    const day = readdirSync(path.join(dataDir, "originals"))[0]!;
    const file = path.join(dataDir, "originals", day, `${id}.eml.enc`);
    const stored = readFileSync(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(stored.includes(Buffer.from("Subject:"))).toBe(false);
    expect(stored.includes(raw.subarray(100, 132))).toBe(false);
    expect((await bytes(await store.get(id, "admin:sato"))).equals(raw)).toBe(true);
    expect(audit.events[0]).toMatchObject({ type: "original-retrieved", actor: "admin:sato", data: { encrypted: true } });
  });

  it("round-trips an empty message, plain and encrypted", async () => {
    for (const keyEnv of [undefined, "MMK_KEY"]) {
      const store = openOriginals({ config: originalsSchema.parse({ keyEnv }), dataDir, audit: recordingSink(), env: { MMK_KEY: KEY_HEX } });
      const id = newAuditId();
      await store.retire(id, spooled(id, Buffer.alloc(0)));
      expect((await bytes(await store.get(id, "cli:x"))).length).toBe(0);
    }
  });

  it("refuses a wrong key clearly, before recording or releasing anything", async () => {
    const id = newAuditId();
    await openOriginals({ config: originalsSchema.parse({ keyEnv: "MMK_KEY" }), dataDir, audit: recordingSink(), env: { MMK_KEY: KEY_HEX } }).retire(id, spooled(id));
    const audit = recordingSink();
    const wrong = openOriginals({ config: originalsSchema.parse({ keyEnv: "MMK_KEY" }), dataDir, audit, env: { MMK_KEY: OTHER_KEY_B64 } });
    await expect(wrong.get(id, "cli:x")).rejects.toThrow(/different key/);
    await expect(wrong.get(id, "cli:x")).rejects.toBeInstanceOf(OriginalKeyError);
    expect(audit.events).toEqual([]);
    const nokey = openOriginals({ config: originalsSchema.parse({}), dataDir, audit });
    await expect(nokey.get(id, "cli:x")).rejects.toThrow(/encrypted; set originals.keyEnv/);
  });

  it("fails authentication on an altered, truncated or extended file", async () => {
    const store = openOriginals({ config: originalsSchema.parse({ keyEnv: "MMK_KEY" }), dataDir, audit: recordingSink(), env: { MMK_KEY: KEY_HEX } });
    const id = newAuditId();
    await store.retire(id, spooled(id));
    const day = readdirSync(path.join(dataDir, "originals"))[0]!;
    const file = path.join(dataDir, "originals", day, `${id}.eml.enc`);
    const good = readFileSync(file);

    const flipped = Buffer.from(good);
    flipped[200_000]! ^= 1;
    writeFileSync(file, flipped);
    await expect(bytes(await store.get(id, "cli:x"))).rejects.toThrow(/authentication failed/);

    writeFileSync(file, good.subarray(0, good.length - 40_000));
    await expect(bytes(await store.get(id, "cli:x"))).rejects.toThrow(/truncated|authentication/);

    writeFileSync(file, Buffer.concat([good, Buffer.from("extra")]));
    await expect(bytes(await store.get(id, "cli:x"))).rejects.toThrow(/after the final chunk/);
  });

  it("will not start with a key variable that is missing or malformed", () => {
    const config = originalsSchema.parse({ keyEnv: "MMK_KEY" });
    expect(() => openOriginals({ config, dataDir, audit: recordingSink(), env: {} })).toThrow(/MMK_KEY.*not set/);
    expect(() => openOriginals({ config, dataDir, audit: recordingSink(), env: { MMK_KEY: "short" } })).toThrow(/32-byte key/);
  });

  it("rejects what is not an audit id before it touches a path, and says when there is nothing", async () => {
    const store = openOriginals({ config: originalsSchema.parse({}), dataDir, audit: recordingSink() });
    await expect(store.get("../../etc/passwd", "cli:x")).rejects.toBeInstanceOf(OriginalNotFoundError);
    await expect(store.retire("../x", spooled(newAuditId()))).rejects.toBeInstanceOf(OriginalNotFoundError);
    await expect(store.get(newAuditId(), "cli:x")).rejects.toThrow(/no retained original/);
  });

  it("purges originals past their retention, and records the purge", async () => {
    const audit = recordingSink();
    const store = openOriginals({ config: originalsSchema.parse({ retentionDays: 30 }), dataDir, audit });
    const now = Date.parse("2026-11-26T03:00:00Z");
    const old = newAuditId(new Date(now - 31 * DAY));
    const recent = newAuditId(new Date(now - 29 * DAY));
    await store.retire(old, spooled(old));
    await store.retire(recent, spooled(recent));
    expect(await store.purge(new Date(now))).toBe(1);
    await expect(store.get(old, "cli:x")).rejects.toThrow(/no retained original/);
    expect((await bytes(await store.get(recent, "cli:x"))).equals(raw)).toBe(true);
    expect(audit.events[0]).toMatchObject({ type: "purged", data: { what: "originals", removed: 1 } });
    expect(readdirSync(path.join(dataDir, "originals"))).toHaveLength(1); // the emptied day is gone
  });

  it("keeps none when the retention is zero days, and leaves the record to the spool", async () => {
    const store = openOriginals({ config: originalsSchema.parse({ retentionDays: 0 }), dataDir, audit: recordingSink() });
    const id = newAuditId();
    const source = spooled(id);
    expect(await store.retire(id, source)).toBe(false);
    expect(existsSync(source)).toBe(true);
    await expect(store.get(id, "cli:x")).rejects.toThrow(/no retained original/);
  });

  it("serves a message still in the queue from its spool record, and one retired by an earlier version as it is", async () => {
    const audit = recordingSink();
    const store = openOriginals({ config: originalsSchema.parse({}), dataDir, audit });
    const held = newAuditId();
    mkdirSync(path.join(dataDir, "spool", "held"), { recursive: true });
    writeSpoolRecord(path.join(dataDir, "spool", "held", held), held, raw);
    expect((await bytes(await store.get(held, "admin:sato"))).equals(raw)).toBe(true);
    expect(audit.events[0]).toMatchObject({ type: "original-retrieved", auditId: held, data: { encrypted: false, storedBytes: raw.length } });

    const older = newAuditId();
    const dayDir = path.join(dataDir, "originals", `${older.slice(0, 4)}-${older.slice(4, 6)}-${older.slice(6, 8)}`);
    mkdirSync(dayDir, { recursive: true });
    writeFileSync(path.join(dayDir, `${older}.eml`), raw, { mode: 0o600 });
    expect((await bytes(await store.get(older, "admin:sato"))).equals(raw)).toBe(true);
  });

  it("serves a finished record waiting in done/ only when its bytes match their hash (a deleted corrupt record waits there too)", async () => {
    const store = openOriginals({ config: originalsSchema.parse({}), dataDir, audit: recordingSink() });
    mkdirSync(path.join(dataDir, "spool", "done"), { recursive: true });
    const whole = newAuditId();
    writeSpoolRecord(path.join(dataDir, "spool", "done", whole), whole, raw);
    expect((await bytes(await store.get(whole, "admin:sato"))).equals(raw)).toBe(true);
    // a corrupt record deleted by an administrator: its framing reads, its bytes are not the ones received
    const corrupt = newAuditId();
    const file = path.join(dataDir, "spool", "done", corrupt);
    writeSpoolRecord(file, corrupt, raw);
    const tampered = readFileSync(file);
    const at = tampered.indexOf(raw) + 3;
    tampered[at] = tampered[at]! ^ 0x20;
    writeFileSync(file, tampered);
    await expect(store.get(corrupt, "admin:sato")).rejects.toThrow(/no retained original/);
  });

  it("keeps an original although a crash left a temp file of the same process id (a container restarts as pid 1 again)", async () => {
    const store = openOriginals({ config: originalsSchema.parse({ keyEnv: "MMK_KEY" }), dataDir, audit: recordingSink(), env: { MMK_KEY: KEY_HEX } });
    const id = newAuditId();
    const dayDir = path.join(dataDir, "originals", `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}`);
    mkdirSync(dayDir, { recursive: true });
    writeFileSync(path.join(dayDir, `${id}.eml.enc.tmp-${process.pid}`), "half-written");
    await store.retire(id, spooled(id));
    expect((await bytes(await store.get(id, "cli:x"))).equals(raw)).toBe(true);
  });

  it("retires the same message again (delivered again after a crash before its record was removed)", async () => {
    for (const keyEnv of [undefined, "MMK_KEY"]) {
      const store = openOriginals({ config: originalsSchema.parse({ keyEnv }), dataDir, audit: recordingSink(), env: { MMK_KEY: KEY_HEX } });
      const id = newAuditId();
      await store.retire(id, spooled(id));
      await store.retire(id, spooled(id));
      expect((await bytes(await store.get(id, "cli:x"))).equals(raw)).toBe(true);
    }
  });

  it("makes a purged day directory again", async () => {
    const store = openOriginals({ config: originalsSchema.parse({}), dataDir, audit: recordingSink() });
    const first = newAuditId();
    await store.retire(first, spooled(first));
    rmSync(path.join(dataDir, "originals"), { recursive: true });
    const second = newAuditId();
    await store.retire(second, spooled(second));
    expect((await bytes(await store.get(second, "cli:x"))).equals(raw)).toBe(true);
  });
});
