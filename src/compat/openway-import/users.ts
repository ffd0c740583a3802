// auth_user → users, auth_group → groups (each matched by openway_id, else adopted by username or
// name), auth_user_groups → memberships.
import { addMemberships, pgArray } from "../../admin/import-sql";
import type { Tx } from "../../admin/tx";
import type { Source } from "./source";
import { counted, type Tally } from "./tally";

// Not admin's upsertUsers/upsertGroups: no unique key says which row a Django row becomes (its
// openway_id, else an adoptable username or name), so no `on conflict`: an update and an insert.

/**
 * Each row of `s` (oid, <key>, …) with the id of the row it becomes here: the one imported from
 * the same Django id, else one made in Portcullis (no openway_id) with the same natural key — the
 * import adopts it; null for a new one.
 */
const matched = (tx: Tx, table: "users" | "groups", key: "username" | "name") => tx`
  select s.*, coalesce(a.id, b.id) as id
  from s
  left join ${tx(table)} a on a.openway_id = s.oid
  left join ${tx(table)} b on a.id is null and b.openway_id is null and b.${tx(key)} = s.${tx(key)}`;

/**
 * Imported rows whose name Django changed, renamed aside first: the statement that renames them
 * checks the unique name per row, so a name moving to another row (a swap, or a freed name taken
 * by a new row) would collide with its old holder ("already exists") and the import could never
 * run again. The placeholder holds a space (no Django username does) and the row's own id (unique).
 */
async function renameAside(tx: Tx, table: "users" | "groups", key: "username" | "name", oids: number[], names: string[]): Promise<void> {
  await tx`
    update ${tx(table)} t set ${tx(key)} = 'openway rename ' || t.id
    from unnest(${pgArray(oids)}::int8[], ${pgArray(names)}::text[]) as s(oid, name)
    where t.openway_id = s.oid and t.${tx(key)} <> s.name`;
}

export async function upsertUsers(tx: Tx, data: Source): Promise<Tally> {
  const u = data.users;
  await renameAside(tx, "users", "username", u.map((x) => x.id), u.map((x) => x.username));
  const displayName = (r: Source["users"][number]) => [r.first_name, r.last_name].map((x) => (x ?? "").trim()).filter(Boolean).join(" ") || null;
  // Django marks unusable passwords with a leading "!": no password here.
  const password = (r: Source["users"][number]) => (r.password && !r.password.startsWith("!") ? r.password : null);
  const [r] = await tx`
    with s as (
      select * from unnest(${pgArray(u.map((x) => x.id))}::int8[], ${pgArray(u.map((x) => x.username))}::text[],
                           ${pgArray(u.map((x) => x.email || null))}::text[], ${pgArray(u.map(displayName))}::text[],
                           ${pgArray(u.map(password))}::text[], ${pgArray(u.map((x) => x.is_active))}::bool[])
        as s(oid, username, email, display_name, pw, active)
    ), m as (${matched(tx, "users", "username")}
    ), upd as (
      update users t set openway_id = m.oid, username = m.username, email = m.email, display_name = m.display_name,
             active = m.active, updated_at = now(),
             -- A hash Portcullis made since (argon2id: a login re-hashed it, or an admin set it) stays.
             password_hash = case when coalesce(left(t.password_hash, 10), '') = '$argon2id$' then t.password_hash else m.pw end
      from m
      where t.id = m.id and (
        t.openway_id is distinct from m.oid or t.username <> m.username or t.email is distinct from m.email
        or t.display_name is distinct from m.display_name or t.active <> m.active
        or (coalesce(left(t.password_hash, 10), '') <> '$argon2id$' and t.password_hash is distinct from m.pw))
      returning t.id
    ), ins as (
      insert into users (username, email, display_name, password_hash, active, openway_id)
      select username, email, display_name, pw, active, oid from m where m.id is null
      returning id
    )
    select (select count(*) from ins) as inserted, (select count(*) from upd) as updated`;
  return { source: u.length, ...counted(r) };
}

export async function upsertGroups(tx: Tx, data: Source): Promise<Tally> {
  const g = data.groups;
  await renameAside(tx, "groups", "name", g.map((x) => x.id), g.map((x) => x.name));
  const [r] = await tx`
    with s as (
      select * from unnest(${pgArray(g.map((x) => x.id))}::int8[], ${pgArray(g.map((x) => x.name))}::text[]) as s(oid, name)
    ), m as (${matched(tx, "groups", "name")}
    ), upd as (
      update groups t set openway_id = m.oid, name = m.name, updated_at = now()
      from m where t.id = m.id and (t.openway_id is distinct from m.oid or t.name <> m.name)
      returning t.id
    ), ins as (
      insert into groups (name, openway_id) select name, oid from m where m.id is null returning id
    )
    select (select count(*) from ins) as inserted, (select count(*) from upd) as updated`;
  return { source: g.length, ...counted(r) };
}

/** Django id → Portcullis id for imported users or groups. */
export async function idMap(tx: Tx, table: "users" | "groups", oids: number[]): Promise<Map<number, string>> {
  const rows = await tx.unsafe<{ id: string; openway_id: number }[]>(
    `select id, openway_id from ${table} where openway_id = any($1::int8[])`, [pgArray(oids)]);
  return new Map(rows.map((r) => [Number(r.openway_id), r.id]));
}

/** Django's memberships added; those between imported users and imported groups that Django no
 *  longer has removed (unlike the file import, which never removes one: Django is the whole truth). */
export async function syncMemberships(tx: Tx, data: Source, users: Map<number, string>, groups: Map<number, string>): Promise<Tally> {
  const kept = data.memberships.filter((m) => users.has(m.user_id) && groups.has(m.group_id));
  const pairs = () => tx`
    select * from unnest(${pgArray(kept.map((m) => groups.get(m.group_id)))}::text[], ${pgArray(kept.map((m) => users.get(m.user_id)))}::text[])
      as s(group_id, user_id)`;
  const [r] = await tx`
    with del as (
      delete from memberships t using users u, groups g
      where t.user_id = u.id and t.group_id = g.id and u.openway_id is not null and g.openway_id is not null
        and not exists (select 1 from (${pairs()}) s where s.group_id = t.group_id and s.user_id = t.user_id)
      returning 1)
    select count(*) as removed from del`;
  const added = await addMemberships(tx, pairs());
  return { source: data.memberships.length, ...counted({ ...added, removed: r!.removed }) };
}
