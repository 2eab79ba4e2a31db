/**
 * `mumuka original request|approve|refuse|cancel|requests|get|purge`: the release of
 * a raw original with two people (release-desk.ts). `get ID --request REQ`
 * takes the original out for the requester of an approved request;
 * `get ID --break-glass --reason TEXT` is the emergency path (recorded,
 * logged, alerted). The actor is cli:<login>, except for approve and refuse:
 * those decide as a console administrator account (`--as NAME`, its password
 * asked), recorded as admin:<name> with via: cli:<login>.
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
import { createAlerts } from "../alerts/index.ts";
import { createLogger } from "../lib/logger.ts";
import { OriginalKeyError, OriginalNotFoundError, openOriginals } from "./index.ts";
import { createReleaseDesk, ReleaseError, type ReleaseDesk } from "./release-desk.ts";
import { openReleaseStore, type ReleaseRequest } from "./release-store.ts";
import { askHidden, readStdinLine } from "../admin/admin-command.ts";
import { dummyHash, verifyPassword } from "../admin/password.ts";
import { isUserName, openUserStore } from "../admin/user-store.ts";

export function registerOriginalCommands(program: Command): void {
  const original = program.command("original").description("retained raw originals / 原本");

  const desk = async (configFile: string | undefined) => {
    const config = loadConfig(configFile);
    const audit = await openCliAuditLog(config);
    const store = openReleaseStore(config.dataDir);
    let originals;
    try {
      originals = openOriginals({ config: config.originals, dataDir: config.dataDir, audit });
    } catch (error) {
      store.close();
      await audit.close().catch(() => {});
      throw new CliError(oneLine(error), 1);
    }
    const alerts = createAlerts(config, createLogger({ level: "warn", format: "json" }));
    /** the break-glass alert being sent: the command waits for it before it ends */
    let pendingAlert: Promise<void> | undefined;
    const d = createReleaseDesk({
      store,
      originals,
      audit,
      config: config.originals.release,
      log: { error: (obj, msg) => process.stderr.write(`mumuka: ${msg} ${JSON.stringify(obj)}\n`) },
      ...(alerts ? { onBreakGlass: (e: { auditId: string; actor: string }) => void (pendingAlert = alerts.alerter.event("break-glass", { auditIds: [e.auditId], actor: e.actor }, `break-glass:${e.auditId}`)) } : {}),
    });
    return {
      desk: d,
      audit,
      /** the alert (if any) is sent and every event of this command stored, or the command fails */
      async done() {
        store.close();
        await pendingAlert;
        alerts?.close();
      },
    };
  };
  /** runs one release step; a ReleaseError is the user's answer, with exit code 1 */
  const step = async <T>(configFile: string | undefined, fn: (d: ReleaseDesk) => T | Promise<T>): Promise<T> => {
    const { desk: d, audit, done } = await desk(configFile);
    let result: T;
    try {
      result = await fn(d);
    } catch (error) {
      await done();
      await closeCliAuditLog(audit);
      if (error instanceof ReleaseError) throw new CliError(error.message, 1);
      throw error;
    }
    await done();
    await closeCliAuditLog(audit);
    return result;
  };
  const show = (r: ReleaseRequest) =>
    `${r.id}  ${r.status}  ${r.auditId}  requester=${r.requester}${r.decidedBy ? `  decided-by=${r.decidedBy}` : ""}${r.expiresAt ? `  until=${r.expiresAt}` : ""}  downloads=${r.downloadsUsed}/${r.downloadsAllowed}  reason=${JSON.stringify(r.reason)}`;

  original
    .command("request")
    .description("ask for the release of an original (another administrator approves) / 原本の取り出し申請")
    .argument("<id>", "audit id")
    .requiredOption("--reason <text>", "why (e.g. the staff member's request number); recorded")
    .option("-c, --config <file>", "configuration file (YAML)")
    .action(async (id: string, opts: { reason: string; config?: string }) => {
      const r = await step(opts.config, (d) => d.request(id, cliActor(), opts.reason));
      process.stdout.write(`${show(r)}\n`);
      if (r.status === "open") process.stderr.write("申請しました。別の管理者の承認を待ってください / requested: a different administrator must approve it\n");
    });

  original
    .command("requests")
    .description("list release requests, open ones first / 取り出し申請の一覧")
    .option("-c, --config <file>", "configuration file (YAML)")
    .action(async (opts: { config?: string }) => {
      const list = await step(opts.config, (d) => d.list(200));
      process.stdout.write(list.map((r) => `${show(r)}\n`).join("") || "no requests / 申請はありません\n");
    });

  /**
   * The administrator deciding from the command line: a console account named with --as and
   * proven by its password (asked with echo off on a terminal, else the first line of stdin), not
   * the OS login — that can be root or a shared maintenance login, which names no one, and the
   * two-person rule is only as good as the names it compares. A failed attempt is recorded as a
   * login-failed event of the CLI's OS login.
   */
  const decider = async (configFile: string | undefined, name: string | undefined, fromStdin: boolean | undefined): Promise<string> => {
    if (!name) {
      throw new CliError(
        "承認・却下にはコンソールの管理者アカウントが必要です: --as 名前 (パスワードを尋ねます) / a decision needs a console administrator account: --as NAME (its password is asked)",
        2,
      );
    }
    const password = fromStdin || !process.stdin.isTTY ? await readStdinLine() : await askHidden(`${name} のパスワード / password: `);
    const config = loadConfig(configFile);
    const users = openUserStore(config.dataDir);
    let user;
    try {
      user = isUserName(name) ? users.get(name) : undefined;
    } finally {
      users.close();
    }
    // an unknown name costs a hash check too, so the answer's time does not tell which names exist
    const ok = await verifyPassword(password, user?.passwordHash ?? dummyHash());
    if (!user || !ok || user.role !== "admin") {
      const audit = await openCliAuditLog(config);
      audit.record({
        type: "login-failed",
        // as the console records it (actor = the account tried), with the OS login beside it
        actor: `admin:${isUserName(name) ? name : "?"}`,
        data: { channel: "cli", via: cliActor(), purpose: "original-release-decision", reason: !user ? "unknown-user" : !ok ? "bad-password" : "not-admin" },
      });
      await closeCliAuditLog(audit);
      throw new CliError("管理者アカウントの認証に失敗しました / the administrator account could not be authenticated", 1);
    }
    return `admin:${user.name}`;
  };

  original
    .command("approve")
    .description("approve another person's release request, as a console administrator / 取り出し申請の承認")
    .argument("<request>", "request id (R-YYYYMMDD-XXXXXXXX)")
    .option("--as <account>", "the console administrator account deciding (its password is asked; required)")
    .option("--password-stdin", "read the account's password from the first line of stdin")
    .option("--note <text>", "a note, recorded")
    .option("-c, --config <file>", "configuration file (YAML)")
    .action(async (req: string, opts: { as?: string; passwordStdin?: boolean; note?: string; config?: string }) => {
      const actor = await decider(opts.config, opts.as, opts.passwordStdin);
      const r = await step(opts.config, (d) => d.approve(req, actor, opts.note ?? "", cliActor()));
      process.stdout.write(`${show(r)}\n`);
    });

  original
    .command("refuse")
    .description("refuse another person's release request, as a console administrator / 取り出し申請の却下")
    .argument("<request>", "request id")
    .option("--as <account>", "the console administrator account deciding (its password is asked; required)")
    .option("--password-stdin", "read the account's password from the first line of stdin")
    .requiredOption("--note <text>", "why, recorded")
    .option("-c, --config <file>", "configuration file (YAML)")
    .action(async (req: string, opts: { as?: string; passwordStdin?: boolean; note: string; config?: string }) => {
      const actor = await decider(opts.config, opts.as, opts.passwordStdin);
      const r = await step(opts.config, (d) => d.refuse(req, actor, opts.note, cliActor()));
      process.stdout.write(`${show(r)}\n`);
    });

  original
    .command("cancel")
    .description("withdraw your own release request while it is still open / 自分の取り出し申請の取り消し")
    .argument("<request>", "request id")
    .option("-c, --config <file>", "configuration file (YAML)")
    .action(async (req: string, opts: { config?: string }) => {
      const r = await step(opts.config, (d) => d.cancel(req, cliActor()));
      process.stdout.write(`${show(r)}\n`);
    });

  original
    .command("get")
    .description("write out the raw original of a message under an approved request (recorded in the audit trail) / 原本の取り出し")
    .argument("<id>", "audit id")
    .option("--request <req>", "the approved release request")
    .option("--break-glass", "emergency: without approval (recorded, logged and alerted; needs --reason)")
    .option("--reason <text>", "with --break-glass: why")
    .option("-o, --output <file>", "write to FILE (mode 0600) instead of stdout")
    .option("-c, --config <file>", "configuration file (YAML)")
    .action(async (id: string, opts: { request?: string; breakGlass?: boolean; reason?: string; output?: string; config?: string }) => {
      if (!opts.request && !opts.breakGlass) {
        throw new CliError("原本の取り出しには承認済みの申請が必要です / an approved request is needed: --request REQ (see `mumuka original request`), or in an emergency --break-glass --reason TEXT", 2);
      }
      if (opts.request && opts.breakGlass) throw new CliError("--request and --break-glass exclude each other", 2);
      if (opts.breakGlass && !opts.reason?.trim()) throw new CliError("--break-glass needs --reason TEXT (recorded in the audit trail)", 2);
      if (!opts.output && process.stdout.isTTY) {
        // raw hostile bytes on a terminal could carry escape sequences that act on it
        throw new CliError("refusing to write a raw message to a terminal: use -o FILE, or redirect stdout", 2);
      }
      const { desk: d, audit, done } = await desk(opts.config);
      let stream: NodeJS.ReadableStream;
      try {
        if (opts.breakGlass) {
          stream = await d.breakGlass(id, cliActor(), opts.reason!);
        } else {
          const r = d.get(opts.request!);
          if (r && r.auditId !== id) throw new ReleaseError("ENOREQUEST", `${opts.request} is for ${r.auditId}`);
          stream = (await d.download(opts.request!, cliActor())).stream;
        }
      } catch (error) {
        await done();
        // what was recorded (a refused download, a break-glass attempt) is stored before the command ends
        await audit.close().catch(() => {});
        if (error instanceof ReleaseError || error instanceof OriginalNotFoundError || error instanceof OriginalKeyError) throw new CliError(error.message, 1);
        throw new CliError(`cannot read the original: ${oneLine(error)}`, 1);
      }
      await done();
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
