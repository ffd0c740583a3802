// Who is inside: the muster list of a zone, live occupancy of every zone, and anti-passback
// forgiveness for one user. Read from the rules' shared state, named from the index.
import type { Sql } from "../db/client";
import { ApiError, notFound } from "../errors";
import type { ChangeFeed } from "../feed/change-feed";
import type { StateService } from "../state/state-service";
import { StateUnavailable } from "../state/store";
import { type Actor, write } from "./tx";

const unavailable = (e: unknown) =>
  e instanceof StateUnavailable ? new ApiError("unavailable", `shared state unavailable: ${e.why}`, { store: "unavailable" }, 1) : e;

export function presenceService(deps: { feed: ChangeFeed; state: StateService; sql: Sql }) {
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
