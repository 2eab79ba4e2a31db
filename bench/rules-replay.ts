/**
 * Speed of `mumuka rules replay` over a week of retained mail.
 *
 *   node bench/rules-replay.ts [--messages 50000] [--dir /tmp/mumuka-bench-replay] [--workers N]
 *
 * Builds (once; reused when the directory already holds that many messages) a
 * data directory with an audit store and N retained originals (3–5 KB each:
 * text or HTML with links, a third with an .xlsx/.pdf/.csv attachment) spread
 * over the last seven days, then runs the real CLI, spawned, with a candidate
 * that adds two rules (hold .xlsx from one domain; defang→remove links from
 * another) to the live ones, and prints the wall time, messages per second
 * and the counts. Target: 50,000 messages in under 2 minutes on the project's
 * 2-core machine. Not part of the test suite.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { generateRetainedMail } from "../tests/helpers/retained-mail.ts";

const args = process.argv.slice(2);
const opt = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const MESSAGES = Number(opt("messages", "50000"));
const DIR = path.resolve(opt("dir", "/tmp/mumuka-bench-replay"));
const WORKERS = opt("workers", "");
const REPO = path.resolve(import.meta.dirname, "..");

const LIVE = `rules:
  - name: tag-outside
    when: { not: { from: "*.lg.jp" } }
    then: { subject_tag: "[外部]" }
  - name: partner-csv-as-text
    when: { mail_from: "*@partner.example.co.jp", attachment: { ext: csv } }
    then: { inline_text: [csv] }
`;
const CANDIDATE = `${LIVE}  - name: hold-vendor-xlsx
    when: { sender_domain: vendor.example.com, attachment: { ext: xlsx } }
    then: { hold: { reason: vendor xlsx, notify_recipients: false } }
  - name: shop-links-removed
    when: { link_domain: shop.example.net }
    then: { links: remove }
`;

async function main(): Promise<void> {
  const marker = path.join(DIR, "generated.json");
  const stamp = existsSync(marker) ? (JSON.parse(readFileSync(marker, "utf8")) as { messages: number; start: string }) : undefined;
  // the window is the last 7 days: regenerate when the data has aged out of it
  const fresh = stamp && stamp.messages === MESSAGES && Date.now() - Date.parse(stamp.start) < 7 * 86_400_000;
  if (!fresh) {
    spawnSync("rm", ["-rf", DIR]);
    const start = new Date(Date.now() - 7 * 86_400_000 + 3_600_000);
    const t0 = performance.now();
    await generateRetainedMail({
      dataDir: path.join(DIR, "data"),
      count: MESSAGES,
      start,
      days: 6.9,
      purged: (i) => i % 100 === 99,
      onProgress: (n) => n % 9000 === 0 && process.stderr.write(`  generated ${n}\n`),
    });
    writeFileSync(marker, JSON.stringify({ messages: MESSAGES, start: start.toISOString() }));
    console.log(`generated ${MESSAGES} retained originals in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } else console.log(`reusing ${MESSAGES} retained originals in ${DIR}`);
  writeFileSync(path.join(DIR, "live.yaml"), LIVE);
  writeFileSync(path.join(DIR, "candidate.yaml"), CANDIDATE);
  writeFileSync(path.join(DIR, "mumuka.yaml"), "dataDir: ./data\nrules:\n  file: live.yaml\n");

  const t = performance.now();
  const r = spawnSync(
    process.execPath,
    ["src/cli.ts", "rules", "replay", "--rules", path.join(DIR, "candidate.yaml"), "--since", "7d", "--json", "-c", path.join(DIR, "mumuka.yaml"), ...(WORKERS ? ["--workers", WORKERS] : [])],
    { cwd: REPO, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 },
  );
  const seconds = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`replay failed (${r.status}): ${r.stderr}`);
  const lines = r.stdout.trim().split("\n");
  const summary = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
  console.log(`replay of ${summary.examined} messages (spawned CLI, incl. node start): ${seconds.toFixed(1)} s, ${(Number(summary.examined) / seconds).toFixed(0)} messages/s`);
  console.log(
    JSON.stringify({
      replayed: summary.replayed,
      notReplayable: summary.notReplayable,
      failed: summary.failed,
      changed: summary.changed,
      outcomes: summary.outcomes,
      render: summary.render,
      rules: summary.rules,
    }),
  );
  console.log(seconds < 120 ? "target met: under 2 minutes" : "TARGET MISSED: 2 minutes");
}

await main();
