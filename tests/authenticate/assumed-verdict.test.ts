/**
 * Trying `auth:` rules without DNS: an operator states the verdict to assume
 * (`mumuka rules test --auth …`, the console's "try a message"), parsed from a
 * closed vocabulary; the rules and the DMARC policy then decide as the gateway
 * would for a message with that verdict. A mistyped verdict is refused with
 * what is wrong, never taken as "none".
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRuleTrial } from "../../src/admin/rule-trial.ts";
import { parseAssumedVerdict } from "../../src/authenticate/auth-assume.ts";
import { dkimSummary } from "../../src/authenticate/auth-types.ts";
import { authenticationSchema, sanitizeSchema } from "../../src/config/schema.ts";
import { loadRulesFile } from "../../src/rules/index.ts";
import { createHarness } from "../admin/harness.ts";
import { runCli } from "../helpers/run-cli.ts";

const EXAMPLE = path.join(import.meta.dirname, "../../config/rules.example.yaml");
const LOOKALIKE = "From: 市役所 <soumu@city.example.lg.jp>\r\nTo: kikaku@city.example.lg.jp\r\nSubject: 至急\r\nDate: Thu, 26 Nov 2026 10:00:00 +0900\r\n\r\n振込先の変更です。\r\n";

describe("an assumed verdict", () => {
  it("reads the rules' own words: results, the From domain, the aligned domain, the DMARC policy", () => {
    const v = parseAssumedVerdict("dmarc=fail spf=softfail dkim=fail from_domain=City.Example.LG.JP policy=reject", "192.0.2.7");
    expect(typeof v).toBe("object");
    if (typeof v === "string") return;
    expect(v.dmarc).toEqual({ result: "fail", domain: "city.example.lg.jp", policy: "reject", alignedDomain: "" });
    expect(v.spf.result).toBe("softfail");
    expect(dkimSummary(v)).toBe("fail");
    expect(v.arc.result).toBe("none");
    expect(v.client.address).toBe("192.0.2.7");
    const passing = parseAssumedVerdict("dmarc=pass,dkim=pass;from=bank.example");
    expect(passing).toMatchObject({ dmarc: { result: "pass", alignedDomain: "bank.example" }, dkim: [{ result: "pass", aligned: true }] });
  });

  it("refuses what is not in the vocabulary, saying what is", () => {
    expect(parseAssumedVerdict("dmarc=failed")).toMatch(/"dmarc=failed": the result is one of pass, fail/);
    expect(parseAssumedVerdict("dmark=fail")).toMatch(/keys: spf, dkim, dmarc, arc, from_domain, from, aligned, policy/);
    expect(parseAssumedVerdict("from_domain=<script>")).toMatch(/not a domain/);
    expect(parseAssumedVerdict("policy=drop")).toMatch(/none, quarantine, reject/);
    expect(parseAssumedVerdict("   ")).toMatch(/write key=value/);
    expect(parseAssumedVerdict(`spf=pass ${"x".repeat(400)}`)).toMatch(/at most 300 characters/);
  });
});

describe("trying rules with it", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "mumuka-assumed-"));
    writeFileSync(path.join(dir, "lookalike.eml"), LOOKALIKE);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("the console's trial: the example rule holds a DMARC-failing government look-alike; without a verdict it is delivered", async () => {
    const { engine } = await loadRulesFile(EXAMPLE);
    const trial = createRuleTrial({ rules: { current: () => engine }, sanitize: sanitizeSchema.parse({}), hostname: "mumuka.test", dmarcPolicy: authenticationSchema.parse({}) });
    try {
      const envelope = { mailFrom: "", rcptTo: [], clientAddress: "127.0.0.1", clientHelo: "admin-console" };
      const auth = parseAssumedVerdict("dmarc=fail from_domain=city.example.lg.jp");
      if (typeof auth === "string") throw new Error(auth);
      const held = await trial(Buffer.from(LOOKALIKE), { ...envelope, auth });
      expect(held.decision.action).toBe("hold");
      expect(held.decision.rulesApplied).toContain("government-lookalike-dmarc-fail");
      expect((await trial(Buffer.from(LOOKALIKE), envelope)).decision.rulesApplied).not.toContain("government-lookalike-dmarc-fail");
    } finally {
      await trial.close();
    }
  });

  it("the console's trial: a DMARC failure under p=reject is held by the policy alone (authentication.dmarcReject: hold)", async () => {
    const { engine } = await loadRulesFile(EXAMPLE);
    const trial = createRuleTrial({ rules: { current: () => engine }, sanitize: sanitizeSchema.parse({}), hostname: "mumuka.test", dmarcPolicy: authenticationSchema.parse({}) });
    try {
      const auth = parseAssumedVerdict("dmarc=fail from_domain=bank.example policy=reject");
      if (typeof auth === "string") throw new Error(auth);
      const result = await trial(Buffer.from(LOOKALIKE.replaceAll("city.example.lg.jp", "bank.example")), { mailFrom: "", rcptTo: [], clientAddress: "127.0.0.1", clientHelo: "admin-console", auth });
      expect(result.decision).toMatchObject({ action: "hold", reason: "DMARC fail (p=reject) for header.from=bank.example" });
    } finally {
      await trial.close();
    }
  });

  it("the console page: the stated verdict reaches the rules; a mistyped one is refused with the reason", async () => {
    const { engine } = await loadRulesFile(EXAMPLE);
    const trial = createRuleTrial({ rules: { current: () => engine }, sanitize: sanitizeSchema.parse({}), hostname: "mumuka.test" });
    const h = await createHarness({ sanitizeText: trial });
    try {
      const c = await h.loggedIn("operator");
      const ok = await c.post("/rules/try", { _csrf: c.csrf, source: LOOKALIKE, mailFrom: "", rcptTo: "", auth: "dmarc=fail from_domain=city.example.lg.jp" });
      expect(ok.status).toBe(200);
      expect(ok.body).toContain("government-lookalike-dmarc-fail");
      const bad = await c.post("/rules/try", { _csrf: c.csrf, source: LOOKALIKE, mailFrom: "", rcptTo: "", auth: "dmarc=broken" });
      expect(bad.status).toBe(400);
      expect(bad.body).toContain("the result is one of");
    } finally {
      await h.close();
      await trial.close();
    }
  });

  it("mumuka rules test --auth: the decision and the verdict it assumed; a mistyped verdict is a usage error", async () => {
    const r = await runCli(["rules", "test", path.join(dir, "lookalike.eml"), "--rules", EXAMPLE, "--auth", "dmarc=fail from_domain=city.example.lg.jp", "--at", "2026-11-26T10:00:00+09:00"], { stdin: "", env: { NO_COLOR: "1" } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("dmarc=fail (policy=none)");
    expect(r.stdout).toContain("(assumed)");
    expect(r.stdout).toMatch(/government-lookalike-dmarc-fail/);
    expect(r.stdout).toMatch(/held/);
    const bad = await runCli(["rules", "test", path.join(dir, "lookalike.eml"), "--rules", EXAMPLE, "--auth", "dmarc=nope"], { stdin: "", env: { NO_COLOR: "1" } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--auth:");
  });
});
