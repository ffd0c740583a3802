// Names for the ids the console shows: users, groups, zones, schedules and gates from the index,
// and who an audit actor (a credential id) is, from Postgres.
import type { Sql } from "../db/client";
import { mapDbError } from "../db/errors";
import type { PermissionIndex } from "../index/permission-index";

/** Each known id's kind and name, from the index; unknown ids are left out. */
export function namesOf(index: PermissionIndex, ids: string[]) {
  const out: Record<string, { kind: string; name: string }> = {};
  for (const id of ids) {
    const u = index.users.get(id);
    if (u) { out[id] = { kind: "user", name: u.username }; continue; }
    const g = index.groups.get(id);
    if (g) { out[id] = { kind: "group", name: g.name }; continue; }
    const z = index.zones.get(id);
    if (z) { out[id] = { kind: "zone", name: z.name }; continue; }
    const s = index.schedules.get(id);
    if (s) { out[id] = { kind: "schedule", name: s.rec.name }; continue; }
    const gate = index.gates.get(id);
    if (gate) out[id] = { kind: "gate", name: gate.name };
  }
  return { names: out, revision: index.revision };
}

/** Credential id → its kind, label and user (audit `actor` values). */
export async function actorsOf(sql: Sql, ids: string[]) {
  if (ids.length === 0) return { items: [] };
  try {
    const rows = await sql`select c.id, c.kind, c.label, c.user_id, u.username, u.display_name
                           from credentials c join users u on u.id = c.user_id where c.id in ${sql(ids)}`;
    return { items: rows.map((r) => ({ credential_id: r.id, kind: r.kind, label: r.label, user_id: r.user_id, username: r.username, display_name: r.display_name })) };
  } catch (e) {
    throw mapDbError(e);
  }
}
