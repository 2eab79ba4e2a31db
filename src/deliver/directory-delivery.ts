/**
 * The directory delivery mode: each sanitized message is written as
 * `<directory>/<queue id>.eml`, with its envelope beside it as
 * `<queue id>.envelope.json` (written first), for air-gapped transfer and for
 * trying mumuka without a downstream server.
 *
 * Atomic: temp name, fsync, rename, fsync the directory; a reader that picks
 * up `*.eml` never sees a partial file, and its envelope is already there.
 *
 * SECURITY: file names are queue ids (audit ids), never sender input.
 * Crash state: at worst a `.tmp-*` file in the directory and an envelope
 * without its .eml; the message is still in the spool and is written again.
 */
import { copyFile, mkdir, open, rename, unlink } from "node:fs/promises";
import path from "node:path";
import { createDirSyncer, tempName, writeFileDurable, type DirSyncer } from "../spool/durable.ts";
import { checkId } from "../spool/spool.ts";
import type { Deliverer, DeliveryJob, DeliveryResult } from "./delivery-types.ts";

export function createDirectoryDeliverer(directory: string, syncer: DirSyncer = createDirSyncer()): Deliverer {
  let made: Promise<unknown> | undefined;
  async function deliver(job: DeliveryJob): Promise<DeliveryResult> {
    made ??= mkdir(directory, { recursive: true, mode: 0o750 });
    await made;
    const id = checkId(job.queueId);
    const target = path.join(directory, `${id}.eml`);
    const label = `directory:${directory}`;
    try {
      await writeFileDurable(
        path.join(directory, `${id}.envelope.json`),
        JSON.stringify({ queueId: id, mailFrom: job.mailFrom, rcptTo: job.rcptTo }),
        syncer,
      );
      if (job.message) {
        // a first attempt: the sanitized bytes are in memory and job.file does not exist yet
        await writeFileDurable(target, job.message, syncer);
      } else {
        const tmp = tempName(directory, id);
        await copyFile(job.file, tmp);
        const handle = await open(tmp, "r+");
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(tmp, target).catch(async (e: unknown) => {
          await unlink(tmp).catch(() => {});
          throw e;
        });
        await syncer.sync(directory);
      }
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      const reply = `${e.code ?? "ERROR"}: cannot write ${target}`;
      return {
        recipients: job.rcptTo.map((rcpt) => ({ rcpt, status: "deferred", reply, host: label })),
        attempts: [{ host: label, reply, ok: false }],
      };
    }
    return {
      recipients: job.rcptTo.map((rcpt) => ({ rcpt, status: "accepted", reply: `written ${id}.eml`, host: label })),
      attempts: [{ host: label, reply: `written ${id}.eml`, ok: true }],
    };
  }
  return { deliver, close: async () => {} };
}
