import { describe, expect, it } from "vitest";
import { createConnectionSlots } from "../../src/receive/connection-slots.ts";

const slots = (max = 4, perClient = 2, reserved = 1) =>
  createConnectionSlots({ maxConnections: max, maxConnectionsPerClient: perClient, reservedConnections: reserved, isReserved: (a) => a === "192.0.2.25" });

describe("connection slots", () => {
  it("limit one address to maxConnectionsPerClient and give slots back on release", () => {
    const s = slots(10, 2, 0);
    expect(s.take("a", "198.51.100.1")).toBe("ok");
    expect(s.take("b", "198.51.100.1")).toBe("ok");
    expect(s.take("c", "198.51.100.1")).toBe("client-limit");
    expect(s.take("d", "198.51.100.2")).toBe("ok");
    s.release("a");
    s.release("a"); // twice: no double credit
    expect(s.take("e", "198.51.100.1")).toBe("ok");
    expect(s.take("f", "198.51.100.1")).toBe("client-limit");
    expect(s.inUse()).toBe(3);
  });

  it("keep the reserved slots for the reserved clients, which are not limited per address", () => {
    const s = slots(4, 1, 2);
    expect(s.take("a", "198.51.100.1")).toBe("ok");
    expect(s.take("b", "198.51.100.2")).toBe("ok");
    expect(s.take("c", "198.51.100.3")).toBe("full");
    expect(s.take("d", "192.0.2.25")).toBe("ok");
    expect(s.take("e", "192.0.2.25")).toBe("ok");
    expect(s.take("f", "192.0.2.25")).toBe("full");
    s.release("a");
    expect(s.take("g", "198.51.100.3")).toBe("full"); // 3 in use, only 2 open to others
    s.release("d");
    expect(s.take("h", "198.51.100.3")).toBe("full"); // b and e: still 2
    s.release("b");
    expect(s.take("i", "198.51.100.3")).toBe("ok");
  });

  it("never hand out more than maxConnections, whatever the order of takes and releases", () => {
    const s = slots(3, 3, 1);
    const held: string[] = [];
    for (let i = 0; i < 200; i++) {
      const id = `c${i}`;
      const address = i % 3 === 0 ? "192.0.2.25" : `198.51.100.${i % 5}`;
      if (s.take(id, address) === "ok") held.push(id);
      if (i % 4 === 3) s.release(held.shift()!);
      expect(s.inUse()).toBeLessThanOrEqual(3);
      expect(s.inUse()).toBe(held.length);
    }
  });
});
