/**
 * `mumuka sanitize FILE|-`: the core alone, for operators trying options and
 * for auditors re-running a past decision (`--id` and `--now` reproduce it
 * byte for byte). Prints the sanitized message on stdout; `--report FILE`
 * writes the JSON report.
 *
 * This is the I/O edge of the sanitizer: it reads the file (streamed, so a
 * large message is not held whole), the configuration and the notice
 * template, and passes plain values to the pure core. Errors become one line
 * on stderr through CliError.
 */
import { createReadStream, readFileSync, writeFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import os from "node:os";
import type { Readable } from "node:stream";
import type { Command } from "commander";
import { CliError } from "../lib/cli-error.ts";
import { parseTimeArg } from "../lib/japan-time.ts";
import { loadConfig } from "../config/load.ts";
import { alternativeChoices, languages, linkModes, outputCharsets } from "../config/schema.ts";
import { newAuditId } from "../lib/ids.ts";
import { analyze, checkTemplate, render, renderOptionsFromConfig } from "./index.ts";
import { createExtractRunner, extractInto } from "../extract/index.ts";

interface SanitizeFlags {
  report?: string;
  charset?: string;
  links?: string;
  language?: string;
  alternative?: string;
  config?: string;
  template?: string;
  id?: string;
  now?: string;
  /** false with --no-extract */
  extract?: boolean;
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  const lower = value.toLowerCase();
  if (!(allowed as readonly string[]).includes(lower)) throw new CliError(`--${name} must be one of ${allowed.join(", ")} (got ${JSON.stringify(value)})`, 2);
  return lower as T;
}

/** Reads and checks a notice template file; a problem is one CliError line (1: unreadable, 2: bad syntax). */
export function readTemplate(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new CliError(`cannot read notice template ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  try {
    checkTemplate(text);
  } catch (error) {
    throw new CliError(`notice template ${file}: ${(error as Error).message}`, 2);
  }
  return text;
}

async function openInput(file: string): Promise<Readable> {
  if (file === "-") return process.stdin;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new CliError(`${file}: not a regular file`);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return createReadStream(file);
}

export function registerSanitizeCommands(program: Command): void {
  program
    .command("sanitize")
    .description("sanitize one message (FILE, or - for standard input) and print the result / メール1通を無害化して出力")
    .argument("<file>", "raw RFC 5322 message, or - for standard input")
    .option("--report <file>", "write the JSON report to this file")
    .option("--charset <charset>", `output charset: ${outputCharsets.join(" | ")}`)
    .option("--links <mode>", `links in the text: ${linkModes.join(" | ")}`)
    .option("--language <lang>", `notice language: ${languages.join(" | ")}`)
    .option("--alternative <choice>", `multipart/alternative: ${alternativeChoices.join(" | ")}`)
    .option("-c, --config <file>", "take the sanitize section of this configuration file (flags override it)")
    .option("--template <file>", "notice template file (overrides the configuration)")
    .option("--id <auditId>", "audit id to use (default: a new one)")
    .option("--no-extract", "do not extract the text of PDF / Office attachments into the body (sanitize.extractText)")
    .option("--now <iso>", "time of sanitization, ISO 8601, Japan time when no zone is given (default: now), for reproducing a past run")
    .action(async (file: string, flags: SanitizeFlags) => {
      const config = loadConfig(flags.config).sanitize;
      const charset = oneOf("charset", flags.charset, outputCharsets) ?? config.charset;
      const links = oneOf("links", flags.links, linkModes) ?? config.links;
      const language = oneOf("language", flags.language, languages) ?? config.language;
      const alternative = oneOf("alternative", flags.alternative, alternativeChoices) ?? config.alternative;
      const now = flags.now !== undefined ? parseTimeArg(flags.now, "now") : new Date();
      if (flags.id !== undefined && !/^[A-Za-z0-9._-]{1,100}$/.test(flags.id)) {
        throw new CliError("--id: use letters, digits, '.', '_' or '-' (at most 100)", 2);
      }
      const templateFile = flags.template ?? config.noticeTemplate;
      const template = templateFile ? readTemplate(templateFile) : undefined;
      const input = await openInput(file);
      const options = {
        ...renderOptionsFromConfig(
          { ...config, charset, links, language, alternative },
          { auditId: flags.id ?? newAuditId(now), now, hostname: os.hostname() },
          template,
        ),
        limits: config.limits,
      };
      if (flags.extract === false) options.extractText = [];
      let result;
      try {
        // as sanitize(), with the documents' text extracted (in a worker thread) between analysis and rendering
        const { limits, ...renderOptions } = options;
        const started = performance.now();
        const analyzed = await analyze(input, limits, AbortSignal.timeout(limits.maxTimeMs));
        const runner = createExtractRunner();
        try {
          await extractInto(analyzed, renderOptions, runner, () => performance.now(), started + limits.maxTimeMs);
        } finally {
          await runner.close();
        }
        result = render(analyzed, renderOptions);
      } catch (error) {
        throw new CliError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
      if (flags.report) {
        try {
          writeFileSync(flags.report, `${JSON.stringify(result.report, null, 2)}\n`);
        } catch (error) {
          throw new CliError(`cannot write report ${flags.report}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
        }
      }
      await new Promise<void>((resolve, reject) => {
        process.stdout.write(result.message, (error) => (error ? reject(error) : resolve()));
      });
    });
}
