/**
 * What a suite needs from outside the repository (PostgreSQL, Chromium, the
 * shared corpus, Postfix's programs, openssl), and what happens when it is
 * absent.
 *
 * A suite that skips is a suite that did not run. Under `CI=true` a missing
 * requirement fails the test file that needs it, with one line naming what is
 * missing and how to provide it; elsewhere the suite is skipped, and the
 * reason is printed and counted by the summary reporter (tests/helpers/summary-reporter.ts),
 * so a developer without PostgreSQL sees "skipped" rather than nothing.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

/** True when the run is CI's (`.ci/run` exports CI=true): nothing may be skipped for want of a tool. */
export const inCi = /^(1|true|yes)$/i.test(process.env.CI ?? "");

/**
 * Checks one requirement. Returns "" when it is present, or the reason it is
 * missing (outside CI; the caller skips with it). Under CI, throws instead, so
 * the test file fails at load with that reason.
 */
export function requirement(name: string, missing: string | undefined): string {
  if (!missing) return "";
  const line = `${name} is missing: ${missing}`;
  if (inCi) throw new Error(`${line} (required under CI=true: nothing may be skipped there)`);
  console.warn(`SKIPPED: ${line}`);
  return line;
}

/** An executable on PATH (or at an absolute path), as `which` would find it. */
export function findProgram(name: string): string | undefined {
  if (path.isAbsolute(name)) return existsSync(name) ? name : undefined;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  for (const dir of ["/usr/sbin", "/usr/local/sbin", "/sbin"]) {
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Whether a command runs at all (e.g. `openssl version`). */
export function runs(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
