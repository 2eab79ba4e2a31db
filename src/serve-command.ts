/**
 * `mumuka serve [--config FILE]`: runs the gateway until SIGTERM/SIGINT;
 * SIGHUP reloads the rules. Without a configuration file, the embedded
 * defaults: 127.0.0.1:2525, sanitized messages written into ./data/outbox.
 */
import type { Command } from "commander";
import { CliError } from "./lib/cli-error.ts";
import { StartError } from "./lib/close-stack.ts";
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
        // everything started before the failing stage is closed by now (serve.ts): one line, exit 1
        if (error instanceof StartError) throw new CliError(startFailureLine(error), 1);
        throw error;
      }
      await new Promise<void>((resolve) => {
        stopped = resolve;
        if (stopRequested) stop(stopRequested);
        else if (reloadRequested) reload();
      });
    });
}

/**
 * The one line a failed start prints: which stage, why, and where to look; Japanese first.
 * A port that cannot be bound names the address; the spool lock names the other gateway.
 */
export function startFailureLine(error: StartError): string {
  const cause = error.cause as (NodeJS.ErrnoException & { address?: string; port?: number }) | undefined;
  const { ja, en, keys } = error.stage;
  let reason: string;
  if (cause && (cause.code === "EADDRINUSE" || cause.code === "EACCES" || cause.code === "EADDRNOTAVAIL") && cause.syscall !== "open") {
    // the receiver thread's error carries the address in its message only
    const where = cause.port !== undefined ? `${cause.address ?? ""}:${cause.port}` : (/(\S+:\d+)\s*$/.exec(cause.message)?.[1] ?? "");
    const what = cause.code === "EADDRINUSE" ? "は使用中です / is already in use" : cause.code === "EACCES" ? "に割り当てる権限がありません / may not be bound" : "はこのホストのアドレスではありません / is not an address of this host";
    reason = `${where} ${what} (${cause.code})`.trim();
  } else {
    reason = error.reason;
  }
  const look = keys ? `; 設定 / see: ${keys}` : "";
  return `起動できません(${ja})/ cannot start the ${en}: ${reason}${look}; 起動済みの部分は閉じました / what had started was closed`;
}
