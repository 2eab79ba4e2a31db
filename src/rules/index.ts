/**
 * The rules stage's one entry point: parse and validate a rules file, decide
 * per message, hold the live rules with hot reload. See docs/rules.md.
 */
export type { Envelope, RuleDecision, RuleListMatch, RuleRenderOverrides, RulesEngine } from "./rules-types.ts";
export { listMatches } from "./rules-types.ts";
export { parseRules, RulesError, rulesVersion, combinedVersion, INLINE_TEXT_EXTENSIONS, type ParseRulesOptions, type RulesProblem, type ListFileInfo } from "./rules-file.ts";
export { noRules, type LoadedRules, type CompiledRule, type RuleTrace, type ConditionTrace } from "./rules-engine.ts";
export { openRules, loadRulesFile, type RulesHolder, type RulesStatus, type ReloadResult, type OpenRulesOptions } from "./rules-holder.ts";
