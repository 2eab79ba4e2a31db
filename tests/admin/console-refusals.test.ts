/**
 * Every refused console request is an audit event (who, from where, what,
 * why), and a flood of them is bounded by counting: the clock is injected, the
 * bounds are checked on the number of events, never on time.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditEvent, AuditEventInput } from "../../src/audit/audit-types.ts";
import { createRefusalRecorder, MAX_PATH, PER_KEY, shownPath, TOTAL, WINDOW_MS } from "../../src/admin/refusals.ts";
import { createHarness, ID1, PASSWORD, type Harness } from "./harness.ts";

const refused = (h: Harness) => h.audit.events.filter((e) => e.type === "admin" && e.data.action === "refused");
const suppressed = (events: { data: Record<string, unknown> }[]) => events.filter((e) => e.data.action === "refused-suppressed");

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
  h.queue.add({ id: ID1, state: "deferred" });
});
afterEach(async () => {
  await h.close();
});

describe("refused console requests in the audit trail", () => {
  it("records a role lacking the permission with the account, address, method, route pattern and path", async () => {
    const viewer = await h.loggedIn("viewer");
    expect((await viewer.get("/users")).status).toBe(403);
    expect((await viewer.post(`/queue/${ID1}/retry`, { _csrf: viewer.csrf })).status).toBe(403);
    expect(h.queue.calls).toEqual([]);
    const events = refused(h);
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ actor: "admin:viewer", data: { reason: "role", status: 403, method: "GET", route: "/users", path: "/users", ip: "127.0.0.1" } });
    expect(events[1]).toMatchObject({ actor: "admin:viewer", data: { reason: "role", method: "POST", route: "/queue/:id/:action", path: `/queue/${ID1}/retry` } });
  });

  it("records a bad CSRF token and a foreign Origin apart, for pages and for the login form", async () => {
    const operator = await h.loggedIn("operator");
    await operator.post(`/queue/${ID1}/retry`, { _csrf: "wrong" });
    await operator.post(`/queue/${ID1}/retry`, { _csrf: operator.csrf }, { origin: "https://evil.example" });
    await operator.post(`/queue/${ID1}/retry`, { _csrf: operator.csrf }, { "sec-fetch-site": "cross-site" });
    const anonymous = h.client();
    await anonymous.get("/login");
    await anonymous.post("/login", { _csrf: "wrong", username: "admin", password: PASSWORD });
    await anonymous.post("/login", { _csrf: anonymous.csrf, username: "admin", password: PASSWORD }, { origin: "https://evil.example" });
    expect(h.queue.calls).toEqual([]);
    expect(h.audit.ofType("login")).toHaveLength(1); // the operator's own login only
    expect(refused(h).map((e) => [e.actor ?? "-", e.data.reason, e.data.status, e.data.account ?? "-"])).toEqual([
      ["admin:operator", "csrf-token", 403, "-"],
      ["admin:operator", "cross-origin", 403, "-"],
      ["admin:operator", "cross-origin", 403, "-"],
      ["-", "csrf-token", 403, "admin"],
      ["-", "cross-origin", 403, "admin"],
    ]);
  });

  it("records a POST without a login, but not the GET that opens the login page", async () => {
    const anonymous = h.client();
    expect((await anonymous.get("/queue")).status).toBe(303);
    expect((await anonymous.post(`/queue/${ID1}/delete`, { _csrf: "x" })).status).toBe(303);
    expect(h.queue.entries.has(ID1)).toBe(true);
    expect(refused(h).map((e) => [e.data.reason, e.data.route])).toEqual([["no-session", "/queue/:id/:action"]]);
  });

  it("records logins refused by the rate limit, once the failures themselves were recorded as failed logins", async () => {
    const c = h.client();
    for (let i = 0; i < 5; i++) expect((await c.login("admin", "wrong password!")).status).toBe(401);
    expect((await c.login("admin", PASSWORD)).status).toBe(429);
    expect(h.audit.ofType("login-failed")).toHaveLength(5);
    expect(refused(h).map((e) => [e.data.reason, e.data.status, e.data.account])).toEqual([["login-limited", 429, "admin"]]);
  });

  it("keeps the query string out of the record and cuts a long path", async () => {
    const viewer = await h.loggedIn("viewer");
    const id = "A".repeat(99);
    const action = "B".repeat(99);
    await viewer.post(`/queue/${id}/${action}?subject=${encodeURIComponent("給与明細")}`, { _csrf: viewer.csrf });
    const [event] = refused(h);
    expect(event!.data.route).toBe("/queue/:id/:action");
    expect(String(event!.data.path)).toBe(`/queue/${id}/${action}`.slice(0, MAX_PATH) + "…");
    expect(JSON.stringify(event!.data)).not.toContain("subject");
  });

  it("shows a path's control and bidi characters as <U+XXXX>, never the characters", () => {
    expect(shownPath("/users/a\u202Egpj.exe\u0007/remove?name=x")).toBe("/users/a<U+202E>gpj.exe<U+0007>/remove");
  });

  it("writes at most 10 events a minute for a flood from one address, then one summary with the exact count", async () => {
    const viewer = await h.loggedIn("viewer");
    const cookie = [...viewer.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    const flood = (n: number) =>
      Promise.all(Array.from({ length: n }, () => h.app.inject({ method: "GET", url: "/users", headers: { cookie }, remoteAddress: "192.0.2.7" })));
    for (const res of await flood(500)) expect(res.statusCode).toBe(403);
    expect(refused(h)).toHaveLength(PER_KEY);
    expect(suppressed(h.audit.events)).toHaveLength(0);

    h.clock.now += WINDOW_MS; // the next minute: the first refusal in it writes the last minute's summary, then itself
    await flood(1);
    const summaries = suppressed(h.audit.events);
    expect(summaries).toHaveLength(1);
    expect(summaries[0]!.data).toMatchObject({ reason: "role", ip: "192.0.2.7", suppressed: 500 - PER_KEY });
    expect(refused(h)).toHaveLength(PER_KEY + 1);
  });

  it("writes the summary of a flood that stopped when the console closes", async () => {
    const viewer = await h.loggedIn("viewer");
    for (let i = 0; i < PER_KEY + 3; i++) await viewer.get("/users");
    expect(suppressed(h.audit.events)).toHaveLength(0);
    await h.admin.close();
    expect(suppressed(h.audit.events).map((e) => e.data.suppressed)).toEqual([3]);
  });
});

describe("the refusal recorder", () => {
  const recorder = (clock: { now: number }) => {
    const events: AuditEventInput[] = [];
    const r = createRefusalRecorder({ audit: { record: (e) => void events.push(e) }, now: () => clock.now });
    return { events, r };
  };
  const refusal = (ip: string) => ({ reason: "role" as const, status: 403, ip, method: "GET", path: "/users" });

  it("bounds a spray of addresses to TOTAL events a minute plus one summary, and counts every refusal", () => {
    const clock = { now: 0 };
    const { events, r } = recorder(clock);
    const addresses = 1000;
    for (let round = 0; round < 3; round++) for (let i = 0; i < addresses; i++) r.refused(refusal(`10.0.${i >> 8}.${i & 255}`));
    expect(events).toHaveLength(TOTAL);
    clock.now += WINDOW_MS;
    r.sweep();
    const written = events.filter((e) => e.data.action === "refused").length;
    const counted = suppressed(events).reduce((sum, e) => sum + Number(e.data.suppressed), 0);
    expect(written + counted).toBe(3 * addresses); // nothing is lost from the count
    expect(events.length).toBeLessThanOrEqual(TOTAL + 1);
  });

  it("keeps each minute's bound: a flood lasting ten minutes writes at most (10 + 1) events a minute for one address", () => {
    const clock = { now: 0 };
    const { events, r } = recorder(clock);
    for (let minute = 0; minute < 10; minute++) {
      const before = events.length;
      for (let i = 0; i < 1000; i++) r.refused(refusal("192.0.2.9"));
      expect(events.length - before).toBeLessThanOrEqual(PER_KEY + 1);
      clock.now += WINDOW_MS;
    }
    r.sweep(true);
    const written = events.filter((e) => e.data.action === "refused").length;
    const counted = suppressed(events).reduce((sum, e) => sum + Number(e.data.suppressed), 0);
    expect(written + counted).toBe(10_000);
  });

  it("counts addresses and reasons apart: one address's flood does not hide another's refusal", () => {
    const clock = { now: 0 };
    const { events, r } = recorder(clock);
    for (let i = 0; i < 100; i++) r.refused(refusal("192.0.2.1"));
    r.refused(refusal("192.0.2.2"));
    r.refused({ ...refusal("192.0.2.1"), reason: "csrf-token" });
    const shown = (events as AuditEvent[]).filter((e) => e.data.action === "refused").map((e) => `${e.data.ip} ${e.data.reason}`);
    expect(shown.filter((s) => s === "192.0.2.1 role")).toHaveLength(PER_KEY);
    expect(shown).toContain("192.0.2.2 role");
    expect(shown).toContain("192.0.2.1 csrf-token");
  });
});
