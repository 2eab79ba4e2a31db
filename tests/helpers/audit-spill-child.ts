/**
 * Run by tests/audit/audit-spill-order.test.ts in a child process whose file size limit
 * (ulimit -f) is 1 KiB: spill files fill up after a few lines, so spill writes come up
 * short and then fail (EFBIG), as on a full disk. The store is a real SQLite database in
 * memory (not limited), down while the events are recorded. Prints the order in which the
 * store got the events once it is back.
 *
 * Tests only. Arguments: the spill directory.
 */
import { createAuditLog } from "../../src/audit/audit-log.ts";
import type { AuditStore } from "../../src/audit/audit-store.ts";
import { openSqliteStore } from "../../src/audit/sqlite-store.ts";
import { createLogger } from "../../src/lib/logger.ts";

// past the limit the kernel sends SIGXFSZ (default: end the process) and the write fails with EFBIG
process.on("SIGXFSZ", () => {});
const spillDir = process.argv[2]!;
const real = openSqliteStore({ file: ":memory:" });
let down = true;
const store: AuditStore = Object.assign(Object.create(null) as object, real, {
  async append(pending: Parameters<AuditStore["append"]>[0]) {
    if (down) throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
    return real.append(pending);
  },
}) as AuditStore;
const log = createAuditLog({
  store,
  config: { flushMs: 5, batchSize: 100, maxQueueEvents: 10 },
  gateway: "g",
  logger: createLogger({ level: "silent", format: "json", subjects: false }),
  spillDir,
});
// about 150 bytes a line: six lines fit in a spill file, the seventh is cut short
for (let i = 0; i < 30; i++) log.record({ type: "admin", data: { i, pad: "x".repeat(60) } });
down = false;
await log.flush();
process.stdout.write(`${JSON.stringify((await real.eventsAfter(0, 100)).map((e) => e.data.i))}\n`);
await log.close();
