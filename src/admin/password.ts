/**
 * Password hashing for console accounts: scrypt from node:crypto.
 *
 * Why scrypt: it is memory-hard (an attacker with GPUs/ASICs pays in RAM, not
 * only in cycles) and ships with Node, so no native add-on is needed.
 * Parameters: N = 2^17, r = 8, p = 1 — the OWASP Password Storage Cheat Sheet
 * recommendation. Memory is 128 · N · r = 128 MiB per hash; about 0.3 s of one
 * core on a small VM, acceptable for a console with a handful of logins a day,
 * and login rate limiting bounds how often an attacker can make us pay it.
 * The parameters are stored with each hash, so they can be raised later and
 * old hashes still verify.
 *
 * Format: scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

export interface ScryptCost {
  log2N: number;
  r: number;
  p: number;
}

export const DEFAULT_COST: ScryptCost = { log2N: 17, r: 8, p: 1 };
const SALT_BYTES = 16; // 128 bits: unique per hash with overwhelming probability
const KEY_BYTES = 32;
/** A password longer than this is refused before hashing (a 1 MB "password" would be pointless work). */
export const MAX_PASSWORD_LENGTH = 1024;
export const MIN_PASSWORD_LENGTH = 12;

function derive(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  const N = 2 ** cost.log2N;
  const options: ScryptOptions = { N, r: cost.r, p: cost.p, maxmem: 128 * N * cost.r * 2 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize("NFC"), salt, KEY_BYTES, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

export async function hashPassword(password: string, cost: ScryptCost = DEFAULT_COST): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, cost);
  return `scrypt$${cost.log2N}$${cost.r}$${cost.p}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/** Parses a stored hash; undefined when it is not one of ours (so it never verifies). */
function parse(stored: string): { cost: ScryptCost; salt: Buffer; key: Buffer } | undefined {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return undefined;
  const [log2N, r, p] = parts.slice(1, 4).map((x) => Number.parseInt(x, 10));
  if (!log2N || !r || !p || log2N < 10 || log2N > 22 || r > 32 || p > 16) return undefined;
  return { cost: { log2N, r, p }, salt: Buffer.from(parts[4]!, "base64"), key: Buffer.from(parts[5]!, "base64") };
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (password.length > MAX_PASSWORD_LENGTH) return false;
  const parsed = parse(stored);
  if (!parsed || parsed.key.length !== KEY_BYTES) return false;
  const key = await derive(password, parsed.salt, parsed.cost);
  return timingSafeEqual(key, parsed.key);
}

/** A hash that no password matches in practice, verified against when the user does not exist (equal timing). */
export function dummyHash(cost: ScryptCost = DEFAULT_COST): string {
  return `scrypt$${cost.log2N}$${cost.r}$${cost.p}$${Buffer.alloc(SALT_BYTES).toString("base64")}$${Buffer.alloc(KEY_BYTES).toString("base64")}`;
}
