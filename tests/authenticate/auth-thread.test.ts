/**
 * Verification in the authentication thread (src/authenticate/auth-thread.ts):
 * the verdict comes back from the thread as it would in process; a thread
 * that dies with verifications in hand gives each of them temperror (never a
 * pass, never an exception) and the next message gets a new thread; after
 * close, nothing is verified and the answer is temperror.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthThread } from "../../src/authenticate/auth-thread.ts";
import { unverifiedVerdict } from "../../src/authenticate/authenticator.ts";
import { authenticationSchema } from "../../src/config/schema.ts";
import { makeKey, plainMessage, sign, type TestKey } from "../helpers/auth-fixtures.ts";
import { startDnsServer, type DnsServer } from "../helpers/dns-server.ts";

let dns: DnsServer;
let key: TestKey;
let dir: string;

beforeAll(async () => {
  key = makeKey();
  dns = await startDnsServer({
    "good.example": { TXT: ["v=spf1 ip4:192.0.2.10 -all"] },
    "sel._domainkey.good.example": { TXT: [key.record] },
    "_dmarc.good.example": { TXT: ["v=DMARC1; p=reject"] },
    // never answers: a verification of this sender waits (the test ends its thread meanwhile)
    "silent.example": "drop",
  });
  dir = await mkdtemp(path.join(os.tmpdir(), "mumuka-auth-thread-"));
});
afterAll(async () => {
  await dns?.close();
  await rm(dir, { recursive: true, force: true });
});

/** a record-like file: some bytes before the message, as in a spool record */
async function record(name: string, raw: string): Promise<{ file: string; offset: number; length: number }> {
  const file = path.join(dir, name);
  const prefix = Buffer.from("PREFIX-NOT-PART-OF-THE-MESSAGE\n");
  const message = Buffer.from(raw);
  await writeFile(file, Buffer.concat([prefix, message]));
  return { file, offset: prefix.length, length: message.length };
}

function thread(threads: Worker[] = []) {
  const config = authenticationSchema.parse({ enabled: true, dns: { servers: [dns.address], timeoutMs: 5_000, tries: 1 }, timeoutMs: 20_000 });
  return createAuthThread({
    config,
    hostname: "mumuka.test",
    maxHeaderBytes: 65_536,
    unverified: (peer) => unverifiedVerdict(config, "mumuka.test", peer),
    onThread: (w) => threads.push(w),
  });
}

const envelope = (mailFrom: string) => ({ mailFrom, clientAddress: "192.0.2.10", clientHelo: "mail.good.example" });

describe("the authentication thread", () => {
  it("verifies the message region of a record", async () => {
    const auth = thread();
    try {
      const region = await record("good.rec", await sign(plainMessage("Alice <alice@good.example>"), [{ domain: "good.example", selector: "sel", key }]));
      const { verdict, readError } = await auth.verify(region, envelope("alice@good.example"));
      expect(readError).toBeUndefined();
      expect(verdict).toMatchObject({ authservId: "mumuka.test", spf: { result: "pass" }, dkim: [{ result: "pass", domain: "good.example" }], dmarc: { result: "pass" } });
    } finally {
      await auth.close();
    }
  });

  it("a thread that dies with verifications in hand: each is temperror, and the next message gets a new thread", async () => {
    const threads: Worker[] = [];
    const auth = thread(threads);
    try {
      const waiting = auth.verify(await record("silent.rec", plainMessage("Bob <bob@silent.example>")), envelope("bob@silent.example"));
      // the thread has the request (it is waiting on DNS) when it ends
      await new Promise((r) => setTimeout(r, 200));
      expect(threads).toHaveLength(1);
      await threads[0]!.terminate();
      const lost = await waiting;
      expect(lost.verdict.spf.result).toBe("temperror");
      expect(lost.verdict.dmarc.result).toBe("temperror");
      expect(lost.readError).toMatch(/authentication thread/);

      const next = await auth.verify(await record("good2.rec", await sign(plainMessage("Alice <alice@good.example>"), [{ domain: "good.example", selector: "sel", key }])), envelope("alice@good.example"));
      expect(threads).toHaveLength(2);
      expect(next.verdict.dkim[0]!.result).toBe("pass");
    } finally {
      await auth.close();
    }
  });

  it("an unreadable record is temperror with the reason, not an exception", async () => {
    const auth = thread();
    try {
      const { verdict, readError } = await auth.verify({ file: path.join(dir, "missing.rec"), offset: 0, length: 100 }, envelope("alice@good.example"));
      expect(verdict.spf.result).toBe("temperror");
      expect(readError).toBe("ENOENT");
    } finally {
      await auth.close();
    }
  });

  it("after close, the answer is temperror without a thread", async () => {
    const threads: Worker[] = [];
    const auth = thread(threads);
    await auth.close();
    const { verdict } = await auth.verify(await record("late.rec", plainMessage("Alice <alice@good.example>")), envelope("alice@good.example"));
    expect(verdict.dmarc.result).toBe("temperror");
    expect(threads).toHaveLength(0);
  });
});
