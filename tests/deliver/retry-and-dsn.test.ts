import { simpleParser } from "mailparser";
import { describe, expect, it } from "vitest";
import { buildDsn, statusOf } from "../../src/deliver/dsn.ts";
import { isExpired, retryDelaySeconds } from "../../src/deliver/retry-schedule.ts";

const policy = { retryFirstSeconds: 15, retryMaxSeconds: 3600, maxQueueDays: 5 };

describe("the retry schedule", () => {
  it("retries first after retryFirstSeconds, then doubles up to the cap", () => {
    expect([1, 2, 3, 4, 5, 8, 9, 50, 5000].map((n) => retryDelaySeconds(n, policy))).toEqual([15, 30, 60, 120, 240, 1920, 3600, 3600, 3600]);
  });

  it("expires a message exactly at maxQueueDays and not before", () => {
    const queuedAt = "2026-11-20T00:00:00.000Z";
    expect(isExpired(queuedAt, policy, new Date("2026-11-24T23:59:59.000Z"))).toBe(false);
    expect(isExpired(queuedAt, policy, new Date("2026-11-25T00:00:00.000Z"))).toBe(true);
    expect(isExpired("garbage", policy, new Date())).toBe(false);
  });
});

describe("delivery status notifications", () => {
  const dsn = (reply: string, rcpt = "gone@city.example.lg.jp", headers = "Subject: hi") =>
    buildDsn({
      queueId: "20261126T095312Z-7K3QX9PA4M2D8RFT",
      to: "sender@example.com",
      from: "MAILER-DAEMON@mumuka.test",
      reportingMta: "mumuka.test",
      arrivalDate: new Date("2026-11-26T09:53:12Z"),
      now: new Date("2026-11-26T10:00:00Z"),
      recipients: [{ rcpt, action: "failed", reply }],
      headers,
    }).toString("utf8");

  it("is a multipart/report with a machine-readable status per recipient (RFC 3464)", () => {
    const text = dsn("550 5.1.1 <gone@city.example.lg.jp>: Recipient address rejected");
    expect(text).toMatch(/^Content-Type: multipart\/report; report-type=delivery-status; boundary="([^"]+)"/m);
    expect(text).toMatch(/Content-Type: message\/delivery-status\r\n\r\nReporting-MTA: dns; mumuka\.test\r\n/);
    expect(text).toMatch(/Final-Recipient: rfc822; gone@city\.example\.lg\.jp\r\n/);
    expect(text).toMatch(/Action: failed\r\nStatus: 5\.1\.1\r\n/);
    expect(text).toMatch(/Content-Type: text\/rfc822-headers\r\n\r\nSubject: hi\r\n/);
    expect(text).toMatch(/^To: <sender@example\.com>\r$/m);
  });

  it("derives the status from the basic code when the reply has no enhanced code", () => {
    expect(statusOf("554 Transaction failed", "failed")).toBe("5.0.0");
    expect(statusOf("connection refused", "failed")).toBe("5.0.0");
    expect(statusOf("451 4.3.0 local error", "delayed")).toBe("4.3.0");
  });

  it("keeps every line within 998 octets however long the recipient and the reply are (RFC 5322 2.1.1)", () => {
    const text = dsn(`550 ${"r".repeat(2000)}`, `${"a".repeat(1000)}@example.jp`);
    for (const line of text.split("\r\n")) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(998);
  });

  it("writes a non-ASCII envelope sender as shown text with a placeholder address, never narrowed to bytes", async () => {
    const message = buildDsn({
      queueId: "20261126T095312Z-7K3QX9PA4M2D8RFT",
      to: '"a\u010aX-Injected: 1"@例え.jp',
      from: "MAILER-DAEMON@mumuka.test",
      reportingMta: "mumuka.test",
      arrivalDate: new Date("2026-11-26T09:53:12Z"),
      now: new Date("2026-11-26T10:00:00Z"),
      recipients: [{ rcpt: "gone@city.example.lg.jp", action: "failed", reply: "550 no" }],
      headers: "",
    });
    const header = message.subarray(0, message.indexOf("\r\n\r\n")).toString("latin1");
    expect(header).toMatch(/^[\x20-\x7e\r\n]*$/);
    const parsed = await simpleParser(message);
    expect(parsed.headers.has("x-injected")).toBe(false);
    const to = (Array.isArray(parsed.to) ? parsed.to : [parsed.to]).flatMap((t) => t?.value ?? []);
    expect(to.map((a) => a.address)).toEqual(["invalid-address@mumuka.invalid"]);
    expect(to[0]?.name).toContain("例え.jp");
  });

  it("cannot be made to carry injected header lines by a reply or an address", () => {
    const text = dsn("550 bad\r\nBcc: victim@example.com", "x@y\r\nX-Injected: 1", "Subject: ok\r\nX-Evil: \u202e");
    expect(text).not.toMatch(/^Bcc:/m);
    expect(text).not.toMatch(/^X-Injected:/m);
    expect(text).not.toContain("\u202e");
  });
});
