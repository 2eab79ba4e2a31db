/**
 * smtp-server waits a fixed 100 ms after each connection before sending its
 * 220 greeting ("early talker" detection, a spam-trap for the open Internet).
 * mumuka's only clients are the configured Internet-zone MTA(s), which speak
 * properly; and an MTA such as Postfix often opens one connection per message,
 * so the pause caps a session at under 10 messages a second — with 10
 * sessions, under 100 messages a second, whatever else the relay does.
 *
 * This subclass greets at once. It overrides two small methods of
 * smtp-server (`SMTPServer.connect`, `SMTPConnection.init`), replicating them
 * minus the timer; tests/receive/receiver.test.ts checks the greeting comes
 * promptly, so a library change that breaks this is noticed.
 *
 * SECURITY: the early-talker check is lost; the client allow-list (onConnect)
 * still runs before the greeting, and smtp-server still refuses pipelined
 * commands that arrive before the greeting is sent.
 */
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js";

interface ConnectionInternals {
  _server: { options: SMTPServerOptions; connections: Set<unknown> };
  name: string;
  _setListeners(callback: () => void): void;
  connectionReady(): void;
  send(code: number, message: string, context?: unknown): void;
  init(): void;
  on(event: string, listener: (arg: unknown) => void): void;
}

const Base = SMTPConnection as unknown as new (server: SMTPServer, socket: unknown, options: unknown) => ConnectionInternals;

class PromptConnection extends Base {
  override init(): void {
    this._setListeners(() => {
      const { maxClients } = this._server.options;
      if (maxClients && this._server.connections.size > maxClients) {
        return this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
      }
      this.connectionReady();
    });
  }
}

export class PromptSMTPServer extends SMTPServer {
  override connect(socket: never, socketOptions: never): void {
    const self = this as unknown as {
      connections: Set<unknown>;
      _onError(err: unknown): void;
      _onClientConnect(data: unknown): void;
    };
    const connection = new PromptConnection(this, socket, socketOptions);
    self.connections.add(connection);
    connection.on("error", (err) => self._onError(err));
    connection.on("connect", (data) => self._onClientConnect(data));
    connection.init();
  }
}
