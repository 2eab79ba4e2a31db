/**
 * `mumuka rules check [FILE]` and `mumuka rules test MESSAGE …`: what an
 * operator runs before a rules change goes live.
 *
 * check validates a rules file (the one named, or the one the configuration
 * points at) and prints every problem as file:line:column: message.
 * test runs one real message through the sanitizer core and the rules: which
 * rules match and why (each condition's result and what it saw), the decision,
 * and the sanitized message staff would receive. Nothing is delivered or
 * recorded.
 *
 * SECURITY: MESSAGE is a real, hostile message; it only goes through the same
 * pure core the gateway uses. Values it carries (addresses, subject, file
 * names) are printed display-safe, so control or bidi characters cannot
 * rewrite the operator's terminal.
 */
import { createReadStream } from "node:fs";
import os from "node:os";
import type { Readable } from "node:stream";
import type { Command } from "commander";
import { simpleParser } from "mailparser";
import { CliError } from "../lib/cli-error.ts";
import { parseTimeArg } from "../lib/japan-time.ts";
import { loadConfig } from "../config/load.ts";
import { displaySafe } from "../lib/display-safe.ts";
import type { Envelope, RuleDecision } from "./rules-types.ts";
import type { ConditionTrace, LoadedRules, RuleTrace } from "./rules-engine.ts";
import { loadRulesFile } from "./rules-holder.ts";
import { RulesError } from "./rules-file.ts";
import { noRules } from "./rules-engine.ts";
import { analyze, render, renderOptionsFromConfig } from "../sanitize/index.ts";
import { readTemplate } from "../sanitize/sanitize-command.ts";
import { registerReplayCommand } from "./replay-command.ts";
import { holidayDataWarning } from "./rules-calendar.ts";
import { dmarcHoldReason, dkimSummary, parseAssumedVerdict, withDmarcPolicy } from "../authenticate/index.ts";

export { holidayDataWarning } from "./rules-calendar.ts";

/** Exit code of `rules check` / `rules test` when the rules file is invalid. */
const EXIT_INVALID = 1;

function rulesFileFrom(explicit: string | undefined, configFile: string | undefined): string {
  if (explicit) return explicit;
  const config = loadConfig(configFile);
  if (!config.rules.file) {
    throw new CliError(
      configFile
        ? `${configFile} names no rules file (rules.file); give the rules file as an argument`
        : "no rules file: give one as an argument (mumuka rules check config/rules.yaml) or --config with rules.file set",
      2,
    );
  }
  return config.rules.file;
}

async function load(file: string): Promise<{ engine: LoadedRules; sha256: string }> {
  try {
    return await loadRulesFile(file);
  } catch (error) {
    if (error instanceof RulesError) {
      process.stderr.write(`${error.message}\n`);
      throw new CliError(`${file}: ${error.problems.length} problem(s); the rules were not accepted`, EXIT_INVALID);
    }
    const e = error as NodeJS.ErrnoException;
    throw new CliError(`${file}: cannot read: ${e.code ?? e.message}`, 2);
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const MARK = { true: "✓", false: "✗" } as const;

function printCondition(out: string[], c: ConditionTrace, indent: string): void {
  const seen = c.observed !== undefined ? `   ← ${displaySafe(c.observed)}` : "";
  out.push(`${indent}${MARK[`${c.result}`]} ${c.describe}${seen}`);
  for (const child of c.children) printCondition(out, child, `${indent}    `);
}

function printTrace(trace: RuleTrace[]): string {
  const out: string[] = [];
  for (const r of trace) {
    if (!r.evaluated) {
      out.push(`  - ${r.name} (line ${r.line}): not evaluated (an earlier rule said stop)`);
      continue;
    }
    out.push(`  ${MARK[`${r.matched}`]} ${r.name} (line ${r.line}): ${r.matched ? "MATCHES" : "does not match"}`);
    if (r.condition) printCondition(out, r.condition, "      ");
    else out.push("      (no condition: applies to every message)");
  }
  return out.join("\n");
}

function printDecision(d: RuleDecision): string {
  const lines = [`  action: ${d.action}${d.reason ? ` (${d.reason})` : ""}`];
  if (d.action === "hold") lines.push(`  notify recipients: ${d.notifyRecipients ? "yes" : "no"}`);
  if (d.action === "reject") lines.push(`  DSN to sender: ${d.dsn ? "yes" : "no"}`);
  lines.push(`  rules applied: ${d.rulesApplied.length ? d.rulesApplied.join(", ") : "(none)"}`);
  for (const m of d.matches ?? []) lines.push(`  list entry: ${m.rule} ${m.condition} ${m.entry} (${m.source}) ← ${displaySafe(m.seen)}`);
  if (d.render.subjectTags.length) lines.push(`  subject tags: ${d.render.subjectTags.join(" ")}`);
  if (d.render.links) lines.push(`  links: ${d.render.links}`);
  if (d.render.language) lines.push(`  notice language: ${d.render.language}`);
  if (d.render.noticeTemplate !== undefined) lines.push("  notice template: from the rules");
  if (d.render.inlineText) lines.push(`  inline text of: ${d.render.inlineText.map((e) => `.${e}`).join(", ")}`);
  if (d.render.extractText) lines.push(`  extract text of: ${d.render.extractText.length ? d.render.extractText.join(", ") : "(off)"}`);
  return lines.join("\n");
}

const HEADERS_SHOWN = [
  ["from", "From"],
  ["to", "To"],
  ["cc", "Cc"],
  ["subject", "Subject"],
  ["date", "Date"],
  ["x-mumuka-id", "X-Mumuka-Id"],
  ["x-mumuka-rules", "X-Mumuka-Rules"],
] as const;

/** The sanitized message as staff read it: the headers that matter, decoded, then the text. */
async function decodedView(message: Buffer): Promise<string> {
  const parsed = await simpleParser(message, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
  const lines: string[] = [];
  for (const [name, label] of HEADERS_SHOWN) {
    const v = parsed.headers.get(name);
    if (v === undefined) continue;
    const text = v instanceof Date ? v.toISOString() : typeof v === "string" ? v : ((v as { text?: string }).text ?? String(v));
    lines.push(`${label}: ${displaySafe(text)}`);
  }
  return `${lines.join("\n")}\n\n${(parsed.text ?? "").replace(/\r\n/g, "\n")}`;
}

export function registerRulesCommands(program: Command): void {
  const rules = program.command("rules").description("operator rules: check and try them / ルールの検査と試行");
  registerReplayCommand(rules);

  rules
    .command("check")
    .description("validate a rules file; prints every problem as file:line:column / ルールファイルを検査する")
    .argument("[file]", "rules file (default: rules.file of the configuration)")
    .option("-c, --config <file>", "configuration file (YAML), to find rules.file")
    .option("--at <time>", "check the holiday data against this time's year (default: now)")
    .action(async (fileArg: string | undefined, opts: { config?: string; at?: string }) => {
      const file = rulesFileFrom(fileArg, opts.config);
      const now = opts.at ? parseTimeArg(opts.at, "at") : new Date();
      const { engine, sha256 } = await load(file);
      const names = engine.rules.map((r) => r.name);
      process.stdout.write(`${file}: OK — ${names.length} rule(s)${names.length ? `: ${names.join(", ")}` : ""}\nsha256 ${sha256}\n`);
      for (const l of engine.lists) process.stdout.write(`list ${l.kind}: ${l.file} — ${l.entries} entries, sha256 ${l.sha256}\n`);
      if (engine.lists.length) process.stdout.write(`version ${engine.version} (the rules and their lists)\n`);
      const warning = holidayDataWarning(now);
      if (warning) process.stderr.write(`${warning}\n`);
    });

  rules
    .command("test")
    .description("show which rules match a message and why, the decision and the sanitized result (nothing is delivered) / メッセージでルールを試す")
    .argument("<message>", "a message file (.eml), or - for standard input")
    .option("--rules <file>", "rules file to try (default: rules.file of the configuration)")
    .option("--mail-from <address>", "envelope sender (default: the header From)")
    .option("--rcpt <address>", "envelope recipient; repeat for several (default: the header To and Cc)", collect, [])
    .option("--client-ip <ip>", "address of the original sending server, as XFORWARD/XCLIENT would name it (default: unknown, so client_ip conditions do not match)")
    .option("--peer-ip <ip>", "address of the TCP peer, the Internet-zone MTA (default: the --client-ip)")
    .option("--auth <verdict>", 'sender-authentication verdict to assume, e.g. "dmarc=fail from_domain=city.example.lg.jp policy=reject" (keys: spf dkim dmarc arc from_domain aligned policy; default: none, so auth conditions do not match)')
    .option("--at <time>", "evaluate day/time conditions at this time: ISO 8601, Japan time when no zone is given (default: now)")
    .option("-c, --config <file>", "configuration file (YAML): sanitizer settings and rules.file")
    .option("--raw", "print the sanitized message as raw bytes (MIME-encoded) instead of decoded")
    .option("--json", "print the decision, the trace and the sanitizer's report as JSON instead of text")
    .action(async (message: string, opts: { rules?: string; mailFrom?: string; rcpt: string[]; clientIp?: string; peerIp?: string; auth?: string; at?: string; config?: string; raw?: boolean; json?: boolean }) => {
      const config = loadConfig(opts.config);
      const rulesFile = opts.rules ?? config.rules.file;
      const now = opts.at ? parseTimeArg(opts.at, "at") : new Date();
      const loaded = rulesFile ? await load(rulesFile) : undefined;
      const engine = loaded?.engine ?? noRules;
      // checked before the message is read: a mistyped verdict is a usage error, not a silent "none"
      const auth = opts.auth !== undefined ? parseAssumedVerdict(opts.auth, opts.clientIp ?? "") : undefined;
      if (typeof auth === "string") throw new CliError(`--auth: ${auth}`, 2);
      let input: Readable;
      if (message === "-") input = process.stdin;
      else {
        input = createReadStream(message);
        await new Promise<void>((resolve, reject) => {
          input.once("open", () => resolve());
          input.once("error", (error: NodeJS.ErrnoException) => reject(new CliError(`${message}: cannot read: ${error.code ?? error.message}`, 2)));
        });
      }
      // the same time budget as the gateway's sanitize(): a pathological message ends with "maxTimeMs" in limitsHit
      const analyzed = await analyze(input, config.sanitize.limits, AbortSignal.timeout(config.sanitize.limits.maxTimeMs));
      const facts = analyzed.facts;
      const envelope: Envelope = {
        mailFrom: opts.mailFrom ?? facts.from[0]?.address ?? "",
        rcptTo: opts.rcpt.length ? opts.rcpt : [...facts.to, ...facts.cc].map((a) => a.address).filter(Boolean),
        clientAddress: opts.clientIp ?? "",
        clientHelo: "rules-test",
        ...(opts.peerIp !== undefined ? { peerAddress: opts.peerIp } : {}),
        ...(auth ? { auth } : {}),
      };
      const explained = engine.explain(facts, envelope, now);
      const { trace, clock } = explained;
      // as the gateway: a DMARC failure under p=reject/quarantine is held by authentication.dmarcReject/dmarcQuarantine
      const decision = auth ? withDmarcPolicy(explained.decision, dmarcHoldReason(auth, config.authentication)) : explained.decision;
      const options = {
        ...renderOptionsFromConfig(
          config.sanitize,
          { auditId: "rules-test", now, hostname: config.smtp.hostname ?? os.hostname() },
          config.sanitize.noticeTemplate ? readTemplate(config.sanitize.noticeTemplate) : undefined,
        ),
        ...decision.render,
        rulesApplied: decision.rulesApplied,
      };
      if (decision.action !== "deliver") options.withheld = { reason: decision.reason ?? decision.action };
      // as the gateway does: a held or rejected message is rendered as the notice-only message
      const result = render(analyzed, options);

      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ rules: rulesFile ?? null, version: engine.version, envelope, time: clock, trace, decision, report: result.report }, null, 2)}\n`);
        return;
      }
      const out = [
        `rules:    ${rulesFile ? `${rulesFile} (sha256 ${engine.version.slice(0, 16)}…, ${engine.rules.length} rule(s))` : "(none: the configured defaults apply)"}`,
        `message:  ${message === "-" ? "(stdin)" : message} — ${facts.size} bytes, subject ${JSON.stringify(displaySafe(facts.subject))}`,
        `envelope: MAIL FROM <${displaySafe(envelope.mailFrom)}>  RCPT TO ${envelope.rcptTo.map((r) => `<${displaySafe(r)}>`).join(" ") || "(none)"}  client ${envelope.clientAddress || "(unknown)"}${envelope.peerAddress !== undefined ? `  peer ${envelope.peerAddress || "(unknown)"}` : ""}`,
        ...(auth ? [`auth:     spf=${auth.spf.result} dkim=${dkimSummary(auth)} dmarc=${auth.dmarc.result} (policy=${auth.dmarc.policy}) arc=${auth.arc.result}${auth.dmarc.domain ? ` from-domain=${auth.dmarc.domain}` : ""}${auth.dmarc.alignedDomain ? ` aligned=${auth.dmarc.alignedDomain}` : ""} (assumed)`] : []),
        `time:     ${clock}`,
        "",
        "rules (in order):",
        trace.length ? printTrace(trace) : "  (no rules)",
        "",
        "decision:",
        printDecision(decision),
        "",
        decision.action === "deliver"
          ? "----- sanitized message (as staff would receive it; not delivered) -----"
          : `----- ${decision.action === "hold" ? "held" : "rejected"}: the notice-only message the gateway renders for it (not delivered) -----`,
        opts.raw ? result.message.toString("utf8").replace(/\r\n/g, "\n") : await decodedView(result.message),
      ];
      process.stdout.write(`${out.join("\n")}\n`);
    });
}
