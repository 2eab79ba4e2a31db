/**
 * The configuration means what it says: `delivery.host` is SMTP delivery, a
 * contradiction is refused in one line, every error of a file is reported at
 * once with where it is, likely mistakes are warned about, and every example
 * the documentation shows loads and does what its text says.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, loadConfigChecked, parseConfig } from "../../src/config/load.ts";
import { runCli } from "../helpers/run-cli.ts";

const REPO = path.resolve(import.meta.dirname, "../..");

async function configFile(text: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "mumuka-config-"));
  const file = path.join(dir, "mumuka.yaml");
  await writeFile(file, text);
  return file;
}

function errorLines(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message.split("\n");
  }
  throw new Error("no ConfigError");
}

describe("delivery: the file means what it says", () => {
  it("delivers over SMTP to delivery.host:delivery.port when those are all the file says", async () => {
    const file = await configFile("delivery:\n  host: lgwan-mta.city.example.lg.jp\n  port: 2526\n");
    const { delivery } = loadConfig(file);
    expect(delivery).toMatchObject({ mode: "smtp", host: "lgwan-mta.city.example.lg.jp", port: 2526 });
  });

  it("runs in directory mode into <dataDir>/outbox on the embedded defaults (no file), as the README's first command", () => {
    const config = loadConfig();
    expect(config.delivery.mode).toBe("directory");
    expect(config.delivery.directory).toBeUndefined(); // serve.ts: <dataDir>/outbox
    expect(config.dataDir).toBe(path.resolve("./data"));
  });

  it("refuses mode: directory together with a host, in one line naming the key", async () => {
    const file = await configFile("delivery:\n  mode: directory\n  host: lgwan-mta.city.example.lg.jp\n");
    expect(errorLines(() => loadConfig(file))).toEqual([`${file}:3:3: delivery.host: is an SMTP destination, but delivery.mode is directory: remove one of them`]);
  });

  it("refuses a host and a directory without a mode (which one was meant?)", () => {
    expect(errorLines(() => parseConfig({ delivery: { host: "mta.example", directory: "/srv/out" } }))).toEqual([
      "delivery.mode: missing, and both delivery.host (SMTP) and delivery.directory are set: say which one is meant",
    ]);
  });

  it("keeps the explicit modes as they were", () => {
    expect(parseConfig({ delivery: { mode: "smtp" } }).delivery).toMatchObject({ mode: "smtp", host: "127.0.0.1", port: 25 });
    expect(parseConfig({ delivery: { mode: "directory", directory: "/srv/out" } }).delivery).toMatchObject({ mode: "directory", directory: "/srv/out" });
  });
});

describe("every error at once, each with its key and place", () => {
  const broken = [
    "dataDir: ./data", //                         1
    "smtp:", //                                   2
    "  hots: 0.0.0.0", //                         3  unknown key
    '  port: "25"', //                            4  wrong type
    "delivery:", //                               5
    "  mode: directory", //                       6
    "  host: lgwan-mta.city.example.lg.jp", //    7  contradiction
    "  concurency: 4", //                         8  unknown key
    "sanitize:", //                               9
    "  links: maybe", //                          10 not one of the choices
    "admin:", //                                  11
    "  enabled: yes", //                          12 a string in YAML 1.2
    "",
  ].join("\n");

  it("config check: all of them, in file order, exit 2", async () => {
    const file = await configFile(broken);
    const r = await runCli(["config", "check", "-c", file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trim().split("\n");
    expect(lines[0]).toBe("mumuka: configuration error:");
    expect(lines.slice(1)).toEqual([
      `${file}:3:3: smtp.hots: unknown key (did you mean "host"?)`,
      `${file}:4:3: smtp.port: Invalid input: expected number, received string`,
      `${file}:7:3: delivery.host: is an SMTP destination, but delivery.mode is directory: remove one of them`,
      `${file}:8:3: delivery.concurency: unknown key (did you mean "concurrency"?)`,
      expect.stringMatching(new RegExp(`^${file}:10:3: sanitize\\.links: .*"keep"`)),
      `${file}:12:3: admin.enabled: Invalid input: expected boolean, received string`,
    ]);
  });

  it("serve: the same report at start-up, and nothing started", async () => {
    const file = await configFile(broken);
    const r = await runCli(["serve", "-c", file]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(7);
    expect(r.stderr).toContain(`${file}:8:3: delivery.concurency`);
  });

  it("names an unknown key deep in a list, and says nothing when no known key is near", async () => {
    const file = await configFile("delivery:\n  mode: smtp\n  failover:\n    - { host: a.example, prot: 25 }\n  zzzzzz: 1\n");
    expect(errorLines(() => loadConfig(file))).toEqual([
      `${file}:4:26: delivery.failover[0].prot: unknown key (did you mean "port"?)`,
      `${file}:5:3: delivery.zzzzzz: unknown key`,
    ]);
  });

  it("YAML syntax errors: every one, with line and column", async () => {
    const file = await configFile("smtp:\n  port: 25\nsmtp:\n  host: x\nlog: [a, b\n");
    const lines = errorLines(() => loadConfig(file));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(`${file}:3:1: Map keys must be unique`);
    expect(lines[1]).toMatch(new RegExp(`^${file}:\\d+:\\d+: .*\\]`));
  });
});

describe("warnings: valid, but almost certainly a mistake", () => {
  const cases: [string, string, RegExp][] = [
    ["SMTP delivery to the gateway's own listener", "smtp: { port: 2525 }\ndelivery: { host: 127.0.0.1, port: 2525 }\n", /delivery\.host: delivers to 127\.0\.0\.1:2525, the gateway's own SMTP listener/],
    ["a failover to the gateway's own listener", "smtp: { host: 0.0.0.0, port: 25, recipientDomains: [city.example.lg.jp] }\ndelivery: { host: mta.example, failover: [{ host: localhost, port: 25 }] }\n", /delivery\.failover\[0\]: localhost:25 is the gateway's own SMTP listener/],
    ['recipientDomains "*" on a non-loopback listener', "smtp: { host: 0.0.0.0 }\n", /smtp\.recipientDomains: "\*" accepts mail for any domain/],
    ["any client allowed on a non-loopback listener", "smtp: { host: 0.0.0.0, clients: [0.0.0.0/0], recipientDomains: [city.example.lg.jp] }\n", /smtp\.clients\[0\]: 0\.0\.0\.0\/0 lets any host connect/],
    ["originals.keyEnv naming an unset variable", "originals: { keyEnv: MUMUKA_TEST_SURELY_UNSET_KEY }\n", /originals\.keyEnv: the environment variable MUMUKA_TEST_SURELY_UNSET_KEY is not set/],
    ["the console on a non-loopback host without TLS", "admin: { host: 0.0.0.0 }\n", /admin\.host: the console listens on 0\.0\.0\.0 without admin\.tls/],
    ["a directory given in smtp mode", "delivery: { mode: smtp, host: mta.example, directory: /srv/out }\n", /delivery\.directory: is only used in directory mode/],
    ["a first retry later than the cap", "delivery: { retryFirstSeconds: 600, retryMaxSeconds: 60 }\n", /delivery\.retryFirstSeconds: is larger than delivery\.retryMaxSeconds/],
    ["a rules file that does not exist", "rules: { file: ./no-such-rules.yaml }\n", /rules\.file: \/\S+\/no-such-rules\.yaml does not exist: mumuka serve would not start/],
    ["authentication on with XFORWARD believed from nobody (the default) and no trusted Received line", "authentication: { enabled: true }\nsmtp: { clients: [192.0.2.0/24] }\n", /smtp\.forwarders: is empty: XFORWARD\/XCLIENT .* believed from nobody, so SPF is checked against the Internet-zone MTA itself/],
    ["a TLS key that does not exist", "smtp: { tls: { cert: ./mumuka.yaml, key: ./no-such-key.pem } }\n", /smtp\.tls\.key: \/\S+\/no-such-key\.pem does not exist/],
  ];
  for (const [what, text, expected] of cases) {
    it(`warns about ${what}; config check still exits 0`, async () => {
      const file = await configFile(text);
      const r = await runCli(["config", "check", "-c", file]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toHaveProperty("delivery");
      const warnings = r.stderr.trim().split("\n");
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(new RegExp(`^mumuka: warning: ${file}:\\d+:\\d+: `));
      expect(warnings[0]).toMatch(expected);
    });
  }

  it("does not warn when the key is in the environment", async () => {
    const file = await configFile("originals: { keyEnv: MUMUKA_TEST_KEY }\n");
    expect(loadConfigChecked(file, { MUMUKA_TEST_KEY: "00".repeat(32) }).warnings).toEqual([]);
  });

  it("refuses the console and SMTP on the same port (an error: the start would fail)", () => {
    expect(errorLines(() => parseConfig({ smtp: { port: 8025 } }))).toEqual(["admin.port: the admin console and SMTP would both listen on port 8025"]);
    expect(parseConfig({ smtp: { port: 8025 }, admin: { enabled: false } }).smtp.port).toBe(8025);
  });

  it("serve writes the warnings to its log before it starts", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "mumuka-config-serve-"));
    const file = path.join(dir, "mumuka.yaml");
    await writeFile(
      file,
      ["dataDir: ./data", "smtp: { host: 127.0.0.1, port: 0 }", "delivery: { retryFirstSeconds: 600, retryMaxSeconds: 60 }", "admin: { enabled: false }", "log: { format: json }", ""].join("\n"),
    );
    const serve = spawn(process.execPath, ["src/cli.ts", "serve", "-c", file], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    const lines: { level: number; msg: string }[] = [];
    await new Promise<void>((resolve, reject) => {
      let buf = "";
      const onData = (d: Buffer) => {
        buf += d.toString();
        const parts = buf.split("\n");
        buf = parts.pop()!;
        for (const line of parts) {
          if (!line.startsWith("{")) continue;
          lines.push(JSON.parse(line) as { level: number; msg: string });
          if (line.includes("mumuka gateway listening")) resolve();
        }
      };
      serve.stdout.on("data", onData);
      serve.stderr.on("data", onData);
      serve.on("exit", (code) => reject(new Error(`serve exited (${code}): ${buf}`)));
    });
    const exited = new Promise((r) => serve.once("exit", r));
    serve.kill("SIGTERM");
    await exited;
    const warning = lines.findIndex((l) => l.msg.includes("delivery.retryFirstSeconds: is larger than delivery.retryMaxSeconds"));
    expect(warning).toBeGreaterThanOrEqual(0);
    expect(lines[warning]!.level).toBe(40); // pino's warn
    expect(warning).toBeLessThan(lines.findIndex((l) => l.msg.includes("mumuka gateway listening")));
  });
});

describe("the documented examples do what their text says", () => {
  it("config/mumuka.example.yaml: SMTP delivery to the LGWAN MTA, no error, no warning", async () => {
    const { config, warnings } = loadConfigChecked(path.join(REPO, "config/mumuka.example.yaml"), {});
    expect(warnings).toEqual([]);
    expect(config.delivery).toMatchObject({ mode: "smtp", host: "lgwan-mta.city.example.lg.jp", port: 25 });
    expect(config.smtp.recipientDomains).toEqual(["city.example.lg.jp"]);
  });

  // every ```yaml block of the README and docs/ whose keys are configuration keys (rules examples are not)
  const configKeys = Object.keys(parseConfig({}));
  const documents: [string, number][] = [["README.md", 1], ["docs/relay.md", 1], ["docs/console.md", 1], ["docs/audit.md", 0], ["docs/sanitize.md", 0]];
  for (const [doc, atLeast] of documents) {
    it(`${doc}: every configuration example loads without error or warning, and SMTP examples deliver over SMTP`, async () => {
      const text = await readFile(path.join(REPO, doc), "utf8");
      const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
      const { parse } = await import("yaml");
      let checked = 0;
      for (const block of blocks) {
        const keys = Object.keys((parse(block) as object | null) ?? {});
        if (keys.length === 0 || !keys.every((k) => configKeys.includes(k))) continue;
        const file = await configFile(block);
        const { config, warnings } = loadConfigChecked(file, {});
        // an example's files (/etc/mumuka/…) are not on this machine
        expect(warnings.filter((w) => !w.includes("does not exist"))).toEqual([]);
        const host = /^ {2}host: (\S+)/m.exec(block.slice(block.indexOf("delivery:")))?.[1];
        if (block.includes("delivery:") && host) expect(config.delivery).toMatchObject({ mode: "smtp", host });
        checked++;
      }
      expect(checked).toBeGreaterThanOrEqual(atLeast);
    });
  }
});
