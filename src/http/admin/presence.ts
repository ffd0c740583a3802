// Who is inside: the muster list of a zone, live occupancy of every zone, and anti-passback
// forgiveness for one user. Read from the rules' shared state (src/state/), named from the index.
import { Elysia, t } from "elysia";
import { type Actor, write } from "../../admin/tx";
import type { Deps } from "../../deps";
import { ApiError, notFound } from "../../errors";
import { StateUnavailable } from "../../state/store";
import { authenticate } from "../auth";
import { ErrorBody } from "../schemas";

const unavailable = (e: unknown) =>
  e instanceof StateUnavailable ? new ApiError("unavailable", `shared state unavailable: ${e.why}`, { store: "unavailable" }, 1) : e;

export function presenceService(deps: Pick<Deps, "feed" | "state" | "sql">) {
  const { feed, state, sql } = deps;

  async function muster(zoneId: string) {
    const ix = feed.current;
    const zone = ix.zones.get(zoneId);
    if (!zone) throw notFound("zone");
    const present = await state.store.presence(zoneId).catch((e) => Promise.reject(unavailable(e)));
    present.sort((a, b) => a.since - b.since || a.userId.localeCompare(b.userId));
    return {
      zone_id: zone.id,
      name: zone.name,
      count: present.length,
      max_occupancy: zone.maxOccupancy || null,
      at: new Date().toISOString(),
      items: present.map((p) => ({
        user_id: p.userId,
        username: ix.users.get(p.userId)?.username ?? null,
        since: new Date(p.since).toISOString(),
        gate_id: p.gateId,
        gate_name: ix.gates.get(p.gateId)?.name ?? null,
      })),
    };
  }

  async function occupancy() {
    const ix = feed.current;
    const zones = [...ix.zones.values()].sort((a, b) => a.name.localeCompare(b.name));
    const counts = await state.store.occupancy(zones.map((z) => z.id)).catch((e) => Promise.reject(unavailable(e)));
    return {
      store: state.store.kind,
      at: new Date().toISOString(),
      items: zones.map((z, i) => ({
        zone_id: z.id, name: z.name, parent_id: z.parentId ?? null, count: counts[i]!, max_occupancy: z.maxOccupancy || null,
        anti_passback: z.antiPassback ?? "off",
      })),
    };
  }

  /** Clears the user's presence and exit state in the zone; audited (the rebuild replays it). */
  async function forgive(actor: Actor, zoneId: string, userId: string) {
    const ix = feed.current;
    if (!ix.zones.has(zoneId)) throw notFound("zone");
    if (!ix.users.has(userId)) throw notFound("user");
    return write(sql, actor, async (_tx, audit) => {
      await state.store.forgive(zoneId, userId).catch((e) => Promise.reject(unavailable(e)));
      const after = { zone_id: zoneId, user_id: userId };
      audit({ action: "forgive_presence", entity: "zone", entityId: zoneId, before: null, after });
      return after;
    });
  }

  return { muster, occupancy, forgive };
}

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
});

const Occupancy = t.Object({
  store: t.String({ description: "redis, local (this process, no REDIS_URL) or none" }),
  at: t.String(),
  items: t.Array(t.Object({
    zone_id: t.String(), name: t.String(), parent_id: t.Union([t.String(), t.Null()]), count: t.Integer(),
    max_occupancy: t.Union([t.Integer(), t.Null()]), anti_passback: t.String(),
  })),
});

export function adminPresenceRoutes(deps: Deps) {
  const { sql } = deps;
  const svc = presenceService(deps);
  const Id = t.String({ minLength: 1, maxLength: 64 });
  return new Elysia({ name: "admin-presence", prefix: "/api/v1/admin", detail: { tags: ["admin"], security: [{ bearer: [] }] } })
    .derive(async ({ headers }) => ({ caller: await authenticate(sql, headers.authorization, "admin") }))
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
      response: { 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 503: ErrorBody },
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
