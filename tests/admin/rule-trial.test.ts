/**
 * The console's "try a message" sanitizes the pasted message where received
 * ones are sanitized: in a sanitizer worker (heap limit, time budget), a pool
 * of its own with a bound on trials at once, and with the gateway's outcome
 * for a message that runs out of time (held).
 */
import { afterEach, describe, expect, it } from "vitest";
import { createRuleTrial, MAX_TRIALS, RuleTrialBusyError, type RuleTrialFn } from "../../src/admin/rule-trial.ts";
import { sanitizeSchema } from "../../src/config/schema.ts";
import { noRules } from "../../src/rules/index.ts";
import { createSanitizePool, type SanitizePool } from "../../src/sanitize-pool/index.ts";

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});

function trialWith(sanitize = sanitizeSchema.parse({}), pool?: SanitizePool): RuleTrialFn {
  const trial = createRuleTrial({ rules: { current: () => noRules }, sanitize, hostname: "mumuka.test", ...(pool ? { pool } : {}) });
  open.push(trial);
  return trial;
}

const envelope = { mailFrom: "", rcptTo: [], clientAddress: "127.0.0.1", clientHelo: "admin-console" };
const plain = (body: string) => Buffer.from(`From: a@example.jp\r\nTo: b@city.example.lg.jp\r\nSubject: hello\r\n\r\n${body}\r\n`);
const bigHtml = (paragraphs: number) =>
  Buffer.from(
    `From: a@example.jp\r\nTo: b@city.example.lg.jp\r\nSubject: big\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<div>${"<p>段落 <b>太字</b> <a href='https://example.jp/'>リンク</a></p>".repeat(paragraphs)}</div>\r\n`,
  );

describe("try a message", () => {
  it("shows a message that runs out of the time budget as held, as the gateway would hold it, with what a release would deliver", async () => {
    const trial = trialWith(sanitizeSchema.parse({ limits: { maxTimeMs: 1 } }));
    const result = await trial(bigHtml(20_000), envelope);
    expect(result.decision).toMatchObject({ action: "hold", reason: "sanitizer time budget exceeded (1 ms)" });
    expect(result.text).toContain("処理時間");
  });

  it(`admits ${MAX_TRIALS} trials at a time and tells the next one to try again`, async () => {
    const trial = trialWith();
    const first = trial(plain("一通目"), envelope);
    const second = trial(plain("二通目"), envelope);
    const third = trial(plain("三通目"), envelope).catch((e: unknown) => e);
    expect(await third).toBeInstanceOf(RuleTrialBusyError);
    expect(String((await third as Error).message)).toMatch(/try again/);
    expect((await first).text).toContain("一通目");
    expect((await second).text).toContain("二通目");
    // once they are done, trials are admitted again
    expect((await trial(plain("四通目"), envelope)).text).toContain("四通目");
  });

  it("sanitizes in a worker: a message that exhausts the worker's heap is answered with the reason, and the next trial works", async () => {
    const pool = createSanitizePool({ size: 1, maxOldGenerationSizeMb: 32 });
    open.push(pool);
    const trial = trialWith(sanitizeSchema.parse({ limits: { maxTimeMs: 60_000 } }), pool);
    await expect(trial(bigHtml(60_000), envelope)).rejects.toThrow(/out of memory/);
    expect((await trial(plain("まだ動く"), envelope)).text).toContain("まだ動く");
  }, 120_000);
});
