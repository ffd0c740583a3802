// The zone-wide lock and unlock routes; the service is src/admin/zone-actions.ts.
import { Elysia, t } from "elysia";
import type { Actor } from "../../admin/tx";
import { setZoneMode, type ZoneAction } from "../../admin/zone-actions";
import { adminAuth } from "./auth";
import type { Deps } from "../../deps";
import { ErrorBody, Propagation } from "../schemas";

const ZoneActionAnswer = t.Object({
  id: t.String({ description: "the zone" }),
  name: t.String(),
  mode: t.Union([t.Literal("locked"), t.Literal("normal")], { description: "the mode the changed gates now have" }),
  changed: t.Array(t.String(), { description: "ids of the gates this action changed" }),
  gates_in_zone: t.Integer(),
  revision: t.Integer({ description: "the revision holding the change; pass it as min_revision to a verify to read your own write" }),
  propagation: t.Optional(Propagation),
}, { examples: [{ id: "z_0193a1b2c3d4e5f6a7b8c9d0e1f2", name: "hq", mode: "locked", changed: ["GATE_001", "GATE_002"], gates_in_zone: 3, revision: 58 }] });

export function zoneActionRoutes(deps: Deps) {
  const { sql } = deps;
  const act = async (caller: Actor, zoneId: string, action: ZoneAction, set: { headers: Record<string, unknown> }) => {
    const w = await setZoneMode(sql, caller, zoneId, action);
    set.headers["x-revision"] = String(w.revision);
    return { ...w.value, revision: w.revision };
  };
  const opts = (summary: string, description: string) => ({
    params: t.Object({ id: t.String({ minLength: 1, maxLength: 64 }) }),
    response: { 200: ZoneActionAnswer, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
    detail: { summary, description },
  });
  return new Elysia({ name: "admin-zone-actions", prefix: "/api/v1/admin", detail: { tags: ["admin"], security: [{ bearer: [] }] } })
    .use(adminAuth(sql))
    .post("/zones/:id/lock", ({ params, set, caller }) => act(caller, params.id, "lock", set), opts(
      "Lock every gate of a zone in one transaction",
      "Every `normal` gate of the zone becomes `locked` (verifies answer `gate_locked`), remembered as locked by the zone; gates already locked and `disabled` gates are left alone. One revision, one audit row per changed gate plus a `lock_zone` row on the zone.",
    ))
    .post("/zones/:id/unlock", ({ params, set, caller }) => act(caller, params.id, "unlock", set), opts(
      "Unlock every locked gate of a zone in one transaction",
      "Every gate the zone's lock locked becomes `normal` again; `changed` names them. A gate locked on its own — before the zone lock, or by a PATCH of its mode during it — stays locked, and `disabled` gates are left alone.",
    ));
}
