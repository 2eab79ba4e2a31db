/**
 * `mumuka admin …`: console accounts from the command line.
 *
 *   mumuka admin add-user NAME --role viewer|operator|admin [--password-stdin]
 *   mumuka admin passwd NAME [--password-stdin]
 *   mumuka admin list-users
 *   mumuka admin remove-user NAME
 *
 * SECURITY: passwords are never taken from argv (visible in `ps` and shell
 * history): from the terminal with echo off (asked twice), or the first line
 * of stdin with --password-stdin or when stdin is not a terminal. Whoever can
 * write the data directory may run these; every change is recorded in the
 * audit trail (type "admin", actor cli:<user>) as the console records its own.
 * The audit store is opened before the change (unreachable: nothing is
 * changed); a crash between the account change (one SQLite statement) and the
 * audit write leaves the change unrecorded: the command then exits 1 saying so.
 */
import type { Command } from "commander";
import { cliActor, oneLine, openCliAuditLog } from "../audit/audit-command.ts";
import { CliError } from "../lib/cli-error.ts";
import { loadConfig } from "../config/load.ts";
import { isRole, openUserStore, roles, UserError, type UserStore } from "./user-store.ts";

interface CommonOptions {
  config?: string;
  dataDir?: string;
}

function withStore<T>(opts: CommonOptions, fn: (store: UserStore) => Promise<T> | T): Promise<T> {
  const dataDir = opts.dataDir ?? loadConfig(opts.config).dataDir;
  const store = openUserStore(dataDir);
  return Promise.resolve()
    .then(() => fn(store))
    .catch((error: unknown) => {
      if (error instanceof UserError) throw new CliError(error.message);
      throw error;
    })
    .finally(() => store.close());
}

/**
 * Makes an account change with its audit record: the audit store of the same data directory is
 * opened FIRST (unreachable: one line, nothing changed), then the change is made, recorded and
 * waited for. Only a store failing between the two leaves a change unrecorded, and says so.
 */
async function recordedChange(opts: CommonOptions, change: (store: UserStore) => Promise<{ action: string; user: string; role?: string }>): Promise<void> {
  const loaded = loadConfig(opts.config);
  const config = opts.dataDir === undefined ? loaded : { ...loaded, dataDir: opts.dataDir };
  const audit = await openCliAuditLog(config);
  let data: { action: string; user: string; role?: string };
  try {
    data = await withStore(opts, change);
  } catch (error) {
    await audit.close().catch(() => {});
    throw error;
  }
  audit.record({ type: "admin", actor: cliActor(), data });
  try {
    await audit.close();
  } catch (error) {
    throw new CliError(`${data.action} ${data.user}: done, but it could not be recorded in the audit trail: ${oneLine(error)}`, 1);
  }
}

/** Reads the first line of a non-interactive stdin (without its line ending). */
export async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    chunks.push(buf);
    size += buf.length;
    if (buf.includes(0x0a) || size > 4096) break;
  }
  const text = Buffer.concat(chunks).toString("utf8");
  return text.split(/\r?\n/)[0] ?? "";
}

/** Asks on the terminal with echo off. */
export function askHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding("utf8");
    let value = "";
    const done = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener("data", onData);
      process.stderr.write("\n");
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (data: string) => {
      for (const ch of data) {
        if (ch === "\r" || ch === "\n") return done();
        if (ch === "\u0003") return done(new CliError("cancelled", 130));
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on("data", onData);
  });
}

async function readPassword(fromStdin: boolean | undefined): Promise<string> {
  if (fromStdin || !process.stdin.isTTY) {
    const password = await readStdinLine();
    if (!password) throw new CliError("no password on stdin");
    return password;
  }
  const first = await askHidden("Password / パスワード: ");
  const second = await askHidden("Again / 確認: ");
  if (first !== second) throw new CliError("the passwords do not match / パスワードが一致しません");
  return first;
}

export function registerAdminCommands(program: Command): void {
  const admin = program.command("admin").description("admin console accounts / 管理コンソールのアカウント");
  const common = (cmd: Command) =>
    cmd.option("-c, --config <file>", "configuration file (YAML)").option("--data-dir <dir>", "data directory (default: from the configuration)");

  common(
    admin
      .command("add-user <name>")
      .description("create an account; the password is read from the terminal or stdin")
      .requiredOption("--role <role>", `one of ${roles.join(", ")}`)
      .option("--password-stdin", "read the password from the first line of stdin"),
  ).action(async (name: string, opts: CommonOptions & { role: string; passwordStdin?: boolean }) => {
    if (!isRole(opts.role)) throw new CliError(`--role must be one of ${roles.join(", ")}`, 2);
    const role = opts.role;
    await recordedChange(opts, async (store) => {
      if (store.get(name)) throw new CliError(`the user ${name} already exists`);
      const password = await readPassword(opts.passwordStdin);
      await store.add(name, role, password);
      return { action: "user-add", user: name, role };
    });
    process.stdout.write(`created ${name} (${role})\n`);
  });

  common(
    admin
      .command("passwd <name>")
      .description("set an account's password")
      .option("--password-stdin", "read the password from the first line of stdin"),
  ).action(async (name: string, opts: CommonOptions & { passwordStdin?: boolean }) => {
    await recordedChange(opts, async (store) => {
      if (!store.get(name)) throw new CliError(`no user ${name}`);
      const password = await readPassword(opts.passwordStdin);
      await store.setPassword(name, password);
      return { action: "user-password", user: name };
    });
    process.stdout.write(`password changed for ${name} (console sessions opened with the old password end at their next request)\n`);
  });

  common(admin.command("list-users").description("list accounts").option("--json", "JSON output")).action(
    async (opts: CommonOptions & { json?: boolean }) => {
      await withStore(opts, (store) => {
        const users = store.list().map((u) => ({ name: u.name, role: u.role, createdAt: u.createdAt, updatedAt: u.updatedAt }));
        if (opts.json) process.stdout.write(`${JSON.stringify(users, null, 2)}\n`);
        else for (const u of users) process.stdout.write(`${u.name}\t${u.role}\t${u.createdAt}\n`);
      });
    },
  );

  common(admin.command("remove-user <name>").description("remove an account")).action(async (name: string, opts: CommonOptions) => {
    await recordedChange(opts, async (store) => {
      store.remove(name);
      return { action: "user-remove", user: name };
    });
    process.stdout.write(`removed ${name}\n`);
  });
}
