// Zone-wide gate modes: lock a whole zone during an incident, unlock it afterwards. One audited
// transaction (one revision) changes every gate of the zone, so verifies everywhere flip together
// once the feed applies that revision.
//   lock:   every `normal` gate of the zone → `locked` (disabled gates stay disabled)
//   unlock: every `locked` gate of the zone → `normal` (disabled gates stay disabled)
// Unlock therefore also reopens a gate that was locked on its own before the zone was locked;
// the answer lists exactly which gates changed, and the audit log keeps each gate's before/after.
import { COLLECTIONS } from "./collections";
import { type Actor, write } from "./tx";
import type { Sql } from "../db/client";
import { notFound } from "../errors";

export type ZoneAction = "lock" | "unlock";
const FROM_TO: Record<ZoneAction, [from: "normal" | "locked", to: "locked" | "normal"]> = { lock: ["normal", "locked"], unlock: ["locked", "normal"] };

export async function setZoneMode(sql: Sql, actor: Actor, zoneId: string, action: ZoneAction) {
  const [from, to] = FROM_TO[action];
  return write(sql, actor, async (tx, audit) => {
    const [zone] = await tx`select id, name from zones where id = ${zoneId}`;
    if (!zone) throw notFound("zone");
    const before = await tx`select * from gates where zone_id = ${zoneId} and mode = ${from} order by id for update`;
    const after = before.length
      ? await tx`update gates set mode = ${to}, updated_at = now() where zone_id = ${zoneId} and mode = ${from} returning *`
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
