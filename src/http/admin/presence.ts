// Who is inside: the muster list of a zone, live occupancy of every zone, and anti-passback
// forgiveness for one user (the service: src/state/presence.ts).
import { Elysia, t } from "elysia";
import type { Deps } from "../../deps";
import { presenceService } from "../../admin/presence";
import { adminAuth } from "./auth";
import { ErrorBody, Propagation } from "../schemas";

const Muster = t.Object({
  zone_id: t.String(),
  name: t.String(),
  count: t.Integer(),
  max_occupancy: t.Union([t.Integer(), t.Null()]),
  at: t.String({ description: "when the list was read" }),
  items: t.Array(t.Object({
    user_id: t.String(),
    username: t.Union([t.String(), t.Null()]),
    since: t.String({ description: "when the user entered (through gate_id)" }),
    gate_id: t.String(),
    gate_name: t.Union([t.String(), t.Null()]),
  })),
}, {
  examples: [{
    zone_id: "z_0193a1b2c3d4e5f6a7b8c9d0e1f2", name: "lab", count: 1, max_occupancy: 12, at: "2026-01-05T08:30:00.000Z",
    items: [{ user_id: "u_0193a1b2c3d4e5f6a7b8c9d0e1f2", username: "alice", since: "2026-01-05T07:58:12.000Z", gate_id: "LAB_IN", gate_name: "Lab entrance" }],
  }],
});

const Occupancy = t.Object({
  store: t.String({ description: "redis, local (this process, no REDIS_URL) or none" }),
  at: t.String(),
  items: t.Array(t.Object({
    zone_id: t.String(), name: t.String(), parent_id: t.Union([t.String(), t.Null()]), count: t.Integer(),
    max_occupancy: t.Union([t.Integer(), t.Null()]), anti_passback: t.String(),
  })),
}, {
  examples: [{
    store: "redis", at: "2026-01-05T08:30:00.000Z",
    items: [{ zone_id: "z_0193a1b2c3d4e5f6a7b8c9d0e1f2", name: "lab", parent_id: null, count: 1, max_occupancy: 12, anti_passback: "hard" }],
  }],
});

const Forgiven = t.Object(
  { zone_id: t.String(), user_id: t.String(), revision: t.Integer({ description: "the revision of the audited forgiveness" }), propagation: t.Optional(Propagation) },
  { examples: [{ zone_id: "z_0193a1b2c3d4e5f6a7b8c9d0e1f2", user_id: "u_0193a1b2c3d4e5f6a7b8c9d0e1f2", revision: 58 }] },
);

export function adminPresenceRoutes(deps: Deps) {
  const { sql } = deps;
  const svc = presenceService(deps);
  const Id = t.String({ minLength: 1, maxLength: 64 });
  return new Elysia({ name: "admin-presence", prefix: "/api/v1/admin", detail: { tags: ["admin"], security: [{ bearer: [] }] } })
    .use(adminAuth(sql))
    .get("/zones/:id/presence", ({ params }) => svc.muster(params.id), {
      params: t.Object({ id: Id }),
      response: { 200: Muster, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 503: ErrorBody },
      detail: {
        summary: "Muster list: who is inside the zone now, since when, through which gate",
        description: "Presence comes from gates with direction in/out (an entry into a zone also enters its enclosing zones). 503 while the shared state is unreachable.",
      },
    })
    .post("/zones/:id/presence/:user_id/forgive", async ({ params, set, caller }) => {
      const w = await svc.forgive(caller, params.id, params.user_id);
      set.headers["x-revision"] = String(w.revision);
      return { ...w.value, revision: w.revision };
    }, {
      params: t.Object({ id: Id, user_id: Id }),
      response: { 200: Forgiven, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 503: ErrorBody },
      detail: {
        summary: "Anti-passback forgiveness: clear one user's presence and exit state in the zone",
        description: "The user's next entry or exit passes whatever came before. Audited (`forgive_presence`); presence rebuilt from the events replays it.",
      },
    })
    .get("/occupancy", () => svc.occupancy(), {
      response: { 200: Occupancy, 401: ErrorBody, 403: ErrorBody, 503: ErrorBody },
      detail: { summary: "Live occupancy: how many people are inside each zone" },
    });
}
