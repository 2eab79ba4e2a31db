/**
 * The sanitizer core's public entry points. Everything another stage needs is
 * exported here; the files behind it are internal.
 *
 *   analyze(input, limits, signal)  raw message → AnalyzedMessage (plain data)
 *   render(message, options)        AnalyzedMessage → sanitized message + report (pure, sync)
 *   sanitize(input, options)        both at once
 *
 * Determinism: the same bytes, options, `now` and audit id give byte-identical
 * output. The only time-dependent path is the time budget: sanitize() aborts
 * analysis after limits.maxTimeMs, and such a result says "maxTimeMs" in
 * limitsHit (a message that ran out of time is not expected to reproduce).
 */
import type { Readable } from "node:stream";
import type { AnalyzedMessage, RenderOptions, SanitizeOptions, SanitizeResult } from "./sanitize-types.ts";
import { analyze } from "./analyze.ts";
import { render } from "./render.ts";

export { analyze } from "./analyze.ts";
export { render } from "./render.ts";
export { builtinNotice, NOTICE_EN, NOTICE_JA } from "./notice.ts";
export { checkTemplate, TemplateError } from "./notice-template.ts";
export type * from "./sanitize-types.ts";
export { renderOptionsFromConfig } from "./render-options.ts";

export async function sanitize(input: Readable | Buffer, options: SanitizeOptions): Promise<SanitizeResult> {
  const { limits, signal, ...renderOptions } = options;
  const budget = AbortSignal.timeout(limits.maxTimeMs);
  const combined = signal ? AbortSignal.any([signal, budget]) : budget;
  const analyzed: AnalyzedMessage = await analyze(input, limits, combined);
  return render(analyzed, renderOptions);
}
