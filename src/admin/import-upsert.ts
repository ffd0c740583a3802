// The import's upsert engine: references not in the file checked set-based against Postgres, then
// one set-based statement per collection (see import.ts for the semantics). The SQL it shares with
// the openway import (compat/openway-import/) is in import-sql.ts.
import type { ScheduleWindow } from "../index/types";
import { type Tx } from "./tx";
import { addMemberships, type Counts, foreignCredentials, pgArray, upserted } from "./import-sql";
import { IMPORT_COLLECTIONS, type ImportCollection, type Row, rowError } from "./import-fields";
import { iso, type Part, type Plan } from "./import-validate";

// ---------------------------------------------------------------------------------------------
// Row helpers

/** Bit i of the result is set when key i is present (not undefined) in the row. */
function presence(r: Row, keys: string[]): number {
  let m = 0;
  for (let i = 0; i < keys.length; i++) if (r[keys[i]!] !== undefined) m |= 1 << i;
  return m;
}

const col = <T>(rows: Row[], f: (r: Row, i: number) => T): T[] => rows.map(f);

// ---------------------------------------------------------------------------------------------
// References that are not in the file, checked set-based against Postgres

type RefKind = "user" | "group" | "zone" | "gate" | "schedule";
const REF_SOURCE: Record<RefKind, { c: ImportCollection; key: string; table: string; column: string }> = {
  user: { c: "users", key: "username", table: "users", column: "username" },
  group: { c: "groups", key: "name", table: "groups", column: "name" },
  zone: { c: "zones", key: "name", table: "zones", column: "name" },
  gate: { c: "gates", key: "id", table: "gates", column: "id" },
  schedule: { c: "schedules", key: "name", table: "schedules", column: "name" },
};
const REFS: Partial<Record<ImportCollection, [string, RefKind][]>> = {
  groups: [["parent", "group"]],
  memberships: [["group", "group"], ["username", "user"]],
  gates: [["zone", "zone"]],
  grants: [["group", "group"], ["username", "user"], ["gate", "gate"], ["zone", "zone"], ["schedule", "schedule"]],
  credentials: [["username", "user"]],
};

export async function checkReferences(tx: Tx, plan: Plan): Promise<void> {
  const inFile = {} as Record<RefKind, Set<string>>;
  const wanted = {} as Record<RefKind, Set<string>>;
  for (const kind of Object.keys(REF_SOURCE) as RefKind[]) {
    const src = REF_SOURCE[kind];
    inFile[kind] = new Set((plan.parts[src.c]?.rows ?? []).map((r) => r[src.key]));
    wanted[kind] = new Set();
  }
  for (const [c, refs] of Object.entries(REFS) as [ImportCollection, [string, RefKind][]][]) {
    for (const r of plan.parts[c]?.rows ?? []) {
      for (const [field, kind] of refs) {
        const v = r[field];
        if (typeof v === "string" && !inFile[kind].has(v)) wanted[kind].add(v);
      }
    }
  }
  const stored = {} as Record<RefKind, Set<string>>;
  for (const kind of Object.keys(REF_SOURCE) as RefKind[]) {
    const src = REF_SOURCE[kind];
    stored[kind] = new Set();
    if (wanted[kind].size === 0) continue;
    const rows = await tx`select ${tx(src.column)} as k from ${tx(src.table)} where ${tx(src.column)} = any(${pgArray([...wanted[kind]])}::text[])`;
    for (const row of rows) stored[kind].add(row.k);
  }
  for (const c of IMPORT_COLLECTIONS) {
    const refs = REFS[c];
    const part = plan.parts[c];
    if (!refs || !part) continue;
    part.rows.forEach((r, i) => {
      for (const [field, kind] of refs) {
        const v = r[field];
        if (typeof v === "string" && !inFile[kind].has(v) && !stored[kind].has(v)) {
          throw rowError(c, part.rowNo(i), field, `unknown ${kind} "${v}" (neither in this import nor stored)`);
        }
      }
    });
  }
}

/**
 * Rows that give only one end of a validity window: the other end comes from the stored row, and
 * the merged window must still be a window. One query for all such rows.
 */
export async function checkMergedWindows(
  tx: Tx, part: Part | undefined, table: "users" | "credentials", keyOf: (r: Row, i: number) => string, keySql: string, from: string, until: string,
): Promise<void> {
  if (!part) return;
  const idx: number[] = [];
  part.rows.forEach((r, i) => {
    if ((r[from] === undefined) !== (r[until] === undefined)) idx.push(i);
  });
  if (idx.length === 0) return;
  const rows = idx.map((i) => part.rows[i]!);
  const [bad] = await tx`
    select s.ord from unnest(${pgArray(idx.map((i) => keyOf(part.rows[i]!, i)))}::text[], ${pgArray(rows.map((r) => iso(r[from])))}::timestamptz[],
                             ${pgArray(rows.map((r) => r[from] !== undefined))}::bool[], ${pgArray(rows.map((r) => iso(r[until])))}::timestamptz[],
                             ${pgArray(rows.map((r) => r[until] !== undefined))}::bool[]) with ordinality as s(k, f, has_f, u, has_u, ord)
    join ${tx(table)} e on e.${tx(keySql)} = s.k
    where (case when s.has_f then s.f else e.${tx(from)} end) >= (case when s.has_u then s.u else e.${tx(until)} end)
    order by s.ord limit 1`;
  if (bad) {
    const i = idx[Number(bad.ord) - 1]!;
    const field = part.rows[i]![from] === undefined ? until : from;
    throw rowError(part.c, part.rowNo(i), field, `${until} must be after ${from} (the other end is the stored one)`);
  }
}

/** An import never moves a credential to another user or changes its kind. */
export async function checkCredentialOwners(tx: Tx, part: Part | undefined, hashes: string[]): Promise<void> {
  if (!part || part.rows.length === 0) return;
  const bad = await foreignCredentials(tx, hashes, part.rows.map((r) => r.username), "username", part.rows.map((r) => r.kind));
  if (bad) {
    throw rowError(part.c, part.rowNo(bad.index), "secret", bad.otherUser ? "already belongs to another user's credential" : "already belongs to a credential of another kind", "conflict");
  }
}

// ---------------------------------------------------------------------------------------------
// The upserts, one collection at a time, in dependency order

export async function upsertUsers(tx: Tx, part: Part, hashes: (string | null | undefined)[]): Promise<Counts> {
  const rows = part.rows;
  const keys = ["email", "display_name", "password", "active", "valid_from", "valid_until"];
  // The password bit follows the hash: an unchanged password leaves the stored hash alone.
  const mask = rows.map((r, i) => (presence(r, keys) & ~4) | (hashes[i] !== undefined ? 4 : 0));
  // m: each row merged with the stored one (absent key = stored value); only new or changed rows
  // reach the insert, so unchanged rows are neither locked nor written.
  return upserted(tx, tx`
    insert into users as t (username, email, display_name, password_hash, active, valid_from, valid_until)
    select m.username, m.email, m.display_name, m.password_hash, m.active, m.valid_from, m.valid_until
    from (
      select s.username, e.id as old_id,
             case when s.m & 1 <> 0 then s.email else e.email end as email,
             case when s.m & 2 <> 0 then s.display_name else e.display_name end as display_name,
             case when s.m & 4 <> 0 then s.password_hash else e.password_hash end as password_hash,
             case when s.m & 8 <> 0 then s.active else coalesce(e.active, true) end as active,
             case when s.m & 16 <> 0 then s.valid_from else e.valid_from end as valid_from,
             case when s.m & 32 <> 0 then s.valid_until else e.valid_until end as valid_until,
             e.email as o_email, e.display_name as o_display_name, e.password_hash as o_password_hash,
             e.active as o_active, e.valid_from as o_valid_from, e.valid_until as o_valid_until
      from unnest(${pgArray(col(rows, (r) => r.username))}::text[], ${pgArray(col(rows, (r) => r.email))}::text[],
                  ${pgArray(col(rows, (r) => r.display_name))}::text[], ${pgArray(hashes)}::text[],
                  ${pgArray(col(rows, (r) => r.active))}::bool[], ${pgArray(col(rows, (r) => iso(r.valid_from)))}::timestamptz[],
                  ${pgArray(col(rows, (r) => iso(r.valid_until)))}::timestamptz[], ${pgArray(mask)}::int4[])
           as s(username, email, display_name, password_hash, active, valid_from, valid_until, m)
      left join users e on e.username = s.username) m
    where m.old_id is null
       or (m.email, m.display_name, m.password_hash, m.active, m.valid_from, m.valid_until)
          is distinct from (m.o_email, m.o_display_name, m.o_password_hash, m.o_active, m.o_valid_from, m.o_valid_until)
    on conflict (username) do update
      set email = excluded.email, display_name = excluded.display_name, password_hash = excluded.password_hash,
          active = excluded.active, valid_from = excluded.valid_from, valid_until = excluded.valid_until, updated_at = now()
    returning xmax = 0 as inserted`);
}

export async function upsertGroups(tx: Tx, part: Part): Promise<Counts> {
  const rows = part.rows;
  const created = await tx`
    insert into groups (name) select n from unnest(${pgArray(col(rows, (r) => r.name))}::text[]) as n
    on conflict (name) do nothing returning name`;
  const isNew = new Set(created.map((r) => r.name));
  // Parents after every group of the file exists, so a parent may come later in the list.
  const withParent = rows.filter((r) => r.parent !== undefined);
  let updated = 0;
  if (withParent.length > 0) {
    const moved = await tx`
      update groups g set parent_id = p.id, updated_at = now()
      from unnest(${pgArray(col(withParent, (r) => r.name))}::text[], ${pgArray(col(withParent, (r) => r.parent))}::text[]) as s(name, parent)
      left join groups p on p.name = s.parent
      where g.name = s.name and g.parent_id is distinct from p.id
      returning g.id, g.name`;
    updated = moved.filter((r) => !isNew.has(r.name)).length;
    if (moved.length > 0) await checkGroupCycles(tx, part, moved.map((r) => r.id));
  }
  return { inserted: created.length, updated };
}

/** Any cycle now runs through a group whose parent this import set: walk up from those. */
async function checkGroupCycles(tx: Tx, part: Part, ids: string[]): Promise<void> {
  const [cycle] = await tx<{ names: string[] | null }[]>`
    with recursive up(start, id) as (
      select g.id, g.parent_id from groups g where g.id = any(${pgArray(ids)}::text[]) and g.parent_id is not null
      union
      select up.start, g.parent_id from up join groups g on g.id = up.id
      where g.parent_id is not null and up.id <> up.start)
    select array_agg(g.name) as names from up join groups g on g.id = up.start where up.id = up.start`;
  if (cycle?.names) {
    // Every group on the cycle is found; name the first of them in the file.
    const onCycle = new Set<string>(cycle.names);
    const i = part.rows.findIndex((r) => onCycle.has(r.name));
    throw rowError("groups", part.rowNo(Math.max(i, 0)), "parent", `would make the group its own ancestor (cycle through ${[...onCycle].sort().join(", ")})`);
  }
}

export async function upsertMemberships(tx: Tx, part: Part): Promise<Counts> {
  const rows = part.rows;
  return addMemberships(tx, tx`
    select g.id as group_id, u.id as user_id
    from unnest(${pgArray(col(rows, (r) => r.group))}::text[], ${pgArray(col(rows, (r) => r.username))}::text[]) as s(grp, username)
    join groups g on g.name = s.grp join users u on u.username = s.username`);
}

export async function upsertZones(tx: Tx, part: Part): Promise<Counts> {
  const [c] = await tx`
    with ins as (
      insert into zones (name) select n from unnest(${pgArray(col(part.rows, (r) => r.name))}::text[]) as n
      on conflict (name) do nothing returning 1)
    select count(*)::int as inserted, 0 as updated from ins`;
  return c as unknown as Counts;
}

/** Gates by id; a key absent from a row (zone, mode, unlock_ms) keeps the stored value (the
 *  openway import gives only id and name). */
export async function upsertGates(tx: Tx, rows: Row[]): Promise<Counts> {
  const mask = rows.map((r) => presence(r, ["zone", "mode", "unlock_ms"]));
  // Defaults for new gates ('normal', 800) are the schema's column defaults.
  return upserted(tx, tx`
    insert into gates as t (id, name, zone_id, mode, unlock_ms)
    select m.id, m.name, m.zone_id, m.mode, m.unlock_ms
    from (
      select s.id, s.name, e.id as old_id,
             case when s.m & 1 <> 0 then z.id else e.zone_id end as zone_id,
             case when s.m & 2 <> 0 then s.mode else coalesce(e.mode, 'normal') end as mode,
             case when s.m & 4 <> 0 then s.unlock_ms else coalesce(e.unlock_ms, 800) end as unlock_ms,
             e.name as o_name, e.zone_id as o_zone_id, e.mode as o_mode, e.unlock_ms as o_unlock_ms
      from unnest(${pgArray(col(rows, (r) => r.id))}::text[], ${pgArray(col(rows, (r) => r.name))}::text[],
                  ${pgArray(col(rows, (r) => r.zone))}::text[], ${pgArray(col(rows, (r) => r.mode))}::text[],
                  ${pgArray(col(rows, (r) => r.unlock_ms))}::int4[], ${pgArray(mask)}::int4[]) as s(id, name, zone, mode, unlock_ms, m)
      left join zones z on z.name = s.zone
      left join gates e on e.id = s.id) m
    where m.old_id is null or (m.name, m.zone_id, m.mode, m.unlock_ms) is distinct from (m.o_name, m.o_zone_id, m.o_mode, m.o_unlock_ms)
    on conflict (id) do update
      set name = excluded.name, zone_id = excluded.zone_id, mode = excluded.mode, unlock_ms = excluded.unlock_ms, updated_at = now()
    returning xmax = 0 as inserted`);
}

export async function upsertSchedules(tx: Tx, part: Part): Promise<Counts> {
  const rows = part.rows;
  const windows = rows.map((r) => JSON.stringify((r.windows as ScheduleWindow[]).map((w) => ({ days: [...new Set(w.days)].sort(), start: w.start, end: w.end }))));
  return upserted(tx, tx`
    insert into schedules as t (name, timezone, windows)
    select * from unnest(${pgArray(col(rows, (r) => r.name))}::text[], ${pgArray(col(rows, (r) => r.timezone))}::text[], ${pgArray(windows)}::jsonb[])
    on conflict (name) do update set timezone = excluded.timezone, windows = excluded.windows, updated_at = now()
      where (t.timezone, t.windows) is distinct from (excluded.timezone, excluded.windows)
    returning xmax = 0 as inserted`);
}

export async function upsertGrants(tx: Tx, part: Part): Promise<Counts> {
  const rows = part.rows;
  // The file's grants with natural keys resolved to ids (every reference was checked).
  const src = () => tx`
    select u.id as uid, g.id as gid, s.gate as gate_id, z.id as zid, s.effect, sc.id as sid, s.valid_from, s.valid_until
    from unnest(${pgArray(col(rows, (r) => r.username))}::text[], ${pgArray(col(rows, (r) => r.group))}::text[],
                ${pgArray(col(rows, (r) => r.gate))}::text[], ${pgArray(col(rows, (r) => r.zone))}::text[],
                ${pgArray(col(rows, (r) => r.effect ?? "allow"))}::text[], ${pgArray(col(rows, (r) => r.schedule))}::text[],
                ${pgArray(col(rows, (r) => iso(r.valid_from)))}::timestamptz[], ${pgArray(col(rows, (r) => iso(r.valid_until)))}::timestamptz[])
         as s(username, grp, gate, zone, effect, schedule, valid_from, valid_until)
    left join users u on u.username = s.username
    left join groups g on g.name = s.grp
    left join zones z on z.name = s.zone
    left join schedules sc on sc.name = s.schedule`;
  // Identity: (subject, target, effect, schedule); coalesce so the join can hash. src is
  // materialized: inlined, the planner interleaves its lookups with the match and ends up
  // merge-joining on one key (every gate-less grant matches every gate-less row: n × m).
  const same = tx`
    coalesce(t.subject_user_id, '') = coalesce(src.uid, '') and coalesce(t.subject_group_id, '') = coalesce(src.gid, '')
    and coalesce(t.target_gate_id, '') = coalesce(src.gate_id, '') and coalesce(t.target_zone_id, '') = coalesce(src.zid, '')
    and t.effect = src.effect and coalesce(t.schedule_id, '') = coalesce(src.sid, '')`;
  const [u] = await tx`
    with src as materialized (${src()}), upd as (
      update grants t set valid_from = src.valid_from, valid_until = src.valid_until, updated_at = now()
      from src where ${same}
        and (t.valid_from, t.valid_until) is distinct from (src.valid_from, src.valid_until)
      returning 1)
    select count(*)::int as n from upd`;
  const [i] = await tx`
    with src as materialized (${src()}), ins as (
      insert into grants (subject_user_id, subject_group_id, target_gate_id, target_zone_id, effect, schedule_id, valid_from, valid_until)
      select uid, gid, gate_id, zid, effect, sid, valid_from, valid_until from src
      where not exists (select 1 from grants t where ${same})
      returning 1)
    select count(*)::int as n from ins`;
  return { inserted: i!.n, updated: u!.n };
}

export async function upsertCredentials(tx: Tx, part: Part, hashes: string[]): Promise<Counts> {
  const rows = part.rows;
  const mask = rows.map((r) => presence(r, ["label", "scopes", "expires_at", "valid_from"]));
  const scopes = col(rows, (r) => (r.scopes === undefined ? null : [...new Set(r.scopes as string[])].sort().join(" ")));
  // user_id and kind of a stored credential equal the row's (checkCredentialOwners); revoked_at
  // is never touched.
  return upserted(tx, tx`
    insert into credentials as t (user_id, kind, label, scopes, secret_hash, expires_at, valid_from)
    select m.user_id, m.kind, m.label, m.scopes, m.secret_hash, m.expires_at, m.valid_from
    from (
      select u.id as user_id, s.kind, s.secret_hash, e.id as old_id,
             case when s.m & 1 <> 0 then s.label else e.label end as label,
             case when s.m & 2 <> 0 then string_to_array(s.scopes, ' ') else coalesce(e.scopes, '{}') end as scopes,
             case when s.m & 4 <> 0 then s.expires_at else e.expires_at end as expires_at,
             case when s.m & 8 <> 0 then s.valid_from else e.valid_from end as valid_from,
             e.label as o_label, e.scopes as o_scopes, e.expires_at as o_expires_at, e.valid_from as o_valid_from
      from unnest(${pgArray(col(rows, (r) => r.username))}::text[], ${pgArray(col(rows, (r) => r.kind))}::text[],
                  ${pgArray(col(rows, (r) => r.label))}::text[], ${pgArray(scopes)}::text[], ${pgArray(hashes)}::text[],
                  ${pgArray(col(rows, (r) => iso(r.expires_at)))}::timestamptz[], ${pgArray(col(rows, (r) => iso(r.valid_from)))}::timestamptz[],
                  ${pgArray(mask)}::int4[]) as s(username, kind, label, scopes, secret_hash, expires_at, valid_from, m)
      join users u on u.username = s.username
      left join credentials e on e.secret_hash = s.secret_hash) m
    where m.old_id is null
       or (m.label, m.scopes, m.expires_at, m.valid_from) is distinct from (m.o_label, m.o_scopes, m.o_expires_at, m.o_valid_from)
    on conflict (secret_hash) do update
      set label = excluded.label, scopes = excluded.scopes, expires_at = excluded.expires_at, valid_from = excluded.valid_from, updated_at = now()
    returning xmax = 0 as inserted`);
}
