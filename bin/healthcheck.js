#!/usr/bin/env node
// The container's health check (Dockerfile HEALTHCHECK), usable by any
// supervisor: exit 0 when the running gateway answers, 1 otherwise, with one
// line saying what was checked (Docker keeps it: docker inspect mumuka).
//
//   node bin/healthcheck.js [CONFIG]     (default: $MUMUKA_CONFIG, else /etc/mumuka/mumuka.yaml)
//
// It reads the same configuration as the gateway, so it follows the ports:
//  - admin.enabled (the default): GET /healthz on the admin listener — the
//    spool is writable and the audit store answers (200; 503 otherwise);
//  - admin.enabled: false: the SMTP listener answers with a greeting (220, or
//    554 when the configuration does not admit loopback: the gateway is up).
// A wildcard listen address (0.0.0.0, ::) is probed on loopback. The admin
// console's own certificate is not checked (this probes our own process).
//
// No untrusted input (the gateway's own reply, only its status is read); no state.
import { existsSync } from "node:fs";
import { connect } from "node:net";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const configFile = process.argv[2] ?? process.env.MUMUKA_CONFIG ?? "/etc/mumuka/mumuka.yaml";
const TIMEOUT_MS = 4000;

function probeHost(host) {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "::1";
  return host;
}

async function admin(config) {
  const host = probeHost(config.admin.host);
  const scheme = config.admin.tls ? "https" : "http";
  const { request } = await import(`node:${scheme}`);
  return new Promise((resolve) => {
    const req = request(
      { host, port: config.admin.port, path: "/healthz", method: "GET", timeout: TIMEOUT_MS, rejectUnauthorized: false },
      (res) => {
        res.resume();
        resolve({ ok: res.statusCode === 200, what: `${scheme}://${host}:${config.admin.port}/healthz → ${res.statusCode}` });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on("error", (error) => resolve({ ok: false, what: `${scheme}://${host}:${config.admin.port}/healthz: ${error.message}` }));
    req.end();
  });
}

function smtp(config) {
  const host = probeHost(config.smtp.host);
  const where = `smtp ${host}:${config.smtp.port}`;
  return new Promise((resolve) => {
    const socket = connect({ host, port: config.smtp.port });
    let reply = "";
    const done = (result) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(TIMEOUT_MS, () => done({ ok: false, what: `${where}: no greeting within ${TIMEOUT_MS} ms` }));
    socket.on("error", (error) => done({ ok: false, what: `${where}: ${error.message}` }));
    socket.on("data", (chunk) => {
      reply += chunk.toString("latin1");
      if (reply.length > 512 || reply.includes("\n")) {
        const code = reply.slice(0, 3);
        socket.end("QUIT\r\n");
        done({ ok: code === "220" || code === "554", what: `${where} → ${code}` });
      }
    });
  });
}

let result;
try {
  const source = path.join(root, "src", "config", "load.ts");
  const entry = existsSync(source) ? source : path.join(root, "dist", "config", "load.js");
  const { loadConfig } = await import(pathToFileURL(entry).href);
  const config = loadConfig(configFile);
  result = config.admin.enabled ? await admin(config) : await smtp(config);
} catch (error) {
  result = { ok: false, what: `${configFile}: ${error.message.split("\n")[0]}` };
}
process.stdout.write(`${result.ok ? "healthy" : "UNHEALTHY"}: ${result.what}\n`);
process.exitCode = result.ok ? 0 : 1;
