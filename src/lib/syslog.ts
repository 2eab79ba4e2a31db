/**
 * RFC 5424 over UDP, the one way mumuka speaks syslog (alerts and audit
 * anchors): the priority of a facility and severity, and a sender that never
 * takes the gateway down (a lost datagram is lost; UDP promises nothing).
 *
 * SECURITY: callers build the message from ids, counts and hashes only; no
 * mail content. The target is operator configuration.
 */
import { createSocket } from "node:dgram";

/** Syslog facility numbers (RFC 5424 §6.2.1). */
const FACILITY: Record<string, number> = {
  user: 1,
  daemon: 3,
  auth: 4,
  authpriv: 10,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};

/** PRI of RFC 5424 §6.2.1: facility × 8 + severity (an unknown facility counts as local0). */
export function syslogPri(facility: string, severity: number): number {
  return (FACILITY[facility] ?? 16) * 8 + severity;
}

export interface SyslogSender {
  send(line: string): Promise<void>;
  close(): void;
}

/** One UDP socket to host:port; send() rejects when the datagram could not be sent. */
export function createSyslogSender(target: { host: string; port: number }): SyslogSender {
  const socket = createSocket(target.host.includes(":") ? "udp6" : "udp4");
  socket.unref();
  // an ICMP "port unreachable" on a later send surfaces here: it must not take the gateway down
  socket.on("error", () => {});
  return {
    send(line) {
      return new Promise((resolve, reject) => {
        socket.send(Buffer.from(line, "utf8"), target.port, target.host, (error) => (error ? reject(error) : resolve()));
      });
    },
    close: () => socket.close(),
  };
}
