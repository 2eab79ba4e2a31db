/** Message facts and envelopes for rules tests: plain data, as the core's analyze() would report them. */
import type { MessageFacts, RemovedPart } from "../../src/sanitize/sanitize-types.ts";
import type { Envelope } from "../../src/rules/rules-types.ts";

export function facts(over: Partial<MessageFacts> = {}): MessageFacts {
  return {
    from: [{ name: "", address: "taro@partner.example.co.jp" }],
    to: [{ name: "", address: "kikaku@city.example.lg.jp" }],
    cc: [],
    replyTo: [],
    subject: "月次報告",
    size: 4_000,
    sha256: "0".repeat(64),
    hasHtml: false,
    attachments: [],
    ...over,
  };
}

export function attachment(over: Partial<RemovedPart> = {}): RemovedPart {
  return {
    path: "2",
    filename: "report.csv",
    contentType: "text/csv",
    typeMismatch: false,
    size: 1_000,
    sha256: "1".repeat(64),
    encrypted: false,
    ...over,
  };
}

export function envelope(over: Partial<Envelope> = {}): Envelope {
  return {
    mailFrom: "taro@partner.example.co.jp",
    rcptTo: ["kikaku@city.example.lg.jp"],
    clientAddress: "198.51.100.7",
    clientHelo: "mx.partner.example.co.jp",
    ...over,
  };
}

/** Thursday 2026-11-26 10:00 in Japan (01:00 UTC). */
export const THURSDAY_10_JST = new Date("2026-11-26T01:00:00Z");
