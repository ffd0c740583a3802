// `Authorization: Token <key>` as DRF's TokenAuthentication checks it, with its messages; 401
// answers carry `WWW-Authenticate: Token`. The key is any live login token of the user: a compat
// login token, an imported DRF token, or a native session (kind "session" with the "user" scope).
// Device tokens open gates, not these endpoints (as in the original). Checked against Postgres,
// not the index, like the native API's bearer tokens: a revoked token is refused at once.
import type { Sql } from "../db/client";
import { findCredential } from "../admin/identity";
import { DrfError, detail } from "./drf";

export interface CompatCaller {
  credentialId: string;
  userId: string;
}

const CHALLENGE = { "www-authenticate": "Token" };
const unauthorized = (message: string) => new DrfError(401, { detail: message }, CHALLENGE);

export async function tokenAuth(sql: Sql, header: string | null): Promise<CompatCaller> {
  // DRF splits the header on whitespace and compares the keyword case-insensitively.
  const parts = (header ?? "").split(/\s+/).filter((p) => p !== "");
  if (parts.length === 0 || parts[0]!.toLowerCase() !== "token") throw unauthorized("Authentication credentials were not provided.");
  if (parts.length === 1) throw unauthorized("Invalid token header. No credentials provided.");
  if (parts.length > 2) throw unauthorized("Invalid token header. Token string should not contain spaces.");
  const key = parts[1]!;
  if (key.length > 1024 || !/^[\x21-\x7e]+$/.test(key)) throw unauthorized("Invalid token header. Token string should not contain invalid characters.");
  const c = await findCredential(sql, key, () => detail(503, "Service temporarily unavailable, try again later.", { "retry-after": "1" }));
  const now = Date.now();
  if (!c || c.kind !== "session" || !c.scopes.includes("user") || c.revoked_at || c.source_usable === false
    || (c.expires_at && c.expires_at.getTime() <= now) || (c.valid_from && c.valid_from.getTime() > now)) {
    throw unauthorized("Invalid token.");
  }
  if (!c.active || (c.user_from && c.user_from.getTime() > now) || (c.user_until && c.user_until.getTime() <= now)) {
    throw unauthorized("User inactive or deleted.");
  }
  return { credentialId: c.id, userId: c.user_id };
}
