/**
 * A full disk must not strand a message: when the data directory fills while
 * the downstream server is down, a deferred message whose output or meta
 * cannot be written (ENOSPC) must flow again once space returns, without a
 * restart, and an administrator must be able to act on it meanwhile.
 *
 * The full disk is injected through the spool's file-opening dependency:
 * files can still be created, but no block can be written (as on a full
 * ext4); a test-controlled clock stands for the passing of the backoff.
 */
import { execFileSync } from "node:child_process";
import { appendFileSync, rmSync } from "node:fs";
import { open, readdir } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { deliverySchema, limitsSchema, sanitizeSchema } from "../../src/config/schema.ts";
import { createQueueManager, type QueueManager } from "../../src/deliver/queue-manager.ts";
import { createSmtpDeliverer } from "../../src/deliver/smtp-delivery.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { noRules } from "../../src/rules/index.ts";
import { renderOptionsFromConfig } from "../../src/sanitize/index.ts";
import { createSanitizePool } from "../../src/sanitize-pool/index.ts";
import type { OpenFile } from "../../src/spool/durable.ts";
import { openQueueAdmin, QueueAdminError } from "../../src/spool/queue-admin.ts";
import { lockSpool } from "../../src/spool/spool-lock.ts";
import { openSpool, type Spool } from "../../src/spool/spool.ts";
import { startDownstream, type Downstream } from "../helpers/relay-downstream.ts";
import { plainMessage, recordingSink, silentLogger, tempDir, waitFor, type RecordingSink } from "../helpers/relay-helpers.ts";
import { writeSpoolRecord } from "../helpers/spool-record.ts";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const enospc = () => Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", errno: -28, syscall: "write" });

/** fs.promises.open whose handles cannot write while `disk.full` */
function fillableDisk() {
  const disk = { full: false };
  const openFile: OpenFile = async (file, flags, mode) => {
    const handle = await open(file, flags, mode);
    if (disk.full) {
      Object.assign(handle, {
        writeFile: async () => Promise.reject(enospc()),
        writev: async () => Promise.reject(enospc()),
        write: async () => Promise.reject(enospc()),
      });
    }
    return handle;
  };
  return { disk, openFile };
}

interface Relay {
  dataDir: string;
  spool: Spool;
  queue: QueueManager;
  audit: RecordingSink;
  down: Downstream;
  disk: { full: boolean };
  clock: { now: number };
  /** spools a message as the receiver does, then (after `then`, e.g. the disk filling) hands it to the queue manager */
  receive(body: string, then: () => void): Promise<string>;
}

/** `wrap`: the spool the queue manager sees (to break a rename) */
async function relayWithDownstreamDown(dataDir?: string, wrap: (spool: Spool) => Spool = (s) => s): Promise<Relay> {
  dataDir ??= await tempDir("mumuka-diskfull-");
  const { disk, openFile } = fillableDisk();
  const spool = await openSpool(dataDir, undefined, { open: openFile });
  const down = await startDownstream();
  await down.stop();
  cleanup.push(() => down.stop());
  // a backoff of minutes: only the test's clock can make a retry due
  const delivery = deliverySchema.parse({ mode: "smtp", host: "127.0.0.1", port: down.port, retryFirstSeconds: 300, retryMaxSeconds: 3600, connectTimeoutMs: 2000 });
  const pool = createSanitizePool({ size: 1 });
  const deliverer = createSmtpDeliverer(delivery, "mumuka.test");
  const audit = recordingSink();
  const clock = { now: Date.parse("2026-12-06T09:00:00Z") };
  const sanitize = sanitizeSchema.parse({});
  const queue = createQueueManager({
    spool: wrap(spool),
    delivery,
    limits: limitsSchema.parse({}),
    hostname: "mumuka.test",
    pool,
    deliverer,
    rules: { current: () => noRules },
    renderOptions: (auditId, now) => renderOptionsFromConfig(sanitize, { auditId, now, hostname: "mumuka.test" }),
    audit,
    logger: silentLogger(),
    now: () => new Date(clock.now),
  });
  await queue.start();
  cleanup.push(async () => {
    await queue.close();
    await pool.close();
    await deliverer.close();
  });
  const receive = async (body: string, then: () => void) => {
    const id = newAuditId(new Date(clock.now));
    const writer = await spool.create({
      v: 1,
      id,
      receivedAt: new Date(clock.now).toISOString(),
      mailFrom: "sender@example.com",
      rcptTo: ["staff@city.example.lg.jp"],
      clientAddress: "127.0.0.1",
      clientHelo: "mx.example.com",
      protocol: "ESMTP",
      smtputf8: false,
    });
    await writer.write(Buffer.from(plainMessage(body)));
    const { info } = await writer.commit();
    then();
    queue.enqueue(id, info);
    return id;
  };
  return { dataDir, spool, queue, audit, down, disk, clock, receive };
}

const files = (dir: string) => readdir(dir);

describe("a full disk while the downstream server is down", () => {
  it("puts the message it could not defer back in deferred/, and delivers it once space returns, without a restart", async () => {
    const r = await relayWithDownstreamDown();
    const id = await r.receive("caught by a full disk", () => (r.disk.full = true));
    // the attempt fails (downstream down), then the output cannot be spooled for the retry
    await waitFor(() => r.audit.of("deferred", id).length === 1, 15000, "the failed pass");
    await r.queue.idle();
    expect(await files(r.spool.dir("active"))).toEqual([]);
    expect(await files(r.spool.dir("deferred"))).toEqual([id]);
    expect(String(r.audit.of("deferred", id)[0]!.data.reason)).toMatch(/ENOSPC/);
    // the failed writes left no temp file behind
    expect([...(await files(path.join(r.spool.root, "meta"))), ...(await files(path.join(r.spool.root, "out")))]).toEqual([]);

    // space returns, so does the downstream; the backoff passes (on the test's clock)
    r.disk.full = false;
    await r.down.start();
    r.clock.now += 301_000;
    await waitFor(() => r.down.received.length === 1, 15000, "delivery after space returned");
    await waitFor(() => r.audit.of("delivered", id).length === 1, 5000, "delivered event");
    await r.queue.idle();
    for (const state of ["incoming", "active", "deferred", "held"] as const) expect(await files(r.spool.dir(state))).toEqual([]);
  });

  it("keeps trying while the disk stays full, backing off, and never leaves the message in active/", async () => {
    const r = await relayWithDownstreamDown();
    const id = await r.receive("still full", () => (r.disk.full = true));
    await waitFor(() => r.audit.of("deferred", id).length === 1, 15000, "first failed pass");
    await r.queue.idle();
    const first = r.audit.of("deferred", id)[0]!.data;
    r.clock.now += 301_000;
    await waitFor(() => r.audit.of("deferred", id).length === 2, 15000, "second failed pass");
    await r.queue.idle();
    const second = r.audit.of("deferred", id)[1]!.data;
    // the backoff doubles: 300 s after the first failed pass, 600 s after the second
    expect(Date.parse(String(second.nextAttemptAt)) - r.clock.now).toBe(600_000);
    expect(Date.parse(String(first.nextAttemptAt))).toBeLessThan(Date.parse(String(second.nextAttemptAt)));
    expect(await files(r.spool.dir("active"))).toEqual([]);
    expect(await files(r.spool.dir("deferred"))).toEqual([id]);
  });

  it("keeps a message whose rename back fails too, and puts it back when the rename works again", async () => {
    const broken = { rename: true };
    const r = await relayWithDownstreamDown(undefined, (spool) => ({
      ...spool,
      async move(id, from, to, durable) {
        if (broken.rename && to === "deferred") throw Object.assign(new Error("EIO: i/o error, rename"), { code: "EIO" });
        return spool.move(id, from, to, durable);
      },
    }));
    const id = await r.receive("rename broken", () => (r.disk.full = true));
    await waitFor(() => r.audit.of("delivery-attempt", id).length === 1, 15000, "the attempt");
    await r.queue.idle();
    // held by the gateway, still in active/, and no "deferred" claimed in the trail yet
    expect(await files(r.spool.dir("active"))).toEqual([id]);
    expect(r.audit.of("deferred", id)).toEqual([]);
    broken.rename = false;
    r.clock.now += 301_000;
    await waitFor(() => r.audit.of("deferred", id).length === 1, 15000, "put back in deferred/");
    await r.queue.idle();
    expect(await files(r.spool.dir("deferred"))).toEqual([id]);
    expect(String(r.audit.of("deferred", id)[0]!.data.reason)).toMatch(/ENOSPC/);
    r.disk.full = false;
    await r.down.start();
    r.clock.now += 601_000;
    await waitFor(() => r.down.received.length === 1, 15000, "delivery");
  });

  it("lets an administrator retry the message while the gateway runs", async () => {
    const r = await relayWithDownstreamDown();
    const id = await r.receive("retry me", () => (r.disk.full = true));
    await waitFor(() => r.audit.of("deferred", id).length === 1, 15000, "the failed pass");
    await r.queue.idle();
    r.disk.full = false;
    await r.down.start();
    const adminAudit = recordingSink();
    // no clock change: without the retry the next attempt is five minutes away
    await openQueueAdmin(r.dataDir, adminAudit).retry(id, "cli:test");
    expect(adminAudit.of("admin", id)[0]).toMatchObject({ actor: "cli:test", data: { action: "retry", from: "deferred" } });
    await waitFor(() => r.down.received.length === 1, 15000, "delivery after the retry");
  });
});

describe("a really full file system (tmpfs; root only)", () => {
  it.runIf(process.getuid?.() === 0)("delivers every acknowledged message once space returns, without a restart", async (ctx) => {
    const dir = await tempDir("mumuka-tmpfs-");
    try {
      // 4 MiB: room for the spool and the message, then a filler takes the rest
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", dir], { stdio: "ignore" });
    } catch {
      ctx.skip(); // root without the right to mount (a restricted container)
      return;
    }
    cleanup.push(async () => {
      execFileSync("umount", ["-l", dir], { stdio: "ignore" });
    });
    const r = await relayWithDownstreamDown(dir);
    const filler = path.join(dir, "filler");
    const fill = () => {
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      try {
        for (;;) appendFileSync(filler, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
      }
    };
    const id = await r.receive("caught by a really full disk", fill);
    await waitFor(() => r.audit.of("deferred", id).length === 1, 15000, "the failed pass");
    await r.queue.idle();
    expect(String(r.audit.of("deferred", id)[0]!.data.reason)).toMatch(/ENOSPC/);
    expect(await files(r.spool.dir("active"))).toEqual([]);
    expect(await files(r.spool.dir("deferred"))).toEqual([id]);

    rmSync(filler);
    await r.down.start();
    r.clock.now += 301_000;
    await waitFor(() => r.down.received.length === 1, 15000, "delivery after space returned");
    await r.queue.idle();
    for (const state of ["incoming", "active", "deferred", "held"] as const) expect(await files(r.spool.dir(state))).toEqual([]);
  });
});

describe("a message in active/", () => {
  async function strandedInActive() {
    const dataDir = await tempDir("mumuka-stranded-");
    const spool = await openSpool(dataDir);
    const id = newAuditId();
    // what a crash or a stop in the middle of a pass leaves behind
    writeSpoolRecord(spool.recordPath("active", id), id, plainMessage("left in active/"));
    return { dataDir, spool, id };
  }

  it("can be retried, held or deleted when no gateway holds the spool", async () => {
    const { dataDir, spool, id } = await strandedInActive();
    const audit = recordingSink();
    const admin = openQueueAdmin(dataDir, audit);
    await admin.retry(id, "cli:test");
    expect(await spool.locate(id)).toBe("incoming");
    expect(audit.of("admin", id)[0]).toMatchObject({ data: { action: "retry", from: "active" } });

    const other = await strandedInActive();
    await openQueueAdmin(other.dataDir, audit).hold(other.id, "cli:test", "look first");
    expect(await other.spool.locate(other.id)).toBe("held");
  });

  it("is refused as in flight while a gateway holds the spool", async () => {
    const { dataDir, spool, id } = await strandedInActive();
    const lock = await lockSpool(spool.root);
    cleanup.push(() => lock.release());
    const err = await openQueueAdmin(dataDir, recordingSink())
      .retry(id, "cli:test")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueAdminError);
    expect(err).toMatchObject({ code: "EBUSY" });
    expect(await spool.locate(id)).toBe("active");
  });
});
