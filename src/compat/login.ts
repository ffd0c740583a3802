// POST /api/v1/auth/token on the compatibility port: DRF's obtain_auth_token. The answer is the
// user's one login token, the same on every login until it is revoked (see token-key.ts for how
// that works without storing it). Failed logins count against the same throttle as native logins.
import type { Sql } from "../db/client";
import { checkLogin } from "../admin/identity";
import { write } from "../admin/tx";
import { mapDbError } from "../db/errors";
import type { LoginThrottle } from "../ratelimit/login-throttle";
import { hashSecret } from "../tokens";
import type { TokenKey } from "./token-key";

/** The login token of the user, or null when the credentials do not log in (DRF's 400). */
export async function compatLogin(
  sql: Sql, throttle: LoginThrottle, key: TokenKey, username: string, password: string, source: string,
): Promise<string | null> {
  const checked = await checkLogin(sql, throttle, username, password, source);
  if (checked === null) return null;
  const { user, rehash } = checked;
  const userId = user.id;

  // The common case writes nothing: the user already has a live, derivable login token.
  if (rehash === null) {
    try {
      const token = findToken(key, await liveLoginCredentials(sql, userId));
      if (token !== null) return token;
    } catch (e) {
      throw mapDbError(e);
    }
  }
  const w = await write(sql, { credentialId: null }, async (tx, audit) => {
    // A Django pbkdf2 (or bcrypt) hash becomes argon2id on the first successful login.
    if (rehash !== null) {
      await tx`update users set password_hash = ${rehash}, updated_at = now() where id = ${userId} and password_hash = ${user.password_hash}`;
    }
    // Under the revision lock (write() takes it first): two logins at once make one credential.
    const existing = findToken(key, await liveLoginCredentials(tx as unknown as Sql, userId));
    if (existing !== null) return existing;
    const id = (await tx<{ id: string }[]>`select pcl_id('c_') as id`)[0]!.id;
    const token = key.loginToken(id);
    await tx`insert into credentials (id, user_id, kind, label, scopes, secret_hash, openway_role)
             values (${id}, ${userId}, 'session', 'openway login', ${["user"]}, ${hashSecret(token)}, 'login')`;
    audit({ action: "login", entity: "credential", entityId: id, before: null, after: { id, user_id: userId, kind: "session", scopes: ["user"], via: "openway" } });
    return token;
  });
  return w.value;
}

async function liveLoginCredentials(sql: Sql, userId: string): Promise<Array<{ id: string; secret_hash: string }>> {
  return await sql<{ id: string; secret_hash: string }[]>`
    select id, secret_hash from credentials
    where user_id = ${userId} and openway_role = 'login' and revoked_at is null
      and (expires_at is null or expires_at > now()) and (valid_from is null or valid_from <= now())
    order by created_at, id`;
}

/** The token of the oldest credential whose token this key derives (another key's are skipped). */
function findToken(key: TokenKey, rows: Array<{ id: string; secret_hash: string }>): string | null {
  for (const r of rows) {
    const token = key.loginToken(r.id);
    if (hashSecret(token) === r.secret_hash) return token;
  }
  return null;
}
