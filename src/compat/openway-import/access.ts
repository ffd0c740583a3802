// access_accesspoint → gates, access_accesspermission (allow=true) → grants keyed by openway_key.
import { upsertGates } from "../../admin/import-upsert";
import { pgArray } from "../../admin/import-sql";
import type { Tx } from "../../admin/tx";
import { clip } from "../../unicode";
import type { Source } from "./source";
import { counted, type Tally } from "./tally";

/** Gates by code, as the file import upserts them: id and name only, so new gates get the
 *  defaults and existing ones keep their mode, zone and unlock time. */
export async function syncGates(tx: Tx, data: Source): Promise<Tally> {
  const p = data.points;
  // Gate names are 1..150 characters; Django's may be blank (then the code names the gate).
  const rows = p.map((x) => ({ id: x.code, name: clip((x.name ?? "").trim(), 150) || x.code }));
  return { source: p.length, ...counted(await upsertGates(tx, rows)) };
}

// Not admin's upsertGrants: an imported grant is identified by its Django row (openway_key), not
// by (subject, target, effect, schedule), and the import deletes the imported ones Django dropped.
export async function syncGrants(tx: Tx, data: Source, users: Map<number, string>, groups: Map<number, string>): Promise<Tally> {
  const code = new Map(data.points.map((p) => [p.id, p.code]));
  const rows: Array<{ key: string; user: string | null; group: string | null; gate: string }> = [];
  for (const p of data.permissions) {
    const gate = code.get(p.access_point_id);
    if (gate === undefined) continue;
    // A row may name a user and a group at once: the original allowed both (two separate checks).
    if (p.user_id !== null && users.has(p.user_id)) rows.push({ key: `perm:${p.id}:user`, user: users.get(p.user_id)!, group: null, gate });
    if (p.group_id !== null && groups.has(p.group_id)) rows.push({ key: `perm:${p.id}:group`, user: null, group: groups.get(p.group_id)!, gate });
  }
  const [r] = await tx`
    with s as (
      select * from unnest(${pgArray(rows.map((x) => x.key))}::text[], ${pgArray(rows.map((x) => x.user))}::text[],
                           ${pgArray(rows.map((x) => x.group))}::text[], ${pgArray(rows.map((x) => x.gate))}::text[])
        as s(k, user_id, group_id, gate_id)
    ), upd as (
      update grants t set subject_user_id = s.user_id, subject_group_id = s.group_id, target_gate_id = s.gate_id,
             target_zone_id = null, effect = 'allow', updated_at = now()
      from s
      where t.openway_key = s.k and (t.subject_user_id, t.subject_group_id, t.target_gate_id, t.target_zone_id, t.effect)
            is distinct from (s.user_id, s.group_id, s.gate_id, null::text, 'allow'::text)
      returning t.id
    ), ins as (
      insert into grants (subject_user_id, subject_group_id, target_gate_id, effect, openway_key)
      select s.user_id, s.group_id, s.gate_id, 'allow', s.k from s
      where not exists (select 1 from grants t where t.openway_key = s.k)
      returning id
    ), del as (
      delete from grants t where t.openway_key is not null and not exists (select 1 from s where s.k = t.openway_key) returning id
    )
    select (select count(*) from ins) as inserted, (select count(*) from upd) as updated, (select count(*) from del) as removed`;
  return { source: rows.length, ...counted(r) };
}
