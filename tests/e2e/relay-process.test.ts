import { readdir, writeFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { startDownstream } from "../helpers/relay-downstream.ts";
import { plainMessage, sendRaw, tempDir, waitFor } from "../helpers/relay-helpers.ts";
import { spawnGateway, writeConfig, type GatewayProcess } from "../helpers/relay-process.ts";

const children: GatewayProcess[] = [];
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill("SIGKILL");
  for (const s of stops.splice(0)) await s();
});

async function setup(extraYaml: string[] = []) {
  const down = await startDownstream();
  stops.push(() => down.stop());
  const dir = await tempDir("mumuka-e2e-");
  const config = await writeConfig(
    dir,
    [
      `dataDir: ${dir}/data`,
      "smtp:",
      "  host: 127.0.0.1",
      "  port: 0",
      "  clients: [127.0.0.1/32]",
      "  recipientDomains: [city.example.lg.jp]",
      "delivery:",
      "  mode: smtp",
      "  host: 127.0.0.1",
      `  port: ${down.port}`,
      "  retryFirstSeconds: 1",
      "  retryMaxSeconds: 2",
      // info: the test reads the bound ports from the "listening" lines
      "log: { level: info, format: json }",
      // the console has its own tests; here it would only compete for port 8025
      ...(extraYaml.some((l) => l.startsWith("admin:")) ? [] : ["admin: { enabled: false }"]),
      ...extraYaml,
      "",
    ].join("\n"),
  );
  const admin = extraYaml.some((l) => l.startsWith("admin:"));
  const start = async () => {
    const g = await spawnGateway(config, { admin });
    children.push(g);
    return g;
  };
  const idsDelivered = () => new Set(down.received.map((m) => /^X-Mumuka-Id: (\S+)/m.exec(m.raw.toString("latin1"))?.[1]));
  return { down, dir, start, idsDelivered };
}

describe("the gateway process", () => {
  it("reloads the rules on SIGHUP", async () => {
    const rulesDir = await tempDir("mumuka-rules-");
    const rulesFile = `${rulesDir}/rules.yaml`;
    await writeFile(rulesFile, "rules: []\n");
    const { start, down } = await setup(["rules:", `  file: ${rulesFile}`, "  watch: false"]);
    const g = await start();
    const port = g.port;
    await sendRaw({ port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage("before") });
    await waitFor(() => down.received.length === 1, 15000, "first delivery");
    expect(down.received[0]!.raw.toString("latin1")).toMatch(/^Subject: before\r$/m);
    await writeFile(rulesFile, 'rules:\n  - name: tag-all\n    when: { mail_from: "*" }\n    then: { subject_tag: "[EXT]" }\n');
    g.child.kill("SIGHUP");
    // no file watching: only the signal can have loaded the new rules
    await waitFor(async () => {
      await sendRaw({ port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage("after") });
      await waitFor(() => down.received.length >= 2, 15000, "delivery");
      return down.received.some((m) => /^Subject: \[EXT\] after\r$/m.test(m.raw.toString("latin1")));
    }, 20000, "a tagged subject after SIGHUP");
  });

  it("delivers every acknowledged message after a SIGKILL in the middle of a stream", async () => {
    const { start, idsDelivered, dir, down } = await setup();
    const first = await start();
    const port = first.port;
    const acked: string[] = [];
    let stop = false;
    // four concurrent senders, like an MTA's delivery agents
    const sender = async (n: number) => {
      for (let i = 0; !stop; i++) {
        try {
          const r = await sendRaw({ port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage(`kill-${n}-${i}`, "x\r\n".repeat(200)) });
          const id = /queued as (\S+)/.exec(r.response)?.[1];
          if (id) acked.push(id);
        } catch {
          // refused or cut by the kill: never acknowledged, the client keeps it
          if (first.child.exitCode !== null || first.child.signalCode !== null) return;
        }
      }
    };
    const senders = [0, 1, 2, 3].map(sender);
    await waitFor(() => acked.length >= 20, 30000, "20 acknowledged messages");
    // the downstream goes away, so that the kill finds messages in incoming/, active/ and deferred/
    await down.stop();
    await waitFor(() => acked.length >= 40, 30000, "40 acknowledged messages");
    first.child.kill("SIGKILL");
    await first.exited;
    stop = true;
    await Promise.all(senders);
    const ackedAtKill = [...acked];
    expect(ackedAtKill.length).toBeGreaterThanOrEqual(40);
    const deliveredBeforeKill = idsDelivered();
    expect(ackedAtKill.filter((id) => !deliveredBeforeKill.has(id)).length).toBeGreaterThanOrEqual(15);

    await down.start();
    await start();
    await waitFor(() => ackedAtKill.every((id) => idsDelivered().has(id)), 30000, "every acknowledged message delivered after restart");
    await waitFor(async () => (await readdir(`${dir}/data/spool/incoming`)).length === 0 && (await readdir(`${dir}/data/spool/active`)).length === 0, 10000, "spool drained");
    expect(await readdir(`${dir}/data/spool/corrupt`)).toEqual([]);
  });

  it("serves /healthz and /metrics on the admin listener, counting delivered messages", async () => {
    const { start, down } = await setup(["admin: { host: 127.0.0.1, port: 0 }"]);
    const g = await start();
    const port = g.port;
    const adminPort = g.adminPort!;
    await waitFor(async () => (await fetch(`http://127.0.0.1:${adminPort}/healthz`).catch(() => undefined))?.ok, 15000, "admin listener");
    const health = (await (await fetch(`http://127.0.0.1:${adminPort}/healthz`)).json()) as { ok: boolean };
    expect(health.ok).toBe(true);
    await sendRaw({ port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage("metrics") });
    await waitFor(() => down.received.length === 1, 15000, "delivery");
    await waitFor(async () => /mumuka_messages_total\{outcome="delivered"\} 1\b/.test(await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text()), 5000, "delivered counter");
  });

  it("on SIGTERM stops accepting, finishes what is in flight and exits with code 0", async () => {
    const { start, idsDelivered, down } = await setup();
    const g = await start();
    const port = g.port;
    const r = await sendRaw({ port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage("term") });
    const id = /queued as (\S+)/.exec(r.response)![1]!;
    g.child.kill("SIGTERM");
    const { code } = await g.exited;
    expect(code).toBe(0);
    await expect(sendRaw({ port, from: "a@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage("after") })).rejects.toThrow();
    // delivered before exit, or kept in the spool and delivered by the next start
    if (!idsDelivered().has(id)) {
      await start();
      await waitFor(() => idsDelivered().has(id), 15000, "delivery after restart");
    }
    expect(down.received.length).toBeGreaterThanOrEqual(1);
  });
});
