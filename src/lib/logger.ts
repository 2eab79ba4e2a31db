/**
 * Operational logs (pino). JSON lines by default; readable lines when the
 * output is a terminal. Child loggers carry message and connection ids;
 * never bind a sender-controlled string as a logger name.
 */
import { pino, type Logger } from "pino";
import type { Config } from "../config/schema.ts";

export type { Logger };

export function createLogger(options: Config["log"], destination: NodeJS.WritableStream = process.stderr): Logger {
  const pretty = options.format === "pretty" || (options.format === "auto" && (destination as { isTTY?: boolean }).isTTY === true);
  if (pretty) {
    return pino({
      level: options.level,
      transport: { target: "pino-pretty", options: { destination: 2, translateTime: "SYS:standard" } },
    });
  }
  return pino({ level: options.level, base: { pid: process.pid } }, destination);
}
