import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { createHarness, ID1, ID2, PASSWORD, TEST_COST, type Harness } from "./harness.ts";
import { openUserStore } from "../../src/admin/user-store.ts";
import { CSP } from "../../src/admin/server.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { originalsSchema } from "../../src/config/schema.ts";
import { createReleaseDesk } from "../../src/originals/release-desk.ts";
import { openReleaseStore, type ReleaseStore } from "../../src/originals/release-store.ts";
import { MemoryAudit } from "./doubles.ts";

const XSS_SUBJECT = "<script>alert(1)</script>";
const XSS_FILE = `"><img src=x onerror=alert(2)>.pdf`;

function seed(h: Harness) {
  h.audit.addMessage(
    {
      auditId: ID1,
      receivedAt: "2026-11-26T01:02:03Z",
      mailFrom: "attacker@evil.example",
      headerFrom: `"<b>CEO</b>" <attacker@evil.example>`,
      rcptTo: ["staff@city.lg.jp"],
      subject: XSS_SUBJECT,
      status: "deferred",
      size: 2048,
      attachmentsRemoved: 1,
    },
    [
      { type: "received", actor: "gateway", data: { mailFrom: "attacker@evil.example", subject: XSS_SUBJECT } },
      {
        type: "sanitized",
        actor: "gateway",
        data: {
          attachments: [{ path: "2", filename: XSS_FILE, contentType: "application/pdf", typeMismatch: false, size: 1234, sha256: "ab".repeat(32), encrypted: false }],
          rulesApplied: ["external-tag"],
          text: "本文 <script>alert(3)</script>",
        },
      },
      { type: "delivery-attempt", actor: "gateway", data: { host: "127.0.0.1", port: 25, result: "deferred", reply: "451 4.3.0 <try later>" } },
    ],
  );
  h.queue.add({ id: ID1, state: "deferred", lastError: "451 4.3.0 <try later>" });
  h.queue.add({ id: ID2, state: "held", holdReason: "rule: ppap" });
}

let h: Harness;
let releaseDir: string;
let releaseStore: ReleaseStore;
beforeEach(async () => {
  releaseDir = mkdtempSync(path.join(tmpdir(), "mumuka-releases-"));
  releaseStore = openReleaseStore(releaseDir);
  const originals = { get: async (id: string) => Readable.from([Buffer.from(`Subject: original of ${id}\r\n\r\nbody\r\n`)]), has: async () => true };
  h = await createHarness({ releases: createReleaseDesk({ store: releaseStore, originals, audit: new MemoryAudit(), config: originalsSchema.parse({}).release }) });
  seed(h);
});
afterEach(async () => {
  await h.close();
  releaseStore.close();
  rmSync(releaseDir, { recursive: true, force: true });
});

const VIEWER_PAGES = ["/", "/messages", `/messages/${ID1}`, "/queue", "/rules"];
const OPERATOR_PAGES = [`/queue/${ID1}/retry`, `/queue/${ID2}/release`];
const ADMIN_PAGES = ["/users", "/users/viewer/remove"];

describe("authorization", () => {
  it("sends an anonymous visitor of every page to the login page, remembering where they wanted to go", async () => {
    const c = h.client();
    for (const url of [...VIEWER_PAGES, ...OPERATOR_PAGES, ...ADMIN_PAGES]) {
      const res = await c.get(url);
      expect(res.status, url).toBe(303);
      expect(res.headers.location, url).toBe(`/login?next=${encodeURIComponent(url)}`);
    }
  });

  it("sends an anonymous POST to the login page without acting", async () => {
    const c = h.client();
    for (const url of [`/queue/${ID1}/retry`, `/queue/${ID1}/delete`, "/users", "/logout", "/rules/try", "/rules/replay"]) {
      const res = await c.post(url, { _csrf: "x" });
      expect(res.status, url).toBe(303);
      expect(res.headers.location).toBe("/login");
    }
    expect(h.queue.calls).toEqual([]);
  });

  it("lets a viewer read every viewer page and refuses operator and admin pages with 403", async () => {
    const c = await h.loggedIn("viewer");
    for (const url of VIEWER_PAGES) expect((await c.get(url)).status, url).toBe(200);
    for (const url of [...OPERATOR_PAGES, ...ADMIN_PAGES]) expect((await c.get(url)).status, url).toBe(403);
    await c.get("/queue");
    const res = await c.post(`/queue/${ID1}/retry`, { _csrf: c.csrf });
    expect(res.status).toBe(403);
    expect((await c.post("/users", { _csrf: c.csrf, name: "mallory", role: "admin", password: PASSWORD })).status).toBe(403);
    expect((await c.post("/rules/try", { _csrf: c.csrf, source: "Subject: x\n\nhi" })).status).toBe(403);
    expect((await c.get("/rules/replay")).status).toBe(403);
    expect((await c.post("/rules/replay", { _csrf: c.csrf, candidate: "rules: []", days: "7" })).status).toBe(403);
    expect(h.queue.calls).toEqual([]);
  });

  it("shows a viewer no queue action buttons and no original download", async () => {
    const c = await h.loggedIn("viewer");
    expect((await c.get("/queue")).body).not.toContain(`/queue/${ID1}/retry`);
    const detail = (await c.get(`/messages/${ID1}`)).body;
    expect(detail).not.toContain("/original");
    expect(detail).not.toContain(`/queue/${ID1}/retry`);
  });

  it("lets an operator confirm and retry, hold, release and delete, each recorded with the operator as actor", async () => {
    const c = await h.loggedIn("operator");
    const confirm = await c.get(`/queue/${ID1}/retry`);
    expect(confirm.status).toBe(200);
    expect(confirm.body).toContain(`action="/queue/${ID1}/retry"`);
    const res = await c.post(`/queue/${ID1}/retry`, { _csrf: c.csrf });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/queue?done=retry&id=${ID1}`);
    await c.get(`/queue/${ID2}/release`);
    expect((await c.post(`/queue/${ID2}/release`, { _csrf: c.csrf })).status).toBe(303);
    h.queue.add({ id: ID1, state: "deferred" });
    await c.get(`/queue/${ID1}/hold`);
    expect((await c.post(`/queue/${ID1}/hold`, { _csrf: c.csrf, reason: "checking with sender" })).status).toBe(303);
    await c.get(`/queue/${ID1}/delete`);
    expect((await c.post(`/queue/${ID1}/delete`, { _csrf: c.csrf })).status).toBe(303);
    expect(h.queue.calls).toEqual([
      `retry ${ID1} admin:operator`,
      `release ${ID2} admin:operator`,
      `hold ${ID1} admin:operator checking with sender`,
      `delete ${ID1} admin:operator`,
    ]);
    const actions = h.audit.ofType("admin").map((e) => [e.actor, e.auditId, e.data.action]);
    expect(actions).toEqual([
      ["admin:operator", ID1, "queue-retry"],
      ["admin:operator", ID2, "queue-release"],
      ["admin:operator", ID1, "queue-hold"],
      ["admin:operator", ID1, "queue-delete"],
    ]);
  });

  it("refuses an operator the originals and account management", async () => {
    const c = await h.loggedIn("operator");
    for (const url of ADMIN_PAGES) expect((await c.get(url)).status, url).toBe(403);
  });

  it("gives an administrator no direct download of an original: it is asked for (see console-releases.test.ts)", async () => {
    const c = await h.loggedIn("admin");
    expect((await c.get(`/messages/${ID1}/original`)).status).toBe(404);
    expect((await c.get(`/messages/${ID1}`)).body).toContain(`href="/messages/${ID1}/release"`);
  });

  it("lets an administrator add and remove accounts, and a removed account's session ends at once", async () => {
    const a = await h.loggedIn("admin");
    expect((await a.get("/users")).status).toBe(200);
    expect((await a.post("/users", { _csrf: a.csrf, name: "tanaka", role: "viewer", password: "short" })).status).toBe(400);
    expect((await a.post("/users", { _csrf: a.csrf, name: "tanaka", role: "viewer", password: PASSWORD })).status).toBe(303);
    const tanaka = h.client();
    expect((await tanaka.login("tanaka", PASSWORD)).status).toBe(303);
    expect((await tanaka.get("/messages")).status).toBe(200);
    await a.get("/users/tanaka/remove");
    expect((await a.post("/users/tanaka/remove", { _csrf: a.csrf })).status).toBe(303);
    expect((await tanaka.get("/messages")).status).toBe(303);
    expect((await a.get("/users/admin/remove")).status).toBe(409); // not yourself
  });

  it("ends the sessions of an account whose password was changed from the command line", async () => {
    const v = await h.loggedIn("viewer");
    expect((await v.get("/messages")).status).toBe(200);
    const store = openUserStore(h.dataDir, { cost: TEST_COST });
    await store.setPassword("viewer", "a new password after a leak");
    store.close();
    expect((await v.get("/messages")).status).toBe(303);
    const again = h.client();
    expect((await again.login("viewer", "a new password after a leak")).status).toBe(303);
    expect((await again.get("/messages")).status).toBe(200);
  });

  it("answers 404 for an id that is not an audit id, without touching the stores", async () => {
    const c = await h.loggedIn("admin");
    expect((await c.get("/messages/..%2F..%2Fetc%2Fpasswd")).status).toBe(404);
    expect((await c.get("/messages/..%2F..%2Fetc%2Fpasswd/release")).status).toBe(404);
    expect((await c.get(`/queue/${ID1}/explode`)).status).toBe(404);
  });
});

describe("CSRF", () => {
  it("refuses a state-changing POST without a token, with a wrong token, or from another origin", async () => {
    const c = await h.loggedIn("operator");
    expect((await c.post(`/queue/${ID1}/retry`, {})).status).toBe(403);
    expect((await c.post(`/queue/${ID1}/retry`, { _csrf: "A".repeat(43) })).status).toBe(403);
    expect((await c.post(`/queue/${ID1}/retry`, { _csrf: c.csrf }, { origin: "http://evil.example" })).status).toBe(403);
    expect((await c.post(`/queue/${ID1}/retry`, { _csrf: c.csrf }, { "sec-fetch-site": "cross-site" })).status).toBe(403);
    const other = await h.loggedIn("operator");
    expect((await c.post(`/queue/${ID1}/retry`, { _csrf: other.csrf })).status).toBe(403); // another session's token
    expect((await c.post("/logout", {})).status).toBe(403);
    expect(h.queue.calls).toEqual([]);
    expect((await c.post(`/queue/${ID1}/retry`, { _csrf: c.csrf }, { origin: "http://localhost:80" })).status).toBe(303);
  });

  it("accepts form bodies only: a JSON body carrying the token is refused", async () => {
    const c = await h.loggedIn("operator");
    const res = await h.app.inject({
      method: "POST",
      url: `/queue/${ID1}/retry`,
      payload: JSON.stringify({ _csrf: c.csrf }),
      headers: { "content-type": "application/json", cookie: [...c.cookies].map(([k, v]) => `${k}=${v}`).join("; ") },
    });
    expect(res.statusCode).toBe(415);
    expect(h.queue.calls).toEqual([]);
  });

  it("refuses a login POST without the login form's token", async () => {
    const c = h.client();
    await c.get("/login");
    const res = await c.post("/login", { username: "admin", password: PASSWORD });
    expect(res.status).toBe(403);
    expect(c.cookies.size).toBe(1);
    expect((await c.get("/")).status).toBe(303);
  });
});

describe("login", () => {
  it("records logins and failed logins in the audit trail with the account as actor", async () => {
    const c = h.client();
    expect((await c.login("admin", "wrong password!!")).status).toBe(401);
    expect((await c.login("nobody", "wrong password!!")).status).toBe(401);
    expect((await c.login("admin", PASSWORD)).status).toBe(303);
    expect(h.audit.ofType("login-failed").map((e) => [e.actor, e.data.reason])).toEqual([
      ["admin:admin", "bad-password"],
      ["admin:nobody", "unknown-user"],
    ]);
    expect(h.audit.ofType("login").map((e) => e.actor)).toEqual(["admin:admin"]);
  });

  it("gives a new session id at login, so a planted pre-login cookie is worthless", async () => {
    const c = h.client();
    await c.get("/login");
    const before = c.cookies.get("mumuka_session");
    await c.post("/login", { _csrf: c.csrf, username: "viewer", password: PASSWORD });
    expect(c.cookies.get("mumuka_session")).not.toBe(before);
    const planted = h.client();
    planted.cookies.set("mumuka_session", before!);
    expect((await planted.get("/")).status).toBe(303);
  });

  it("sets the session cookie HttpOnly and SameSite=Strict (Secure only under TLS)", async () => {
    const c = h.client();
    const res = await c.get("/login");
    const cookie = String(res.headers["set-cookie"]);
    expect(cookie).toMatch(/^mumuka_session=[A-Za-z0-9_-]{43}; Path=\/; SameSite=Strict; HttpOnly$/);
  });

  it("never redirects after login to another site", async () => {
    for (const next of ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]) {
      const c = h.client();
      const res = await c.login("viewer", PASSWORD, { next });
      expect(res.headers.location, next).toBe("/");
    }
    const c = h.client();
    expect((await c.login("viewer", PASSWORD, { next: "/queue" })).headers.location).toBe("/queue");
  });

  it("logs out: the session no longer works and the event is recorded", async () => {
    const c = await h.loggedIn("viewer");
    const old = new Map(c.cookies);
    const res = await c.post("/logout", { _csrf: c.csrf });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/login?bye=1");
    const replay = h.client();
    replay.cookies = old;
    expect((await replay.get("/")).status).toBe(303);
    expect(h.audit.ofType("admin").at(-1)).toMatchObject({ actor: "admin:viewer", data: { action: "logout" } });
  });
});

describe("rate limiting", () => {
  it("locks an account after 5 failed passwords, even for the right password, for 15 minutes", async () => {
    const c = h.client();
    for (let i = 0; i < 5; i++) expect((await c.login("admin", `wrong password ${i}`)).status).toBe(401);
    expect((await c.login("admin", PASSWORD)).status).toBe(429);
    expect((await h.client().login("viewer", PASSWORD)).status).toBe(303); // other accounts unaffected
    expect(h.audit.ofType("login-failed").at(-1)!.data.rateLimited).toBe("account");
    h.clock.now += 15 * 60_000 + 1;
    expect((await c.login("admin", PASSWORD)).status).toBe(303);
  });

  it("blocks a client address after 20 failures across accounts", async () => {
    const c = h.client();
    for (let i = 0; i < 20; i++) expect((await c.login(`user${i}`, "wrong password!!")).status).toBe(401);
    expect((await c.login("viewer", PASSWORD)).status).toBe(429);
  });
});

describe("sessions", () => {
  it("ends a session after admin.sessionMinutes without a request, and keeps an active one alive", async () => {
    const c = await h.loggedIn("viewer");
    h.clock.now += 29 * 60_000;
    expect((await c.get("/messages")).status).toBe(200);
    h.clock.now += 29 * 60_000;
    expect((await c.get("/messages")).status).toBe(200);
    h.clock.now += 30 * 60_000 + 1;
    const res = await c.get("/messages");
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/login?next=%2Fmessages");
  });
});

describe("escaping", () => {
  it("shows a script subject and an HTML file name as text in search and detail, never as markup", async () => {
    const c = await h.loggedIn("admin");
    for (const url of [`/messages?subject=${encodeURIComponent(XSS_SUBJECT)}`, `/messages/${ID1}`, "/queue"]) {
      const body = (await c.get(url)).body;
      expect(body, url).not.toContain("<script");
      expect(body, url).not.toContain("<img");
      expect(body, url).not.toContain("<b>CEO");
      expect(body, url).not.toContain("<try later>");
    }
    const detail = (await c.get(`/messages/${ID1}`)).body;
    expect(detail).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(detail).toContain("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;.pdf");
    expect(detail).toContain("ab".repeat(32));
    expect(detail).toContain("451 4.3.0 &lt;try later&gt;");
    expect(detail).toContain("本文 &lt;script&gt;alert(3)&lt;/script&gt;");
    const search = (await c.get(`/messages?subject=${encodeURIComponent(XSS_SUBJECT)}`)).body;
    expect(search).toContain('value="&lt;script&gt;alert(1)&lt;/script&gt;"');
    expect(search).toContain("1 件");
  });

  it("makes a right-to-left override in a file name visible instead of obeying it", async () => {
    h.audit.addMessage(
      { auditId: ID2, receivedAt: "2026-11-26T02:00:00Z", mailFrom: "x@example.com", headerFrom: "x@example.com", rcptTo: ["a@city.lg.jp"], subject: "請求書", status: "delivered", size: 10, attachmentsRemoved: 1 },
      [{ type: "sanitized", data: { attachments: [{ filename: "invoice\u202Efdp.exe", contentType: "application/pdf", sha256: "00", size: 1 }] } }],
    );
    const c = await h.loggedIn("viewer");
    const body = (await c.get(`/messages/${ID2}`)).body;
    expect(body).not.toContain("\u202E");
    expect(body).toContain("invoice&lt;U+202E&gt;fdp.exe");
  });

  it("sends the strict security headers on every page, including errors", async () => {
    const c = h.client();
    for (const url of ["/login", "/nope", "/static/console.css", "/healthz"]) {
      const res = await c.get(url);
      expect(res.headers["content-security-policy"], url).toBe(CSP);
      expect(res.headers["x-content-type-options"]).toBe("nosniff");
      expect(res.headers["referrer-policy"]).toBe("same-origin");
    }
    const page = (await c.get("/login")).body;
    expect(page).not.toMatch(/<script|style=|\son[a-z]+=/i);
  });
});

describe("language", () => {
  it("never links off the console from a crafted path (dot segments that leave a // path)", async () => {
    // over a real socket: inject() would normalise the path before the console sees it
    await h.app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = h.app.server.address() as AddressInfo;
    for (const url of ["/.//evil.example/x", "/a/..//evil.example", "/%2e//evil.example"]) {
      const body = await new Promise<string>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port, path: url }, (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (text += d));
          res.on("end", () => resolve(text));
        });
        req.on("error", reject);
        req.end();
      });
      expect(body).toContain('class="lang"');
      expect(body).not.toMatch(/href="\/\//);
    }
  });

  it("speaks Japanese by default and English after ?lang=en, remembered in a cookie", async () => {
    const c = await h.loggedIn("viewer");
    expect((await c.get("/queue")).body).toContain("再送待ち・保留中のメール");
    expect((await c.get("/queue?lang=en")).body).toContain("Deferred and held messages");
    expect((await c.get("/queue")).body).toContain("Deferred and held messages");
    expect((await c.get("/?lang=ja")).body).toContain("ダッシュボード");
  });
});

describe("health and metrics", () => {
  it("serves /healthz as JSON: 200 when healthy, 503 when a check fails", async () => {
    const res = await h.client().get("/healthz");
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).ok).toBe(true);
    const sick = await createHarness({ health: async () => ({ ok: false, checks: { spool: { ok: false, detail: "EROFS" } } }) });
    try {
      const bad = await sick.client().get("/healthz");
      expect(bad.status).toBe(503);
      expect(JSON.parse(bad.body).checks.spool.detail).toBe("EROFS");
    } finally {
      await sick.close();
    }
  });

  it("serves Prometheus metrics without login", async () => {
    const res = await h.client().get("/metrics");
    expect(res.status).toBe(200);
    expect(res.body).toContain("mumuka_messages_total");
    expect(res.body).toContain("mumuka_queue_depth");
  });
});

describe("dashboard", () => {
  it("shows today's and this week's counts, the queue depth and a broken audit chain", async () => {
    const today = new Date(h.clock.now + 9 * 3600_000).toISOString().slice(0, 10);
    h.audit.counts = [{ day: today, received: 1234, delivered: 1200, attachmentsRemoved: 321, held: 2, deferred: 5, bounced: 1, rejected: 0 }];
    h.audit.chain = { ok: false, checked: 99, firstBad: { seq: 42, reason: "hash mismatch" } };
    const c = await h.loggedIn("viewer");
    const body = (await c.get("/")).body;
    expect(body).toContain(`今日（${today}）`);
    expect(body).toContain("1,234");
    expect(body).toContain("321");
    expect(body).toMatch(/再送待ち<\/a><\/dt><dd>1<\/dd>/); // queue depth: one deferred in the seeded queue
    expect(body).toContain("seq 42: hash mismatch");
    expect(body).toContain('<span class="pill bad">異常</span>');
    expect(body).toMatch(/<svg [^>]*role="img"/);
  });
});

describe("search paging", () => {
  it("pages results by 50 with links that keep the search terms", async () => {
    for (let i = 0; i < 120; i++) {
      const id = `20261125T${String(100000 + i).slice(-6)}Z-ABCDEFGHJKMNPQRS`;
      h.audit.addMessage(
        { auditId: id, receivedAt: new Date(Date.UTC(2026, 10, 25, 0, 0, i)).toISOString(), mailFrom: "bulk@example.jp", headerFrom: "bulk@example.jp", rcptTo: ["a@city.lg.jp"], subject: `お知らせ ${i}`, status: "delivered", size: 10, attachmentsRemoved: 0 },
        [],
      );
    }
    const c = await h.loggedIn("viewer");
    const first = (await c.get("/messages?from=bulk%40example.jp")).body;
    expect(first).toContain("120 件");
    expect(first).toContain("ページ 1 / 3");
    expect(first.match(/<tr>/g)!.length).toBe(51); // header + 50 rows
    expect(first).toContain('href="/messages?from=bulk%40example.jp&amp;page=2"');
    const third = (await c.get("/messages?from=bulk%40example.jp&page=3")).body;
    expect(third.match(/<tr>/g)!.length).toBe(21);
    expect(third).toContain("お知らせ 0<");
    expect(third).not.toContain(">次へ");
  });
});

describe("the replay page (この変更で何が変わるか)", () => {
  it("is reachable by an operator from the rules page, and runs the candidate through the gateway's replay", async () => {
    await h.close();
    const calls: string[] = [];
    const replay = Object.assign(
      async (candidate: string) => {
        calls.push(candidate);
        return { problems: [{ line: 1, column: 1, message: "候補は検証されました(テストの置き換え)" }] };
      },
      { busy: false },
    );
    h = await createHarness({ rulesReplay: replay as never });
    const c = await h.loggedIn("operator");
    expect((await c.get("/rules")).body).toContain('href="/rules/replay"');
    const page = await c.get("/rules/replay");
    expect(page.status).toBe(200);
    const res = await c.post("/rules/replay", { _csrf: c.csrf, candidate: "rules: []\n", days: "7", limit: "10" });
    expect(res.status).toBeLessThan(500);
    expect(calls).toEqual(["rules: []\n"]);
  });
});
