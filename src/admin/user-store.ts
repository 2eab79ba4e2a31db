/**
 * Console accounts in <dataDir>/admin.sqlite (better-sqlite3).
 *
 * SECURITY: user names are validated (a short ASCII pattern) before they reach
 * SQL (always bound as parameters anyway) or the audit trail; passwords are
 * stored only as scrypt hashes (see password.ts). A crash mid-write leaves the
 * previous row: every change is one SQLite statement (atomic).
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { DEFAULT_COST, hashPassword, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, type ScryptCost } from "./password.ts";

export const roles = ["viewer", "operator", "admin"] as const;
export type Role = (typeof roles)[number];

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** viewer < operator < admin */
export function roleAtLeast(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (roles as readonly string[]).includes(value);
}

const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function isUserName(value: string): boolean {
  return USER_NAME.test(value);
}

export class UserError extends Error {
  override name = "UserError";
  readonly code: "EBADNAME" | "EBADROLE" | "EWEAKPASSWORD" | "EEXISTS" | "ENOUSER" | "ELASTADMIN";
  constructor(code: UserError["code"], message: string) {
    super(message);
    this.code = code;
  }
}

export interface User {
  name: string;
  role: Role;
  passwordHash: string;
  createdAt: string;
  updatedAt: string;
}

export interface UserStore {
  get(name: string): User | undefined;
  list(): User[];
  add(name: string, role: Role, password: string): Promise<User>;
  setPassword(name: string, password: string): Promise<void>;
  remove(name: string): void;
  close(): void;
}

export function checkPassword(password: string): void {
  if ([...password].length < MIN_PASSWORD_LENGTH) {
    throw new UserError("EWEAKPASSWORD", `the password must have at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    throw new UserError("EWEAKPASSWORD", `the password must have at most ${MAX_PASSWORD_LENGTH} characters`);
  }
}

export function userDbPath(dataDir: string): string {
  return path.join(dataDir, "admin.sqlite");
}

/** Opens (creating when needed) the account database. `cost` is for tests; production uses the default. */
export function openUserStore(dataDir: string, options: { cost?: ScryptCost; now?: () => Date } = {}): UserStore {
  const cost = options.cost ?? DEFAULT_COST;
  const now = options.now ?? (() => new Date());
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = new Database(userDbPath(dataDir));
  db.pragma("journal_mode = WAL");
  db.pragma("busy_timeout = 5000");
  db.exec(`CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    role TEXT NOT NULL CHECK (role IN ('viewer','operator','admin')),
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  )`);
  type Row = { name: string; role: Role; password_hash: string; created_at: string; updated_at: string };
  const toUser = (row: Row): User => ({
    name: row.name,
    role: row.role,
    passwordHash: row.password_hash,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  });
  const getStmt = db.prepare<[string], Row>("SELECT * FROM users WHERE name = ?");
  const listStmt = db.prepare<[], Row>("SELECT * FROM users ORDER BY name");
  const insertStmt = db.prepare("INSERT INTO users (name, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)");
  const passwdStmt = db.prepare("UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?");
  const deleteStmt = db.prepare("DELETE FROM users WHERE name = ?");
  const adminCount = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM users WHERE role = 'admin'");

  const validName = (name: string) => {
    if (!isUserName(name)) {
      throw new UserError("EBADNAME", "a user name is 1–64 characters: letters, digits and . _ @ - (starting with a letter or digit)");
    }
  };

  return {
    get(name) {
      if (!isUserName(name)) return undefined;
      const row = getStmt.get(name);
      return row && toUser(row);
    },
    list() {
      return listStmt.all().map(toUser);
    },
    async add(name, role, password) {
      validName(name);
      if (!isRole(role)) throw new UserError("EBADROLE", `the role must be one of ${roles.join(", ")}`);
      checkPassword(password);
      if (getStmt.get(name)) throw new UserError("EEXISTS", `the user ${name} already exists`);
      const hash = await hashPassword(password, cost);
      const at = now().toISOString();
      try {
        insertStmt.run(name, role, hash, at, at);
      } catch (error) {
        if ((error as { code?: string }).code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
          throw new UserError("EEXISTS", `the user ${name} already exists`);
        }
        throw error;
      }
      return toUser(getStmt.get(name)!);
    },
    async setPassword(name, password) {
      validName(name);
      checkPassword(password);
      if (!getStmt.get(name)) throw new UserError("ENOUSER", `no user ${name}`);
      const hash = await hashPassword(password, cost);
      passwdStmt.run(hash, now().toISOString(), name);
    },
    remove(name) {
      validName(name);
      const row = getStmt.get(name);
      if (!row) throw new UserError("ENOUSER", `no user ${name}`);
      // Removing the last administrator would leave nobody able to manage accounts from the console.
      if (row.role === "admin" && adminCount.get()!.n <= 1) {
        throw new UserError("ELASTADMIN", "the last administrator cannot be removed");
      }
      deleteStmt.run(name);
    },
    close() {
      db.close();
    },
  };
}
