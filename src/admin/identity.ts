// Login, logout and devices: plain services over the pool, never the request.
import type { Sql } from "../db/client";
import { ApiError, notFound } from "../errors";
import { hashSecret, newSecret } from "../tokens";
import { mapDbError, write } from "./tx";
import type { LoginThrottle } from "../ratelimit/login-throttle";

// A real argon2id hash of a random password: unknown users are checked against it so that a
// login for a missing user costs exactly what a wrong password costs.
const DUMMY_HASH = await Bun.password.hash(newSecret(), "argon2id");

const badLogin = () => new ApiError("unauthorized", "invalid username or password");

/** Checks a password against a stored hash (argon2id/bcrypt via Bun.password). */
export async function checkPassword(password: string, stored: string | null): Promise<boolean> {
  if (!stored) {
    await Bun.password.verify(password, DUMMY_HASH).catch(() => false);
    return false;
  }
  try {
    return await Bun.password.verify(password, stored);
  } catch {
    return false;
  }
}

export interface Session {
  token: string;
  token_id: string;
  expires_at: string;
  scopes: string[];
}

export async function login(
  sql: Sql, throttle: LoginThrottle, ttlMs: number, username: string, password: string, source: string,
): Promise<Session> {
  throttle.check(username, source);
  let user;
  try {
    [user] = await sql`select id, password_hash, active, valid_from, valid_until from users where username = ${username}`;
  } catch (e) {
    throw mapDbError(e);
  }
  const ok = await checkPassword(password, user?.password_hash ?? null);
  const now = Date.now();
  const usable = ok && user!.active && !(user!.valid_from && user!.valid_from.getTime() > now)
    && !(user!.valid_until && user!.valid_until.getTime() <= now);
  if (!usable) {
    throttle.failed(username, source);
    throw badLogin();
  }
  throttle.succeeded(username);
  const token = newSecret();
  const expiresAt = new Date(now + ttlMs);
  const w = await write(sql, { credentialId: null }, async (tx, audit) => {
    const [c] = await tx`insert into credentials (user_id, kind, label, scopes, secret_hash, expires_at)
      values (${user!.id}, 'session', 'login', ${["user"]}, ${hashSecret(token)}, ${expiresAt}) returning id`;
    audit({ action: "login", entity: "credential", entityId: c!.id, before: null, after: { id: c!.id, user_id: user!.id, kind: "session", expires_at: expiresAt.toISOString() } });
    return c!.id as string;
  });
  return { token, token_id: w.value, expires_at: expiresAt.toISOString(), scopes: ["user"] };
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
