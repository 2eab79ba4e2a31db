/**
 * The recipe of docs/relay.md §7, run for real: two private Postfix instances
 * on loopback with mumuka between them.
 *
 *   client ─▶ Postfix A (Internet zone) ─▶ mumuka ─▶ Postfix B (LGWAN zone) ─▶ Maildir
 *
 * Postfix A validates recipients (relay_recipient_maps) so that mail for an
 * unknown address at the LGWAN domain is refused in the SMTP dialogue, where
 * the sender's own server learns of it, and nobody's bounce is generated (no
 * backscatter to forged senders). The known address receives the message as
 * mumuka rebuilt it: one text/plain part, the attachment listed, no HTML.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import nodemailer from "nodemailer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postfixMissing, postfixOwner, startPostfix, type PostfixInstance } from "../helpers/postfix-instance.ts";
import { tempDir, waitFor } from "../helpers/relay-helpers.ts";
import { freePort, spawnGateway, writeConfig, type GatewayProcess } from "../helpers/relay-process.ts";
import { requirement } from "../helpers/requirements.ts";

const missing = requirement("Postfix", postfixMissing());
const DOMAIN = "city.example.lg.jp";

let a: PostfixInstance | undefined;
/** Postfix A without a recipient table, verifying addresses by probing through mumuka instead */
let aProbing: PostfixInstance | undefined;
let b: PostfixInstance | undefined;
let gateway: GatewayProcess | undefined;
let mailDir = "";

/** one SMTP exchange line by line, returning each reply (multi-line replies joined) */
async function dialogue(port: number, lines: string[]): Promise<string[]> {
  const net = await import("node:net");
  const socket = net.connect({ port, host: "127.0.0.1" });
  const replies: string[] = [];
  let buffer = "";
  let wake: (() => void) | undefined;
  socket.on("data", (d) => {
    buffer += d.toString("latin1");
    wake?.();
  });
  const next = async () => {
    for (;;) {
      const m = /^(\d{3}) [^\r\n]*\r\n/m.exec(buffer);
      if (m) {
        replies.push(buffer.slice(0, m.index + m[0].length).trim());
        buffer = buffer.slice(m.index + m[0].length);
        return;
      }
      await new Promise<void>((r) => (wake = r));
    }
  };
  await next();
  for (const line of lines) {
    socket.write(`${line}\r\n`);
    await next();
  }
  socket.end();
  return replies;
}

beforeAll(async () => {
  if (missing) return;
  const [portA, portB] = [await freePort(), await freePort()];

  // Postfix B, the LGWAN-zone server: a virtual mailbox for the one known address
  const owner = postfixOwner();
  b = await startPostfix({
    name: "lgwan",
    port: portB,
    files: { vmailbox: `staff@${DOMAIN} staff/\n` },
    ownedDirs: ["mail"],
    main: [
      "myhostname = lgwan-mta.example",
      `virtual_mailbox_domains = ${DOMAIN}`,
      "virtual_mailbox_maps = texthash:{dir}/vmailbox",
      "virtual_mailbox_base = {dir}/mail",
      "virtual_minimum_uid = 1",
      `virtual_uid_maps = static:${owner.uid}`,
      `virtual_gid_maps = static:${owner.gid}`,
    ],
    master: ["virtual   unix  - n n -     - virtual"],
  });
  mailDir = path.join(b.dir, "mail");

  // mumuka, between them: accepts only from loopback (Postfix A) and only the LGWAN domain
  const dir = await tempDir("mumuka-two-postfix-");
  const config = await writeConfig(
    dir,
    [
      `dataDir: ${dir}/data`,
      `smtp: { host: 127.0.0.1, port: 0, hostname: mumuka.example, clients: [127.0.0.0/8], recipientDomains: [${DOMAIN}], verifyRecipients: { enabled: true } }`,
      `delivery: { mode: smtp, host: 127.0.0.1, port: ${portB}, retryFirstSeconds: 1, retryMaxSeconds: 2, dsnRelay: { host: 127.0.0.1, port: ${portA} } }`,
      "log: { level: info, format: json }",
      "admin: { enabled: false }",
      "",
    ].join("\n"),
  );
  gateway = await spawnGateway(config);

  // Postfix A, the Internet-zone server, as docs/relay.md gives it: relay the LGWAN domain to
  // mumuka, and only for the addresses listed in relay_recipient_maps
  a = await startPostfix({
    name: "internet",
    port: portA,
    files: {
      transport: `${DOMAIN} smtp:[127.0.0.1]:${gateway.port}\n`,
      relay_recipients: `staff@${DOMAIN} OK\n`,
    },
    main: [
      "myhostname = internet-mta.example",
      `relay_domains = ${DOMAIN}`,
      "relay_recipient_maps = texthash:{dir}/relay_recipients",
      "transport_maps = texthash:{dir}/transport",
      "smtpd_relay_restrictions = permit_mynetworks reject_unauth_destination",
    ],
  });
  aProbing = await startPostfix({
    name: "internet-probing",
    port: await freePort(),
    files: { transport: `${DOMAIN} smtp:[127.0.0.1]:${gateway.port}\n` },
    main: [
      "myhostname = internet-mta-2.example",
      `relay_domains = ${DOMAIN}`,
      "transport_maps = texthash:{dir}/transport",
      "smtpd_relay_restrictions = permit_mynetworks reject_unauth_destination",
      // probes through mumuka, which asks Postfix B (smtp.verifyRecipients)
      "smtpd_recipient_restrictions = reject_unverified_recipient",
      "unverified_recipient_reject_code = 550",
      "address_verify_poll_delay = 1s",
      "address_verify_poll_count = 20",
    ],
  });
}, 120_000);

afterAll(async () => {
  await a?.stop();
  await aProbing?.stop();
  if (gateway && gateway.child.exitCode === null) {
    gateway.child.kill("SIGTERM");
    await gateway.exited;
  }
  await b?.stop();
});

describe.skipIf(missing !== "")("mumuka between two Postfix servers (docs/relay.md §7)", () => {
  it("delivers a message from the Internet side to the LGWAN mailbox, rebuilt as one text part", async () => {
    const transport = nodemailer.createTransport({ host: "127.0.0.1", port: a!.port, secure: false, ignoreTLS: true });
    await transport.sendMail({
      from: "山田 <yamada@example.co.jp>",
      to: `staff@${DOMAIN}`,
      subject: "会議資料の送付",
      html: '<p>資料を送ります。<a href="https://example.com/doc">こちら</a></p>',
      attachments: [{ filename: "資料.pdf", content: Buffer.from("%PDF-1.4\n%%EOF\n") }],
    });
    transport.close();
    const newDir = path.join(mailDir, "staff", "new");
    const files = await waitFor(async () => {
      const f = await readdir(newDir).catch(() => []);
      return f.length > 0 ? f : undefined;
    }, 60_000, "the message in Postfix B's mailbox");
    const delivered = await readFile(path.join(newDir, files[0]!), "latin1");
    expect(delivered).toMatch(/^X-Mumuka-Id: /m);
    expect(delivered).toMatch(/^Content-Type: text\/plain; charset=utf-8/im);
    expect(delivered).not.toMatch(/multipart|text\/html|%PDF/i);
    const text = Buffer.from(delivered, "latin1").toString("utf8");
    expect(text).toMatch(/Subject: =\?UTF-8\?/);
  });

  it("refuses an unknown LGWAN recipient at Postfix A, in the dialogue, and generates no bounce", async () => {
    const replies = await dialogue(a!.port, ["EHLO client.example", "MAIL FROM:<forged-victim@example.net>", `RCPT TO:<nobody@${DOMAIN}>`, "QUIT"]);
    expect(replies[3]).toMatch(/^550 5\.1\.1 /);
    expect(replies[3]).toContain("User unknown in relay recipient table");
    // nothing was queued, so nothing can bounce: Postfix A's queue stays empty and its log shows
    // no non-delivery notification; mumuka never saw the address
    expect(await a!.queued()).toBe(0);
    const log = await a!.maillog();
    expect(log).toContain("NOQUEUE: reject: RCPT");
    expect(log).not.toMatch(/status=bounced|sender non-delivery notification/);
    expect(gateway!.output()).not.toContain(`nobody@${DOMAIN}`);
  });

  it("answers Postfix's address-verification probes with the LGWAN server's answer (smtp.verifyRecipients)", async () => {
    // the probe goes Postfix A → mumuka (RCPT) → Postfix B (RCPT): unknown there, refused here
    const unknown = await dialogue(aProbing!.port, ["EHLO client.example", "MAIL FROM:<someone@example.net>", `RCPT TO:<nobody@${DOMAIN}>`, "QUIT"]);
    expect(unknown[3]).toMatch(/^550 5\.1\.1 /);
    expect(unknown[3]).toContain("unknown in the LGWAN zone");
    const known = await dialogue(aProbing!.port, ["EHLO client.example", "MAIL FROM:<someone@example.net>", `RCPT TO:<staff@${DOMAIN}>`, "QUIT"]);
    expect(known[3]).toMatch(/^250 /);
    expect(await aProbing!.queued()).toBe(0);
    expect(await aProbing!.maillog()).not.toMatch(/status=bounced|sender non-delivery notification/);
  }, 60_000);
});
