/**
 * Test harness for the console: a fresh data directory, three accounts (one per
 * role), the app built over in-memory doubles, and a tiny cookie-keeping client
 * over fastify's inject().
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { adminSchema } from "../../src/config/schema.ts";
import { createMetrics } from "../../src/lib/metrics.ts";
import type { AdminDeps } from "../../src/admin/admin-types.ts";
import { buildAdminApp, type AdminApp } from "../../src/admin/server.ts";
import { openUserStore, type Role } from "../../src/admin/user-store.ts";
import { MemoryAudit, MemoryQueue } from "./doubles.ts";

/** Cheap scrypt for tests (2^10): the production cost is measured separately. */
export const TEST_COST = { log2N: 10, r: 8, p: 1 };
export const PASSWORD = "correct horse battery staple";

export interface Harness {
  app: FastifyInstance;
  admin: AdminApp;
  audit: MemoryAudit;
  queue: MemoryQueue;
  dataDir: string;
  clock: { now: number };
  client(): Client;
  loggedIn(role: Role): Promise<Client>;
  close(): Promise<void>;
}

export interface Response {
  status: number;
  body: string;
  headers: Record<string, string | string[] | number | undefined>;
}

export class Client {
  cookies = new Map<string, string>();
  csrf = "";
  readonly app: FastifyInstance;
  constructor(app: FastifyInstance) {
    this.app = app;
  }
  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
  private keep(headers: Response["headers"]) {
    const set = headers["set-cookie"];
    for (const line of Array.isArray(set) ? set : set ? [String(set)] : []) {
      const [pair] = line.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (/Max-Age=0/.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  private remember(body: string) {
    const m = /name="_csrf" value="([^"]*)"/.exec(body);
    if (m) this.csrf = m[1]!;
  }
  async get(url: string, headers: Record<string, string> = {}): Promise<Response> {
    const res = await this.app.inject({ method: "GET", url, headers: { cookie: this.cookieHeader(), ...headers } });
    this.keep(res.headers);
    this.remember(res.body);
    return { status: res.statusCode, body: res.body, headers: res.headers };
  }
  async post(url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    const res = await this.app.inject({
      method: "POST",
      url,
      payload: new URLSearchParams(form).toString(),
      headers: { cookie: this.cookieHeader(), "content-type": "application/x-www-form-urlencoded", ...headers },
    });
    this.keep(res.headers);
    this.remember(res.body);
    return { status: res.statusCode, body: res.body, headers: res.headers };
  }
  async login(name: string, password: string, extra: Record<string, string> = {}): Promise<Response> {
    await this.get("/login");
    return this.post("/login", { _csrf: this.csrf, username: name, password, ...extra });
  }
}

export async function createHarness(overrides: Partial<AdminDeps> = {}): Promise<Harness> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "mumuka-admin-"));
  const store = openUserStore(dataDir, { cost: TEST_COST });
  for (const role of ["viewer", "operator", "admin"] as const) await store.add(role, role, PASSWORD);
  store.close();
  const audit = new MemoryAudit();
  const queue = new MemoryQueue();
  const clock = { now: Date.now() };
  const admin = await buildAdminApp({
    config: adminSchema.parse({ port: 0 }),
    dataDir,
    logger: pino({ level: "silent" }),
    metrics: createMetrics(),
    audit,
    queue,
    health: async () => ({ ok: true, checks: { spool: { ok: true }, audit: { ok: true } } }),
    now: () => clock.now,
    scryptCost: TEST_COST,
    ...overrides,
  });
  const client = () => new Client(admin.app);
  return {
    app: admin.app,
    admin,
    audit,
    queue,
    dataDir,
    clock,
    client,
    async loggedIn(role) {
      const c = client();
      const res = await c.login(role, PASSWORD);
      if (res.status !== 303) throw new Error(`login as ${role} failed: ${res.status}`);
      await c.get("/");
      return c;
    },
    async close() {
      await admin.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const ID1 = "20261126T010203Z-7K3QX9PA4M2D8RFT";
export const ID2 = "20261126T020304Z-ABCDEFGHJKMNPQRS";
