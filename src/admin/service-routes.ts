/**
 * The console's routes that are not pages: its stylesheet, /healthz for
 * container health checks and /metrics for Prometheus. All three are public
 * (a health checker and Prometheus cannot log in) and carry no message
 * content: the health detail is the gateway's own words, the metrics are
 * counts. No request input is read. A crash leaves nothing.
 */
import type { FastifyPluginAsync } from "fastify";
import type { AdminDeps } from "./admin-types.ts";
import { CONSOLE_CSS } from "./console-css.ts";
import type { PageKit } from "./page-kit.ts";

export interface ServiceRoutesOptions {
  kit: PageKit;
  health: AdminDeps["health"];
  /** the Prometheus registry, or undefined when admin.metrics is off */
  registry: NonNullable<AdminDeps["metrics"]["registry"]> | undefined;
}

export const serviceRoutes: FastifyPluginAsync<ServiceRoutesOptions> = async (app, { kit, health, registry }) => {
  kit.route(app, "GET", "/static/console.css", "public", async (_request, reply) =>
    reply.type("text/css; charset=utf-8").header("Cache-Control", "public, max-age=3600").send(CONSOLE_CSS),
  );

  kit.route(app, "GET", "/healthz", "public", async (_request, reply) => {
    try {
      const result = await health();
      return reply.code(result.ok ? 200 : 503).type("application/json").send(result);
    } catch (error) {
      kit.log.error({ err: error }, "admin console: health check threw");
      return reply.code(503).send({ ok: false, checks: { health: { ok: false, detail: "health check failed" } } });
    }
  });

  if (registry) {
    kit.route(app, "GET", "/metrics", "public", async (_request, reply) => {
      const body = await registry.metrics();
      return reply.type(registry.contentType).send(body);
    });
  }
};
