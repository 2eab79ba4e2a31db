/**
 * The one error the extractors throw on purpose: a stable reason code (the
 * report's) and a short technical detail. Anything else thrown while reading a
 * document is taken as "malformed". Pure; no state.
 */
import type { ExtractReason } from "./extract-types.ts";

export class ExtractError extends Error {
  readonly reason: ExtractReason;
  constructor(reason: ExtractReason, detail: string) {
    super(detail);
    this.name = "ExtractError";
    this.reason = reason;
  }
}
