/**
 * What a serving gateway's main isolate loads: only the relay's modules. Every module loaded
 * there stays for the life of the process (issue 13: PSS), so the console (admin off), mailauth
 * (authentication off), the sanitizer itself (it runs in the workers), the other CLI commands'
 * modules and the in-process receiver's smtp-server must not be imported by `mumuka serve`; nor
 * pg on the SQLite audit store, prom-client when no console serves /metrics, or nodemailer's
 * full mailer before the first DSN or alert (delivery needs only its SMTP connection).
 * Observed from outside: a `--import` hook in the child records every URL the main thread loads.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { modulesLoadedByServe } from "../helpers/modules-loaded.ts";
import { repoRoot } from "../helpers/relay-process.ts";

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe("mumuka serve, main isolate", () => {
  it("does not load the console, mailauth, the sanitizer, mailparser, smtp-server, pg, prom-client or nodemailer's mailer when they are not used", async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "mumuka-footprint-"));
    const run = await modulesLoadedByServe({ dir, entry: "src/cli.ts", cwd: repoRoot });
    expect(run.code).toBe(0);

    const loaded = run.loaded.filter((x) => x.thread === 0).map((x) => x.url);
    // the hook saw the gateway start (a list that missed everything would pass the checks below)
    expect(loaded.some((u) => u.endsWith("/src/serve.ts"))).toBe(true);
    expect(loaded.some((u) => u.endsWith("/src/deliver/queue-manager.ts"))).toBe(true);
    const unwanted = loaded.filter((u) =>
      /\/node_modules\/(fastify|mailauth|mailparser|smtp-server|html-to-text|pg|prom-client|@opentelemetry\/api)\/|\/node_modules\/nodemailer\/.*\/(nodemailer|mailer\/index)\.js$|\/src\/(admin\/server|admin\/rule-trial|sanitize\/analyze|sanitize\/render|receive\/smtp-receiver|rules\/rules-replay|rules\/rules-command|authenticate\/authenticator)\.ts$/.test(u),
    );
    expect(unwanted).toEqual([]);
  }, 30_000);
});
