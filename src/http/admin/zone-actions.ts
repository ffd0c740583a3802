// Zone-wide gate modes: lock a whole zone during an incident, unlock it afterwards. One audited
// transaction (one revision) changes every gate of the zone, so verifies everywhere flip together
// once the feed applies that revision.
//   lock:   every `normal` gate of the zone → `locked` (disabled gates stay disabled)
//   unlock: every `locked` gate of the zone → `normal` (disabled gates stay disabled)
// Unlock therefore also reopens a gate that was locked on its own before the zone was locked;
// the answer lists exactly which gates changed, and the audit log keeps each gate's before/after.
import { Elysia, t } from "elysia";
import { COLLECTIONS } from "../../admin/collections";
import { type Actor, write } from "../../admin/tx";
import type { Sql } from "../../db/client";
import { notFound } from "../../errors";
import { authenticate } from "../auth";
import type { Deps } from "../../deps";
import { ErrorBody } from "../schemas";

type Action = "lock" | "unlock";
const FROM_TO: Record<Action, [from: "normal" | "locked", to: "locked" | "normal"]> = { lock: ["normal", "locked"], unlock: ["locked", "normal"] };

export async function setZoneMode(sql: Sql, actor: Actor, zoneId: string, action: Action) {
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

const ZoneActionAnswer = t.Object({
  id: t.String({ description: "the zone" }),
  name: t.String(),
  mode: t.Union([t.Literal("locked"), t.Literal("normal")], { description: "the mode the changed gates now have" }),
  changed: t.Array(t.String(), { description: "ids of the gates this action changed" }),
  gates_in_zone: t.Integer(),
  revision: t.Integer({ description: "the revision holding the change; pass it as min_revision to a verify to read your own write" }),
});

export function zoneActionRoutes(deps: Deps) {
  const { sql } = deps;
  const route = (action: Action) => async ({ params, set, caller }: any) => {
    const w = await setZoneMode(sql, caller, params.id, action);
    set.headers["x-revision"] = String(w.revision);
    return { ...w.value, revision: w.revision };
  };
  const opts = (summary: string, description: string) => ({
    params: t.Object({ id: t.String({ minLength: 1, maxLength: 64 }) }),
    response: { 200: ZoneActionAnswer, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
    detail: { summary, description },
  });
  return new Elysia({ name: "admin-zone-actions", prefix: "/api/v1/admin", detail: { tags: ["admin"], security: [{ bearer: [] }] } })
    .derive(async ({ headers }) => ({ caller: await authenticate(sql, headers.authorization, "admin") }))
    .post("/zones/:id/lock", route("lock"), opts(
      "Lock every gate of a zone in one transaction",
      "Every `normal` gate of the zone becomes `locked` (verifies answer `gate_locked`); `disabled` gates are left alone. One revision, one audit row per changed gate plus a `lock_zone` row on the zone.",
    ))
    .post("/zones/:id/unlock", route("unlock"), opts(
      "Unlock every locked gate of a zone in one transaction",
      "Every `locked` gate of the zone becomes `normal` — including one that was locked on its own before; `changed` names them. `disabled` gates are left alone.",
    ));
}
