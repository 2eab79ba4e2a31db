/**
 * The checks behind /healthz (and the Docker HEALTHCHECK): the spool directory
 * is writable, the audit store answers, and — in smtp delivery mode — the
 * downstream server accepts TCP connections. Each check has a time budget so
 * a hung store cannot hang the health endpoint; the downstream probe is cached
 * so monitoring does not open a connection to the LGWAN server every few seconds.
 *
 * SECURITY: no request input is used, and the endpoint needs no login:
 * simultaneous checks share one run, so requests cannot multiply disk syncs or
 * downstream connections. A probe file is created with a random name and
 * removed; a crash can leave one `.healthz-*` file in dataDir.
 */
import { randomBytes } from "node:crypto";
import { open, unlink } from "node:fs/promises";
import { connect } from "node:net";
import path from "node:path";
import type { AuditReader } from "../audit/audit-types.ts";
import type { HealthCheck } from "./admin-types.ts";

type Check = { ok: boolean; detail?: string };

/** A check slower than this counts as failed: Docker's default health-check timeout is 30 s; we answer well before. */
const CHECK_TIMEOUT_MS = 3000;
/** How long a downstream probe result is reused. */
const DOWNSTREAM_CACHE_MS = 30_000;

function withTimeout(check: Promise<Check>, ms: number): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Check>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${ms} ms` }), ms);
  });
  return Promise.race([check, timeout]).finally(() => clearTimeout(timer));
}

export async function checkWritable(dir: string): Promise<Check> {
  const file = path.join(dir, `.healthz-${randomBytes(6).toString("hex")}`);
  try {
    const handle = await open(file, "wx", 0o600);
    try {
      await handle.writeFile("ok");
      await handle.sync();
    } finally {
      await handle.close();
    }
    await unlink(file);
    return { ok: true, detail: "writable" };
  } catch (error) {
    await unlink(file).catch(() => undefined);
    return { ok: false, detail: `not writable: ${(error as NodeJS.ErrnoException).code ?? String(error)}` };
  }
}

export function probeTcp(host: string, port: number, timeoutMs = CHECK_TIMEOUT_MS): Promise<Check> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (check: Check) => {
      socket.destroy();
      resolve(check);
    };
    socket.setTimeout(timeoutMs, () => done({ ok: false, detail: `${host}:${port} did not answer within ${timeoutMs} ms` }));
    socket.once("connect", () => done({ ok: true, detail: `${host}:${port} reachable` }));
    socket.once("error", (error: NodeJS.ErrnoException) => done({ ok: false, detail: `${host}:${port}: ${error.code ?? error.message}` }));
  });
}

export function createHealthCheck(deps: {
  spoolDir: string;
  audit: Pick<AuditReader, "search">;
  /** smtp delivery: the first downstream server; absent (directory mode): not checked */
  downstream?: { host: string; port: number };
  now?: () => number;
}): () => Promise<HealthCheck> {
  const now = deps.now ?? Date.now;
  let cached: { at: number; check: Check } | undefined;
  const downstream = async (): Promise<Check> => {
    if (!deps.downstream) return { ok: true, detail: "directory delivery" };
    if (cached && now() - cached.at < DOWNSTREAM_CACHE_MS) return cached.check;
    const check = await probeTcp(deps.downstream.host, deps.downstream.port);
    cached = { at: now(), check };
    return check;
  };
  const audit = async (): Promise<Check> => {
    try {
      await deps.audit.search({ limit: 1 });
      return { ok: true, detail: "reachable" };
    } catch (error) {
      return { ok: false, detail: `unreachable: ${(error as Error).message}` };
    }
  };
  // /healthz needs no login: simultaneous requests share one run, so a flood of them costs one
  // probe file (with its fsync on the spool's disk) and one downstream connection at a time
  let running: Promise<HealthCheck> | undefined;
  const run = async (): Promise<HealthCheck> => {
    const [spool, auditCheck, down] = await Promise.all([
      withTimeout(checkWritable(deps.spoolDir), CHECK_TIMEOUT_MS),
      withTimeout(audit(), CHECK_TIMEOUT_MS),
      downstream(),
    ]);
    // The downstream server being down does not make this gateway unhealthy: mail waits in the
    // deferred queue, which is the designed behaviour. It is shown, not counted.
    return { ok: spool.ok && auditCheck.ok, checks: { spool, audit: auditCheck, downstream: down } };
  };
  return () =>
    (running ??= run().finally(() => {
      running = undefined;
    }));
}
