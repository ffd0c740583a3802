// Zone-wide gate modes: lock a whole zone during an incident, unlock it afterwards. One audited
// transaction (one revision) changes every gate of the zone, so verifies everywhere flip together
// once the feed applies that revision.
//   lock:   every `normal` gate of the zone → `locked`, marked as locked by the zone
//           (gates already locked, and disabled ones, are left as they are)
//   unlock: every gate the zone lock locked → `normal`
// A gate locked on its own — before the zone lock, or by a PATCH of its mode during it — stays
// locked: an operator's incident lock on one door is never undone by a zone-wide unlock. (A PATCH
// of a gate's mode or zone makes its mode its own again; sql/0007_zone_lock.sql.) The answer lists
// exactly which gates changed, and the audit log keeps each gate's before/after.
import { COLLECTIONS } from "./collections";
import { type Actor, write } from "./tx";
import type { Sql } from "../db/client";
import { notFound } from "../errors";

export type ZoneAction = "lock" | "unlock";
export async function setZoneMode(sql: Sql, actor: Actor, zoneId: string, action: ZoneAction) {
  const to = action === "lock" ? ("locked" as const) : ("normal" as const);
  return write(sql, actor, async (tx, audit) => {
    const [zone] = await tx`select id, name from zones where id = ${zoneId}`;
    if (!zone) throw notFound("zone");
    // Which gates this action changes: lock takes the normal ones; unlock only those a zone lock took.
    const which = action === "lock" ? tx`mode = 'normal'` : tx`mode = 'locked' and zone_locked`;
    const before = await tx`select * from gates where zone_id = ${zoneId} and ${which} order by id for update`;
    const after = before.length
      ? await tx`update gates set mode = ${to}, zone_locked = ${action === "lock"}, updated_at = now()
                 where zone_id = ${zoneId} and ${which} returning *`
      : [];
    const byId = new Map(after.map((g) => [g.id as string, g]));
    for (const g of before) {
      const a = byId.get(g.id);
      if (a) audit({ action: "update", entity: "gate", entityId: g.id, before: COLLECTIONS.gates.toJson(g), after: { ...COLLECTIONS.gates.toJson(a), via: `${action}_zone` } });
    }
    const changed = after.map((g) => g.id as string).sort();
    audit({ action: `${action}_zone`, entity: "zone", entityId: zoneId, before: null, after: { id: zoneId, name: zone.name, mode: to, gates: changed } });
    const [count] = await tx`select count(*)::int as total from gates where zone_id = ${zoneId}`;
    return { id: zoneId, name: zone.name as string, mode: to, changed, gates_in_zone: count!.total as number };
  });
}
