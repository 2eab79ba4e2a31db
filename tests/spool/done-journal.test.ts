/**
 * The done journal's promises: a line per finished message until it has left
 * the spool; a file emptied or removed once nothing it names is left; an
 * earlier run's lines found again (a torn last line skipped) and removed when
 * settled; bounded files under a store that never catches up.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { newAuditId } from "../../src/lib/ids.ts";
import { openDoneJournal } from "../../src/spool/done-journal.ts";

describe("the done journal", () => {
  let dir: string;
  beforeEach(() => {
    dir = path.join(mkdtempSync(path.join(os.tmpdir(), "mumuka-done-journal-")), "done-journal");
  });
  afterEach(() => rmSync(path.dirname(dir), { recursive: true, force: true }));
  const files = () => readdirSync(dir).sort();
  const ids = (n: number) => Array.from({ length: n }, () => newAuditId());

  it("keeps a line per message until it leaves the spool, then empties its file, and removes it at close", () => {
    const j = openDoneJournal<{ type: string }[]>(dir);
    const [a, b] = ids(2) as [string, string];
    expect(j.append(a, [{ type: "delivered" }])).toBe(true);
    expect(j.append(b, [{ type: "rejected" }])).toBe(true);
    const [file] = files() as [string];
    expect(readFileSync(path.join(dir, file), "utf8").trim().split("\n").map((l) => JSON.parse(l))).toEqual([
      { id: a, proof: [{ type: "delivered" }] },
      { id: b, proof: [{ type: "rejected" }] },
    ]);
    j.release(a);
    expect(statSync(path.join(dir, file)).size).toBeGreaterThan(0);
    j.release(b);
    expect(statSync(path.join(dir, file)).size).toBe(0);
    j.close();
    expect(files()).toEqual([]);
  });

  it("leaves what is not settled for the next start, which reads it (last line wins, a torn line skipped) and removes it when told", () => {
    const first = openDoneJournal<string>(dir);
    const [a, b, c] = ids(3) as [string, string, string];
    first.append(a, "first");
    first.append(b, "only");
    first.append(a, "second");
    first.close();
    const [file] = files() as [string];
    appendFileSync(path.join(dir, file), `{"id":"${c}","proo`); // the kill came mid-line

    const next = openDoneJournal<string>(dir);
    const proofs = next.earlier(new Set([a, c]));
    expect([...proofs]).toEqual([[a, "second"]]);
    // this run's own lines go to a file of its own
    next.append(c, "new");
    expect(files()).toHaveLength(2);
    next.dropEarlier();
    expect(files()).toHaveLength(1);
    expect(next.earlier(new Set([a]))).toEqual(new Map());
  });

  it("leaves another running process's file (a CLI's delete) alone: not an earlier run's proof, not removed, its ids in use; once that process is gone it is an earlier run's", () => {
    mkdirSync(dir, { recursive: true });
    const [deleting, done] = ids(2) as [string, string];
    // the parent process (the test runner) is alive and is not this process
    const other = path.join(dir, `000001700000000-${process.ppid}-0.journal`);
    writeFileSync(other, `${JSON.stringify({ id: deleting, proof: [{ type: "deleted" }] })}\n`);
    // a process that has ended (pid 2^22 + 1 is above Linux's pid_max)
    const dead = path.join(dir, `000001700000000-${2 ** 22 + 1}-0.journal`);
    writeFileSync(dead, `${JSON.stringify({ id: done, proof: [{ type: "delivered" }] })}\n`);
    const j = openDoneJournal<{ type: string }[]>(dir);
    const both = new Set([deleting, done]);
    expect([...j.earlier(both)]).toEqual([[done, [{ type: "delivered" }]]]);
    expect([...j.inUse(both)]).toEqual([deleting]);
    j.dropEarlier();
    j.close();
    expect(files()).toEqual([path.basename(other)]);
  });

  it("starts a new file after 10,000 lines and removes the full one once everything it names has left", () => {
    const j = openDoneJournal<number>(dir);
    const many = ids(10_001);
    many.forEach((id, i) => j.append(id, i));
    expect(files()).toHaveLength(2);
    for (const id of many.slice(0, 10_000)) j.release(id);
    expect(files()).toHaveLength(1);
    j.release(many[10_000]!);
    j.close();
    expect(files()).toEqual([]);
  });
});
