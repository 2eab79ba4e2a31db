/**
 * The console's "この変更で何が変わるか" page, below its routes: the text
 * replay it runs (candidate rules as pasted text, against the rules in force,
 * one at a time) and the page it renders (counts, changes, the changed
 * messages linked to their stories, hostile text escaped).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openSqliteStore } from "../../src/audit/sqlite-store.ts";
import type { AuditStore } from "../../src/audit/audit-store.ts";
import { limitsSchema } from "../../src/config/schema.ts";
import { openOriginals } from "../../src/originals/index.ts";
import { loadRulesFile } from "../../src/rules/index.ts";
import { createTextReplay } from "../../src/rules/rules-replay.ts";
import { rulesReplayPage } from "../../src/admin/pages/rules-replay.ts";
import { translator } from "../../src/admin/i18n.ts";
import { generateRetainedMail, type GeneratedMessage } from "../helpers/retained-mail.ts";

const LIVE = `rules:\n  - name: tag-outside\n    when: { not: { from: "*.lg.jp" } }\n    then: { subject_tag: "[外部]" }\n`;
const HOLD_VENDOR_XLSX = `${LIVE}  - name: hold-vendor-xlsx\n    when:\n      sender_domain: { file: lists/vendors.txt }\n      attachment: { ext: xlsx }\n    then: { hold: 確認 }\n`;

let dir: string;
let store: AuditStore;
let messages: GeneratedMessage[];
let replay: ReturnType<typeof createTextReplay>;
const now = new Date();
const window = () => ({ since: new Date(now.getTime() - 8 * 86_400_000), until: now });

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "mumuka-replay-page-"));
  messages = await generateRetainedMail({ dataDir: path.join(dir, "data"), count: 48, start: new Date(now.getTime() - 7 * 86_400_000), days: 6.9 });
  mkdirSync(path.join(dir, "lists"));
  writeFileSync(path.join(dir, "lists/vendors.txt"), "vendor.example.com\n");
  writeFileSync(path.join(dir, "rules.yaml"), LIVE);
  const live = (await loadRulesFile(path.join(dir, "rules.yaml"))).engine;
  store = openSqliteStore({ file: path.join(dir, "data/audit.sqlite"), tablePrefix: "audit" });
  await store.init();
  const originals = openOriginals({ config: { retentionDays: 30 }, dataDir: path.join(dir, "data"), audit: { record: () => {}, flush: async () => {} } });
  replay = createTextReplay({
    rules: { current: () => live, status: () => ({ file: path.join(dir, "rules.yaml") }) },
    audit: store,
    originals,
    limits: limitsSchema.parse({}),
    maxMessageBytes: 10 * 1024 * 1024,
    defaults: { links: "defang", language: "ja" },
    workers: 1,
  });
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const ctx = { t: translator("ja"), lang: "ja" as const, user: { name: "operator", role: "operator" as const }, csrf: "tok", path: "/rules/replay", otherLangHref: "/rules/replay?lang=en" };

describe("the console's replay", () => {
  it("replays pasted candidate rules, resolving list files beside the live rules file", async () => {
    const result = await replay(HOLD_VENDOR_XLSX, window());
    if ("problems" in result) throw new Error(JSON.stringify(result.problems));
    const expected = messages.filter((m) => m.domain === "vendor.example.com" && m.attachment === "xlsx");
    expect(result.report).toMatchObject({ examined: 48, changed: expected.length, outcomes: { "deliver → hold": expected.length } });
    expect(result.report.sample.map((c) => c.auditId).sort()).toEqual(expected.map((m) => m.auditId).sort());
    // per day of arrival (Japan time): exactly the expected messages, and every replayed one
    const dayOf = (iso: string) => new Date(Date.parse(iso) + 9 * 3600_000).toISOString().slice(0, 10);
    const perDay = (list: { receivedAt: string }[]) => list.reduce<Record<string, number>>((acc, m) => ((acc[dayOf(m.receivedAt)] = (acc[dayOf(m.receivedAt)] ?? 0) + 1), acc), {});
    expect(result.report.changedByDay).toEqual(perDay(expected));
    expect(Object.values(result.report.replayedByDay).reduce((a, b) => a + b, 0)).toBe(result.report.replayed);

    const page = rulesReplayPage(ctx, { candidate: HOLD_VENDOR_XLSX, days: 7, sender: "", limit: 5000 }, { report: result.report }).value;
    expect(page).toContain("この変更で何が変わるか");
    expect(page).toContain(`deliver → hold: <strong>${expected.length}</strong>`);
    for (const m of expected) expect(page).toContain(`<a href="/messages/${m.auditId}">${m.auditId}</a>`);
    expect(page).toContain("日ごとの変化");
    expect(page.match(/<rect class="bar problems"/g)?.length).toBe(Object.keys(result.report.replayedByDay).length);
  });

  it("shows the problems of invalid candidate rules, escaped, and replays nothing", async () => {
    const result = await replay(`rules:\n  - name: x\n    when: { link_domain: ["<b>com"] }\n    then: { hold: true }\n`, window());
    expect("problems" in result && result.problems[0]).toMatchObject({ file: "candidate.yaml", line: 3 });
    const page = rulesReplayPage(ctx, { candidate: "", days: 7, sender: "", limit: 10 }, result as { problems: never }).value;
    expect(page).toContain("候補のルールに問題があります");
    expect(page).toContain("&lt;b&gt;com");
    expect(page).not.toContain("<b>com");
  });

  it("escapes hostile subjects and addresses of past mail", async () => {
    const result = await replay(HOLD_VENDOR_XLSX, window());
    if ("problems" in result) throw new Error("unexpected problems");
    const report = { ...result.report, sample: [{ ...result.report.sample[0]!, subject: '<img src=x onerror="alert(1)">', from: "a@b\u202Eexe.js" }] };
    const page = rulesReplayPage(ctx, { candidate: "", days: 7, sender: "", limit: 10 }, { report }).value;
    expect(page).not.toContain("<img src=x");
    expect(page).toContain("&lt;img src=x");
    expect(page).not.toContain("\u202E");
  });

  it("runs one replay at a time", async () => {
    const first = replay(HOLD_VENDOR_XLSX, window());
    expect(replay.busy).toBe(true);
    await expect(replay(HOLD_VENDOR_XLSX, window())).rejects.toMatchObject({ code: "EBUSY" });
    await first;
    expect(replay.busy).toBe(false);
  });
});
