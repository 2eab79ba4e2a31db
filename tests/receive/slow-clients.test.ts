/**
 * Slow and greedy clients over real sockets: a trickling client is cut with
 * 421 4.4.2 (per-message deadline, data rate floor), one address cannot take
 * more than smtp.maxConnectionsPerClient slots, and the upstream MTA keeps its
 * reserved slots when every other slot is taken. Deadlines are small and
 * configured; the tests assert outcomes and their order, never elapsed time.
 */
import { readdir } from "node:fs/promises";
import net from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "../../src/config/load.ts";
import type { Receiver } from "../../src/receive/smtp-receiver.ts";
import { plainMessage, sendRaw, waitFor } from "../helpers/relay-helpers.ts";
import { endSessions, inTransaction, rawSession, startReceiver, type RawSession } from "./receive-helpers.ts";

const running: Receiver[] = [];
const sessions: RawSession[] = [];
afterEach(async () => {
  endSessions();
  for (const s of sessions.splice(0)) s.end();
  await Promise.all(running.splice(0).map((r) => r.close()));
});

/** writes one byte every `everyMs` until the connection closes */
function trickle(s: RawSession, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (s.isClosed()) return clearInterval(timer);
    s.write(text[i % text.length]!);
    i++;
  }, everyMs);
  void s.closed.then(() => clearInterval(timer));
}

/** a session in DATA, its message trickling in */
async function tricklingData(port: number, localAddress?: string): Promise<RawSession> {
  const s = localAddress ? await rawSession(port, localAddress) : await inTransaction(port);
  sessions.push(s);
  if (localAddress) {
    await s.command("EHLO slow.example");
    await s.command("MAIL FROM:<slow@example.com>");
  }
  await s.command("RCPT TO:<staff@city.example.lg.jp>");
  expect(await s.command("DATA")).toMatch(/^354 /);
  trickle(s, "Subject: slow\r\n\r\n" + "x".repeat(1000), 20);
  return s;
}

describe("a client that trickles", () => {
  it("is cut with 421 4.4.2 at the per-message deadline, freeing its slot for an honest client, and leaves nothing in the spool", async () => {
    const r = await startReceiver(running, { maxConnections: 2, reservedConnections: 0, transactionTimeoutMs: 1500, minDataBytesPerSecond: 0 });
    const slow = [await tricklingData(r.port), await tricklingData(r.port)];
    // every slot is held by a trickler: an honest client is turned away for now
    const turnedAway = await rawSession(r.port);
    expect(turnedAway.greeting).toMatch(/^421 4\.3\.2 /);
    // the tricklers are cut, and then the honest client gets through
    const honest = await waitFor(
      () => sendRaw({ port: r.port, from: "a@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage("honest") }).catch(() => undefined),
      15000,
      "the honest client getting a slot",
    );
    expect(honest.response).toMatch(/^250 /);
    for (const s of slow) {
      await s.closed;
      expect(s.replies.at(-1)).toMatch(/^421 4\.4\.2 .*transaction time limit/);
    }
    expect(r.queued).toHaveLength(1);
    expect(r.refusals.filter((x) => x === "timeout")).toHaveLength(2);
    await waitFor(async () => (await readdir(r.spool.dir("incoming"))).length === 1 || undefined, 5000, "the tricklers' temp files to go");
  });

  it("is cut with 421 4.4.2 at the deadline while still trickling its commands", async () => {
    const r = await startReceiver(running, { transactionTimeoutMs: 800 });
    const s = await rawSession(r.port);
    sessions.push(s);
    trickle(s, "NOOP\r\n", 20);
    await s.closed;
    expect(s.replies.at(-1)).toMatch(/^421 4\.4\.2 /);
  });

  it("is cut with 421 4.4.2 when its message data falls under smtp.minDataBytesPerSecond, while a fast one completes", async () => {
    const r = await startReceiver(running, { socketTimeoutMs: 400, minDataBytesPerSecond: 2000, transactionTimeoutMs: 600_000 });
    const slow = await tricklingData(r.port);
    const big = plainMessage("big", ("y".repeat(78) + "\r\n").repeat(2000));
    const fast = await sendRaw({ port: r.port, from: "a@example.com", to: ["staff@city.example.lg.jp"], raw: big });
    expect(fast.response).toMatch(/^250 /);
    await slow.closed;
    expect(slow.replies.at(-1)).toMatch(/^421 4\.4\.2 .*too slow/);
    expect(r.refusals).toContain("slow");
    expect(r.queued).toHaveLength(1);
  });
});

describe("connection slots", () => {
  it("refuse the N+1th connection from one address with 421 4.7.0, admit other addresses, and admit it again once one closed", async () => {
    const r = await startReceiver(running, { maxConnectionsPerClient: 2 });
    const a = [await rawSession(r.port, "127.0.0.2"), await rawSession(r.port, "127.0.0.2")];
    sessions.push(...a);
    expect(a.map((s) => s.greeting)).toEqual([expect.stringMatching(/^220 /), expect.stringMatching(/^220 /)]);
    const third = await rawSession(r.port, "127.0.0.2");
    expect(third.greeting).toMatch(/^421 4\.7\.0 .*too many connections from your address/);
    await third.closed;
    const other = await rawSession(r.port, "127.0.0.3");
    sessions.push(other);
    expect(other.greeting).toMatch(/^220 /);
    a[0]!.end();
    const again = await waitFor(async () => {
      const s = await rawSession(r.port, "127.0.0.2");
      if (s.greeting.startsWith("220")) return s;
      s.end();
      return undefined;
    }, 10000, "a slot for 127.0.0.2 again");
    sessions.push(again);
    expect(r.refusals).toContain("client-limit");
  });

  it("keep the reserved slots for the upstream MTA when every other slot is taken, and do not limit it per client", async () => {
    const r = await startReceiver(running, { maxConnections: 4, reservedConnections: 2, reservedClients: ["127.0.0.9/32"], maxConnectionsPerClient: 1 });
    const others = [await rawSession(r.port, "127.0.0.2"), await rawSession(r.port, "127.0.0.3")];
    sessions.push(...others);
    expect(others.every((s) => s.greeting.startsWith("220"))).toBe(true);
    const refused = await rawSession(r.port, "127.0.0.4");
    expect(refused.greeting).toMatch(/^421 4\.3\.2 /);
    // the upstream gets both reserved slots (two connections from one address: no per-client limit for it)
    const upstream = [await rawSession(r.port, "127.0.0.9"), await rawSession(r.port, "127.0.0.9")];
    sessions.push(...upstream);
    expect(upstream.every((s) => s.greeting.startsWith("220"))).toBe(true);
    expect(await upstream[0]!.command("EHLO upstream.example")).toMatch(/^250/);
    expect(await upstream[0]!.command("MAIL FROM:<a@example.com>")).toMatch(/^250 /);
    expect(await upstream[0]!.command("RCPT TO:<staff@city.example.lg.jp>")).toMatch(/^250 /);
    expect(await upstream[0]!.command("DATA")).toMatch(/^354 /);
    expect(await upstream[0]!.command(`${plainMessage("from upstream")}\r\n.\r\n`)).toMatch(/^250 /);
    // all four slots are in use now: even the upstream waits
    const fifth = await rawSession(r.port, "127.0.0.9");
    expect(fifth.greeting).toMatch(/^421 4\.3\.2 /);
    expect(r.refusals).toEqual(["busy", "busy"]);
  });

  it("are not held by refused hosts that keep their half of the connection open", async () => {
    const r = await startReceiver(running, { clients: ["127.0.0.1/32"], maxConnections: 2, reservedConnections: 0 });
    // hosts outside smtp.clients that never close their side (allowHalfOpen): they get 554 and must not count
    const lingering = await Promise.all(
      ["127.0.0.2", "127.0.0.3", "127.0.0.4"].map(
        (localAddress) =>
          new Promise<net.Socket>((resolve) => {
            const socket = net.connect({ port: r.port, host: "127.0.0.1", localAddress, allowHalfOpen: true });
            socket.on("error", () => {});
            socket.once("data", (d) => {
              expect(d.toString()).toMatch(/^554 /);
              resolve(socket);
            });
          }),
      ),
    );
    try {
      const allowed = [await rawSession(r.port), await rawSession(r.port)];
      sessions.push(...allowed);
      expect(allowed.map((s) => s.greeting)).toEqual([expect.stringMatching(/^220 /), expect.stringMatching(/^220 /)]);
    } finally {
      for (const socket of lingering) socket.destroy();
    }
  });

  it("are configured consistently", () => {
    expect(() => parseConfig({ smtp: { maxConnections: 5, reservedConnections: 5, reservedClients: ["192.0.2.25"] } })).toThrow(/reservedConnections/);
    // the default reservedConnections (10) does not stop a small maxConnections while nothing is reserved
    expect(parseConfig({ smtp: { maxConnections: 5 } }).smtp.maxConnections).toBe(5);
    expect(() => parseConfig({ smtp: { maxConnectionsPerClient: 0 } })).toThrow(/maxConnectionsPerClient/);
    // a bad network fails the configuration check, not the receiver thread at start
    expect(() => parseConfig({ smtp: { reservedClients: ["mx.example"] } })).toThrow(/reservedClients/);
    expect(() => parseConfig({ smtp: { clients: ["192.0.2.0/33"] } })).toThrow(/clients/);
    expect(parseConfig({ smtp: { reservedClients: ["192.0.2.25", "2001:db8::/32"] } }).smtp.reservedClients).toHaveLength(2);
  });
});

describe("the per-message deadline (fake clock)", () => {
  afterEach(() => vi.useRealTimers());

  it("starts again after each message, so a connection that keeps delivering is never cut, and cuts one that stops", async () => {
    const r = await startReceiver(running, { transactionTimeoutMs: 10_000, minDataBytesPerSecond: 0 });
    // only the deadline's timers are faked; sockets and the spool run for real
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const s = await inTransaction(r.port);
    for (let i = 0; i < 3; i++) {
      if (i > 0) expect(await s.command("MAIL FROM:<a@example.com>")).toMatch(/^250 /);
      expect(await s.command("RCPT TO:<staff@city.example.lg.jp>")).toMatch(/^250 /);
      expect(await s.command("DATA")).toMatch(/^354 /);
      expect(await s.command(`${plainMessage(`reused ${i}`)}\r\n.\r\n`)).toMatch(/^250 /);
      vi.advanceTimersByTime(7_000); // 21 s in all: past the deadline unless each message restarted it
      expect(s.isClosed()).toBe(false);
    }
    vi.advanceTimersByTime(3_000);
    await s.closed;
    expect(s.replies.at(-1)).toMatch(/^421 4\.4\.2 /);
    expect(r.queued).toHaveLength(3);
  });
});
