/**
 * docs/authentication.md and docs/relay.md, run for real: a private Postfix
 * (the Internet-zone MTA) relays into mumuka with `smtp_send_xforward_command
 * = yes`, so mumuka learns the original client by XFORWARD and verifies SPF,
 * DKIM, DMARC and ARC for it against a DNS server on loopback.
 *
 *   client (127.0.0.x) ─▶ Postfix ─XFORWARD─▶ mumuka ─▶ test downstream
 *
 * The clients connect from distinct loopback addresses, which the SPF
 * records authorise or not. Each case's delivered message must carry the
 * right Authentication-Results. The DMARC policy is set to deliver here so
 * that every case's header can be read (the hold is tested elsewhere).
 */
import path from "node:path";
import nodemailer from "nodemailer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.ts";
import { startGateway, type Gateway } from "../../src/serve.ts";
import { arcSeal, makeKey, plainMessage, sign, type TestKey } from "../helpers/auth-fixtures.ts";
import { startDnsServer, type DnsServer } from "../helpers/dns-server.ts";
import { postfixMissing, startPostfix, type PostfixInstance } from "../helpers/postfix-instance.ts";
import { startDownstream, type Downstream } from "../helpers/relay-downstream.ts";
import { recordingSink, silentLogger, tempDir, waitFor } from "../helpers/relay-helpers.ts";
import { freePort } from "../helpers/relay-process.ts";
import { requirement } from "../helpers/requirements.ts";
import { createDnsResolver } from "../../src/authenticate/dns-resolver.ts";

const missing = requirement("Postfix", postfixMissing());
const DOMAIN = "city.example.lg.jp";
const GOOD = "127.0.0.10";
const OTHER = "127.0.0.20";
const FORWARDER = "127.0.0.30";

let dns: DnsServer;
let key: TestKey;
let espKey: TestKey;
let down: Downstream;
let gateway: Gateway;
let postfix: PostfixInstance | undefined;

beforeAll(async () => {
  if (missing) return;
  key = makeKey();
  espKey = makeKey();
  dns = await startDnsServer({
    "good.example": { TXT: [`v=spf1 ip4:${GOOD} -all`] },
    "sel._domainkey.good.example": { TXT: [key.record] },
    "_dmarc.good.example": { TXT: ["v=DMARC1; p=reject"] },
    "soft.example": { TXT: [`v=spf1 ip4:${GOOD} ~all`] },
    "neutral.example": { TXT: ["v=spf1 ?all"] },
    "none.example": { A: ["192.0.2.1"] },
    "temp.example": "servfail",
    "perm.example": { TXT: ["v=spf1 bogus-term -all"] },
    "esp.example": { TXT: [`v=spf1 ip4:${OTHER} -all`] },
    "esp._domainkey.esp.example": { TXT: [espKey.record] },
    "strict.example": { TXT: [`v=spf1 ip4:${GOOD} -all`] },
    "sel._domainkey.strict.example": { TXT: [key.record] },
    "_dmarc.strict.example": { TXT: ["v=DMARC1; p=quarantine; adkim=s; aspf=s"] },
    "mail.strict.example": { TXT: ["v=spf1 -all"] },
    "_dmarc.sp.example": { TXT: ["v=DMARC1; p=none; sp=reject"] },
    "sub.sp.example": { TXT: ["v=spf1 -all"] },
    "forwarder.example": { TXT: [`v=spf1 ip4:${FORWARDER} -all`] },
    "arc._domainkey.forwarder.example": { TXT: [espKey.record] },
  });
  down = await startDownstream();
  const config = parseConfig({
    dataDir: await tempDir("mumuka-pf-auth-"),
    smtp: { host: "127.0.0.1", port: 0, hostname: "mumuka.example", clients: ["127.0.0.1/32"], forwarders: ["127.0.0.1/32"], recipientDomains: [DOMAIN] },
    delivery: { mode: "smtp", host: "127.0.0.1", port: down.port, retryFirstSeconds: 1, retryMaxSeconds: 2 },
    authentication: { enabled: true, dns: { servers: [dns.address], timeoutMs: 300, tries: 1 }, dmarcReject: "deliver", dmarcQuarantine: "deliver" },
    admin: { enabled: false },
  });
  gateway = await startGateway(config, { logger: silentLogger(), audit: recordingSink() });
  // the Internet-zone MTA of docs/relay.md, with XFORWARD on the transport to mumuka
  postfix = await startPostfix({
    name: "xforward",
    port: await freePort(),
    files: { transport: `${DOMAIN} smtp:[127.0.0.1]:${gateway.address.port}\n` },
    main: [
      "myhostname = mx.city.example.lg.jp",
      `relay_domains = ${DOMAIN}`,
      "transport_maps = texthash:{dir}/transport",
      "smtpd_relay_restrictions = permit_mynetworks reject_unauth_destination",
      "smtp_send_xforward_command = yes",
      // no reverse lookups of the loopback clients
      "smtpd_peername_lookup = no",
    ],
  });
}, 120_000);

afterAll(async () => {
  await postfix?.stop();
  await gateway?.close();
  await down?.stop();
  await dns?.close();
});

async function send(o: { ip: string; helo: string; mailFrom: string; raw: string }): Promise<void> {
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port: postfix!.port, secure: false, ignoreTLS: true, localAddress: o.ip, name: o.helo });
  await transport.sendMail({ envelope: { from: o.mailFrom, to: [`staff@${DOMAIN}`] }, raw: o.raw });
  transport.close();
}

function authResults(subject: string): string | undefined {
  for (const m of down.received) {
    const raw = m.raw.toString("latin1");
    const head = raw.slice(0, raw.indexOf("\r\n\r\n"));
    if (!head.includes(`Subject: ${subject}`)) continue;
    return head
      .split(/\r\n(?![ \t])/)
      .find((f) => f.startsWith("Authentication-Results:"))
      ?.replace(/\r\n[ \t]+/g, " ");
  }
  return undefined;
}

const resolver = () => createDnsResolver({ servers: [dns.address], timeoutMs: 300, tries: 1, cacheSeconds: 60, negativeSeconds: 60, cacheEntries: 100 }).resolve;
const goodSigner = () => ({ domain: "good.example", selector: "sel", key });

type Case = [name: string, build: (subject: string) => Promise<{ ip: string; helo: string; mailFrom: string; raw: string }>, expected: RegExp[]];

const cases: Case[] = [
  ["spf-pass", async (s: string) => ({ ip: GOOD, helo: "mail.good.example", mailFrom: "a@good.example", raw: plainMessage("A <a@good.example>", { subject: s }) }), [/spf=pass \(client-ip=127\.0\.0\.10\) smtp\.mailfrom=good\.example/, /dmarc=pass/]],
  ["spf-fail", async (s: string) => ({ ip: OTHER, helo: "x.example", mailFrom: "a@good.example", raw: plainMessage("A <a@good.example>", { subject: s }) }), [/spf=fail \(client-ip=127\.0\.0\.20\)/, /dkim=none/, /dmarc=fail policy\.dmarc=reject header\.from=good\.example/]],
  ["spf-softfail", async (s: string) => ({ ip: OTHER, helo: "x.example", mailFrom: "a@soft.example", raw: plainMessage("A <a@soft.example>", { subject: s }) }), [/spf=softfail/, /dmarc=none/]],
  ["spf-neutral", async (s: string) => ({ ip: OTHER, helo: "x.example", mailFrom: "a@neutral.example", raw: plainMessage("A <a@neutral.example>", { subject: s }) }), [/spf=neutral/]],
  ["spf-none", async (s: string) => ({ ip: OTHER, helo: "x.example", mailFrom: "a@none.example", raw: plainMessage("A <a@none.example>", { subject: s }) }), [/spf=none/]],
  ["spf-temperror", async (s: string) => ({ ip: OTHER, helo: "x.example", mailFrom: "a@temp.example", raw: plainMessage("A <a@temp.example>", { subject: s }) }), [/spf=temperror/]],
  ["spf-permerror", async (s: string) => ({ ip: OTHER, helo: "x.example", mailFrom: "a@perm.example", raw: plainMessage("A <a@perm.example>", { subject: s }) }), [/spf=permerror/]],
  [
    "dkim-pass",
    async (s: string) => ({ ip: OTHER, helo: "x.example", mailFrom: "b@esp.example", raw: await sign(plainMessage("A <a@good.example>", { subject: s }), [goodSigner()]) }),
    [/spf=pass .*smtp\.mailfrom=esp\.example/, /dkim=pass header\.d=good\.example header\.s=sel/, /dmarc=pass policy\.dmarc=reject header\.from=good\.example/],
  ],
  [
    "dkim-body-changed",
    async (s: string) => ({ ip: OTHER, helo: "x.example", mailFrom: "b@esp.example", raw: (await sign(plainMessage("A <a@good.example>", { subject: s, body: "Pay 1000 yen." }), [goodSigner()])).replace("1000", "9000") }),
    [/dkim=fail header\.d=good\.example/, /dmarc=fail/],
  ],
  [
    "dkim-expired",
    async (s: string) => ({
      ip: OTHER,
      helo: "x.example",
      mailFrom: "b@esp.example",
      raw: await sign(plainMessage("A <a@good.example>", { subject: s }), [goodSigner()], { signTime: new Date(Date.now() - 10 * 86_400_000), expires: new Date(Date.now() - 86_400_000) }),
    }),
    [/dkim=neutral header\.d=good\.example/, /dmarc=fail/],
  ],
  [
    "dkim-multiple",
    async (s: string) => ({ ip: OTHER, helo: "x.example", mailFrom: "b@esp.example", raw: await sign(plainMessage("A <a@good.example>", { subject: s }), [goodSigner(), { domain: "esp.example", selector: "esp", key: espKey }]) }),
    [/dkim=pass header\.d=good\.example header\.s=sel header\.b=\S{8}; dkim=pass header\.d=esp\.example header\.s=esp/, /dmarc=pass/],
  ],
  [
    "dmarc-relaxed",
    async (s: string) => ({ ip: OTHER, helo: "x.example", mailFrom: "b@esp.example", raw: await sign(plainMessage("A <a@mail.good.example>", { subject: s }), [goodSigner()]) }),
    [/dkim=pass header\.d=good\.example/, /dmarc=pass policy\.dmarc=reject header\.from=mail\.good\.example/],
  ],
  [
    "dmarc-strict",
    async (s: string) => ({ ip: OTHER, helo: "x.example", mailFrom: "b@esp.example", raw: await sign(plainMessage("A <a@mail.strict.example>", { subject: s }), [{ domain: "strict.example", selector: "sel", key }]) }),
    [/dkim=pass header\.d=strict\.example/, /dmarc=fail policy\.dmarc=quarantine header\.from=mail\.strict\.example/],
  ],
  ["dmarc-subdomain-policy", async (s: string) => ({ ip: OTHER, helo: "x.example", mailFrom: "a@sub.sp.example", raw: plainMessage("A <a@sub.sp.example>", { subject: s }) }), [/dmarc=fail policy\.dmarc=reject header\.from=sub\.sp\.example/]],
  [
    "arc-valid",
    async (s: string) => {
      const modified = (await sign(plainMessage("A <a@good.example>", { subject: s, body: "Meeting." }), [goodSigner()])).replace("Meeting.", "Meeting.\r\n-- \r\nlist footer");
      const raw = await arcSeal(modified, { domain: "forwarder.example", selector: "arc", key: espKey }, resolver(), { ip: GOOD, helo: "mail.good.example", sender: "a@good.example" });
      return { ip: FORWARDER, helo: "mx.forwarder.example", mailFrom: "list@forwarder.example", raw };
    },
    [/spf=pass .*smtp\.mailfrom=forwarder\.example/, /dkim=fail header\.d=good\.example/, /arc=pass \(i=1\)/],
  ],
  [
    "arc-broken",
    async (s: string) => {
      const signed = await sign(plainMessage("A <a@good.example>", { subject: s, body: "Meeting." }), [goodSigner()]);
      const sealed = await arcSeal(signed, { domain: "forwarder.example", selector: "arc", key: espKey }, resolver(), { ip: GOOD, helo: "mail.good.example", sender: "a@good.example" });
      return { ip: FORWARDER, helo: "mx.forwarder.example", mailFrom: "list@forwarder.example", raw: sealed.replace("Meeting.", "Meeting, changed after sealing.") };
    },
    [/arc=fail \(i=1\)/],
  ],
];

describe.skipIf(missing !== "")("a real Postfix in front, XFORWARD on (docs/relay.md)", () => {
  it("every case's delivered message carries mumuka's correct Authentication-Results", async () => {
    for (const [name, build] of cases) await send(await build(name));
    for (const [name, , expected] of cases) {
      const ar = await waitFor(() => authResults(name), 60_000, `the message of case ${name}`);
      expect(ar, name).toMatch(/^Authentication-Results: mumuka\.example; /);
      for (const re of expected) expect(ar, name).toMatch(re);
    }
    // the log of Postfix shows it passed the client on: the TCP peer of mumuka was Postfix itself
    expect(await postfix!.maillog()).toMatch(/relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+/);
  }, 180_000);
});
