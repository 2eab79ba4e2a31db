import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, renameSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { openRules, RulesError, type RulesHolder } from "../../src/rules/index.ts";
import type { AuditEventInput } from "../../src/audit/audit-types.ts";
import { envelope, facts, THURSDAY_10_JST } from "./facts.ts";

const TAG_OUTSIDE = `rules:\n  - name: tag-outside\n    when: { not: { from: "*.lg.jp" } }\n    then: { subject_tag: "[外部]" }\n`;
const HOLD_ALL = `rules:\n  - name: hold-all\n    then: { hold: "maintenance" }\n`;
const INVALID = `rules:\n  - name: broken\n    then:\n      allow_html: true\n`;
const sha = (text: string) => createHash("sha256").update(text).digest("hex");

let dir: string;
let file: string;
let events: AuditEventInput[];
let logs: { level: string; obj: unknown; msg?: string }[];
let holder: RulesHolder | undefined;

const logger = {
  info: (obj: unknown, msg?: string) => void logs.push({ level: "info", obj, msg }),
  warn: (obj: unknown, msg?: string) => void logs.push({ level: "warn", obj, msg }),
  error: (obj: unknown, msg?: string) => void logs.push({ level: "error", obj, msg }),
} as never;
const audit = { record: (e: AuditEventInput) => void events.push(e) };

function open(watch = false, debounceMs = 50) {
  return openRules({ config: { file, watch }, logger, audit, debounceMs });
}

const tagsNow = (h: RulesHolder) => h.current().decide(facts(), envelope(), THURSDAY_10_JST);

async function until(check: () => boolean, what: string): Promise<void> {
  // fs.watch delivery is asynchronous; poll instead of sleeping a guessed time
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "mumuka-rules-"));
  file = path.join(dir, "rules.yaml");
  events = [];
  logs = [];
});

afterEach(() => {
  holder?.close();
  holder = undefined;
  rmSync(dir, { recursive: true, force: true });
});

describe("opening the rules", () => {
  it("loads the file and records a rules-reloaded event with its SHA-256", async () => {
    writeFileSync(file, TAG_OUTSIDE);
    holder = await open();
    expect(tagsNow(holder).render.subjectTags).toEqual(["[外部]"]);
    expect(holder.current().version).toBe(sha(TAG_OUTSIDE));
    expect(events).toEqual([
      expect.objectContaining({ type: "rules-reloaded", data: expect.objectContaining({ ok: true, reason: "start", sha256: sha(TAG_OUTSIDE), rules: ["tag-outside"] }) }),
    ]);
    expect(holder.status()).toMatchObject({ file, version: sha(TAG_OUTSIDE), ruleCount: 1, ruleNames: ["tag-outside"], source: TAG_OUTSIDE });
  });

  it("refuses to start on an invalid file, with its problems", async () => {
    writeFileSync(file, INVALID);
    await expect(open()).rejects.toThrow(RulesError);
    await expect(open()).rejects.toThrow(/rules\.yaml:4:7: "allow_html" is not an action/);
  });

  it("runs with no rules when no file is configured", async () => {
    holder = await openRules({ config: { watch: true }, logger, audit });
    expect(holder.current().version).toBe("");
    expect(await holder.reload("sighup")).toEqual({ ok: true, version: "" });
    expect(holder.status().file).toBeUndefined();
  });

  it("resolves notice templates relative to the rules file", async () => {
    mkdirSync(path.join(dir, "notice"));
    writeFileSync(path.join(dir, "notice", "en.txt"), "This message was sanitized. {{auditId}}\n");
    writeFileSync(file, `rules:\n  - name: english\n    then: { language: en, notice_template: notice/en.txt }\n`);
    holder = await open();
    expect(tagsNow(holder).render).toMatchObject({ language: "en", noticeTemplate: "This message was sanitized. {{auditId}}\n" });
  });
});

describe("reloading (SIGHUP path)", () => {
  it("swaps in a valid new file and records the new hash", async () => {
    writeFileSync(file, TAG_OUTSIDE);
    holder = await open();
    const before = holder.current();
    writeFileSync(file, HOLD_ALL);
    const result = await holder.reload("sighup");
    expect(result).toEqual({ ok: true, version: sha(HOLD_ALL) });
    expect(tagsNow(holder)).toMatchObject({ action: "hold", reason: "maintenance", rulesApplied: ["hold-all"] });
    // the old engine object is untouched: a message already being decided keeps a consistent view
    expect(before.decide(facts(), envelope(), THURSDAY_10_JST).action).toBe("deliver");
    expect(events.at(-1)).toMatchObject({ type: "rules-reloaded", data: { ok: true, reason: "sighup", sha256: sha(HOLD_ALL), previous: sha(TAG_OUTSIDE) } });
  });

  it("keeps the old rules on an invalid file, says why loudly, and records the failure", async () => {
    writeFileSync(file, TAG_OUTSIDE);
    holder = await open();
    writeFileSync(file, INVALID);
    const result = await holder.reload("sighup");
    expect(result.ok).toBe(false);
    expect(result.version).toBe(sha(TAG_OUTSIDE));
    expect(result.problems).toEqual([expect.objectContaining({ line: 4, column: 7, message: expect.stringMatching(/allow_html/) })]);
    expect(tagsNow(holder).render.subjectTags).toEqual(["[外部]"]);
    const error = logs.find((l) => l.level === "error");
    expect(error?.msg).toMatch(/previous rules stay in force/);
    expect(JSON.stringify(error?.obj)).toMatch(/rules\.yaml:4:7/);
    expect(events.at(-1)).toMatchObject({ type: "rules-reloaded", data: { ok: false, reason: "sighup", sha256: sha(INVALID), kept: sha(TAG_OUTSIDE) } });
    expect(holder.status().lastError).toMatchObject({ reason: "sighup", sha256: sha(INVALID) });
  });

  it("keeps the old rules when the file disappears", async () => {
    writeFileSync(file, TAG_OUTSIDE);
    holder = await open();
    rmSync(file);
    const result = await holder.reload("admin");
    expect(result).toMatchObject({ ok: false, version: sha(TAG_OUTSIDE), problems: [expect.objectContaining({ message: expect.stringMatching(/ENOENT/) })] });
    expect(events.at(-1)).toMatchObject({ actor: "admin", data: { ok: false } });
  });

  it("refuses a file that is not UTF-8", async () => {
    writeFileSync(file, TAG_OUTSIDE);
    holder = await open();
    writeFileSync(file, Buffer.from([0x72, 0x75, 0x6c, 0x65, 0x73, 0x3a, 0x20, 0x82, 0xa0, 0x0a]));
    expect((await holder.reload("sighup")).problems?.[0]?.message).toMatch(/not valid UTF-8/);
  });

  it("clears the last error after a good reload", async () => {
    writeFileSync(file, TAG_OUTSIDE);
    holder = await open();
    writeFileSync(file, INVALID);
    await holder.reload("sighup");
    writeFileSync(file, HOLD_ALL);
    await holder.reload("sighup");
    expect(holder.status().lastError).toBeUndefined();
  });
});

describe("reloading when the file changes (watch)", () => {
  it("picks up an edit in place", async () => {
    writeFileSync(file, TAG_OUTSIDE);
    holder = await open(true);
    expect(holder.status().watching).toBe(true);
    writeFileSync(file, HOLD_ALL);
    await until(() => tagsNow(holder!).action === "hold", "the edited rules");
    expect(events.at(-1)).toMatchObject({ data: { ok: true, reason: "watch", sha256: sha(HOLD_ALL) } });
  });

  it("picks up a file replaced by rename, as editors save", async () => {
    writeFileSync(file, TAG_OUTSIDE);
    holder = await open(true);
    writeFileSync(path.join(dir, ".rules.yaml.swp"), HOLD_ALL);
    renameSync(path.join(dir, ".rules.yaml.swp"), file);
    await until(() => tagsNow(holder!).action === "hold", "the replaced rules");
    // and keeps watching after the replacement
    writeFileSync(file, TAG_OUTSIDE);
    await until(() => tagsNow(holder!).action === "deliver", "the second edit");
  });

  it("keeps the old rules on an invalid edit and reports it once", async () => {
    writeFileSync(file, TAG_OUTSIDE);
    holder = await open(true);
    writeFileSync(file, INVALID);
    await until(() => logs.some((l) => l.level === "error"), "the error report");
    expect(tagsNow(holder).render.subjectTags).toEqual(["[外部]"]);
    // touching the same invalid content again is not reported again
    writeFileSync(file, INVALID);
    await new Promise((r) => setTimeout(r, 300));
    expect(logs.filter((l) => l.level === "error")).toHaveLength(1);
  });

  it("clears the error when a bad edit is undone", async () => {
    writeFileSync(file, TAG_OUTSIDE);
    holder = await open(true);
    writeFileSync(file, INVALID);
    await until(() => holder!.status().lastError !== undefined, "the error");
    writeFileSync(file, TAG_OUTSIDE);
    await until(() => holder!.status().lastError === undefined, "the error to clear");
    expect(holder.current().version).toBe(sha(TAG_OUTSIDE));
  });

  it("stops watching after close()", async () => {
    writeFileSync(file, TAG_OUTSIDE);
    holder = await open(true);
    holder.close();
    writeFileSync(file, HOLD_ALL);
    await new Promise((r) => setTimeout(r, 300));
    expect(tagsNow(holder).action).toBe("deliver");
  });
});
