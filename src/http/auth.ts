// Bearer authentication for everything but verify, health, metrics and docs. Checked against
// Postgres, not the index: an admin call must never pass on a token revoked a moment ago.
import type { Sql } from "../db/client";
import { ApiError } from "../errors";
import { findCredential } from "../admin/identity";
import type { Actor } from "../admin/tx";

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
