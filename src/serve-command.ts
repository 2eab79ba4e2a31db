/**
 * `mumuka serve [--config FILE]`: runs the gateway until SIGTERM/SIGINT;
 * SIGHUP reloads the rules. Without a configuration file, the embedded
 * defaults: 127.0.0.1:2525, sanitized messages written into ./data/outbox.
 */
import type { Command } from "commander";
import { CliError } from "./lib/cli-error.ts";
import { loadConfigChecked } from "./config/load.ts";
import { registerQueueCommands } from "./spool/queue-command.ts";

/** registers `serve` and `queue` (the relay's commands) */
export function registerServeCommands(program: Command): void {
  registerQueueCommands(program);
  program
    .command("serve")
    .description("run the gateway (SMTP relay) / ゲートウェイを起動する")
    .option("-c, --config <file>", "configuration file (YAML); without one, the embedded defaults")
    .action(async (opts: { config?: string }) => {
      const { config, warnings } = loadConfigChecked(opts.config);
      // the signal handlers come first: a SIGHUP (systemctl reload) or SIGTERM that arrives while the
      // gateway starts would otherwise meet Node's default action and kill it on the spot
      let gateway: Awaited<ReturnType<typeof import("./serve.ts").startGateway>> | undefined;
      let stopRequested: string | undefined;
      let stopped: () => void = () => {};
      let stopping = false;
      const stop = (signal: string) => {
        if (!gateway) {
          stopRequested ??= signal; // acted on as soon as the gateway is up
          return;
        }
        if (stopping) return;
        stopping = true;
        const g = gateway;
        g.logger.info({ signal }, "signal received");
        g.close().then(stopped, (error: unknown) => {
          g.logger.error({ err: error }, "error while stopping");
          process.exitCode = 1;
          stopped();
        });
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
      let reloadRequested = false;
      const reload = () => {
        const g = gateway;
        if (!g) {
          reloadRequested = true; // the file may have changed after the starting gateway read it: read it again once up
          return;
        }
        void g.rules.reload("sighup").then((r) => g.logger.info({ ok: r.ok, version: r.version }, "rules reloaded (SIGHUP)"));
      };
      process.on("SIGHUP", reload);
      // loaded on demand: the other commands do not pay for the relay's modules
      const { startGateway } = await import("./serve.ts");
      const { createLogger } = await import("./lib/logger.ts");
      const logger = createLogger(config.log);
      // before start: a warning may be why the start fails (a port, a key)
      for (const warning of warnings) logger.warn({ config: opts.config ?? "(embedded defaults)" }, `configuration: ${warning}`);
      try {
        gateway = await startGateway(config, { logger });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "EADDRINUSE" || code === "EACCES" || code === "EADDRNOTAVAIL") {
          const e = error as NodeJS.ErrnoException & { address?: string; port?: number };
          const where = e.port !== undefined ? `${e.address ?? ""}:${e.port}` : `${config.smtp.host}:${config.smtp.port}`;
          throw new CliError(`cannot listen on ${where}: ${code} (see smtp.host/smtp.port and admin.host/admin.port)`, 1);
        }
        if ((error as NodeJS.ErrnoException).code === "ELOCKED") throw new CliError((error as Error).message, 1);
        throw error;
      }
      await new Promise<void>((resolve) => {
        stopped = resolve;
        if (stopRequested) stop(stopRequested);
        else if (reloadRequested) reload();
      });
    });
}
