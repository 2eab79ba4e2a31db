import type { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.ts";
import { createThreadedReceiver } from "../../src/receive/receiver-thread.ts";
import type { Receiver } from "../../src/receive/smtp-receiver.ts";
import { openSpool } from "../../src/spool/spool.ts";
import { plainMessage, recordingSink, sendRaw, silentLogger, tempDir, waitFor } from "../helpers/relay-helpers.ts";
import { endSessions, inTransaction } from "./receive-helpers.ts";

const running: Receiver[] = [];
afterEach(async () => {
  endSessions();
  await Promise.all(running.splice(0).map((r) => r.close()));
});

describe("the receiver thread", () => {
  it("queues messages like the in-process receiver and comes back on the same port after it dies", async () => {
    const dataDir = await tempDir();
    const config = parseConfig({ dataDir, smtp: { host: "127.0.0.1", port: 0, clients: ["127.0.0.1/32"], recipientDomains: ["city.example.lg.jp"] } });
    const audit = recordingSink();
    const queued: string[] = [];
    const threads: Worker[] = [];
    const receiver = createThreadedReceiver({
      smtp: config.smtp,
      hostname: "mumuka.test",
      dataDir,
      log: { level: "silent", format: "json" },
      audit,
      logger: silentLogger(),
      onQueued: (id) => queued.push(id),
      onThread: (w) => threads.push(w),
    });
    const { port } = await receiver.listen();
    running.push(receiver);
    const send = (subject: string) => sendRaw({ port, from: "a@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage(subject) });

    const first = await send("one");
    expect(first.response).toMatch(/^250 2\.0\.0 Ok: queued as /);
    expect(queued).toHaveLength(1);
    expect(audit.of("received", queued[0])).toHaveLength(1);

    await threads[0]!.terminate();
    await waitFor(() => threads.length === 2, 10000, "a new receiver thread");
    const second = await waitFor(() => send("two").catch(() => undefined), 10000, "the port answering again");
    expect(second.response).toMatch(/^250 /);
    expect(queued).toHaveLength(2);
    const spool = await openSpool(dataDir);
    expect((await spool.list("incoming")).sort()).toEqual([...queued].sort());
  });

  it("reports a refused recipient to this side: counted in the metrics and recorded in the audit trail", async () => {
    const dataDir = await tempDir();
    const config = parseConfig({ dataDir, smtp: { host: "127.0.0.1", port: 0, clients: ["127.0.0.1/32"], recipientDomains: ["city.example.lg.jp"] } });
    const audit = recordingSink();
    const refused: string[] = [];
    const receiver = createThreadedReceiver({
      smtp: config.smtp,
      hostname: "mumuka.test",
      dataDir,
      log: { level: "silent", format: "json" },
      audit,
      logger: silentLogger(),
      metrics: { refused: { inc: ({ reason }: { reason: string }) => void refused.push(reason) } } as never,
      onQueued: () => {},
    });
    const { port } = await receiver.listen();
    running.push(receiver);
    const s = await inTransaction(port);
    expect(await s.command("RCPT TO:<other.example!user@city.example.lg.jp>")).toMatch(/^550 5\.7\.1 /);
    s.end();
    await waitFor(() => audit.of("rejected").length === 1 && refused.length === 1, 10000, "the refusal on this side");
    expect(refused).toEqual(["bang-path"]);
    expect(audit.of("rejected")[0]?.data).toMatchObject({ reason: "bang-path", rcptTo: ["other.example!user@city.example.lg.jp"] });
  });

  it("rejects listen() when the receiver cannot be built (an unreadable TLS key) instead of restarting the thread forever", async () => {
    const dataDir = await tempDir();
    const config = parseConfig({ dataDir, smtp: { host: "127.0.0.1", port: 0, tls: { cert: `${dataDir}/missing-cert.pem`, key: `${dataDir}/missing-key.pem` } } });
    const threads: Worker[] = [];
    const receiver = createThreadedReceiver({
      smtp: config.smtp,
      hostname: "mumuka.test",
      dataDir,
      log: { level: "silent", format: "json" },
      audit: recordingSink(),
      logger: silentLogger(),
      onQueued: () => {},
      onThread: (w) => threads.push(w),
    });
    await expect(receiver.listen()).rejects.toMatchObject({ code: "ENOENT" });
    expect(threads).toHaveLength(1);
  });
});
