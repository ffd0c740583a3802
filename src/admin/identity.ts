// Who holds a secret, login, logout and devices: plain services over the pool, never the request.
import type { Sql } from "../db/client";
import { retryOnDeadConnection } from "../db/retry";
import { ApiError, notFound } from "../errors";
import { hashSecret, newSecret } from "../tokens";
import { verifyPassword } from "./passwords";
import { write } from "./tx";
import { isConnectionError, mapDbError } from "../db/errors";
import type { LoginThrottle } from "../ratelimit/login-throttle";

/** A bearer-style secret's credential with its user's state, read from Postgres (never the index). */
export interface CredentialRow {
  id: string;
  user_id: string;
  kind: string;
  scopes: string[];
  revoked_at: Date | null;
  expires_at: Date | null;
  valid_from: Date | null;
  active: boolean;
  user_from: Date | null;
  user_until: Date | null;
  /** For a session derived from another credential (an admin login): whether that one still holds. */
  source_usable: boolean | null;
}

/** The credential holding `secret`, or undefined; `unreachable` makes the error for a lost database. */
export async function findCredential(sql: Sql, secret: string, unreachable: () => Error): Promise<CredentialRow | undefined> {
  try {
    const rows = await retryOnDeadConnection("authentication", () => sql<CredentialRow[]>`
      select c.id, c.user_id, c.kind, c.scopes, c.revoked_at, c.expires_at, c.valid_from,
             u.active, u.valid_from as user_from, u.valid_until as user_until,
             case when c.source_credential_id is null then null
                  else coalesce(s.revoked_at is null and (s.expires_at is null or s.expires_at > now())
                       and (s.valid_from is null or s.valid_from <= now())
                       and (not ('admin' = any(c.scopes)) or 'admin' = any(s.scopes)), false) end as source_usable
      from credentials c join users u on u.id = c.user_id
      left join credentials s on s.id = c.source_credential_id
      where c.secret_hash = ${hashSecret(secret)}`.execute());
    return rows[0];
  } catch (e) {
    if (isConnectionError(e)) throw unreachable();
    throw e;
  }
}

const badLogin = () => new ApiError("unauthorized", "invalid username or password");

export interface Session {
  token: string;
  token_id: string;
  expires_at: string;
  scopes: string[];
}

/** A user whose password just matched, and the argon2id re-hash to store when the old hash is weaker. */
export interface CheckedLogin {
  user: { id: string; password_hash: string };
  rehash: string | null;
}

/**
 * The password check shared by the native and the openway login: throttled (counted as a failure
 * up front, given back on success — see login-throttle.ts), an unknown user costs one dummy hash
 * check like a wrong password, and inactive or out-of-validity users fail the same way.
 * Null when the credentials do not log in.
 */
export async function checkLogin(sql: Sql, throttle: LoginThrottle, username: string, password: string, source: string): Promise<CheckedLogin | null> {
  const countedAt = await throttle.check(username, source);
  let user;
  try {
    [user] = await sql`select id, password_hash, active, valid_from, valid_until from users where username = ${username}`;
  } catch (e) {
    await throttle.cancelled(username, source, countedAt);
    throw mapDbError(e);
  }
  const check = await verifyPassword(password, user?.password_hash ?? null);
  const now = Date.now();
  const usable = check.ok && user!.active && !(user!.valid_from && user!.valid_from.getTime() > now)
    && !(user!.valid_until && user!.valid_until.getTime() <= now);
  if (!usable) return null; // the attempt stays counted as a failure
  await throttle.succeeded(username, source, countedAt);
  // A Django (imported) or bcrypt hash that just matched becomes argon2id, hashed before any transaction.
  const rehash = check.needsRehash ? await Bun.password.hash(password, "argon2id") : null;
  return { user: { id: user!.id, password_hash: user!.password_hash }, rehash };
}

export async function login(
  sql: Sql, throttle: LoginThrottle, ttlMs: number, username: string, password: string, source: string,
  scope: "user" | "admin" = "user",
): Promise<Session> {
  const checked = await checkLogin(sql, throttle, username, password, source);
  if (checked === null) throw badLogin();
  const { user, rehash } = checked;
  const now = Date.now();
  const scopes = scope === "admin" ? ["admin", "user"] : ["user"];
  const token = newSecret();
  let expiresAt = new Date(now + ttlMs);
  const w = await write(sql, { credentialId: null }, async (tx, audit) => {
    if (rehash) await tx`update users set password_hash = ${rehash}, updated_at = now() where id = ${user.id} and password_hash = ${user.password_hash}`;
    // An admin session only for a user who holds a live admin credential that is not itself a
    // session; the session records it as its source and lives no longer than it (0007_session_source.sql):
    // revoking, narrowing or expiring that credential ends the session at once.
    let from: { id: string; expires_at: Date | null } | undefined;
    if (scope === "admin") {
      [from] = await tx<{ id: string; expires_at: Date | null }[]>`select id, expires_at from credentials
        where user_id = ${user.id} and 'admin' = any(scopes) and kind <> 'session'
          and revoked_at is null and (expires_at is null or expires_at > now()) and (valid_from is null or valid_from <= now())
        order by expires_at desc nulls first, created_at, id limit 1`;
      if (!from) throw new ApiError("forbidden", "this user holds no active admin credential", { field: "scope" });
      if (from.expires_at && from.expires_at < expiresAt) expiresAt = from.expires_at;
    }
    const [c] = await tx`insert into credentials (user_id, kind, label, scopes, secret_hash, expires_at, source_credential_id)
      values (${user.id}, 'session', ${scope === "admin" ? "admin login" : "login"}, ${scopes}, ${hashSecret(token)}, ${expiresAt}, ${from?.id ?? null}) returning id`;
    audit({ action: "login", entity: "credential", entityId: c!.id, before: null, after: { id: c!.id, user_id: user.id, kind: "session", scopes, expires_at: expiresAt.toISOString() } });
    return c!.id as string;
  });
  return { token, token_id: w.value, expires_at: expiresAt.toISOString(), scopes };
}

/** Revokes the caller's own credential (logout). */
export async function revokeOwnToken(sql: Sql, credentialId: string): Promise<number> {
  const w = await write(sql, { credentialId }, async (tx, audit) => {
    const [c] = await tx`update credentials set revoked_at = now(), updated_at = now()
                         where id = ${credentialId} and revoked_at is null returning id`;
    if (c) audit({ action: "logout", entity: "credential", entityId: credentialId, before: null, after: { revoked: true } });
  });
  return w.revision;
}

export async function registerDevice(sql: Sql, caller: { credentialId: string; userId: string }, name: string, platform: string) {
  const token = newSecret();
  const w = await write(sql, caller, async (tx, audit) => {
    const [c] = await tx`insert into credentials (user_id, kind, label, scopes, secret_hash)
      values (${caller.userId}, 'device', ${name}, ${[]}, ${hashSecret(token)}) returning id`;
    const [d] = await tx`insert into devices (user_id, credential_id, name, platform)
      values (${caller.userId}, ${c!.id}, ${name}, ${platform}) returning id`;
    audit({ action: "register_device", entity: "device", entityId: d!.id, before: null, after: { id: d!.id, user_id: caller.userId, name, platform, credential_id: c!.id } });
    return { device_id: d!.id as string, token, token_id: c!.id as string };
  });
  return { ...w.value, revision: w.revision };
}

export async function listMyDevices(sql: Sql, userId: string) {
  try {
    const rows = await sql`select id, name, platform, created_at, last_seen_at from devices
                           where user_id = ${userId} and revoked_at is null order by created_at desc, id desc limit 1000`;
    return rows.map((r) => ({
      device_id: r.id, name: r.name, platform: r.platform,
      created_at: r.created_at.toISOString(), last_seen_at: r.last_seen_at ? r.last_seen_at.toISOString() : null,
    }));
  } catch (e) {
    throw mapDbError(e);
  }
}

/** Deletes one of the caller's devices and revokes its credential; another user's device is 404. */
export async function deleteMyDevice(sql: Sql, caller: { credentialId: string; userId: string }, deviceId: string): Promise<number> {
  const w = await write(sql, caller, async (tx, audit) => {
    const [d] = await tx`update devices set revoked_at = now()
      where id = ${deviceId} and user_id = ${caller.userId} and revoked_at is null returning id, credential_id`;
    if (!d) throw notFound("device");
    if (d.credential_id) await tx`update credentials set revoked_at = now(), updated_at = now() where id = ${d.credential_id} and revoked_at is null`;
    audit({ action: "delete_device", entity: "device", entityId: deviceId, before: { id: deviceId }, after: null });
  });
  return w.revision;
}
