/**
 * Options for calling the sanitizer in tests: the defaults of the
 * configuration schema, a fixed audit id, time and host name (so outputs are
 * reproducible), and limits tight enough that no test can run away.
 */
import { limitsSchema, sanitizeSchema, type Limits } from "../../src/config/schema.ts";
import { renderOptionsFromConfig } from "../../src/sanitize/index.ts";
import type { SanitizeOptions } from "../../src/sanitize/sanitize-types.ts";

/** A well-formed audit id (Crockford base32, no I L O U). */
export const TEST_AUDIT_ID = "20261126T100000Z-0123456789ABCDEF";
export const TEST_NOW = new Date("2026-11-26T10:00:00Z");
export const TEST_HOSTNAME = "mumuka.test";

/** Time budget for one test sanitization: generous for 2 shared cores, but finite. */
export const TEST_TIME_MS = 20_000;

export type OptionOverrides = Partial<Omit<SanitizeOptions, "limits">> & {
  limits?: Partial<Limits>;
  config?: Record<string, unknown>;
};

/** SanitizeOptions as the CLI would build them from the default configuration, plus overrides. */
export function testOptions(overrides: OptionOverrides = {}): SanitizeOptions {
  const { limits, config, ...render } = overrides;
  const sanitizeConfig = sanitizeSchema.parse(config ?? {});
  const base = renderOptionsFromConfig(sanitizeConfig, { auditId: TEST_AUDIT_ID, now: TEST_NOW, hostname: TEST_HOSTNAME });
  return {
    ...base,
    ...render,
    limits: limitsSchema.parse({ ...sanitizeConfig.limits, maxTimeMs: TEST_TIME_MS, ...limits }),
    signal: render.signal ?? AbortSignal.timeout(TEST_TIME_MS + 10_000),
  };
}
