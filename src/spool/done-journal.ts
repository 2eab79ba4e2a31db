/**
 * The done journal: for each message in done/ (finished, its record waiting
 * for the audit store to have its final events), one line saying what it
 * ended with — the proof its final events are rebuilt from if the process dies
 * before the store has them.
 *
 *   <spool>/done-journal/<first-line time>-<pid>-<n>.journal
 *   {"id":"…","proof":…}\n                 one write(2) per finished message, no fsync
 *                                          (an administrator's delete: fsynced, see queue-admin.ts)
 *
 * A line costs one write(2), not a file of its own (open, write, close,
 * rename, and an unlink later): most messages are in done/ for one audit batch
 * interval. A file is emptied when every message it names has left the spool,
 * and a new one started after ROTATE_LINES lines so that one that never empties
 * (a store that is down) does not grow without end; a full file is removed
 * once everything it names has left.
 *
 * Like the audit log's received-journal, a line survives a crash of the
 * process (kill -9: the kernel has it) but maybe not a power cut; a record in
 * done/ without its line is then delivered again (at-least-once), unless the
 * audit trail already shows it finished (see deliver/final-recovery.ts).
 *
 * Other processes write here too: a `mumuka queue delete` from the command
 * line writes a file of its own (its pid in the name) beside the gateway's, and
 * a gateway reads what such a process left at its next start, like its own.
 *
 * SECURITY: the lines are our own JSON (ids, addresses and server replies as
 * data); files are 0600 in a 0700 directory. A torn last line is skipped.
 * Crash state: files of an earlier run are read at the next start
 * (earlier()) and removed once what they name is settled (dropEarlier()).
 */
import { closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import path from "node:path";
import { isAuditId } from "../lib/ids.ts";

/** about 300–800 bytes a line: a file that never empties is cut at a few megabytes */
const ROTATE_LINES = 10_000;
const SUFFIX = ".journal";

interface JournalFile {
  fd: number;
  file: string;
  lines: number;
  /** lines whose message has not left the spool yet */
  outstanding: number;
}

export interface DoneJournal<T> {
  /**
   * one line for a message going into done/; false when it could not be written (logged by the caller).
   * `durable`: fsynced too (an administrator's delete: a power cut must not turn it into a delivery)
   */
  append(id: string, proof: T, options?: { durable?: boolean }): boolean;
  /** the message named has left the spool: its line is no longer needed */
  release(id: string): void;
  /** the proofs an earlier run wrote for these messages (the last line of each wins) */
  earlier(ids: ReadonlySet<string>): Map<string, T>;
  /**
   * which of these messages another process that is still running has a line for (a
   * `mumuka queue delete` in the middle of its delete): not this run's to settle
   */
  inUse(ids: ReadonlySet<string>): Set<string>;
  /** removes the earlier run's files: everything they name is settled */
  dropEarlier(): void;
  /** closes this run's file; it is removed when nothing it names is still in done/ */
  close(): void;
}

/**
 * files made by this process, across journals: two journals of one process (a test's gateway and
 * its queue admin, one after the other) within one millisecond must not share a file
 */
let made = 0;

/** the pid in a journal file's name (`<time>-<pid>-<n>.journal`) */
function pidOf(name: string): number | undefined {
  const m = /^\d+-(\d+)-\d+\.journal$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * a file another process that still runs is writing (a CLI's delete): neither read as an earlier
 * run's nor removed. A pid reused since by an unrelated process only makes its records wait in
 * done/ until that one ends: nothing is lost or delivered again.
 */
function ofLiveOther(name: string): boolean {
  const pid = pidOf(name);
  if (pid === undefined || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** the entries a journal file holds, in order (a line torn by a crash is skipped: its message is
 * delivered again, or found finished in the trail) */
function entriesIn<T>(file: string): { id: string; proof?: T }[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const entries: { id: string; proof?: T }[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    try {
      const entry = JSON.parse(line) as { id?: unknown; proof?: T };
      if (typeof entry.id === "string" && isAuditId(entry.id)) entries.push(entry.proof === undefined ? { id: entry.id } : { id: entry.id, proof: entry.proof });
    } catch {
      // torn
    }
  }
  return entries;
}

/** the ids a journal file names */
function idsIn(file: string): string[] {
  return entriesIn(file).map((e) => e.id);
}

export function openDoneJournal<T>(dir: string, now: () => number = Date.now): DoneJournal<T> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // before this run writes anything: what is here was left by an earlier run, or is another live process's
  const earlierFiles = readdirSync(dir)
    .filter((n) => n.endsWith(SUFFIX) && !ofLiveOther(n))
    .sort()
    .map((n) => path.join(dir, n));
  let current: JournalFile | undefined;
  const byId = new Map<string, JournalFile>();
  const full = new Set<JournalFile>();

  const retireFile = (f: JournalFile): void => {
    closeSync(f.fd);
    rmSync(f.file, { force: true });
    full.delete(f);
  };

  /** one line of `f` is no longer needed; a file with none left is emptied (this run's) or removed (a full one) */
  const letGo = (f: JournalFile): void => {
    f.outstanding -= 1;
    if (f.outstanding > 0) return;
    try {
      if (f === current) {
        // opened for appending: the next line goes to the start again
        ftruncateSync(f.fd, 0);
        f.lines = 0;
      } else if (full.has(f)) {
        retireFile(f);
      }
    } catch {
      // left as it is: the next start reads it, finds nothing of it in done/, and removes it
    }
  };

  return {
    append(id, proof, options = {}) {
      try {
        if (!current) {
          const file = path.join(dir, `${String(now()).padStart(15, "0")}-${process.pid}-${made++}${SUFFIX}`);
          current = { fd: openSync(file, "a", 0o600), file, lines: 0, outstanding: 0 };
        }
        writeSync(current.fd, `${JSON.stringify({ id, proof })}\n`);
        if (options.durable) fsyncSync(current.fd);
      } catch {
        return false;
      }
      const written = current;
      written.lines += 1;
      written.outstanding += 1;
      // a message finished twice in one run (released, delivered again) is named by its last line
      const before = byId.get(id);
      byId.set(id, written);
      if (before) letGo(before);
      if (written.lines >= ROTATE_LINES && written === current) {
        full.add(written);
        current = undefined;
      }
      return true;
    },

    release(id) {
      const f = byId.get(id);
      if (!f) return;
      byId.delete(id);
      letGo(f);
    },

    earlier(ids) {
      const proofs = new Map<string, T>();
      for (const file of earlierFiles) {
        // last line wins
        for (const entry of entriesIn<T>(file)) if (ids.has(entry.id) && entry.proof !== undefined) proofs.set(entry.id, entry.proof);
      }
      return proofs;
    },

    inUse(ids) {
      const busy = new Set<string>();
      let names: string[];
      try {
        names = readdirSync(dir).filter((n) => n.endsWith(SUFFIX) && ofLiveOther(n));
      } catch {
        return busy;
      }
      for (const name of names) {
        for (const id of idsIn(path.join(dir, name))) if (ids.has(id)) busy.add(id);
      }
      return busy;
    },

    dropEarlier() {
      for (const file of earlierFiles.splice(0)) rmSync(file, { force: true });
    },

    close() {
      for (const f of [...full]) {
        if (f.outstanding === 0) retireFile(f);
        else closeSync(f.fd);
      }
      if (current) {
        closeSync(current.fd);
        if (current.outstanding === 0) rmSync(current.file, { force: true });
        current = undefined;
      }
    },
  };
}
