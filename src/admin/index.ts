/**
 * The admin console: entry point used by the composition root (src/serve.ts).
 *
 *   const admin = await startAdmin({ config: config.admin, dataDir, logger, metrics, audit, queue, health, … });
 *   … await admin.close();
 *
 * Listens on config.admin.host:port (default 127.0.0.1:8025), HTTPS when
 * config.admin.tls is set. See docs/console.md.
 */
import type { AddressInfo } from "node:net";
import type { AdminDeps, AdminServer } from "./admin-types.ts";
import { buildAdminApp } from "./server.ts";

export type { AdminDeps, AdminServer, HealthCheck, RulesView, RuleTrial } from "./admin-types.ts";
export { buildAdminApp } from "./server.ts";
export { createRuleTrial } from "./rule-trial.ts";
export { createHealthCheck } from "./health.ts";
export { openUserStore, roles, type Role, type UserStore } from "./user-store.ts";

export async function startAdmin(deps: AdminDeps): Promise<AdminServer> {
  const built = await buildAdminApp(deps);
  try {
    await built.app.listen({ host: deps.config.host, port: deps.config.port });
  } catch (error) {
    await built.close();
    throw error;
  }
  const address = built.app.server.address() as AddressInfo;
  deps.logger.info({ host: address.address, port: address.port, tls: deps.config.tls !== undefined }, "admin console listening");
  return {
    address: { host: address.address, port: address.port },
    close: () => built.close(),
  };
}
