/**
 * Loading the configuration: YAML file (or none) → validated, frozen Config.
 *
 * Relative paths in the file (dataDir, rules.file, TLS files, …) are resolved
 * against the file's own directory, so a config works wherever it is started
 * from. Errors name the key and what is wrong, one per line.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseDocument } from "yaml";
import { configSchema, type Config } from "./schema.ts";

export class ConfigError extends Error {
  override name = "ConfigError";
  readonly code = "ECONFIG";
}

/** Parses and validates a configuration object; throws ConfigError naming every bad key. */
export function parseConfig(input: unknown, baseDir = process.cwd()): Config {
  const result = configSchema.safeParse(input ?? {});
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const key = issue.path.length ? issue.path.join(".") : "(top level)";
      return `${key}: ${issue.message}`;
    });
    throw new ConfigError(lines.join("\n"));
  }
  return deepFreeze(resolvePaths(result.data, baseDir));
}

/** Reads FILE (YAML) or, without one, the embedded defaults. */
export function loadConfig(file?: string): Config {
  if (!file) return parseConfig({});
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => `${file}: ${e.message}`).join("\n"));
  }
  try {
    return parseConfig(doc.toJS(), path.dirname(path.resolve(file)));
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new ConfigError(
        error.message
          .split("\n")
          .map((line) => `${file}: ${line}`)
          .join("\n"),
      );
    }
    throw error;
  }
}

function resolvePaths(config: Config, baseDir: string): Config {
  const abs = (p: string | undefined) => (p === undefined ? undefined : path.resolve(baseDir, p));
  const tls = (t: { cert: string; key: string } | undefined) =>
    t && { cert: abs(t.cert)!, key: abs(t.key)! };
  return {
    ...config,
    dataDir: abs(config.dataDir)!,
    smtp: { ...config.smtp, tls: tls(config.smtp.tls) },
    delivery: { ...config.delivery, directory: abs(config.delivery.directory) },
    sanitize: { ...config.sanitize, noticeTemplate: abs(config.sanitize.noticeTemplate) },
    rules: { ...config.rules, file: abs(config.rules.file) },
    admin: { ...config.admin, tls: tls(config.admin.tls) },
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
