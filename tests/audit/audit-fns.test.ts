/**
 * The pure parts the whole trail rests on: one canonical form per content,
 * how each event moves a message's summary (with the event shapes the relay
 * really records), Japan-time dates on the command line, and table cells that
 * stay aligned and harmless with Japanese and hostile text.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { applyEvent, canonicalJson, chainEvents, eventHash, GENESIS_HASH, type StoredSummary } from "../../src/audit/audit-fns.ts";
import { displayWidth, fitWidth } from "../../src/audit/audit-format.ts";
import { displaySafe } from "../../src/lib/display-safe.ts";
import { parseTimeArg } from "../../src/lib/japan-time.ts";
import type { AuditEvent } from "../../src/audit/audit-types.ts";

describe("the canonical form", () => {
  it("is the same whatever order the keys were written in, and differs when any value does", () => {
    expect(canonicalJson({ b: 1, a: { y: [1, "x"], x: null } })).toBe(canonicalJson({ a: { x: null, y: [1, "x"] }, b: 1 }));
    expect(canonicalJson({ a: "件名" })).not.toBe(canonicalJson({ a: "件名 " }));
  });

  it("is stored bytes: a fixed content always gives these exact bytes, and any content gives what the definition gives", () => {
    expect(canonicalJson({ z: [1, -0.5, "件名\u202e", null, { b: true, a: undefined }], a: { "10": 1, "2": 2, é: "x" }, u: undefined, n: NaN })).toBe(
      '{"a":{"10":1,"2":2,"é":"x"},"n":null,"z":[1,-0.5,"件名\u202e",null,{"b":true}]}',
    );
    // the definition, written as plainly as possible: sorted keys, undefined members dropped, no whitespace
    const reference = (v: unknown): string => {
      if (v === null || typeof v !== "object") return v === undefined || (typeof v === "number" && !Number.isFinite(v)) ? "null" : JSON.stringify(v);
      if (Array.isArray(v)) return `[${v.map(reference).join(",")}]`;
      const o = v as Record<string, unknown>;
      return `{${Object.keys(o)
        .filter((k) => o[k] !== undefined)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${reference(o[k])}`)
        .join(",")}}`;
    };
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalJson(value)).toBe(reference(value));
      }),
      { numRuns: 500 },
    );
  });

  it("chains each event to the one before it", () => {
    const [one, two] = chainEvents({ seq: 0, hash: GENESIS_HASH }, [
      { ts: "2026-11-26T00:00:00.000Z", gateway: "g", type: "admin", data: {} },
      { ts: "2026-11-26T00:00:00.000Z", gateway: "g", type: "admin", data: {} },
    ]);
    expect(one).toMatchObject({ seq: 1, prevHash: GENESIS_HASH });
    expect(two).toMatchObject({ seq: 2, prevHash: one!.hash });
    expect(two!.hash).not.toBe(one!.hash); // same content, different place in the chain
    const { hash, ...content } = two!;
    expect(eventHash(content)).toBe(hash);
  });
});

describe("a message's summary", () => {
  let seq = 0;
  const ev = (type: AuditEvent["type"], data: Record<string, unknown> = {}): AuditEvent => ({
    seq: ++seq,
    ts: "2026-11-26T01:00:00.000Z",
    gateway: "g",
    type,
    auditId: "M",
    data,
    prevHash: "",
    hash: "",
  });
  const fold = (events: AuditEvent[]): StoredSummary | undefined => events.reduce<StoredSummary | undefined>((s, e) => applyEvent(s, e), undefined);

  it("is created by the relay's received event and counts removed parts from the sanitize report", () => {
    const s = fold([
      ev("received", { mailFrom: "a@x.jp", rcptTo: ["b@y.jp", "c@y.jp"], headerFrom: "山田 <a@x.jp>", subject: "件名", size: 99 }),
      ev("sanitized", { report: { attachments: [{}, {}, {}] }, rulesApplied: [] }),
    ]);
    expect(s).toMatchObject({ mailFrom: "a@x.jp", rcptTo: ["b@y.jp", "c@y.jp"], headerFrom: "山田 <a@x.jp>", subject: "件名", size: 99, status: "queued", attachmentsRemoved: 3, dayJst: "2026-11-26" });
  });

  it("shows decoded subjects and senders: the writer's decoding first, the sanitizer's report once it ran", () => {
    const received = ev("received", { subject: "=?UTF-8?B?5Lu25ZCN?=", subjectDecoded: "件名", headerFrom: "=?UTF-8?B?5bGx55Sw?= <a@x.jp>", headerFromDecoded: "山田 <a@x.jp>" });
    expect(fold([received])).toMatchObject({ subject: "件名", headerFrom: "山田 <a@x.jp>" });
    const sanitized = ev("sanitized", { report: { headers: { subject: "件名（確定）", from: [{ name: "山田 太郎", address: "a@x.jp" }] }, attachments: [] } });
    expect(fold([received, sanitized])).toMatchObject({ subject: "件名（確定）", headerFrom: "山田 太郎 <a@x.jp>" });
  });

  it("takes the latest state as its status", () => {
    const base = [ev("received", { mailFrom: "a@x.jp" }), ev("sanitized", { facts: { attachments: [{}] } })];
    const cases: [AuditEvent["type"][], string][] = [
      [["delivery-attempt"], "queued"],
      [["delivery-attempt", "deferred"], "deferred"],
      [["deferred", "delivered"], "delivered"],
      [["delivered", "bounced"], "bounced"],
      [["held", "released"], "queued"],
      [["held", "deleted"], "deleted"],
      [["rejected", "dsn-sent"], "rejected"],
      [["deferred", "expired"], "expired"],
      [["delivered", "original-retrieved", "admin"], "delivered"],
    ];
    for (const [types, status] of cases) expect(fold([...base, ...types.map((t) => ev(t))])?.status).toBe(status);
  });

  it("is not created by the later events of a story whose beginning was purged", () => {
    expect(fold([ev("delivered"), ev("deferred")])).toBeUndefined();
  });
});

describe("dates on the command line", () => {
  it("reads YYYY-MM-DD as a whole day in Japan time", () => {
    expect(parseTimeArg("2026-11-26", "since").toISOString()).toBe("2026-11-25T15:00:00.000Z");
    expect(parseTimeArg("2026-11-26", "until", "end").toISOString()).toBe("2026-11-26T15:00:00.000Z");
  });

  it("reads a time without a zone as Japan time and one with a zone as written", () => {
    expect(parseTimeArg("2026-11-26T09:30", "since").toISOString()).toBe("2026-11-26T00:30:00.000Z");
    expect(parseTimeArg("2026-11-26T09:30:00Z", "since").toISOString()).toBe("2026-11-26T09:30:00.000Z");
    expect(parseTimeArg("2026-11-26 09:30:00+01:00", "since").toISOString()).toBe("2026-11-26T08:30:00.000Z");
  });

  it("refuses what is not a date", () => {
    for (const bad of ["yesterday", "2026-02-30", "26/11/2026", "2026-11-26T25:00"]) expect(() => parseTimeArg(bad, "since")).toThrow(/--since/);
  });
});

describe("table cells", () => {
  it("count full-width characters as two columns and cut with an ellipsis", () => {
    expect(displayWidth("件名テストabc")).toBe(13);
    expect(fitWidth("会議資料の送付について", 10)).toBe("会議資料… "); // 8 + 1 columns, padded to 10
    expect(displayWidth(fitWidth("会議資料の送付について", 10))).toBeLessThanOrEqual(10);
    expect(fitWidth("abc", 5)).toBe("abc  ");
  });

  it("show control and bidi characters instead of obeying them", () => {
    expect(displaySafe("invoice\u202Efdp.exe\u001b[2J")).toBe("invoice<U+202E>fdp.exe<U+001B>[2J");
  });
});
