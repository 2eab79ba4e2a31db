/**
 * `mumuka original get ID [-o FILE]`: an administrator takes out the raw
 * original of a message; `mumuka original purge`: removes originals past
 * their retention.
 *
 * The retrieval is recorded (type "original-retrieved", actor cli:<user>) and
 * that record is stored BEFORE any byte is written out: if the audit store
 * cannot take it, nothing is released. With -o the file is written under a
 * temporary name (mode 0600) and renamed only when complete and
 * authenticated, so a wrong key or a damaged file never leaves a partial
 * original behind.
 *
 * SECURITY: the original is hostile content; it is copied as bytes and never
 * written to a terminal (escape sequences in it could act on the terminal).
 */
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import type { Command } from "commander";
import { cliActor, closeCliAuditLog, oneLine, openCliAuditLog } from "../audit/audit-command.ts";
import { CliError } from "../lib/cli-error.ts";
import { loadConfig } from "../config/load.ts";
import { pipeline } from "node:stream/promises";
import { OriginalKeyError, OriginalNotFoundError, openOriginals } from "./index.ts";

export function registerOriginalCommands(program: Command): void {
  const original = program.command("original").description("retained raw originals / 原本");

  original
    .command("get")
    .description("write out the raw original of a message (recorded in the audit trail) / 原本の取り出し")
    .argument("<id>", "audit id")
    .option("-o, --output <file>", "write to FILE (mode 0600) instead of stdout")
    .option("-c, --config <file>", "configuration file (YAML)")
    .action(async (id: string, opts: { output?: string; config?: string }) => {
      if (!opts.output && process.stdout.isTTY) {
        // raw hostile bytes on a terminal could carry escape sequences that act on it
        throw new CliError("refusing to write a raw message to a terminal: use -o FILE, or redirect stdout", 2);
      }
      const config = loadConfig(opts.config);
      const audit = await openCliAuditLog(config);
      let stream: NodeJS.ReadableStream;
      try {
        const store = openOriginals({ config: config.originals, dataDir: config.dataDir, audit });
        stream = await store.get(id, cliActor());
      } catch (error) {
        await audit.close().catch(() => {});
        if (error instanceof OriginalNotFoundError || error instanceof OriginalKeyError) throw new CliError(error.message, 1);
        throw new CliError(`cannot read the original: ${oneLine(error)}`, 1);
      }
      try {
        await audit.close(); // the retrieval is on record before anything is released
      } catch (error) {
        (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
        throw new CliError(`the retrieval could not be recorded in the audit trail, so the original was not released: ${(error as Error).message}`, 1);
      }
      try {
        if (opts.output) {
          const tmp = `${opts.output}.tmp-${process.pid}`;
          try {
            await pipeline(stream, createWriteStream(tmp, { flags: "wx", mode: 0o600 }));
            await rename(tmp, opts.output);
          } catch (error) {
            await rm(tmp, { force: true });
            throw error;
          }
          process.stderr.write(`wrote ${opts.output}\n`);
        } else {
          await pipeline(stream, process.stdout);
        }
      } catch (error) {
        if (error instanceof OriginalKeyError) throw new CliError(error.message, 1);
        throw new CliError(`cannot write the original: ${(error as Error).message}`, 1);
      }
    });

  original
    .command("purge")
    .description("remove originals older than originals.retentionDays / 保存期間を過ぎた原本の削除")
    .option("-c, --config <file>", "configuration file (YAML)")
    .action(async (opts: { config?: string }) => {
      const config = loadConfig(opts.config);
      const audit = await openCliAuditLog(config);
      let removed: number;
      try {
        const store = openOriginals({ config: config.originals, dataDir: config.dataDir, audit });
        removed = await store.purge(new Date());
      } catch (error) {
        await audit.close().catch(() => {});
        if (error instanceof OriginalKeyError) throw new CliError(`${error.message}; nothing was removed`, 1);
        throw new CliError(`cannot purge originals: ${oneLine(error)}`, 1);
      }
      await closeCliAuditLog(audit);
      process.stdout.write(`removed ${removed} originals older than ${config.originals.retentionDays} days\n`);
    });
}
