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
import { CliError } from "./lib/cli-error.ts";

/** This installation's version, from package.json (beside src/ in a checkout, beside dist/ in the image). */
export function mumukaVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(import.meta.dirname, "..", "package.json"), "utf8")) as { version?: string };
  return pkg.version ?? "unknown";
}

/**
 * The program with every command; `serve` alone (`only: "serve"`) when the gateway starts: each
 * command's module imports what its actions use (the sanitizer, mailparser, mailauth, pg, the
 * console…), and a long-running gateway would otherwise keep all of that in its main isolate
 * (about 20 MiB of PSS; docs/relay.md, memory). The modules are imported here, not at the top.
 */
export async function buildProgram(only?: "serve"): Promise<Command> {
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
  if (only === "serve") {
    (await import("./serve-command.ts")).registerServeCommands(program);
    return program;
  }
  (await import("./sanitize/sanitize-command.ts")).registerSanitizeCommands(program);
  (await import("./audit/audit-command.ts")).registerAuditCommands(program);
  (await import("./originals/original-command.ts")).registerOriginalCommands(program);
  (await import("./serve-command.ts")).registerServeCommands(program);
  (await import("./admin/admin-command.ts")).registerAdminCommands(program);
  (await import("./rules/rules-command.ts")).registerRulesCommands(program);
  (await import("./show/show-command.ts")).registerShowCommand(program);
  (await import("./report/report-command.ts")).registerReportCommand(program);

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(argv[0] === "serve" ? "serve" : undefined);
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
