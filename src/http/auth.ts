// Bearer authentication for everything but verify, health, metrics and docs. Checked against
// Postgres, not the index: an admin call must never pass on a token revoked a moment ago.
import type { Sql } from "../db/client";
import { ApiError } from "../errors";
import { hashSecret } from "../tokens";
import type { Actor } from "../admin/tx";
import { isConnectionError } from "../db/errors";

export type Scope = "admin" | "user";

export interface Caller extends Actor {
  credentialId: string;
  userId: string;
  scopes: string[];
  kind: string;
}

const unauthorized = (message: string) => new ApiError("unauthorized", message);

/** The bearer secret of an Authorization header, or null when there is none or it is malformed. */
export function bearer(header: string | null | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer[ ]+([\x21-\x7e]{1,1024})$/i.exec(header);
  return m ? m[1]! : null;
}

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
    const rows = await sql<CredentialRow[]>`
      select c.id, c.user_id, c.kind, c.scopes, c.revoked_at, c.expires_at, c.valid_from,
             u.active, u.valid_from as user_from, u.valid_until as user_until,
             case when c.source_credential_id is null then null
                  else coalesce(s.revoked_at is null and (s.expires_at is null or s.expires_at > now())
                       and (s.valid_from is null or s.valid_from <= now())
                       and (not ('admin' = any(c.scopes)) or 'admin' = any(s.scopes)), false) end as source_usable
      from credentials c join users u on u.id = c.user_id
      left join credentials s on s.id = c.source_credential_id
      where c.secret_hash = ${hashSecret(secret)}`;
    return rows[0];
  } catch (e) {
    if (isConnectionError(e)) throw unreachable();
    throw e;
  }
}

/**
 * The caller of an admin or user route, or 401/403. `scope`: the scope the route needs, or a list
 * of which any one will do. A token without scopes (a card, PIN or device secret: read by every
 * gate reader, possibly 4 characters long) is refused by every route that authenticates.
 */
export async function authenticate(sql: Sql, header: string | null | undefined, scope: Scope | readonly Scope[]): Promise<Caller> {
  if (!header) throw unauthorized("missing bearer token");
  const secret = bearer(header);
  if (secret === null) throw unauthorized("malformed Authorization header; expected: Bearer <token>");
  const c = await findCredential(sql, secret, () => new ApiError("unavailable", "the database is unreachable; try again shortly", undefined, 1));
  const now = Date.now();
  if (!c) throw unauthorized("unknown token");
  if (c.revoked_at) throw unauthorized("token revoked");
  if (c.expires_at && c.expires_at.getTime() <= now) throw unauthorized("token expired");
  if (c.valid_from && c.valid_from.getTime() > now) throw unauthorized("token not yet valid");
  if (c.source_usable === false) throw unauthorized("the credential this session was derived from is revoked, expired or no longer has its scope");
  if (!c.active || (c.user_from && c.user_from.getTime() > now) || (c.user_until && c.user_until.getTime() <= now)) {
    throw unauthorized("the token's user is inactive");
  }
  const needed = typeof scope === "string" ? [scope] : scope;
  if (!needed.some((x) => c.scopes.includes(x))) throw new ApiError("forbidden", `this route needs the ${needed.join(" or ")} scope`);
  return { credentialId: c.id, userId: c.user_id, scopes: c.scopes, kind: c.kind };
}
