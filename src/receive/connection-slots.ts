/**
 * Who may hold one of the receiver's connection slots: smtp.maxConnections in
 * all, at most smtp.maxConnectionsPerClient from one address, and the last
 * smtp.reservedConnections slots only for the smtp.reservedClients (the
 * Internet-zone MTA), so that slow or hostile hosts elsewhere in the allowed
 * networks cannot lock the real upstream out. The reserved clients are also
 * exempt from the per-client limit (one MTA opens many parallel sessions),
 * like Postfix's smtpd_client_event_limit_exceptions.
 *
 * Pure bookkeeping; the connection takes a slot before its greeting and gives
 * it back when its socket has closed.
 *
 * SECURITY: the address comes from the socket (trusted). State is a counter
 * per address, bounded by the number of open connections.
 */

export interface SlotLimits {
  maxConnections: number;
  maxConnectionsPerClient: number;
  reservedConnections: number;
  isReserved(address: string): boolean;
}

export type SlotVerdict = "ok" | "client-limit" | "full";

export interface ConnectionSlots {
  /** takes a slot for the connection `id` from `address`, or says why not */
  take(id: string, address: string): SlotVerdict;
  /** gives the slot of `id` back; a no-op for an id that holds none */
  release(id: string): void;
  /** slots in use (for tests and logs) */
  inUse(): number;
}

export function createConnectionSlots(limits: SlotLimits): ConnectionSlots {
  const holders = new Map<string, string>(); // connection id -> address
  const perAddress = new Map<string, number>();
  return {
    take(id, address) {
      if (holders.has(id)) return "ok";
      const reserved = limits.isReserved(address);
      const ceiling = reserved ? limits.maxConnections : limits.maxConnections - limits.reservedConnections;
      if (holders.size >= ceiling) return "full";
      const mine = perAddress.get(address) ?? 0;
      if (!reserved && mine >= limits.maxConnectionsPerClient) return "client-limit";
      holders.set(id, address);
      perAddress.set(address, mine + 1);
      return "ok";
    },
    release(id) {
      const address = holders.get(id);
      if (address === undefined) return;
      holders.delete(id);
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
    },
    inUse: () => holders.size,
  };
}
