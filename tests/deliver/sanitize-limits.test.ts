/**
 * "Running out of a budget is a known outcome": which limits hold a message
 * and which deliver it with a note (the table in docs/relay.md §5).
 */
import { readdir } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { openQueueAdmin } from "../../src/spool/queue-admin.ts";
import { message, multipart, part } from "../helpers/mime-builders.ts";
import { startDownstream, type Downstream } from "../helpers/relay-downstream.ts";
import { startTestGateway, type TestGateway } from "../helpers/relay-gateway.ts";
import { recordingSink, sendRaw, waitFor } from "../helpers/relay-helpers.ts";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function downstream(): Promise<Downstream> {
  const d = await startDownstream();
  cleanup.push(() => d.stop());
  return d;
}

async function gateway(opts: Parameters<typeof startTestGateway>[0]): Promise<TestGateway> {
  const g = await startTestGateway(opts);
  cleanup.push(() => g.gateway.close());
  return g;
}

const leaf = (words: string) => part({ contentType: "text/plain; charset=utf-8", encoding: "8bit", body: words });

/** 2,000 small attachments (~300 KiB): far more than a millisecond of analysis, well under the parts limit below */
function manyParts(subject: string, count = 2_000) {
  const parts = [leaf("BODY-TEXT-OF-THE-SLOW-MESSAGE")];
  for (let i = 0; i < count; i++) parts.push(part({ contentType: `application/octet-stream; name="f${i}.bin"`, encoding: "base64", body: `content ${i}` }));
  return message({ subject, entity: multipart("mixed", parts) });
}

const bodyOf = (raw: Buffer) => {
  const text = raw.toString("latin1");
  return Buffer.from(text.slice(text.indexOf("\r\n\r\n") + 4), "base64").toString("utf8");
};

describe("a message that exceeds the sanitizer's time budget", () => {
  it("is held with the reason, delivers nothing, and the trail says why", async () => {
    const down = await downstream();
    const g = await gateway({ delivery: { port: down.port }, sanitize: { limits: { maxTimeMs: 1, maxParts: 100_000 } } });
    const r = await sendRaw({ port: g.port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: manyParts("slow") });
    const id = /queued as (\S+)/.exec(r.response)![1]!;
    await waitFor(() => g.audit.of("held", id).length === 1, 20000, "held");
    expect(g.audit.of("held", id)[0]!.data.reason).toBe("sanitizer time budget exceeded (1 ms)");
    expect(await readdir(`${g.dataDir}/spool/held`)).toEqual([id]);
    expect((await openQueueAdmin(g.dataDir, recordingSink()).get(id))?.holdReason).toMatch(/time budget/);
    // the analysis that ran out of time is in the trail, as a hold
    expect(g.audit.of("sanitized", id).map((e) => e.data)).toEqual([
      expect.objectContaining({ action: "hold", limitsHit: ["maxTimeMs"], reason: "sanitizer time budget exceeded (1 ms)" }),
    ]);
    await g.gateway.queue.idle();
    expect(down.received).toEqual([]);
    expect(g.audit.of("delivered", id)).toEqual([]);
  });

  it("once released by an administrator, is delivered with what could be done and the limit named", async () => {
    const down = await downstream();
    const g = await gateway({ delivery: { port: down.port }, sanitize: { limits: { maxTimeMs: 1, maxParts: 100_000 } } });
    const r = await sendRaw({ port: g.port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: manyParts("slow") });
    const id = /queued as (\S+)/.exec(r.response)![1]!;
    await waitFor(() => g.audit.of("held", id).length === 1, 20000, "held");
    await openQueueAdmin(g.dataDir, recordingSink()).release(id, "cli:test");
    await waitFor(() => down.received.length === 1, 20000, "delivery after release");
    expect(bodyOf(down.received[0]!.raw)).toContain("処理時間");
    expect(g.audit.of("sanitized", id).at(-1)!.data).toMatchObject({ released: true });
  });
});

describe("a message that reaches a structural limit", () => {
  it("is delivered, with the limit named in the notice (parts)", async () => {
    const down = await downstream();
    const g = await gateway({ delivery: { port: down.port }, sanitize: { limits: { maxParts: 50 } } });
    const r = await sendRaw({ port: g.port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: manyParts("many parts", 200) });
    const id = /queued as (\S+)/.exec(r.response)![1]!;
    await waitFor(() => down.received.length === 1, 20000, "delivery");
    const body = bodyOf(down.received[0]!.raw);
    expect(body).toContain("パーツの数");
    expect(body).toContain("BODY-TEXT-OF-THE-SLOW-MESSAGE");
    expect(g.audit.of("held", id)).toEqual([]);
  });
});
