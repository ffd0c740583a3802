// The set-based SQL both imports share: the file import (import-upsert.ts) and the openway import
// (compat/openway-import/). What differs between them stays with each; what is the same is here,
// once: the array parameter, the inserted/updated count of an upsert, adding memberships, and the
// check that an import never moves a credential to another user or changes its kind.
import type postgres from "postgres";
import type { Tx } from "./tx";

/** A Postgres array literal of text (NULL for null/undefined): sent as one text parameter and
 *  cast in SQL (`::text[]`, `::timestamptz[]`, `::bool[]` …). Independent of postgres.js's array
 *  type inference, which needs the array type oids fetched first. */
export function pgArray(xs: ArrayLike<unknown>): string {
  const parts = new Array<string>(xs.length);
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (x === null || x === undefined) parts[i] = "NULL";
    else {
      const s = String(x);
      parts[i] = /[\\"]/.test(s) ? `"${s.replace(/[\\"]/g, "\\$&")}"` : `"${s}"`;
    }
  }
  return `{${parts.join(",")}}`;
}

export type Counts = { inserted: number; updated: number };

/**
 * Runs `upsert` — an `insert … on conflict … do update … returning xmax = 0 as inserted` — and
 * counts its rows: xmax is 0 on a row the statement inserted, the id of the updating transaction
 * on one it updated.
 */
export async function upserted(tx: Tx, upsert: postgres.Fragment): Promise<Counts> {
  const [c] = await tx`
    with ins as (${upsert})
    select count(*) filter (where inserted)::int as inserted, count(*) filter (where not inserted)::int as updated from ins`;
  return c as unknown as Counts;
}

/** Adds the (group_id, user_id) pairs `pairs` selects that are not stored yet (never removes any). */
export async function addMemberships(tx: Tx, pairs: postgres.Fragment): Promise<Counts> {
  // The anti-join skips stored memberships cheaply; `on conflict` covers a concurrent insert.
  const [c] = await tx`
    with ins as (
      insert into memberships (group_id, user_id)
      select p.group_id, p.user_id from (${pairs}) p
      where not exists (select 1 from memberships x where x.group_id = p.group_id and x.user_id = p.user_id)
      on conflict (group_id, user_id) do nothing
      returning 1)
    select count(*)::int as inserted, 0 as updated from ins`;
  return c as unknown as Counts;
}

export interface ForeignCredentials {
  /** Position (0-based) of the first such secret. */
  index: number;
  /** It belongs to another user (else: to a credential of another kind). */
  otherUser: boolean;
  /** How many of the secrets are such. */
  n: number;
}

/**
 * Secrets (SHA-256 hashes) that already belong to a stored credential of another user than
 * owners[i] — a user id or a username, as `by` says — or of another kind than kinds[i]: an import
 * never moves a credential between users nor changes its kind. Null when there are none.
 */
export async function foreignCredentials(
  tx: Tx, hashes: string[], owners: string[], by: "id" | "username", kinds: string[],
): Promise<ForeignCredentials | null> {
  if (hashes.length === 0) return null;
  const [bad] = await tx`
    select s.ord, u.${tx(by)} <> s.owner as other_user, count(*) over ()::int as n
    from unnest(${pgArray(hashes)}::text[], ${pgArray(owners)}::text[], ${pgArray(kinds)}::text[])
         with ordinality as s(h, owner, kind, ord)
    join credentials c on c.secret_hash = s.h join users u on u.id = c.user_id
    where u.${tx(by)} <> s.owner or c.kind <> s.kind
    order by s.ord limit 1`;
  return bad ? { index: Number(bad.ord) - 1, otherUser: bad.other_user, n: bad.n } : null;
}
