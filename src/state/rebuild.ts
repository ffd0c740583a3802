// Presence from its history: every access event that moved someone (direction set: the decision
// entered or left its zone, with the pair's other user for a two-person entry) and every forgive
// in the audit log, replayed in time order over the current zone tree. This is what a Redis that
// came back empty (or a fresh in-process state) is filled with, and what the property test
// compares the live state with.
import type { Sql } from "../db/client";
import type { PermissionIndex } from "../index/permission-index";
import { KEY } from "./plan";
import { childrenOf, enclosing, inside, localDate } from "./rules";
import type { RebuiltState } from "./store";

const DAY = 86_400_000;

export async function presenceFromEvents(sql: Sql, ix: PermissionIndex, now = Date.now()): Promise<RebuiltState> {
  const state: RebuiltState = { inside: new Map(), out: new Map(), marks: new Map() };
  const zoneMap = <V>(m: Map<string, Map<string, V>>, z: string) => {
    let h = m.get(z);
    if (!h) m.set(z, (h = new Map()));
    return h;
  };
  const children = childrenOf(ix);
  const up = new Map<string, string[]>(), down = new Map<string, string[]>();
  const zonesUp = (z: string) => up.get(z) ?? (up.set(z, enclosing(ix, z).map((r) => r.id)), up.get(z)!);
  const zonesDown = (z: string) => down.get(z) ?? (down.set(z, inside(ix, z, children).map((r) => r.id)), down.get(z)!);
  const rows = await sql`
    select 'e' as k, e.at, e.id::text as id, e.user_id, e.peer_user_id, e.zone_id, e.direction, e.gate_id, e.flags
      from access_events e where e.direction is not null and e.allow
    union all
    select 'f', a.at, lpad(a.id::text, 36, '0'), a.after->>'user_id', null, a.entity_id, 'forgive', null, null
      from audit_log a where a.action = 'forgive_presence' and a.entity = 'zone'
    order by at, id`;
  for (const r of rows) {
    const at = (r.at as Date).getTime();
    const zone = r.zone_id as string;
    if (!ix.zones.has(zone)) continue; // the zone is gone
    const users = [r.user_id as string, ...(r.peer_user_id ? [r.peer_user_id as string] : [])];
    if (r.direction === "forgive") {
      state.inside.get(zone)?.delete(users[0]!);
      state.out.get(zone)?.delete(users[0]!);
      continue;
    }
    for (const u of users) {
      if (r.direction === "in") {
        zonesUp(zone).forEach((z, i) => {
          const h = zoneMap(state.inside, z);
          if (i === 0 || !h.has(u)) h.set(u, { since: at, gateId: r.gate_id });
          state.out.get(z)?.delete(u);
        });
      } else {
        for (const z of zonesDown(zone)) state.inside.get(z)?.delete(u);
        zoneMap(state.out, zone).set(u, at);
      }
    }
  }
  // First person in: today's supervisor entries (the zone's local date) open the zone again.
  const marks = await sql`
    select zone_id, max(at) as at from access_events
    where at > ${new Date(now - 2 * DAY)} and allow and 'supervisor_in' = any(flags)
    group by zone_id`;
  for (const m of marks) {
    const z = ix.zones.get(m.zone_id);
    if (!z?.supervisorScheduleId) continue;
    const at = (m.at as Date).getTime();
    const date = localDate(ix, z.supervisorScheduleId, at);
    if (date !== null && date === localDate(ix, z.supervisorScheduleId, now)) state.marks.set(KEY.firstIn(z.id, date), now + 2 * DAY);
  }
  return state;
}
