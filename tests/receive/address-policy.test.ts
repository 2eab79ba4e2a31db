/**
 * The envelope address rules over a real socket: no relay through routing
 * tricks in the local part, no 8-bit address that is not UTF-8 (or is, but
 * without SMTPUTF8), and the domainless postmaster accepted and rewritten.
 */
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.ts";
import { readRecordInfo } from "../../src/spool/record.ts";
import type { Receiver } from "../../src/receive/smtp-receiver.ts";
import { plainMessage } from "../helpers/relay-helpers.ts";
import { endSessions, inTransaction, rawSession, startReceiver, type Running } from "./receive-helpers.ts";
import { routedRecipient, sourceRouted } from "./routing-arbitraries.ts";

const SEED = Number(process.env.MUMUKA_FUZZ_SEED ?? 20261206);
const running: Receiver[] = [];
afterEach(async () => {
  endSessions();
  await Promise.all(running.splice(0).map((r) => r.close()));
});

/** sends DATA with a small message on an open transaction; resolves with the final reply */
async function data(s: Awaited<ReturnType<typeof rawSession>>, subject = "x"): Promise<string> {
  const go = await s.command("DATA");
  if (!go.startsWith("354")) return go;
  return s.command(`${plainMessage(subject)}\r\n.\r\n`);
}

async function spooledEnvelope(r: Running, reply: string) {
  const id = /queued as (\S+)/.exec(reply)?.[1];
  expect(id, reply).toBeDefined();
  return (await readRecordInfo(r.spool.recordPath("incoming", id!))).envelope;
}

describe("recipients whose local part routes elsewhere", () => {
  it("are refused with 550 5.7.1 and a text naming the trick, counted and recorded; a plain recipient still gets through", async () => {
    const r = await startReceiver(running);
    const s = await inTransaction(r.port);
    const tricks: Array<[string, RegExp, string]> = [
      ["user%other.example@city.example.lg.jp", /percent hack/, "percent-hack"],
      ["other.example!user@city.example.lg.jp", /bang path/, "bang-path"],
      ['"user@other.example"@city.example.lg.jp', /"@" inside the local part/, "quoted-at"],
      ["user\\@other.example@city.example.lg.jp", /"@" inside the local part/, "quoted-at"],
      ["@relay.example,@other.example:user@city.example.lg.jp", /source routes/, "source-route"],
      ['"user%other.example"@city.example.lg.jp', /percent hack/, "percent-hack"],
      ["user\\%other.example@city.example.lg.jp", /percent hack/, "percent-hack"],
      ["USER%OTHER.EXAMPLE@CITY.EXAMPLE.LG.JP", /percent hack/, "percent-hack"],
      ['"other.example!user name"@city.example.lg.jp', /bang path/, "bang-path"],
    ];
    for (const [path, text] of tricks) {
      const reply = await s.command(`RCPT TO:<${path}>`);
      expect(reply, path).toMatch(/^550 5\.7\.1 /);
      expect(reply, path).toMatch(text);
    }
    expect(await s.command("RCPT TO:<staff@city.example.lg.jp>")).toMatch(/^250 /);
    const envelope = await spooledEnvelope(r, await data(s));
    expect(envelope.rcptTo).toEqual(["staff@city.example.lg.jp"]);
    s.end();

    const reasons = tricks.map(([, , reason]) => reason);
    expect(r.refusals).toEqual(reasons);
    const rejected = r.audit.of("rejected");
    expect(rejected.map((e) => e.data.reason)).toEqual(reasons);
    expect(rejected[0]).toMatchObject({ actor: "gateway", data: { stage: "smtp", mailFrom: "a@example.com", rcptTo: ["user%other.example@city.example.lg.jp"], clientAddress: "127.0.0.1" } });
    expect(new Set(rejected.map((e) => e.auditId)).size).toBe(rejected.length);
  });

  it("end the session with 421 4.7.0 after 20 refusals, each one recorded (one connection cannot flood the audit trail)", async () => {
    const r = await startReceiver(running);
    const s = await inTransaction(r.port);
    for (let i = 0; i < 20; i++) expect(await s.command(`RCPT TO:<u${i}%other.example@city.example.lg.jp>`)).toMatch(/^550 5\.7\.1 /);
    expect(await s.reply()).toMatch(/^421 4\.7\.0 .*too many refused addresses/);
    await s.closed;
    expect(r.audit.of("rejected")).toHaveLength(20);
    expect(r.refusals.at(-1)).toBe("errors");
  });

  it("count every refused recipient toward that limit, foreign domains included (a probe flood cannot go on)", async () => {
    const r = await startReceiver(running);
    const s = await inTransaction(r.port);
    for (let i = 0; i < 10; i++) expect(await s.command(`RCPT TO:<u${i}@elsewhere.example>`)).toMatch(/^554 5\.7\.1 /);
    for (let i = 0; i < 10; i++) expect(await s.command(`RCPT TO:<u${i}%other.example@city.example.lg.jp>`)).toMatch(/^550 5\.7\.1 /);
    expect(await s.reply()).toMatch(/^421 4\.7\.0 .*too many refused addresses/);
    await s.closed;
  });

  it("a full-width ％ in a UTF-8 local part is a percent hack too", async () => {
    const r = await startReceiver(running);
    const s = await inTransaction(r.port, "a@example.com", "SMTPUTF8");
    expect(await s.command(Buffer.from("RCPT TO:<ユーザー％other.example@city.example.lg.jp>\r\n"))).toMatch(/^550 5\.7\.1 .*percent hack/);
    expect(await s.command(Buffer.from("RCPT TO:<ユーザー@city.example.lg.jp>\r\n"))).toMatch(/^250 /);
    s.end();
  });

  it("are accepted for a character the operator allows, and only for that one", async () => {
    const r = await startReceiver(running, { allowLocalPartCharacters: ["%"] });
    const s = await inTransaction(r.port);
    expect(await s.command("RCPT TO:<user%other.example@city.example.lg.jp>")).toMatch(/^250 /);
    expect(await s.command("RCPT TO:<other.example!user@city.example.lg.jp>")).toMatch(/^550 5\.7\.1 .*bang path/);
    // allowing "%" does not let an otherwise malformed address through
    expect(await s.command("RCPT TO:<user..x%other.example@city.example.lg.jp>")).toMatch(/^501 5\.1\.3 /);
    s.end();
    expect(() => parseConfig({ smtp: { allowLocalPartCharacters: ["@"] } })).toThrow(/allowLocalPartCharacters/);
  });

  it("are a recipient rule only: a sender with % is accepted, a malformed sender is still refused", async () => {
    const r = await startReceiver(running);
    const s = await rawSession(r.port);
    await s.command("EHLO client.example");
    expect(await s.command('MAIL FROM:<"a@b"@example.com>')).toMatch(/^501 /);
    expect(await s.command("MAIL FROM:<@relay.example:a@example.com>")).toMatch(/^250 /);
    await s.command("RSET");
    expect(await s.command("MAIL FROM:<bounce%list@example.com>")).toMatch(/^250 /);
    s.end();
  });

  it("property: a routing character in any position and form, or a source route, is never accepted", async () => {
    const r = await startReceiver(running);
    // a session is cut after 20 refused addresses: open a new one when that happened
    let s = await inTransaction(r.port, "a@example.com", "SMTPUTF8");
    let refusedHere = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(routedRecipient.map((x) => x.path), sourceRouted), async (path) => {
        if (refusedHere === 20) {
          expect(await s.reply()).toMatch(/^421 4\.7\.0 /);
          s = await inTransaction(r.port, "a@example.com", "SMTPUTF8");
          refusedHere = 0;
        }
        const reply = await s.command(Buffer.from(`RCPT TO:<${path}>\r\n`));
        expect(reply, path).toMatch(/^550 5\.7\.1 /);
        refusedHere++;
      }),
      { seed: SEED, numRuns: 300 },
    );
    s.end();
    expect(r.audit.of("received")).toEqual([]);
    expect(r.audit.of("rejected")).toHaveLength(300);
  });
});

describe("8-bit envelope addresses", () => {
  const latin1Sender = Buffer.concat([Buffer.from("MAIL FROM:<j"), Buffer.from([0xf6]), Buffer.from("rg@example.com>")]);

  it("refuses a sender that is not UTF-8 (ISO-8859-1 ö), without and with SMTPUTF8", async () => {
    const r = await startReceiver(running);
    const s = await rawSession(r.port);
    await s.command("EHLO client.example");
    expect(await s.command(Buffer.concat([latin1Sender, Buffer.from("\r\n")]))).toMatch(/^501 5\.1\.7 .*not valid UTF-8/);
    expect(await s.command(Buffer.concat([latin1Sender, Buffer.from(" SMTPUTF8\r\n")]))).toMatch(/^501 5\.1\.7 /);
    // the session is still usable: a good sender is accepted
    expect(await s.command("MAIL FROM:<joerg@example.com>")).toMatch(/^250 /);
    s.end();
    expect(r.refusals).toEqual(["invalid-utf8", "invalid-utf8"]);
    expect(r.audit.of("rejected")[0]?.data).toMatchObject({ reason: "invalid-utf8", rcptTo: [] });
  });

  it("refuses a recipient that is not UTF-8", async () => {
    const r = await startReceiver(running);
    const s = await inTransaction(r.port, "a@example.com", "SMTPUTF8");
    const rcpt = Buffer.concat([Buffer.from("RCPT TO:<st"), Buffer.from([0xe4]), Buffer.from("ff@city.example.lg.jp>\r\n")]);
    expect(await s.command(rcpt)).toMatch(/^501 5\.1\.3 .*not valid UTF-8/);
    s.end();
  });

  it("refuses a UTF-8 address without SMTPUTF8 (553 5.6.7) and relays it unchanged with SMTPUTF8", async () => {
    const r = await startReceiver(running);
    const s = await rawSession(r.port);
    await s.command("EHLO client.example");
    expect(await s.command(Buffer.from("MAIL FROM:<jörg@example.com>\r\n"))).toMatch(/^553 5\.6\.7 /);
    expect(await s.command("MAIL FROM:<a@example.com>")).toMatch(/^250 /);
    expect(await s.command(Buffer.from("RCPT TO:<ユーザー@city.example.lg.jp>\r\n"))).toMatch(/^553 5\.6\.7 /);
    await s.command("RSET");
    expect(await s.command(Buffer.from("MAIL FROM:<jörg@example.com> SMTPUTF8\r\n"))).toMatch(/^250 /);
    expect(await s.command(Buffer.from("RCPT TO:<ユーザー@city.example.lg.jp>\r\n"))).toMatch(/^250 /);
    const envelope = await spooledEnvelope(r, await data(s));
    s.end();
    expect(envelope.mailFrom).toBe("jörg@example.com");
    expect(envelope.rcptTo).toEqual(["ユーザー@city.example.lg.jp"]);
    expect(envelope.smtputf8).toBe(true);
  });
});

describe("the domainless postmaster (RFC 5321 4.5.1)", () => {
  it("is accepted and spooled as postmaster@ the first recipient domain", async () => {
    const r = await startReceiver(running, { recipientDomains: ["city.example.lg.jp", "town.example.lg.jp"] });
    const s = await inTransaction(r.port);
    expect(await s.command("RCPT TO:<postmaster>")).toMatch(/^250 /);
    const reply = await data(s, "to the postmaster");
    s.end();
    const envelope = await spooledEnvelope(r, reply);
    expect(envelope.rcptTo).toEqual(["postmaster@city.example.lg.jp"]);
    expect(r.audit.of("received")[0]?.data).toMatchObject({ rcptTo: ["postmaster@city.example.lg.jp"] });
  });

  it("goes to smtp.postmaster when configured, in any case, once even when named twice", async () => {
    const r = await startReceiver(running, { postmaster: "admin@city.example.lg.jp" });
    const s = await inTransaction(r.port);
    expect(await s.command("RCPT TO:<PostMaster>")).toMatch(/^250 /);
    expect(await s.command("RCPT TO:<admin@city.example.lg.jp>")).toMatch(/^250 /);
    expect(await s.command("RCPT TO:<staff@city.example.lg.jp>")).toMatch(/^250 /);
    const envelope = await spooledEnvelope(r, await data(s));
    s.end();
    expect(envelope.rcptTo).toEqual(["admin@city.example.lg.jp", "staff@city.example.lg.jp"]);
  });

  it('goes to postmaster@ the gateway\'s host name when recipientDomains is only "*"', async () => {
    const r = await startReceiver(running, { recipientDomains: ["*"] });
    const s = await inTransaction(r.port);
    expect(await s.command("RCPT TO:<postmaster>")).toMatch(/^250 /);
    const envelope = await spooledEnvelope(r, await data(s));
    s.end();
    expect(envelope.rcptTo).toEqual(["postmaster@mumuka.test"]);
  });

  it("refuses a smtp.postmaster that is not a plain address", () => {
    expect(() => parseConfig({ smtp: { postmaster: "admin%other@city.example.lg.jp" } })).toThrow(/postmaster/);
    expect(() => parseConfig({ smtp: { postmaster: "admin" } })).toThrow(/postmaster/);
  });
});
