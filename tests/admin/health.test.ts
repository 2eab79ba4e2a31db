import { chmodSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createHealthCheck } from "../../src/admin/health.ts";

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(tmpdir(), "mumuka-health-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) {
    chmodSync(d, 0o700);
    rmSync(d, { recursive: true, force: true });
  }
});

const okAudit = { search: async () => ({ total: 0, rows: [] }) };

describe("health checks", () => {
  it("is healthy when the spool is writable and the audit store answers, leaving no probe file behind", async () => {
    const dir = tmp();
    const health = await createHealthCheck({ spoolDir: dir, audit: okAudit })();
    expect(health.ok).toBe(true);
    expect(health.checks.spool).toEqual({ ok: true, detail: "writable" });
    expect(readdirSync(dir)).toEqual([]);
  });

  it("is unhealthy when the spool is not writable or the audit store fails", async () => {
    const dir = tmp();
    if (process.getuid?.() !== 0) {
      chmodSync(dir, 0o500);
      expect((await createHealthCheck({ spoolDir: dir, audit: okAudit })()).ok).toBe(false);
    }
    const missing = await createHealthCheck({ spoolDir: path.join(dir, "gone"), audit: okAudit })();
    expect(missing.ok).toBe(false);
    expect(missing.checks.spool!.detail).toContain("ENOENT");
    const broken = await createHealthCheck({ spoolDir: tmp(), audit: { search: async () => Promise.reject(new Error("connection refused")) } })();
    expect(broken.ok).toBe(false);
    expect(broken.checks.audit).toEqual({ ok: false, detail: "unreachable: connection refused" });
  });

  it("shows whether the downstream server accepts connections, without counting it against the gateway, and caches the probe", async () => {
    let connections = 0;
    const server: Server = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    let now = 0;
    const health = createHealthCheck({ spoolDir: tmp(), audit: okAudit, downstream: { host: "127.0.0.1", port }, now: () => now });
    expect((await health()).checks.downstream).toEqual({ ok: true, detail: `127.0.0.1:${port} reachable` });
    await health();
    await new Promise((r) => setTimeout(r, 50));
    expect(connections).toBe(1);
    await new Promise<void>((r) => server.close(() => r()));
    now += 30_001;
    const down = await health();
    expect(down.checks.downstream!.ok).toBe(false);
    expect(down.checks.downstream!.detail).toContain("ECONNREFUSED");
    expect(down.ok).toBe(true);
  });

  it("answers a burst of simultaneous checks (no login needed) with one probe of the spool and one downstream connection", async () => {
    let connections = 0;
    const server: Server = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    let searches = 0;
    const audit = { search: async () => (searches++, { total: 0, rows: [] }) };
    const health = createHealthCheck({ spoolDir: tmp(), audit, downstream: { host: "127.0.0.1", port } });
    const results = await Promise.all(Array.from({ length: 20 }, () => health()));
    for (const r of results) expect(r.ok).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(connections).toBe(1);
    expect(searches).toBe(1);
    await new Promise<void>((r) => server.close(() => r()));
  });
});
