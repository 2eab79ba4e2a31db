import { mkdtemp, readFile, readdir, stat, truncate, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createDirSyncer, writeFileDurable } from "../../src/spool/durable.ts";
import { CorruptRecordError, readRecordInfo, type SpoolEnvelope } from "../../src/spool/record.ts";
import { openSpool } from "../../src/spool/spool.ts";
import { newAuditId } from "../../src/lib/ids.ts";

const tmp = () => mkdtemp(path.join(os.tmpdir(), "mumuka-spool-"));

function envelope(id = newAuditId()): SpoolEnvelope {
  return {
    v: 1,
    id,
    receivedAt: new Date().toISOString(),
    mailFrom: "a@example.com",
    rcptTo: ["b@city.example.lg.jp", "c@city.example.lg.jp"],
    clientAddress: "127.0.0.1",
    clientHelo: "mx.example",
    protocol: "ESMTP",
    smtputf8: false,
  };
}

describe("directory fsync group commit", () => {
  it("serves every caller with an fsync that started after its call", async () => {
    const log: string[] = [];
    let release: (() => void) | undefined;
    const syncer = createDirSyncer(async (dir) => {
      log.push(`start ${dir}`);
      await new Promise<void>((r) => (release = r));
      log.push(`end ${dir}`);
    });
    const first = syncer.sync("/d");
    const second = syncer.sync("/d");
    const third = syncer.sync("/d");
    expect(log).toEqual(["start /d"]);
    release!();
    await first;
    await new Promise((r) => setImmediate(r));
    // the second and third callers arrived during the first fsync: they share one more
    expect(log).toEqual(["start /d", "end /d", "start /d"]);
    release!();
    await Promise.all([second, third]);
    expect(log.filter((l) => l.startsWith("start")).length).toBe(2);
  });

  it("rejects the callers of a failed fsync", async () => {
    const syncer = createDirSyncer(async () => {
      throw new Error("EIO");
    });
    await expect(syncer.sync("/x")).rejects.toThrow("EIO");
  });
});

describe("spool records", () => {
  it("a committed message reads back with its envelope, length and hash", async () => {
    const spool = await openSpool(await tmp());
    const env = envelope();
    const writer = await spool.create(env);
    await writer.write(Buffer.from("Subject: hi\r\n\r\n"));
    await writer.write(Buffer.from("body\r\n"));
    const { size, sha256 } = await writer.commit();
    expect(size).toBe(21);
    const info = await readRecordInfo(spool.recordPath("incoming", env.id));
    expect(info.envelope).toEqual(env);
    expect(info.messageLength).toBe(21);
    expect(info.sha256).toBe(sha256);
    const raw = await readFile(spool.recordPath("incoming", env.id));
    expect(raw.subarray(info.messageOffset, info.messageOffset + info.messageLength).toString()).toBe("Subject: hi\r\n\r\nbody\r\n");
    // private from the start: the record is later retained as the original, as it is
    expect((await stat(spool.recordPath("incoming", env.id))).mode & 0o777).toBe(0o600);
  });

  it("a truncated record is recognised as corrupt", async () => {
    const spool = await openSpool(await tmp());
    const env = envelope();
    const writer = await spool.create(env);
    await writer.write(Buffer.alloc(5000, 0x41));
    await writer.commit();
    const file = spool.recordPath("incoming", env.id);
    const { size } = await readRecordInfo(file).then((i) => ({ size: i.fileSize }));
    await truncate(file, size - 10);
    await expect(readRecordInfo(file)).rejects.toBeInstanceOf(CorruptRecordError);
    await truncate(file, 30);
    await expect(readRecordInfo(file)).rejects.toBeInstanceOf(CorruptRecordError);
  });

  it("an aborted message leaves no file behind", async () => {
    const spool = await openSpool(await tmp());
    const env = envelope();
    const writer = await spool.create(env);
    await writer.write(Buffer.from("partial"));
    await writer.abort();
    expect(await readdir(spool.dir("incoming"))).toEqual([]);
  });

  it("a message is in exactly one state and a lost race reports false", async () => {
    const spool = await openSpool(await tmp());
    const env = envelope();
    const w = await spool.create(env);
    await w.commit();
    expect(await spool.move(env.id, "incoming", "active")).toBe(true);
    expect(await spool.move(env.id, "incoming", "held")).toBe(false);
    expect(await spool.locate(env.id)).toBe("active");
  });

  it("recovery removes unacknowledged temp files and requeues active messages", async () => {
    const dir = await tmp();
    const spool = await openSpool(dir);
    const a = envelope();
    await (await spool.create(a)).commit();
    await spool.move(a.id, "incoming", "active");
    const b = envelope();
    const unfinished = await spool.create(b);
    await unfinished.write(Buffer.from("half"));
    // simulate kill -9: the writer is never committed nor aborted
    const again = await openSpool(dir);
    const result = await again.recover();
    expect(result.requeued).toEqual([a.id]);
    expect(result.tempRemoved).toBe(1);
    expect(await again.list("incoming")).toEqual([a.id]);
  });

  it("recovery removes meta and output left by a message whose record is gone, and keeps those of live messages", async () => {
    const dir = await tmp();
    const spool = await openSpool(dir);
    const live = envelope();
    await (await spool.create(live)).commit();
    await spool.writeMeta(live.id, { v: 1, pending: live.rcptTo, delivered: [], failed: [], attempts: 1, queuedAt: live.receivedAt });
    await spool.writeOut(live.id, Buffer.from("sanitized"));
    const gone = envelope();
    await spool.writeMeta(gone.id, { v: 1, pending: [], delivered: [], failed: [], attempts: 1, queuedAt: gone.receivedAt });
    await spool.writeOut(gone.id, Buffer.from("sanitized"));
    const result = await spool.recover();
    expect(result.orphansRemoved).toBe(2);
    expect(await spool.readMeta(live.id)).toBeDefined();
    expect(await spool.hasOut(live.id)).toBe(true);
    expect(await spool.readMeta(gone.id)).toBeUndefined();
    expect(await spool.hasOut(gone.id)).toBe(false);
  });

  it("recovery leaves a record in done/ (a delete or a delivery whose final event is not stored yet) where it is, with its meta and output", async () => {
    const dir = await tmp();
    const spool = await openSpool(dir);
    const deleted = envelope();
    await (await spool.create(deleted)).commit();
    await spool.writeMeta(deleted.id, { v: 1, pending: deleted.rcptTo, delivered: [], failed: [], attempts: 2, queuedAt: deleted.receivedAt, holdReason: "held by admin" });
    await spool.writeOut(deleted.id, Buffer.from("sanitized"));
    await spool.move(deleted.id, "incoming", "held");
    await spool.move(deleted.id, "held", "done");
    const result = await (await openSpool(dir)).recover();
    expect(result).toMatchObject({ requeued: [], orphansRemoved: 0 });
    expect(await spool.list("done")).toEqual([deleted.id]);
    expect(await spool.locate(deleted.id)).toBeUndefined();
    expect((await spool.readMeta(deleted.id))?.holdReason).toBe("held by admin");
    expect(await spool.hasOut(deleted.id)).toBe(true);
  });

  it("ids that are not audit ids never become paths", async () => {
    const spool = await openSpool(await tmp());
    expect(() => spool.recordPath("held", "../../etc/passwd")).toThrow(/not a queue id/);
  });

  it("writeFileDurable replaces a file whole", async () => {
    const dir = await tmp();
    const file = path.join(dir, "x.json");
    await writeFile(file, "old");
    await writeFileDurable(file, "new", createDirSyncer());
    expect(await readFile(file, "utf8")).toBe("new");
    expect((await readdir(dir)).length).toBe(1);
  });
});
