/**
 * A private Postfix instance (Debian's package) for tests and benchmarks: its
 * own main.cf, master.cf, queue, data directory and maillog in a temporary
 * directory, one smtpd on a loopback port, no chroot, no local delivery unless
 * asked. Several can run at once (each has its own queue and master.lock).
 *
 * Needs root (Postfix's master starts as root and drops to `mail_owner`) and
 * the programs `postfix`, `postconf` (Debian: postfix, in /usr/sbin).
 * `postfixMissing()` says what is missing, for a skip or a CI failure.
 *
 * SECURITY: listens on 127.0.0.1 only; the instance is stopped (and its
 * master killed if it lingers) by `stop()`.
 */
import { spawnSync } from "node:child_process";
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export interface PostfixInstance {
  dir: string;
  port: number;
  /** Postfix's own log of this instance (written by postlogd, a little behind) */
  maillog(): Promise<string>;
  /** messages in the queue: maildrop, incoming, active, deferred, hold */
  queued(): Promise<number>;
  /** uid and gid of mail_owner (for directories Postfix's daemons must write) */
  owner: { uid: number; gid: number };
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd} || test -x /usr/sbin/${cmd}`], { stdio: "ignore" }).status === 0;

/** Why a private Postfix cannot run here, or undefined when it can. */
export function postfixMissing(): string | undefined {
  const missing = ["postfix", "postconf", "smtp-sink", "smtp-source"].filter((c) => !has(c));
  if (missing.length) return `missing ${missing.join(", ")} (Debian package postfix, programs in /usr/sbin)`;
  if (process.getuid?.() !== 0) return "Postfix's master must start as root";
  return undefined;
}

/** uid and gid of Postfix's mail_owner (the daemons' user). */
export function postfixOwner(): { uid: number; gid: number } {
  const name = spawnSync("postconf", ["-h", "mail_owner"], { encoding: "utf8" }).stdout.trim() || "postfix";
  return {
    uid: Number(spawnSync("id", ["-u", name], { encoding: "utf8" }).stdout.trim()),
    gid: Number(spawnSync("id", ["-g", name], { encoding: "utf8" }).stdout.trim()),
  };
}

/** Debian's master.cf without chroot, local delivery or pipes; smtpd on the given port only. */
function masterCf(port: number, extra: string[]): string {
  return [
    `127.0.0.1:${port} inet n - n - - smtpd`,
    "pickup    unix  n - n 60    1 pickup",
    "cleanup   unix  n - n -     0 cleanup",
    "qmgr      unix  n - n 300   1 qmgr",
    "rewrite   unix  - - n -     - trivial-rewrite",
    "bounce    unix  - - n -     0 bounce",
    "defer     unix  - - n -     0 bounce",
    "trace     unix  - - n -     0 bounce",
    "verify    unix  - - n -     1 verify",
    "flush     unix  n - n 1000? 0 flush",
    "proxymap  unix  - - n -     - proxymap",
    "proxywrite unix - - n -     1 proxymap",
    "smtp      unix  - - n -     - smtp",
    "relay     unix  - - n -     - smtp",
    "showq     unix  n - n -     - showq",
    "error     unix  - - n -     - error",
    "retry     unix  - - n -     - error",
    "discard   unix  - - n -     - discard",
    "anvil     unix  - - n -     1 anvil",
    "scache    unix  - - n -     1 scache",
    "postlog   unix-dgram n - n - 1 postlogd",
    ...extra,
    "",
  ].join("\n");
}

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) n += await countFiles(path.join(dir, e.name));
    else if (!e.name.startsWith(".")) n += 1;
  }
  return n;
}

async function listening(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.on("connect", () => (s.destroy(), resolve(true)));
    s.on("error", () => resolve(false));
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Starts a Postfix instance. `main` lines follow the base configuration (a
 * later line wins in main.cf; `{dir}` stands for the instance directory);
 * `files` are written into that directory first (maps, for `texthash:`
 * lookups), `master` adds master.cf services.
 */
export async function startPostfix(o: {
  name: string;
  port: number;
  main?: string[];
  master?: string[];
  files?: Record<string, string>;
  /** directories made in the instance directory and given to mail_owner (a mailbox base) */
  ownedDirs?: string[];
}): Promise<PostfixInstance> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `mumuka-postfix-${o.name}-`));
  await chmod(dir, 0o755); // Postfix's daemons run as mail_owner and must reach their queue
  const confDir = path.join(dir, "conf");
  const queueDir = path.join(dir, "queue");
  const dataDir = path.join(dir, "data");
  const maillog = path.join(dir, "maillog");
  await Promise.all([mkdir(confDir), mkdir(queueDir), mkdir(dataDir)]);
  const owner = postfixOwner();
  await chown(dataDir, owner.uid, owner.gid); // master.lock, caches
  for (const [name, content] of Object.entries(o.files ?? {})) await writeFile(path.join(dir, name), content);
  for (const name of o.ownedDirs ?? []) {
    await mkdir(path.join(dir, name));
    await chown(path.join(dir, name), owner.uid, owner.gid);
  }
  const main = [
    "compatibility_level = 3.6",
    `queue_directory = ${queueDir}`,
    `data_directory = ${dataDir}`,
    `syslog_name = postfix-${o.name}`,
    "inet_interfaces = 127.0.0.1",
    "inet_protocols = ipv4",
    "mynetworks = 127.0.0.0/8",
    "mydestination =",
    "alias_maps =",
    "alias_database =",
    "local_recipient_maps =",
    "smtp_tls_security_level = none",
    "smtpd_tls_security_level = none",
    `maillog_file = ${maillog}`,
    `maillog_file_prefixes = ${dir}`,
    // tests want a refused or unreachable next hop to show at once, not after minutes
    "queue_run_delay = 1s",
    "minimal_backoff_time = 1s",
    "maximal_backoff_time = 2s",
    ...(o.main ?? []),
    "",
  ].join("\n");
  await writeFile(path.join(confDir, "main.cf"), main.replaceAll("{dir}", dir));
  await writeFile(path.join(confDir, "master.cf"), masterCf(o.port, o.master ?? []));

  let started = false;
  const stop = async () => {
    if (!started) return void (await rm(dir, { recursive: true, force: true }));
    started = false;
    const pid = Number((await readFile(path.join(queueDir, "pid", "master.pid"), "utf8").catch(() => "")).trim());
    spawnSync("postfix", ["-c", confDir, "stop"], { stdio: "ignore", timeout: 30_000 });
    // `postfix stop` returns before the master has taken its children down
    for (let i = 0; pid > 0 && alive(pid) && i < 100; i++) await sleep(100);
    if (pid > 0 && alive(pid)) process.kill(pid, "SIGKILL");
    await rm(dir, { recursive: true, force: true });
  };
  started = true;
  const run = spawnSync("postfix", ["-c", confDir, "start"], { encoding: "utf8", timeout: 60_000 });
  if (run.status !== 0) {
    const log = await readFile(maillog, "utf8").catch(() => "");
    await stop();
    throw new Error(`postfix ${o.name} did not start (${run.status}):\n${run.stdout}${run.stderr}${log}`);
  }
  for (let i = 0; !(await listening(o.port)); i++) {
    if (i > 300) {
      await stop();
      throw new Error(`postfix ${o.name} did not listen on ${o.port}`);
    }
    await sleep(100);
  }
  return {
    dir,
    port: o.port,
    owner,
    maillog: () => readFile(maillog, "utf8").catch(() => ""),
    queued: async () => {
      let n = 0;
      for (const q of ["maildrop", "incoming", "active", "deferred", "hold"]) n += await countFiles(path.join(queueDir, q));
      return n;
    },
    stop,
  };
}
