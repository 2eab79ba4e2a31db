/**
 * Test helpers for the relay: a recording audit sink, a silent logger, a
 * nodemailer client, and temp data directories.
 */
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import nodemailer from "nodemailer";
import { pino } from "pino";
import type { AuditEventInput, AuditSink } from "../../src/audit/audit-types.ts";
import type { Logger } from "../../src/lib/logger.ts";

export interface RecordingSink extends AuditSink {
  events: AuditEventInput[];
  of(type: AuditEventInput["type"], auditId?: string): AuditEventInput[];
}

export function recordingSink(): RecordingSink {
  const events: AuditEventInput[] = [];
  return {
    events,
    record: (e) => void events.push(structuredClone(e)),
    flush: async () => {},
    of: (type, auditId) => events.filter((e) => e.type === type && (auditId === undefined || e.auditId === auditId)),
  };
}

export const silentLogger = (): Logger => pino({ level: process.env.MUMUKA_TEST_LOG ?? "silent" });

export const tempDir = (prefix = "mumuka-relay-") => mkdtemp(path.join(os.tmpdir(), prefix));

export interface SendOptions {
  port: number;
  host?: string;
  localAddress?: string;
  from: string;
  to: string[];
  raw: string | Buffer;
}

/** Sends one raw message with a real SMTP client; resolves with the server's reply or rejects with its error. */
export async function sendRaw(o: SendOptions): Promise<{ response: string; accepted: string[]; rejected: string[] }> {
  const transport = nodemailer.createTransport({
    host: o.host ?? "127.0.0.1",
    port: o.port,
    secure: false,
    ignoreTLS: true,
    ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    connectionTimeout: 5000,
    greetingTimeout: 5000,
    socketTimeout: 10000,
  } as Parameters<typeof nodemailer.createTransport>[0]);
  try {
    const info = await transport.sendMail({ envelope: { from: o.from, to: o.to }, raw: o.raw });
    return { response: String(info.response), accepted: info.accepted as string[], rejected: info.rejected as string[] };
  } finally {
    transport.close();
  }
}

export function plainMessage(subject: string, body = "本文です。\r\n", extraHeaders = ""): string {
  return (
    `From: Sender <sender@example.com>\r\nTo: staff@city.example.lg.jp\r\nSubject: ${subject}\r\n` +
    `Message-ID: <${subject.replace(/\W/g, "")}@example.com>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0900\r\n` +
    `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n${extraHeaders}\r\n${body}`
  );
}

export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15000, what = "condition"): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
