/**
 * Starts an in-process gateway for a test: real SMTP listener on loopback,
 * real spool in a temp directory, the real sanitizer pool, a recording audit
 * sink instead of the SQLite store.
 */
import { parseConfig } from "../../src/config/load.ts";
import { startGateway, type Gateway } from "../../src/serve.ts";
import { recordingSink, silentLogger, tempDir, type RecordingSink } from "./relay-helpers.ts";

export interface TestGateway {
  gateway: Gateway;
  audit: RecordingSink;
  port: number;
  dataDir: string;
}

export async function startTestGateway(overrides: { smtp?: object; delivery?: object; sanitize?: object; rules?: object; dataDir?: string } = {}): Promise<TestGateway> {
  const dataDir = overrides.dataDir ?? (await tempDir());
  const config = parseConfig({
    dataDir,
    smtp: { host: "127.0.0.1", port: 0, hostname: "mumuka.test", clients: ["127.0.0.1/32"], recipientDomains: ["city.example.lg.jp"], ...overrides.smtp },
    // a host is an SMTP destination: a directory-mode override must not inherit one (the config refuses both)
    delivery: {
      ...((overrides.delivery as { mode?: string } | undefined)?.mode === "directory" ? {} : { mode: "smtp", host: "127.0.0.1" }),
      retryFirstSeconds: 1,
      retryMaxSeconds: 2,
      connectTimeoutMs: 2000,
      ...overrides.delivery,
    },
    ...(overrides.sanitize ? { sanitize: overrides.sanitize } : {}),
    ...(overrides.rules ? { rules: overrides.rules } : {}),
  });
  const audit = recordingSink();
  const gateway = await startGateway(config, { logger: silentLogger(), audit });
  return { gateway, audit, port: gateway.address.port, dataDir };
}
