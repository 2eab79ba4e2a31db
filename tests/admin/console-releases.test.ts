/**
 * The console's release pages over HTTP (fastify inject), with the real
 * release store and the real originals store: who may ask, decide, list and
 * download, each refusal's status, the CSRF check on every step (the download
 * included: a cross-site form cannot use it up), and what each list shows to
 * whom.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { originalsSchema } from "../../src/config/schema.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { openOriginals } from "../../src/originals/index.ts";
import { createReleaseDesk } from "../../src/originals/release-desk.ts";
import { openReleaseStore, type ReleaseStore } from "../../src/originals/release-store.ts";
import { writeSpoolRecord } from "../helpers/spool-record.ts";
import { MemoryAudit } from "./doubles.ts";
import { createHarness, type Client, type Harness } from "./harness.ts";

const raw = "From: a@example.jp\r\nSubject: <script>alert(1)</script>\r\n\r\nbody\r\n";

let h: Harness;
let dir: string;
let store: ReleaseStore;
let audit: MemoryAudit;
let id: string;

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "mumuka-console-releases-"));
  store = openReleaseStore(dir);
  audit = new MemoryAudit();
  const originals = openOriginals({ config: originalsSchema.parse({}), dataDir: dir, audit });
  id = newAuditId();
  writeSpoolRecord(path.join(dir, "seed"), id, raw);
  await originals.retire(id, path.join(dir, "seed"));
  h = await createHarness({ audit, releases: createReleaseDesk({ store, originals, audit, config: originalsSchema.parse({}).release }) });
});
afterEach(async () => {
  await h.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** asks for the original as `c`; resolves to the request id */
async function ask(c: Client, reason = "INC-1"): Promise<string> {
  await c.get(`/messages/${id}/release`);
  const res = await c.post(`/messages/${id}/release`, { _csrf: c.csrf, reason });
  expect(res.status, res.body).toBe(303);
  return /req=(R-[^&]+)/.exec(String(res.headers.location))![1]!;
}

describe("release pages", () => {
  it("gives a viewer neither the request form nor the list", async () => {
    const c = await h.loggedIn("viewer");
    expect((await c.get(`/messages/${id}/release`)).status).toBe(403);
    expect((await c.get("/releases")).status).toBe(403);
    expect((await c.get(`/messages/${id}`)).body).not.toContain("/release");
  });

  it("refuses a request without a reason, keeps the form, and records nothing", async () => {
    const c = await h.loggedIn("operator");
    await c.get(`/messages/${id}/release`);
    const res = await c.post(`/messages/${id}/release`, { _csrf: c.csrf, reason: " \t " });
    expect(res.status).toBe(400);
    expect(res.body).toContain("理由を入力してください");
    expect(store.list(10)).toEqual([]);
  });

  it("needs the CSRF token for asking, deciding and downloading", async () => {
    const operator = await h.loggedIn("operator");
    const request = await ask(operator);
    const admin = await h.loggedIn("admin");
    expect((await admin.post(`/releases/${request}/approve`, { _csrf: "forged" })).status).toBe(403);
    expect(store.get(request)!.status).toBe("open");
    await admin.get("/releases");
    expect((await admin.post(`/releases/${request}/approve`, { _csrf: admin.csrf })).status).toBe(303);
    expect((await operator.post(`/releases/${request}/download`, { _csrf: "forged" })).status).toBe(403);
    expect(store.get(request)!.downloadsUsed).toBe(0);
    await operator.get("/releases");
    const ok = await operator.post(`/releases/${request}/download`, { _csrf: operator.csrf });
    expect(ok.status).toBe(200);
    expect(ok.headers["content-disposition"]).toBe(`attachment; filename="${id}.eml"`);
    expect(ok.body).toBe(raw);
  });

  it("lets only an administrator decide, never their own request, and shows operators only their own requests", async () => {
    const operator = await h.loggedIn("operator");
    const request = await ask(operator, "依頼 <b>42</b>");
    expect((await operator.post(`/releases/${request}/approve`, { _csrf: operator.csrf })).status).toBe(403);

    const admin = await h.loggedIn("admin");
    const own = await ask(admin, "管理者自身の申請");
    const self = await admin.post(`/releases/${own}/approve`, { _csrf: admin.csrf });
    expect(self.status).toBe(409);
    expect(self.body).toContain("自分の申請は承認・却下できません");

    const list = (await admin.get("/releases")).body;
    expect(list).toContain(request);
    expect(list).toContain("依頼 &lt;b&gt;42&lt;/b&gt;");
    expect(list).toContain(`action="/releases/${request}/approve"`);
    expect(list).not.toContain(`action="/releases/${own}/approve"`);
    const mine = (await operator.get("/releases")).body;
    expect(mine).toContain(request);
    expect(mine).not.toContain(own);

    const refused = await admin.post(`/releases/${request}/refuse`, { _csrf: admin.csrf, note: "" });
    expect(refused.status).toBe(409);
    expect((await admin.post(`/releases/${request}/refuse`, { _csrf: admin.csrf, note: "不要" })).status).toBe(303);
    const late = await operator.post(`/releases/${request}/download`, { _csrf: operator.csrf });
    expect(late.status).toBe(403);
    expect(late.body).toContain("却下されました");
    expect(audit.ofType("original-retrieved")).toEqual([]);
  });

  it("lets the requester cancel their open request (with the CSRF token), and nobody else", async () => {
    const operator = await h.loggedIn("operator");
    const request = await ask(operator, "INC-13");
    const mine = (await operator.get("/releases")).body;
    expect(mine).toContain(`action="/releases/${request}/cancel"`);
    expect((await operator.post(`/releases/${request}/cancel`, {})).status).toBe(403);
    const admin = await h.loggedIn("admin");
    expect((await admin.get("/releases")).body).not.toContain(`action="/releases/${request}/cancel"`);
    const other = await admin.post(`/releases/${request}/cancel`, { _csrf: admin.csrf });
    expect(other.status).toBe(409);
    expect(other.body).toContain("申請を取り消せるのは申請者本人だけです");
    const done = await operator.post(`/releases/${request}/cancel`, { _csrf: operator.csrf });
    expect(done.status).toBe(303);
    const after = (await operator.get(String(done.headers.location))).body;
    expect(after).toContain("申請を取り消しました。");
    expect(after).not.toContain(`action="/releases/${request}/cancel"`);
    expect((await admin.post(`/releases/${request}/approve`, { _csrf: admin.csrf })).status).toBe(409);
    expect(audit.events.filter((e) => e.data.action === "original-release-cancelled").map((e) => e.actor)).toEqual(["admin:operator"]);
  });

  it("answers 404 for ids that are not request or audit ids", async () => {
    const admin = await h.loggedIn("admin");
    await admin.get("/releases");
    expect((await admin.post("/releases/..%2F..%2Fetc/approve", { _csrf: admin.csrf })).status).toBe(404);
    expect((await admin.post("/releases/R-20261206-AAAAAAAA/approve", { _csrf: admin.csrf })).status).toBe(404);
    expect((await admin.get("/messages/not-an-id/release")).status).toBe(404);
  });
});
