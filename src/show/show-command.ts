/**
 * `mumuka show FILE|ID|- …`: a sanitized message as staff will read it — the
 * headers with their RFC 2047 words decoded, then the text in its charset —
 * instead of the base64 or ISO-2022-JP bytes on disk. By id it finds the
 * message where the gateway left it: the outbox (directory delivery), then
 * the spool's out/ (deferred, held, failed). A message already relayed over
 * SMTP is no longer on this machine in sanitized form; show says so and
 * points to `audit show` (its story) and `original request` (its raw original, released on approval).
 *
 * SECURITY: the file may be any message, also a hostile one given by path.
 * It is read up to MAX_SHOW_BYTES and parsed by mailparser; only headers and
 * the plain text are printed, never HTML or attachments (those are counted),
 * and every character that could act on a terminal (ESC, other controls,
 * bidi overrides) is printed as <U+XXXX> (src/lib/display-safe.ts). Ids are
 * checked with isAuditId() before they become paths. Read-only: no state.
 */
import { open } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { simpleParser } from "mailparser";
import { loadConfig } from "../config/load.ts";
import { CliError } from "../lib/cli-error.ts";
import { displaySafe, textSafe } from "../lib/display-safe.ts";
import { isAuditId } from "../lib/ids.ts";
import { decodeWords } from "../sanitize/header-decode.ts";

/** Larger than any sanitized message (the text is capped at sanitize.limits.maxTextChars); a bound for files given by path. */
export const MAX_SHOW_BYTES = 64 * 1024 * 1024;

/** Where a message of this id may be, in the order looked at. */
export function showCandidates(id: string, configFile: string | undefined): string[] {
  const config = loadConfig(configFile);
  return [
    path.join(config.delivery.directory ?? path.join(config.dataDir, "outbox"), `${id}.eml`),
    path.join(config.dataDir, "spool", "out", `${id}.eml`),
  ];
}

async function readBounded(file: string): Promise<Buffer | undefined> {
  let handle;
  try {
    handle = await open(file, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CliError(`cannot read ${displaySafe(file)}: ${(error as Error).message}`, 1);
  }
  try {
    const stat = await handle.stat();
    const size = stat.size;
    if (!stat.isFile()) throw new CliError(`${displaySafe(file)} is not a file`, 2);
    if (size > MAX_SHOW_BYTES) throw new CliError(`${displaySafe(file)} is ${size} bytes; show reads at most ${MAX_SHOW_BYTES}`, 1);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_SHOW_BYTES) throw new CliError(`standard input is over ${MAX_SHOW_BYTES} bytes; show reads at most that`, 1);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** One header value unfolded and decoded for a person; undecodable words stay as written. */
function headerValue(raw: string): string {
  const unfolded = raw.replace(/\r?\n(?=[ \t])/g, "").trim();
  try {
    return decodeWords(unfolded);
  } catch {
    return unfolded;
  }
}

/** The readable form of a message: decoded headers, a blank line, the text. */
export async function formatForReading(message: Buffer): Promise<string> {
  const parsed = await simpleParser(message, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
  const lines: string[] = [];
  for (const { line } of parsed.headerLines) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    lines.push(`${displaySafe(line.slice(0, colon))}: ${displaySafe(headerValue(line.slice(colon + 1)))}`);
  }
  lines.push("");
  const text = (parsed.text ?? "").replace(/\r\n/g, "\n");
  const notes: string[] = [];
  if (parsed.html) notes.push("[HTML パートは表示しません / an HTML part, not shown]");
  if (parsed.attachments.length) notes.push(`[添付 ${parsed.attachments.length} 件は表示しません / ${parsed.attachments.length} attachment(s), not shown]`);
  const body = textSafe(text).replace(/\r/g, "<U+000D>");
  return `${lines.join("\n")}\n${body}${body.endsWith("\n") || body === "" ? "" : "\n"}${notes.map((n) => `${n}\n`).join("")}`;
}

/** Writes to stdout; a reader that stopped early (`| head`) is not an error. */
function writeOut(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (error) => {
      if (!error || (error as NodeJS.ErrnoException).code === "EPIPE") resolve();
      else reject(error);
    });
  });
}

export function registerShowCommand(program: Command): void {
  program
    .command("show")
    .description("print a sanitized message readably (decoded headers and text) / 無害化後のメールを読める形で表示")
    .argument("<message...>", ".eml files, queue/audit ids (looked up in the outbox and the spool), or - for standard input")
    .option("-c, --config <file>", "configuration file (YAML), to find a message by id")
    .action(async (messages: string[], opts: { config?: string }) => {
      for (const [i, message] of messages.entries()) {
        // several messages (mumuka show data/outbox/*.eml): each under its name, as head(1) does
        const title = messages.length > 1 ? `${i > 0 ? "\n" : ""}==> ${displaySafe(message)} <==\n` : "";
        await writeOut(title + (await formatForReading(await readMessage(message, opts.config))));
      }
    });
}

async function readMessage(message: string, configFile: string | undefined): Promise<Buffer> {
  if (message === "-") return readStdin();
  if (isAuditId(message)) {
    for (const candidate of showCandidates(message, configFile)) {
      const bytes = await readBounded(candidate);
      if (bytes) return bytes;
    }
    throw new CliError(
      `${message}: outbox にもスプールにもありません(SMTP で配送したメールの本文は残りません)/ not in the outbox or the spool ` +
        `(a message relayed over SMTP is not kept). 経過 story: mumuka audit show ${message} · 原本 original: mumuka original request ${message} --reason …`,
      1,
    );
  }
  const bytes = await readBounded(message);
  if (!bytes) throw new CliError(`${displaySafe(message)}: no such file, and not a queue id (e.g. 20261126T095312Z-7K3QX9PA4M2D8RFT)`, 2);
  return bytes;
}
