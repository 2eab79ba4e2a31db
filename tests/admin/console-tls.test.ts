import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import { startAdmin, type AdminServer } from "../../src/admin/index.ts";
import { adminSchema } from "../../src/config/schema.ts";
import { createMetrics } from "../../src/lib/metrics.ts";
import { MemoryAudit, MemoryQueue } from "./doubles.ts";
import { requirement } from "../helpers/requirements.ts";
import { TEST_COST } from "./harness.ts";

let dir: string;
let server: AdminServer | undefined;
let skip = "";

function get(port: number, url: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: url, rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "mumuka-admin-tls-"));
  try {
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")], { stdio: "ignore" });
  } catch {
    skip = requirement("openssl", "it could not make a test certificate");
    return;
  }
  server = await startAdmin({
    config: adminSchema.parse({ port: 0, tls: { cert: path.join(dir, "cert.pem"), key: path.join(dir, "key.pem") } }),
    dataDir: dir,
    logger: pino({ level: "silent" }),
    metrics: createMetrics(),
    audit: new MemoryAudit(),
    queue: new MemoryQueue(),
    health: async () => ({ ok: true, checks: {} }),
    scryptCost: TEST_COST,
  });
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the console under TLS", () => {
  it("listens on loopback over HTTPS and names its session cookie __Host- with Secure, HttpOnly, SameSite=Strict", async (ctx) => {
    if (skip) ctx.skip(skip);
    expect(server!.address.host).toBe("127.0.0.1");
    const res = await get(server!.address.port, "/login");
    expect(res.status).toBe(200);
    const cookie = String(res.headers["set-cookie"]);
    expect(cookie).toMatch(/^__Host-mumuka_session=[A-Za-z0-9_-]{43}; Path=\/; SameSite=Strict; HttpOnly; Secure$/);
    expect(res.headers["strict-transport-security"]).toBe("max-age=31536000");
  });
});
