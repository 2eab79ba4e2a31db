/**
 * The class of replies fastify and Node's HTTP parser give before the
 * console's hooks run: every malformed request below is sent raw over a
 * socket (inject cannot send a broken request line, headers over Node's limit
 * or a bad chunk), and each reply must be the console's own: its security
 * headers, its HTML error page, no framework JSON, stack trace or internal
 * detail; the ones that are refusals are in the audit trail.
 */
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CSP } from "../../src/admin/server.ts";
import { createHarness, type Harness } from "./harness.ts";

interface Raw {
  status: number;
  headers: Record<string, string>;
  body: string;
}

let h: Harness;
let port: number;

beforeAll(async () => {
  h = await createHarness();
  await h.app.listen({ host: "127.0.0.1", port: 0 });
  port = (h.app.server.address() as AddressInfo).port;
});
afterAll(async () => {
  await h.close();
});

/** Sends bytes as they are and reads the reply until the server closes the connection. */
function raw(request: string | Buffer): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, "127.0.0.1", () => socket.end(request));
    socket.on("data", (d) => chunks.push(d));
    const done = () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const split = text.indexOf("\r\n\r\n");
      if (split < 0) return reject(new Error(`no reply: ${JSON.stringify(text.slice(0, 200))}`));
      const [statusLine, ...lines] = text.slice(0, split).split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(":");
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine!.split(" ")[1]), headers, body: text.slice(split + 4) });
    };
    socket.on("close", done);
    socket.on("error", () => {}); // the server may close before reading all of a refused body: read what it said
  });
}

const closeHeaders = "Host: 127.0.0.1\r\nConnection: close\r\n";
const get = (target: string, extra = "") => `GET ${target} HTTP/1.1\r\n${closeHeaders}${extra}\r\n`;
const post = (target: string, type: string | undefined, body: string, extra = "") =>
  `POST ${target} HTTP/1.1\r\n${closeHeaders}${type ? `Content-Type: ${type}\r\n` : ""}Content-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

/** Each malformed request: what it is, the bytes, the status, and the refusal reason it is audited under (or none). */
const MALFORMED: { what: string; request: string; status: number; refusal?: string }[] = [
  { what: "a path parameter over 100 characters", request: get(`/messages/${"A".repeat(120)}`), status: 414, refusal: "uri-too-long" },
  { what: "a broken percent-encoding in the path", request: get("/messages/%E0%A4%A"), status: 400 },
  { what: "an invalid percent escape in the path", request: get("/queue/%ZZ/retry"), status: 400 },
  { what: "an unknown page", request: get("/wp-login.php"), status: 404 },
  { what: "a method no route has", request: `DELETE /queue HTTP/1.1\r\n${closeHeaders}\r\n`, status: 404 },
  { what: "a form body over 64 KiB", request: post("/login", "application/x-www-form-urlencoded", `a=${"x".repeat(70_000)}`), status: 413, refusal: "body-too-large" },
  { what: "a JSON body that does not even parse", request: post("/login", "application/json", '{"username": '), status: 415, refusal: "unsupported-media-type" },
  { what: "a multipart body", request: post("/login", "multipart/form-data; boundary=x", "--x--\r\n"), status: 415, refusal: "unsupported-media-type" },
  { what: "a body without a content type", request: post("/login", undefined, "username=a"), status: 415, refusal: "unsupported-media-type" },
  { what: "a request line that is not HTTP", request: "HELLO THERE\r\n\r\n", status: 400 },
  { what: "headers over Node's limit", request: get("/queue", `X-Filler: ${"a".repeat(20_000)}\r\n`), status: 431, refusal: "headers-too-large" },
  { what: "a control character in a header value", request: get("/", "X-Bad: a\u0001b\r\n"), status: 400 },
  { what: "a Content-Length that is not a number", request: `POST /login HTTP/1.1\r\n${closeHeaders}Content-Length: 12abc\r\n\r\n`, status: 400 },
  {
    what: "a broken chunked body",
    request: `POST /login HTTP/1.1\r\n${closeHeaders}Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n`,
    status: 400,
  },
  {
    what: "Content-Length and Transfer-Encoding together (request smuggling)",
    request: `POST /login HTTP/1.1\r\n${closeHeaders}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    status: 400,
  },
];

const refusals = () => h.audit.events.filter((e) => e.data.action === "refused");

describe("malformed requests get the console's own reply", () => {
  it.each(MALFORMED)("$what → $status, with the security headers and the Japanese error page", async ({ request, status, refusal }) => {
    const before = refusals().length;
    const res = await raw(request);
    expect(res.status).toBe(status);
    expect(res.headers["content-security-policy"]).toBe(CSP);
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(res.headers["x-frame-options"]).toBe("DENY");
    expect(res.headers["referrer-policy"]).toBe("same-origin");
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(res.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(res.body).toMatch(/^<!doctype html>\n<html lang="ja">/);
    expect(res.body).toContain(`<h1>${status}</h1>`);
    expect(res.body).toContain('class="notice error"');
    // nothing of the framework: no JSON error, no code, no stack, no file
    expect(res.body).not.toMatch(/FST_|statusCode|"error"|node_modules|\.ts:\d|\n\s+at /);
    const added = refusals().slice(before);
    if (refusal) {
      expect(added.map((e) => [e.data.reason, e.data.status, e.data.ip])).toEqual([[refusal, status, "127.0.0.1"]]);
    } else {
      expect(added).toEqual([]);
    }
  });

  it("never echoes the refused path outside an escaped link (the old 414 reply echoed it raw)", async () => {
    const res = await raw(get(`/messages/${"<script>".repeat(20)}`));
    expect(res.status).toBe(414);
    expect(res.body).not.toContain("<script>");
  });

  it("speaks English on an early error when the language was chosen, and names the logged-in account in the record", async () => {
    const operator = await h.loggedIn("operator");
    const cookie = [...operator.cookies, ["mumuka_lang", "en"]].map(([k, v]) => `${k}=${v}`).join("; ");
    const before = refusals().length;
    const res = await raw(get(`/messages/${"A".repeat(120)}`, `Cookie: ${cookie}\r\n`));
    expect(res.status).toBe(414);
    expect(res.body).toContain('<html lang="en">');
    expect(res.body).toContain("The URL is too long.");
    expect(refusals().slice(before).map((e) => [e.actor, e.data.reason])).toEqual([["admin:operator", "uri-too-long"]]);
    const bad = await raw(get("/messages/%E0%A4%A?lang=en"));
    expect(bad.status).toBe(400);
    expect(bad.body).toContain("Bad request.");
  });
});
