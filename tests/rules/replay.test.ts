/**
 * `mumuka rules replay`: a candidate that holds .xlsx from one domain, run over
 * a generated week of retained mail, reports exactly the messages that would
 * change — and nothing else happens: the live rules file is untouched,
 * nothing is delivered or spooled, and the audit trail gains one event (the
 * replay's own), not one retrieval per original.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openSqliteStore } from "../../src/audit/sqlite-store.ts";
import type { AuditEvent } from "../../src/audit/audit-types.ts";
import { runCli } from "../helpers/run-cli.ts";
import { generateRetainedMail, type GeneratedMessage } from "../helpers/retained-mail.ts";
import { openOriginals } from "../../src/originals/index.ts";

const LIVE = `rules:\n  - name: tag-outside\n    when: { not: { from: "*.lg.jp" } }\n    then: { subject_tag: "[外部]" }\n`;
const CANDIDATE = `${LIVE}  - name: hold-vendor-xlsx\n    when:\n      sender_domain: vendor.example.com\n      attachment: { ext: xlsx }\n    then:\n      hold: { reason: 取引先 xlsx 確認, notify_recipients: false }\n`;
/** Monday 2026-11-02 00:30 JST: the generated week runs to Sunday 2026-11-08 */
const WEEK_START = new Date("2026-11-01T15:30:00Z");
const COUNT = 168;

let dir: string;
let messages: GeneratedMessage[];
const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
const config = () => path.join(dir, "mumuka.yaml");
const replay = (extra: string[] = []) =>
  runCli(["rules", "replay", "--rules", path.join(dir, "candidate.yaml"), "--from", "2026-11-02", "--to", "2026-11-08", "-c", config(), "--workers", "2", ...extra]);

async function allEvents(): Promise<AuditEvent[]> {
  const store = openSqliteStore({ file: path.join(dir, "data/audit.sqlite"), tablePrefix: "audit" });
  await store.init();
  try {
    return await store.eventsAfter(0, 1_000_000);
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "mumuka-replay-"));
  // every 10th message's original is gone, as retention would have purged it
  messages = await generateRetainedMail({ dataDir: path.join(dir, "data"), count: COUNT, start: WEEK_START, days: 6.9, purged: (i) => i % 10 === 3 });
  writeFileSync(path.join(dir, "live.yaml"), LIVE);
  writeFileSync(path.join(dir, "candidate.yaml"), CANDIDATE);
  writeFileSync(config(), "dataDir: ./data\nrules:\n  file: live.yaml\n");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("mumuka rules replay", () => {
  it("reports exactly the messages that would change, and changes nothing", async () => {
    const expected = messages.filter((m) => m.retained && m.domain === "vendor.example.com" && m.attachment === "xlsx").map((m) => m.auditId);
    // the generated week has such messages, other .xlsx, and other vendor mail: the rule must pick exactly the first
    expect(expected.length).toBeGreaterThan(2);
    expect(messages.some((m) => m.retained && m.attachment === "xlsx" && m.domain !== "vendor.example.com")).toBe(true);
    expect(messages.some((m) => m.retained && m.domain === "vendor.example.com" && m.attachment !== "xlsx")).toBe(true);
    const liveBefore = sha(path.join(dir, "live.yaml"));
    const eventsBefore = await allEvents();

    const r = await replay(["--json"]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const changed = lines.filter((l) => l.type === "changed");
    expect(changed.map((c) => c.auditId).sort()).toEqual([...expected].sort());
    expect(changed[0]).toMatchObject({ changes: ["outcome"], live: { action: "deliver", rules: ["tag-outside"] }, candidate: { action: "hold", reason: "取引先 xlsx 確認", rules: ["tag-outside", "hold-vendor-xlsx"] } });

    const summary = lines.at(-1)!;
    const purged = messages.filter((m) => !m.retained).length;
    expect(summary).toMatchObject({
      type: "summary",
      examined: COUNT,
      replayed: COUNT - purged,
      notReplayable: purged,
      failed: 0,
      changed: expected.length,
      outcomes: { "deliver → hold": expected.length },
      rules: [{ name: "hold-vendor-xlsx", live: 0, candidate: expected.length, delta: expected.length }],
      render: { links: {}, language: {}, inlineText: {}, subjectTags: {}, noticeTemplate: {} },
    });
    expect((summary.notReplayableIds as string[]).sort()).toEqual(messages.filter((m) => !m.retained).map((m) => m.auditId).sort());

    // nothing else happened: the live rules are as they were, nothing was spooled or delivered
    expect(sha(path.join(dir, "live.yaml"))).toBe(liveBefore);
    for (const d of ["spool", "outbox"]) expect(existsSync(path.join(dir, "data", d)), d).toBe(false);
    // and the audit trail has one new event: the replay's, with who, what and the counts
    const added = (await allEvents()).slice(eventsBefore.length);
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({
      type: "admin",
      actor: expect.stringMatching(/^cli:/),
      data: {
        action: "rules-replay",
        candidate: { file: path.join(dir, "candidate.yaml"), sha256: sha(path.join(dir, "candidate.yaml")) },
        live: { file: path.join(dir, "live.yaml") },
        window: { since: "2026-11-01T15:00:00.000Z", until: "2026-11-08T15:00:00.000Z" },
        counts: { examined: COUNT, notReplayable: purged, changed: expected.length, outcomes: { "deliver → hold": expected.length } },
      },
    });
  });

  it("prints a summary for people with a sample of changed messages and their ids", async () => {
    const r = await replay(["--sample", "2", "--sender", "vendor.example.com"]);
    expect(r.code, r.stderr).toBe(0);
    const vendor = messages.filter((m) => m.domain === "vendor.example.com");
    const expected = vendor.filter((m) => m.retained && m.attachment === "xlsx");
    expect(r.stdout).toContain(`対象 examined:          ${vendor.length}`);
    expect(r.stdout).toContain(`deliver → hold: ${expected.length}`);
    expect(r.stdout).toContain(`hold-vendor-xlsx: 0 → ${expected.length} (+${expected.length})`);
    expect(r.stdout).toContain(`sample of changed messages (2 of ${expected.length})`);
    // the sample is the newest changed messages
    const newest = [...expected].sort((a, b) => b.receivedAt.localeCompare(a.receivedAt)).slice(0, 2);
    for (const m of newest) expect(r.stdout).toContain(m.auditId);
    // no progress bar when stderr is not a terminal
    expect(r.stderr).not.toContain("[#");
  });

  it("draws a progress bar on stderr when it is a terminal, and keeps stdout clean", () => {
    // script(1) gives the command a terminal; stdout is redirected to a file inside it
    const out = path.join(dir, "out.jsonl");
    const command = [process.execPath, "src/cli.ts", "rules", "replay", "--rules", path.join(dir, "candidate.yaml"), "--from", "2026-11-02", "--to", "2026-11-08", "-c", config(), "--json"]
      .map((a) => `'${a}'`)
      .join(" ");
    const terminal = execFileSync("script", ["-qec", `${command} > '${out}'`, "/dev/null"], { cwd: path.join(import.meta.dirname, "../.."), encoding: "utf8" });
    expect(terminal).toMatch(/\r\[#{30}\] 168\/168 /);
    const lines = readFileSync(out, "utf8").trim().split("\n");
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ type: "summary", examined: COUNT });
  });

  it("counts a damaged original as failed, with its id, and goes on", async () => {
    const newest50 = [...messages].sort((a, b) => b.receivedAt.localeCompare(a.receivedAt)).slice(0, 50);
    const victim = newest50.find((m) => m.retained)!;
    const file = path.join(dir, "data/originals", victim.receivedAt.slice(0, 10), `${victim.auditId}.rec`);
    truncateSync(file, readFileSync(file).length - 40);
    const r = await replay(["--json", "--limit", "50"]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { examined: number; replayed: number; notReplayable: number; failed: number; failures: { auditId: string; reason: string }[] };
    expect(summary).toMatchObject({ examined: 50, failed: 1, failures: [{ auditId: victim.auditId, reason: expect.stringMatching(/trailer|length/) }] });
    expect(summary.replayed + summary.notReplayable + summary.failed).toBe(50);
  });

  it("refuses an invalid candidate with file:line and replays nothing", async () => {
    writeFileSync(path.join(dir, "bad.yaml"), `rules:\n  - name: x\n    when: { attachment_sha256: [abc] }\n    then: { hold: true }\n`);
    const before = (await allEvents()).length;
    const r = await runCli(["rules", "replay", "--rules", path.join(dir, "bad.yaml"), "-c", config()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.yaml:3:\d+: attachment_sha256: "abc" is not a SHA-256 hash/);
    expect((await allEvents()).length).toBe(before);
  });
});

describe("mumuka rules replay over encrypted originals", () => {
  it("decrypts with the configured key and takes the envelope from the audit trail", async () => {
    const encDir = mkdtempSync(path.join(tmpdir(), "mumuka-replay-enc-"));
    try {
      const key = "ab".repeat(32);
      const generated = await generateRetainedMail({ dataDir: path.join(encDir, "data"), count: 60, start: WEEK_START, days: 6.9 });
      // retire each record into the store as an encrypted gateway does: <id>.eml.enc, the record removed
      const store = openOriginals({ config: { retentionDays: 30, keyEnv: "REPLAY_TEST_KEY" }, dataDir: path.join(encDir, "data"), audit: { record: () => {}, flush: async () => {} }, env: { REPLAY_TEST_KEY: key } });
      for (const m of generated) {
        const rec = path.join(encDir, "data/originals", m.receivedAt.slice(0, 10), `${m.auditId}.rec`);
        await store.retire(m.auditId, rec);
        expect(existsSync(rec)).toBe(false);
      }
      writeFileSync(path.join(encDir, "live.yaml"), LIVE);
      writeFileSync(path.join(encDir, "candidate.yaml"), CANDIDATE);
      writeFileSync(path.join(encDir, "mumuka.yaml"), "dataDir: ./data\nrules:\n  file: live.yaml\noriginals:\n  keyEnv: REPLAY_TEST_KEY\n");
      const r = await runCli(
        ["rules", "replay", "--rules", path.join(encDir, "candidate.yaml"), "--from", "2026-11-02", "--to", "2026-11-08", "-c", path.join(encDir, "mumuka.yaml"), "--json"],
        { env: { REPLAY_TEST_KEY: key } },
      );
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      const expected = generated.filter((m) => m.domain === "vendor.example.com" && m.attachment === "xlsx").map((m) => m.auditId);
      expect(lines.filter((l) => l.type === "changed").map((l) => l.auditId).sort()).toEqual(expected.sort());
      expect(lines.at(-1)).toMatchObject({ examined: 60, replayed: 60, failed: 0 });
    } finally {
      rmSync(encDir, { recursive: true, force: true });
    }
  });
});
