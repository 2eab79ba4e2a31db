/**
 * RenderOptions from the configuration: used by the queue manager on the main thread, which must
 * not import the sanitizer itself (analyze/render, html-to-text, the extractors: they run in the
 * sanitizer workers; docs/relay.md, memory). Touches no message; no state.
 */
import type { SanitizeConfig } from "../config/schema.ts";
import type { RenderOptions } from "./sanitize-types.ts";

/** RenderOptions from the `sanitize` configuration slice and this message's ids. */
export function renderOptionsFromConfig(
  config: SanitizeConfig,
  ids: { auditId: string; now: Date; hostname: string },
  noticeTemplate?: string,
): RenderOptions {
  const options: RenderOptions = {
    charset: config.charset,
    links: config.links,
    language: config.language,
    alternative: config.alternative,
    subjectTags: [],
    inlineText: [],
    extractText: [...config.extractText],
    extractLimits: { ...config.extractLimits },
    rulesApplied: [],
    auditId: ids.auditId,
    now: ids.now,
    hostname: ids.hostname,
  };
  if (noticeTemplate !== undefined) options.noticeTemplate = noticeTemplate;
  return options;
}
