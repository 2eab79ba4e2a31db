/**
 * Loaded with `node --import` into a gateway under test: unref() does nothing,
 * so every timer, worker, socket and server keeps the process alive until it is
 * closed. A process that still exits on its own has closed everything it
 * opened — an exit that relied on something being unref'd would hang instead
 * (and the test's timeout names it).
 *
 * Tests only; no input, no state.
 */
import dgram from "node:dgram";
import net from "node:net";
import { Worker } from "node:worker_threads";

const keep = function <T>(this: T): T {
  return this;
};
const timeout = setTimeout(() => {}, 0);
Object.getPrototypeOf(timeout).unref = keep;
clearTimeout(timeout);
const immediate = setImmediate(() => {});
Object.getPrototypeOf(immediate).unref = keep;
clearImmediate(immediate);
Worker.prototype.unref = keep;
net.Socket.prototype.unref = keep;
net.Server.prototype.unref = keep;
dgram.Socket.prototype.unref = keep;
