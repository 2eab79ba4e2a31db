/**
 * The `mumuka` command line. Each stage registers its own subcommands; this
 * file only assembles them and turns errors into one clear line and an exit code:
 * 0 done, 1 failed (the line says what, and what state things are in), 2 a usage
 * or configuration error. An unexpected error is one line too (MUMUKA_DEBUG=1:
 * with its stack).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { Command, CommanderError } from "commander";
import { ConfigError, loadConfigChecked } from "./config/load.ts";
import { registerAuditCommands } from "./audit/audit-command.ts";
import { registerOriginalCommands } from "./originals/original-command.ts";
import { registerServeCommands } from "./serve-command.ts";
import { registerAdminCommands } from "./admin/admin-command.ts";
import { registerSanitizeCommands } from "./sanitize/sanitize-command.ts";
import { registerRulesCommands } from "./rules/rules-command.ts";
import { registerShowCommand } from "./show/show-command.ts";
import { registerReportCommand } from "./report/report-command.ts";
import { CliError } from "./lib/cli-error.ts";

/** This installation's version, from package.json (beside src/ in a checkout, beside dist/ in the image). */
export function mumukaVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(import.meta.dirname, "..", "package.json"), "utf8")) as { version?: string };
  return pkg.version ?? "unknown";
}

export function buildProgram(): Command {
  const program = new Command("mumuka")
    .description("無害化 mail sanitization gateway / メール無害化ゲートウェイ")
    .version(`mumuka ${mumukaVersion()} (Node.js ${process.versions.node})`, "-V, --version", "print the version / バージョンを表示")
    .exitOverride()
    .showHelpAfterError();

  const config = program.command("config").description("configuration / 設定");
  config
    .command("check")
    .description("validate a configuration file and print the effective configuration (exit 0: valid, warnings on stderr; 2: errors) / 設定の検証")
    .option("-c, --config <file>", "configuration file (YAML)")
    .action((opts: { config?: string }) => {
      // every error at once (ConfigError → exit 2); warnings do not fail the check
      const { config, warnings } = loadConfigChecked(opts.config);
      for (const w of warnings) process.stderr.write(`mumuka: warning: ${w}\n`);
      process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
    });

  // commands: each stage adds one line below
  registerSanitizeCommands(program);
  registerAuditCommands(program);
  registerOriginalCommands(program);
  registerServeCommands(program);
  registerAdminCommands(program);
  registerRulesCommands(program);
  registerShowCommand(program);
  registerReportCommand(program);

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander already printed the message (or help / version)
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof CliError) {
      process.stderr.write(`mumuka: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`mumuka: configuration error:\n${error.message}\n`);
      return 2;
    }
    // anything else is still one line for the operator (a stack trace is not an error message);
    // MUMUKA_DEBUG=1 shows the stack for a bug report
    const e = error as NodeJS.ErrnoException;
    const text = String((e && (e.message || e.code)) || error).replace(/\s*\n\s*/g, "; ");
    process.stderr.write(process.env.MUMUKA_DEBUG ? `mumuka: ${e?.stack ?? text}\n` : `mumuka: ${e?.name && e.name !== "Error" ? `${e.name}: ` : ""}${text}\n`);
    return 1;
  }
}

const invokedDirectly = import.meta.url === `file://${process.argv[1]}`;
if (invokedDirectly) {
  process.exitCode = await main(process.argv.slice(2));
}
