/**
 * Operational logs carry no mail content: the whole shared corpus goes
 * through a real gateway (SMTP in, sanitizer, delivery, the real audit store)
 * with every pino line kept, at debug level. Then the text each message's
 * staff received (from the audit store, where it belongs) and its subject are
 * looked for in every line: none may appear. The texts themselves must still
 * be in the store.
 */
import { readdirSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.ts";
import { startGateway, type Gateway } from "../../src/serve.ts";
import type { AuditLog } from "../../src/audit/index.ts";
import { corpusDir, corpusEntries, corpusMissingReason, readCorpusMessage } from "../helpers/corpus.ts";
import { sendRaw, tempDir } from "../helpers/relay-helpers.ts";
import { memoryLogger } from "./backends.ts";

const dir = corpusDir();
if (!dir) console.warn(`[log-content.test] SKIPPED: ${corpusMissingReason()}`);

/** a line of what staff read must be at least this long to count as content (shorter ones: "以上", "--") */
const MIN_NEEDLE = 16;
/** a line found in more messages than this is the notice's wording, not a sender's */
const BOILERPLATE = 3;
/** sessions sending at once */
const SESSIONS = 4;

describe.skipIf(!dir)("the operational log over the corpus", () => {
  let gateway: Gateway | undefined;
  afterAll(async () => {
    await gateway?.close();
  });

  it("contains no body text and no subject of any message", { timeout: 600_000 }, async () => {
    const dataDir = await tempDir("mumuka-logs-");
    const mem = memoryLogger("debug");
    const config = parseConfig({
      dataDir,
      smtp: { host: "127.0.0.1", port: 0, hostname: "mumuka.test", clients: ["127.0.0.1/32"], recipientDomains: ["city.example.lg.jp"] },
      delivery: { mode: "directory", directory: path.join(dataDir, "outbox") },
      admin: { enabled: false },
      log: { level: "debug", format: "json" },
    });
    // the receiver on this thread: its log lines go to the same kept logger
    gateway = await startGateway(config, { logger: mem.logger, inProcessReceiver: true });
    const port = gateway.address.port;
    const entries = corpusEntries();
    const ids: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: SESSIONS }, async () => {
        while (next < entries.length) {
          const entry = entries[next++]!;
          try {
            const reply = await sendRaw({ port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: readCorpusMessage(entry) });
            const id = /queued as (\S+)/.exec(reply.response)?.[1];
            if (id) ids.push(id);
          } catch {
            // refused (e.g. a line too long for SMTP): nothing of it was logged as content either
          }
        }
      }),
    );
    await gateway.queue.idle();
    await gateway.audit.flush();
    expect(ids.length).toBeGreaterThan(entries.length * 0.9);
    expect(readdirSync(path.join(dataDir, "outbox")).filter((f) => f.endsWith(".eml")).length).toBeGreaterThan(0);

    // what staff read and the subjects, from the audit store
    const audit = gateway.audit as AuditLog;
    const perMessage: string[][] = [];
    const seen = new Map<string, number>();
    let texts = 0;
    for (const id of ids) {
      const story = await audit.story(id);
      const text = story.find((e) => e.type === "sanitized" && typeof e.data.text === "string")?.data.text as string | undefined;
      const subject = (await audit.search({ auditId: id })).rows[0]?.subject ?? "";
      if (text !== undefined) texts += 1;
      const lines = new Set((text ?? "").split(/\r?\n/).map((l) => l.trim()).filter((l) => [...l].length >= MIN_NEEDLE));
      if ([...subject].length >= 8) lines.add(subject);
      for (const l of lines) seen.set(l, (seen.get(l) ?? 0) + 1);
      perMessage.push([...lines]);
    }
    expect(texts).toBeGreaterThan(ids.length * 0.9); // the texts are kept, in the store
    const needles = new Set(perMessage.flat().filter((l) => (seen.get(l) ?? 0) <= BOILERPLATE));
    expect(needles.size).toBeGreaterThan(ids.length);

    // every pino line, as written (JSON-escaped): a needle is looked for in its escaped form
    const log = mem.lines().map((l) => JSON.stringify(l));
    expect(log.some((l) => l.includes('"audit received"'))).toBe(true);
    const all = log.join("\n");
    const leaks: string[] = [];
    for (const needle of needles) {
      const escaped = JSON.stringify(needle).slice(1, -1);
      if (all.includes(escaped)) leaks.push(needle);
      if (leaks.length >= 5) break;
    }
    expect(leaks).toEqual([]);
  });
});
