/**
 * A downstream SMTP server the tests control: records every message it
 * accepts (envelope + bytes) and the client's command lines, counts
 * connections (in all, open now, most open at once), answers per recipient as
 * told (accept, 4xx, 5xx), can be slow to answer DATA or cut a connection on
 * a marked message, and can be stopped and started again on the same port.
 */
import type { AddressInfo, Socket } from "node:net";
import { SMTPServer } from "smtp-server";

export interface Received {
  mailFrom: string;
  rcptTo: string[];
  raw: Buffer;
}

export interface DownstreamOptions {
  /** default: a port the kernel picks */
  port?: number;
  /** milliseconds the server takes before answering the end of DATA */
  dataDelayMs?: number;
  /** a message containing this text makes the server cut the connection instead of answering */
  dropOn?: string;
  /** server-side idle timeout */
  socketTimeout?: number;
}

export interface Downstream {
  port: number;
  received: Received[];
  /** recipient → reply for RCPT TO; absent recipients are accepted */
  rcptReplies: Map<string, { code: number; message: string }>;
  /** connections accepted so far */
  connections: number;
  /** connections open now, and the most open at once */
  open: number;
  maxOpen: number;
  /** the client's command lines (EHLO, MAIL, RCPT, QUIT), as they came over the wire; not the message */
  commands: string[];
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startDownstream(options: DownstreamOptions = {}): Promise<Downstream> {
  const sockets = new Map<number, Socket>();
  let server: SMTPServer | undefined;
  const make = () =>
    new SMTPServer({
      authOptional: true,
      disabledCommands: ["AUTH", "STARTTLS"],
      disableReverseLookup: true,
      logger: false,
      // "down" must mean down: cut pooled client connections at once
      closeTimeout: 100,
      ...(options.socketTimeout ? { socketTimeout: options.socketTimeout } : {}),
      onRcptTo(address, _session, callback) {
        const reply = ds.rcptReplies.get(address.address);
        if (reply) return callback(Object.assign(new Error(reply.message), { responseCode: reply.code }));
        callback();
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          const raw = Buffer.concat(chunks);
          if (options.dropOn && raw.includes(options.dropOn)) {
            sockets.get(session.remotePort)?.destroy();
            return;
          }
          setTimeout(() => {
            ds.received.push({
              mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
              rcptTo: session.envelope.rcptTo.map((r) => r.address),
              raw,
            });
            callback(null, "2.0.0 Ok: queued downstream");
          }, options.dataDelayMs ?? 0);
        });
      },
    });
  const ds: Downstream = {
    port: options.port ?? 0,
    received: [],
    rcptReplies: new Map(),
    connections: 0,
    open: 0,
    maxOpen: 0,
    commands: [],
    async start() {
      const s = make();
      server = s;
      s.server.on("connection", (socket: Socket) => {
        const port = socket.remotePort!;
        sockets.set(port, socket);
        ds.connections++;
        ds.open++;
        ds.maxOpen = Math.max(ds.maxOpen, ds.open);
        // a second reader of the same bytes, for the command lines only
        socket.on("data", (chunk: Buffer) => {
          for (const line of chunk.toString("utf8").split("\r\n")) if (/^(EHLO|HELO|MAIL FROM|RCPT TO|QUIT)\b/.test(line)) ds.commands.push(line);
        });
        socket.once("close", () => {
          sockets.delete(port);
          ds.open--;
        });
      });
      await new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.listen(ds.port, "127.0.0.1", () => resolve());
      });
      ds.port = (s.server.address() as AddressInfo).port;
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
