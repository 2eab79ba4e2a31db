/**
 * `mumuka queue list | show ID | retry ID | hold ID | release ID | delete ID`:
 * the administrator's queue commands, safe while the gateway runs (see
 * queue-admin.ts for how races with the gateway are resolved). Each action is
 * recorded in the audit trail with actor "cli:<login name>".
 *
 * Failures are one line on stderr: exit 1 (the message is where it was, or
 * where the line says, and the audit trail has whatever did change), exit 2
 * for a malformed id or option.
 */
import type { Command } from "commander";
import { cliActor, closeCliAuditLog, oneLine, openCliAuditLog } from "../audit/audit-command.ts";
import { CliError } from "../lib/cli-error.ts";
import { loadConfig } from "../config/load.ts";
import type { QueueState } from "./queue-types.ts";
import { OriginalKeyError, openOriginals, type OriginalStore } from "../originals/index.ts";
import { openQueueAdmin, QueueAdminError } from "./queue-admin.ts";
import { STATES } from "./spool.ts";

type Opts = { config?: string };

/**
 * Runs one queue command with what it needs opened FIRST: the audit store (a change that cannot
 * be recorded is not made) and, for delete, the originals store (its key), so that a missing key
 * or an unreachable store is one line and an untouched queue, never a message moved half-way.
 */
async function withAdmin<T>(
  opts: Opts,
  fn: (admin: ReturnType<typeof openQueueAdmin>, actor: string) => Promise<T>,
  needs: { originals?: boolean } = {},
): Promise<T> {
  const config = loadConfig(opts.config);
  const audit = await openCliAuditLog(config);
  const actor = cliActor();
  let result: T;
  try {
    // a deleted message's original is kept like a delivered one's: the store (and its key) is opened before anything moves
    let originals: OriginalStore | undefined;
    if (needs.originals) {
      try {
        originals = openOriginals({ config: config.originals, dataDir: config.dataDir, audit });
      } catch (error) {
        if (error instanceof OriginalKeyError) throw new CliError(`${error.message}; nothing was changed`, 1);
        throw error;
      }
    }
    result = await fn(openQueueAdmin(config.dataDir, audit, originals), actor);
  } catch (error) {
    await audit.close().catch(() => {}); // what went wrong first is what the operator needs to read
    if (error instanceof QueueAdminError) throw new CliError(error.message, error.code === "EBADID" ? 2 : 1);
    if (error instanceof CliError) throw error;
    throw new CliError(`queue: ${oneLine(error)}`, 1);
  }
  await closeCliAuditLog(audit);
  return result;
}

export function registerQueueCommands(program: Command): void {
  const queue = program.command("queue").description("the mail queue / メールキュー");
  const cfg = (c: Command) => c.option("-c, --config <file>", "configuration file (YAML)");

  cfg(queue.command("list").description("list queued messages"))
    .option("--state <state>", `only this state (${STATES.join(", ")})`)
    .option("--json", "one JSON object per line")
    .action(async (opts: Opts & { state?: string; json?: boolean }) => {
      if (opts.state && !STATES.includes(opts.state as QueueState)) throw new CliError(`--state must be one of ${STATES.join(", ")}`, 2);
      await withAdmin(opts, async (admin) => {
        const entries = await admin.list(opts.state ? { state: opts.state as QueueState } : undefined);
        if (opts.json) {
          for (const e of entries) process.stdout.write(`${JSON.stringify(e)}\n`);
          return;
        }
        for (const e of entries) {
          const why = e.holdReason ?? e.lastError ?? "";
          process.stdout.write(
            `${e.id}  ${e.state.padEnd(8)}  ${String(e.size).padStart(9)}  ${e.mailFrom || "<>"} → ${e.rcptTo.join(", ")}` +
              `${e.attempts ? `  attempts=${e.attempts}` : ""}${e.nextAttemptAt ? `  next=${e.nextAttemptAt}` : ""}${why ? `\n    ${why}` : ""}\n`,
          );
        }
        process.stdout.write(`${entries.length} message(s)\n`);
      });
    });

  cfg(queue.command("show <id>").description("show one message's queue state")).action(async (id: string, opts: Opts) => {
    await withAdmin(opts, async (admin) => {
      const entry = await admin.getDetail(id);
      if (!entry) throw new CliError(`no message ${id} in the queue`, 1);
      process.stdout.write(`${JSON.stringify(entry, null, 2)}\n`);
    });
  });

  const action = (name: "retry" | "release" | "delete", text: string) =>
    cfg(queue.command(`${name} <id>`).description(text)).action(async (id: string, opts: Opts) => {
      await withAdmin(
        opts,
        async (admin, actor) => {
          await admin[name](id, actor);
          process.stdout.write(`${id}: ${name} done\n`);
        },
        { originals: name === "delete" },
      );
    });
  action("retry", "deliver a deferred or held message again as soon as possible");
  action("release", "release a held message for delivery");
  action("delete", "remove a message from the queue (it stays in the audit trail)");

  cfg(queue.command("hold <id>").description("hold a message until released"))
    .option("--reason <text>", "why (recorded in the audit trail)")
    .action(async (id: string, opts: Opts & { reason?: string }) => {
      await withAdmin(opts, async (admin, actor) => {
        await admin.hold(id, actor, opts.reason);
        process.stdout.write(`${id}: held\n`);
      });
    });
}
