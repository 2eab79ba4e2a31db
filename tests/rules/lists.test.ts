import { afterEach, beforeEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import { runCli } from "../helpers/run-cli.ts";
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadRulesFile, openRules, parseRules, RulesError, type RulesHolder } from "../../src/rules/index.ts";
import { analyze } from "../../src/sanitize/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { MAX_LIST_ENTRIES } from "../../src/rules/rules-lists.ts";
import { linkDomains, MAX_LINK_DOMAINS } from "../../src/sanitize/links.ts";
import type { AuditEventInput } from "../../src/audit/audit-types.ts";
import { attachment, envelope, facts, THURSDAY_10_JST } from "./facts.ts";

const sha = (b: string | Buffer) => createHash("sha256").update(b).digest("hex");
const BAD = sha("known bad payload");
const OTHER = sha("another file");

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "mumuka-lists-"));
  mkdirSync(path.join(dir, "lists"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function rulesWith(when: string, then = `hold: { reason: "known bad", notify_recipients: false }`): string {
  return `rules:\n  - name: blocklist\n    when: { ${when} }\n    then: { ${then} }\n`;
}

async function engineFor(yaml: string) {
  writeFileSync(path.join(dir, "rules.yaml"), yaml);
  return (await loadRulesFile(path.join(dir, "rules.yaml"))).engine;
}

async function problemsFor(yaml: string): Promise<string[]> {
  try {
    await engineFor(yaml);
  } catch (error) {
    expect(error).toBeInstanceOf(RulesError);
    return (error as RulesError).problems.map((p) => `${path.relative(dir, p.file)}:${p.line}:${p.column}: ${p.message}`);
  }
  throw new Error("expected the rules to be refused");
}

describe("link and sender domains match with their subdomains, by whole labels", () => {
  const linked = (...linkDomains: string[]) => facts({ linkDomains });
  const engine = () => parseRules(rulesWith(`link_domain: [example.com, "例え.jp"]`), "rules.yaml");

  it("example.com matches example.com and a.example.com, not badexample.com or example.com.evil.net", () => {
    const e = engine();
    expect(e.decide(linked("example.com"), envelope(), THURSDAY_10_JST).action).toBe("hold");
    expect(e.decide(linked("login.a.example.com"), envelope(), THURSDAY_10_JST).action).toBe("hold");
    expect(e.decide(linked("badexample.com"), envelope(), THURSDAY_10_JST).action).toBe("deliver");
    expect(e.decide(linked("example.com.evil.net"), envelope(), THURSDAY_10_JST).action).toBe("deliver");
  });

  it("matches an internationalised domain written in Unicode in the list against its punycode host", () => {
    expect(engine().decide(linked("www.xn--r8jz45g.jp"), envelope(), THURSDAY_10_JST).action).toBe("hold");
  });

  it("finds link hosts in a real message, HTML targets and redirector targets included", async () => {
    const raw = [
      "From: a@sender.example",
      "To: b@city.example.lg.jp",
      "Subject: x",
      "Content-Type: text/html; charset=utf-8",
      "",
      '<p><a href="https://Login.Example.COM./verify">click</a> <a href="https://redirect.example/?u=http%3A%2F%2Fphish.example.net%2F">more</a></p>',
      "",
    ].join("\r\n");
    const analyzed = await analyze(Buffer.from(raw), loadConfig(undefined).sanitize.limits);
    expect(analyzed.facts.linkDomains).toEqual(expect.arrayContaining(["login.example.com", "redirect.example", "phish.example.net"]));
    const d = parseRules(rulesWith(`link_domain: phish.example.net`), "rules.yaml").decide(analyzed.facts, envelope(), THURSDAY_10_JST);
    expect(d.matches).toEqual([{ rule: "blocklist", condition: "link_domain", entry: "phish.example.net", source: "rules.yaml:3", seen: "phish.example.net" }]);
  });

  it("finds hosts written in Unicode, full width, with invisible characters or glued to a word, as a browser would open them", async () => {
    const body = [
      "1 https://例え.jp/path",
      "2 http://ｗｗｗ.evil-a.com/",
      "3 https://\u200Bevil-b.com/x",
      "4 _https://evil-c.com/x and foo_www.evil-d.com",
      "5 https://evil-e。com/x",
      "6 \\\\evil-f.com@SSL\\DavWWWRoot\\x.exe",
      "7 \\\\例え2.jp\\s",
      "8 <3D%22http://evil-g.com/x%22>",
      "9 詳細はhttps://www.city.example.lg.jpをご覧ください。",
    ].join("\r\n");
    const raw = ["From: a@sender.example", "To: b@city.example.lg.jp", "Subject: x", "Content-Type: text/plain; charset=utf-8", "", body, ""].join("\r\n");
    const analyzed = await analyze(Buffer.from(raw), loadConfig(undefined).sanitize.limits);
    expect(analyzed.facts.linkDomains).toEqual(
      expect.arrayContaining(["xn--r8jz45g.jp", "www.evil-a.com", "evil-b.com", "evil-c.com", "www.evil-d.com", "evil-e.com", "evil-f.com", "xn--2-87t231j.jp", "evil-g.com", "www.city.example.lg.jp"]),
    );
    const d = parseRules(rulesWith(`link_domain: ["例え.jp", evil-b.com]`), "rules.yaml").decide(analyzed.facts, envelope(), THURSDAY_10_JST);
    expect(d.action).toBe("hold");
    expect((d.matches ?? []).map((m) => m.seen)).toEqual(expect.arrayContaining(["xn--r8jz45g.jp"]));
  });

  it("keeps at most MAX_LINK_DOMAINS hosts of a message that carries thousands", () => {
    const text = Array.from({ length: 2000 }, (_, i) => `https://h${i}.example/`).join(" ");
    const hosts = linkDomains([text]);
    expect(hosts).toHaveLength(MAX_LINK_DOMAINS);
    expect(hosts[0]).toBe("h0.example");
  });

  it("returns only bounded, lower-case hosts without spaces for any text, and never throws", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.webUrl(), fc.constantFrom("https://", "www.", "%", "\\\\", "://", "?u=http%3A%2F%2F", "例え.jp", "[::1]")), { maxLength: 40 }), (parts) => {
        const hosts = linkDomains([parts.join(" "), parts.join("")]);
        expect(hosts.length).toBeLessThanOrEqual(MAX_LINK_DOMAINS);
        for (const h of hosts) expect(h).toMatch(/^[^\sA-Z]+$/);
      }),
      { numRuns: 300 },
    );
  });

  it("matches the envelope sender's or the header From's domain from a file, naming the file and line", async () => {
    writeFileSync(path.join(dir, "lists/senders.txt"), "# phishing senders\n\ninvoice-notice.example.net   \nbad.example # since 2026-11\n");
    const e = await engineFor(rulesWith(`sender_domain: { file: lists/senders.txt }`));
    const byEnvelope = e.decide(facts(), envelope({ mailFrom: "billing@mx.invoice-notice.example.net" }), THURSDAY_10_JST);
    expect(byEnvelope.matches).toEqual([
      { rule: "blocklist", condition: "sender_domain", entry: "invoice-notice.example.net", source: path.join(dir, "lists/senders.txt:3"), seen: "mx.invoice-notice.example.net" },
    ]);
    const byHeader = e.decide(facts({ from: [{ name: "", address: "x@BAD.example" }] }), envelope(), THURSDAY_10_JST);
    expect(byHeader.matches?.[0]).toMatchObject({ entry: "bad.example", source: expect.stringMatching(/senders\.txt:4$/) });
    expect(e.decide(facts(), envelope(), THURSDAY_10_JST).action).toBe("deliver");
  });
});

describe("attachment SHA-256 lists", () => {
  it("holds a message with a listed attachment (inline list) and names the rule and the entry", () => {
    const e = parseRules(rulesWith(`attachment_sha256: ["${BAD.toUpperCase()}"]`), "rules.yaml");
    const d = e.decide(facts({ attachments: [attachment({ filename: "請求書.xlsx", sha256: BAD })] }), envelope(), THURSDAY_10_JST);
    expect(d).toMatchObject({ action: "hold", rulesApplied: ["blocklist"], matches: [{ rule: "blocklist", condition: "attachment_sha256", entry: BAD, source: "rules.yaml:3", seen: "請求書.xlsx" }] });
    expect(e.decide(facts({ attachments: [attachment({ sha256: OTHER })] }), envelope(), THURSDAY_10_JST).action).toBe("deliver");
  });

  it("reads sha256sum output (hash, then a file name) and # comments", async () => {
    writeFileSync(path.join(dir, "lists/hashes.txt"), `# from the CSIRT bulletin\n${BAD}  invoice.xlsx\n`);
    const e = await engineFor(rulesWith(`attachment_sha256: { file: lists/hashes.txt }`));
    expect(e.decide(facts({ attachments: [attachment({ sha256: BAD })] }), envelope(), THURSDAY_10_JST).matches?.[0]?.source).toBe(path.join(dir, "lists/hashes.txt:2"));
    expect(e.lists).toEqual([expect.objectContaining({ path: "lists/hashes.txt", kind: "attachment_sha256", entries: 1 })]);
  });

  it("does not name an entry for a list condition under not:", () => {
    const e = parseRules(rulesWith(`not: { attachment_sha256: ["${OTHER}"] }`, `subject_tag: "[x]"`), "rules.yaml");
    const d = e.decide(facts({ attachments: [attachment({ sha256: BAD })] }), envelope(), THURSDAY_10_JST);
    expect(d.rulesApplied).toEqual(["blocklist"]);
    expect(d.matches).toBeUndefined();
  });
});

describe("rules check shows the lists a rules file reads", () => {
  it("names each list with its entries and SHA-256, and the combined version", async () => {
    writeFileSync(path.join(dir, "lists/hashes.txt"), `${BAD}\n${OTHER}\n`);
    writeFileSync(path.join(dir, "rules.yaml"), rulesWith(`attachment_sha256: { file: lists/hashes.txt }`));
    const r = await runCli(["rules", "check", path.join(dir, "rules.yaml"), "--at", "2026-12-06"], { stdin: "" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`list attachment_sha256: ${path.join(dir, "lists/hashes.txt")} — 2 entries, sha256 ${sha(`${BAD}\n${OTHER}\n`)}`);
    expect(r.stdout).toMatch(/version [0-9a-f]{64} \(the rules and their lists\)/);
  });
});

describe("list files are validated and bounded", () => {
  it("refuses a hash that is not 64 hex characters, with the list file's line", async () => {
    writeFileSync(path.join(dir, "lists/hashes.txt"), `${BAD}\n\n${BAD.slice(0, 63)}\n  zz${BAD.slice(2)}\n`);
    const p = await problemsFor(rulesWith(`attachment_sha256: { file: lists/hashes.txt }`));
    expect(p).toEqual([
      expect.stringMatching(/^rules\.yaml:3:\d+: attachment_sha256 file "lists\/hashes\.txt" has 2 problem/),
      expect.stringMatching(/^lists\/hashes\.txt:3:1: ".*" is not a SHA-256 hash \(64 hexadecimal characters\), it has 63$/),
      expect.stringMatching(/^lists\/hashes\.txt:4:3: ".*" is not a SHA-256 hash/),
    ]);
  });

  it("refuses bad domains: wildcards, URLs, a top-level domain alone, spaces", async () => {
    writeFileSync(path.join(dir, "lists/d.txt"), "ok.example\nhttps://x.example/\ncom\nfoo bar.example\n*.fine.example\nx@y.example\n");
    const p = await problemsFor(rulesWith(`link_domain: { file: lists/d.txt }`));
    expect(p.filter((l) => l.startsWith("lists/")).map((l) => l.split(":")[1])).toEqual(["2", "3", "4", "6"]);
  });

  it("refuses an overlong line, too many entries, a missing or non-UTF-8 file", async () => {
    writeFileSync(path.join(dir, "lists/long.txt"), `${"a".repeat(600)}.example\n`);
    expect(await problemsFor(rulesWith(`link_domain: { file: lists/long.txt }`))).toContainEqual(expect.stringMatching(/long\.txt:1:1: the line is longer than 512/));
    writeFileSync(path.join(dir, "lists/many.txt"), Array.from({ length: MAX_LIST_ENTRIES + 1 }, (_, i) => `d${i}.example`).join("\n"));
    expect(await problemsFor(rulesWith(`link_domain: { file: lists/many.txt }`))).toContainEqual(expect.stringMatching(/more than 100000 entries/));
    expect(await problemsFor(rulesWith(`link_domain: { file: lists/none.txt }`))).toEqual([expect.stringMatching(/cannot be read: ENOENT/)]);
    writeFileSync(path.join(dir, "lists/sjis.txt"), Buffer.from([0x82, 0xa0, 0x0a]));
    expect(await problemsFor(rulesWith(`link_domain: { file: lists/sjis.txt }`))).toEqual([expect.stringMatching(/not valid UTF-8/)]);
  });

  it("refuses a list condition written as neither entries nor file:", async () => {
    expect(await problemsFor(rulesWith(`link_domain: { path: x.txt }`))).toEqual([expect.stringMatching(/takes a list of entries, or file:/), expect.stringMatching(/unknown key "path" in link_domain/)]);
  });
});

describe("list files reload with the rules", () => {
  let holder: RulesHolder | undefined;
  let events: AuditEventInput[];
  let logs: { level: string; msg?: string }[];
  const logger = {
    info: (_o: unknown, msg?: string) => void logs.push({ level: "info", msg }),
    warn: (_o: unknown, msg?: string) => void logs.push({ level: "warn", msg }),
    error: (_o: unknown, msg?: string) => void logs.push({ level: "error", msg }),
  } as never;

  beforeEach(() => {
    events = [];
    logs = [];
  });
  afterEach(() => {
    holder?.close();
    holder = undefined;
  });

  async function until(check: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if (check()) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  const withBad = () => facts({ attachments: [attachment({ filename: "invoice.xlsx", sha256: BAD })] });
  const decideNow = () => holder!.current().decide(withBad(), envelope(), THURSDAY_10_JST);

  it("the message after a list edit gets the new decision; the version and the audit event say which list", async () => {
    const list = path.join(dir, "lists/hashes.txt");
    writeFileSync(list, `${OTHER}\n`);
    writeFileSync(path.join(dir, "rules.yaml"), rulesWith(`attachment_sha256: { file: lists/hashes.txt }`));
    holder = await openRules({ config: { file: path.join(dir, "rules.yaml"), watch: true }, logger, audit: { record: (e) => void events.push(e) }, debounceMs: 50 });
    expect(decideNow().action).toBe("deliver");
    const before = holder.current().version;

    // as an editor saves: a temporary file renamed over the list
    writeFileSync(`${list}.tmp`, `${OTHER}\n${BAD}  invoice.xlsx\n`);
    renameSync(`${list}.tmp`, list);
    await until(() => decideNow().action === "hold", "the edited list");
    expect(decideNow().matches).toEqual([{ rule: "blocklist", condition: "attachment_sha256", entry: BAD, source: `${list}:2`, seen: "invoice.xlsx" }]);
    expect(holder.current().version).not.toBe(before);
    expect(events.at(-1)).toMatchObject({
      type: "rules-reloaded",
      data: { ok: true, reason: "watch", previous: before, lists: [{ file: list, kind: "attachment_sha256", sha256: sha(`${OTHER}\n${BAD}  invoice.xlsx\n`), entries: 2 }] },
    });

    // a bad list keeps the rules in force, says why, and a fix is picked up
    writeFileSync(list, `${BAD}\nnot-a-hash\n`);
    await until(() => logs.some((l) => l.level === "error"), "the error report");
    expect(decideNow().action).toBe("hold");
    expect(holder.status().lastError?.problems).toContainEqual(expect.objectContaining({ file: list, line: 2 }));
    writeFileSync(list, `${OTHER}\n`);
    await until(() => decideNow().action === "deliver", "the fixed list");
    expect(holder.status().lastError).toBeUndefined();
  });

  it("SIGHUP reloads an edited list even without watching", async () => {
    const list = path.join(dir, "lists/hashes.txt");
    writeFileSync(list, `${OTHER}\n`);
    writeFileSync(path.join(dir, "rules.yaml"), rulesWith(`attachment_sha256: { file: lists/hashes.txt }`));
    holder = await openRules({ config: { file: path.join(dir, "rules.yaml"), watch: false }, logger, audit: { record: (e) => void events.push(e) } });
    writeFileSync(list, `${BAD}\n`);
    expect(decideNow().action).toBe("deliver");
    expect((await holder.reload("sighup")).ok).toBe(true);
    expect(decideNow().action).toBe("hold");
  });
});
