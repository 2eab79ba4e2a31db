/**
 * What `client_ip` and `peer_ip` see in the relay (rulesEnvelope, the envelope
 * the sanitize stage gives the rules): `client_ip` is the original client —
 * the one the Internet-zone MTA named with XFORWARD/XCLIENT, or the trusted
 * Received hop authentication found — and `peer_ip` the TCP peer, the
 * Internet-zone MTA itself. Without anything forwarded both are the peer.
 */
import { describe, expect, it } from "vitest";
import { rulesEnvelope } from "../../src/rules/rules-envelope.ts";
import { parseRules } from "../../src/rules/index.ts";
import type { AuthVerdict } from "../../src/authenticate/auth-types.ts";
import { facts, THURSDAY_10_JST } from "../rules/facts.ts";

const MTA = "10.0.0.5";
const SENDER = "198.51.100.7";

const engine = parseRules(
  [
    "rules:",
    "  - name: from-the-sender-network",
    "    when: { client_ip: 198.51.100.0/24 }",
    '    then: { subject_tag: "[client]" }',
    "  - name: through-our-mta",
    "    when: { peer_ip: 10.0.0.0/8 }",
    '    then: { subject_tag: "[peer]" }',
    "",
  ].join("\n"),
  "t.yaml",
);

const spool = { mailFrom: "taro@partner.example.co.jp", rcptTo: ["kikaku@city.example.lg.jp"], clientAddress: MTA, clientHelo: "mx.city.example.lg.jp" };

function applied(env: Parameters<typeof rulesEnvelope>[0], auth?: AuthVerdict): string[] {
  return engine.decide(facts(), rulesEnvelope(env, auth), THURSDAY_10_JST).rulesApplied;
}

function verdict(client: AuthVerdict["client"]): AuthVerdict {
  return {
    authservId: "mumuka.test",
    client,
    spf: { result: "pass", domain: "partner.example.co.jp" },
    dkim: [],
    dmarc: { result: "none", domain: "partner.example.co.jp", policy: "none", alignedDomain: "" },
    arc: { result: "none", instance: 0 },
  };
}

describe("client_ip and peer_ip in the relay", () => {
  it("client_ip is the client XFORWARD named; peer_ip the Internet-zone MTA", () => {
    expect(applied({ ...spool, forwarded: { source: "xforward", address: SENDER, helo: "mail.partner.example.co.jp" } })).toEqual(["from-the-sender-network", "through-our-mta"]);
  });

  it("with authentication on, client_ip is the client it checked (a trusted Received hop too)", () => {
    expect(applied(spool, verdict({ address: SENDER, helo: "mail.partner.example.co.jp", source: "received" }))).toEqual(["from-the-sender-network", "through-our-mta"]);
  });

  it("a verdict that could only name the peer (verification lost: temperror) does not hide the forwarded client", () => {
    const forwarded = { ...spool, forwarded: { source: "xforward" as const, address: SENDER, helo: "mail.partner.example.co.jp" } };
    expect(applied(forwarded, verdict({ address: MTA, helo: "", source: "peer" }))).toEqual(["from-the-sender-network", "through-our-mta"]);
  });

  it("with nothing forwarded, both are the TCP peer", () => {
    expect(applied(spool)).toEqual(["through-our-mta"]);
    expect(applied({ ...spool, clientAddress: SENDER })).toEqual(["from-the-sender-network"]);
  });
});
