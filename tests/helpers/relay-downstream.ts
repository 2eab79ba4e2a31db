/**
 * A downstream SMTP server the tests control: records every message it
 * accepts (envelope + bytes), answers per recipient as told (accept, 4xx,
 * 5xx), and can be stopped and started again on the same port.
 */
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

export interface Received {
  mailFrom: string;
  rcptTo: string[];
  raw: Buffer;
}

export interface Downstream {
  port: number;
  received: Received[];
  /** recipient → reply for RCPT TO; absent recipients are accepted */
  rcptReplies: Map<string, { code: number; message: string }>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startDownstream(port = 0): Promise<Downstream> {
  const received: Received[] = [];
  const rcptReplies = new Map<string, { code: number; message: string }>();
  let server: SMTPServer | undefined;
  const make = () =>
    new SMTPServer({
      authOptional: true,
      disabledCommands: ["AUTH", "STARTTLS"],
      disableReverseLookup: true,
      logger: false,
      // "down" must mean down: cut pooled client connections at once
      closeTimeout: 100,
      onRcptTo(address, _session, callback) {
        const reply = rcptReplies.get(address.address);
        if (reply) return callback(Object.assign(new Error(reply.message), { responseCode: reply.code }));
        callback();
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          received.push({
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
            rcptTo: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks),
          });
          callback(null, "2.0.0 Ok: queued downstream");
        });
      },
    });
  const ds: Downstream = {
    port,
    received,
    rcptReplies,
    async start() {
      server = make();
      await new Promise<void>((resolve, reject) => {
        server!.once("error", reject);
        server!.listen(ds.port, "127.0.0.1", () => resolve());
      });
      ds.port = (server.server.address() as AddressInfo).port;
    },
    async stop() {
      const s = server;
      server = undefined;
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
  await ds.start();
  return ds;
}
