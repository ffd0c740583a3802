// Explain's stateful part: which rules with memory the gate has, the user's presence, the zones'
// occupancy, and what the shared state would answer now — a dry run of the plan (nothing written).
import type { RateLimit } from "../config";
import type { PermissionIndex } from "../index/permission-index";
import type { CredentialRec } from "../index/types";
import { buildPlan } from "./plan-builder";
import { type GateRules, isMember } from "./rules";
import { type StateStore, StateUnavailable } from "./store";

/** The rules, this user's presence, occupancy, and what the store would answer now (PIN aside). */
export async function explainState(store: StateStore, pinLimit: RateLimit, ix: PermissionIndex, r: GateRules, cred: CredentialRec | undefined, userId: string, now: number) {
  const zone = r.zone;
  const rules = {
    zone_id: zone?.id ?? null,
    direction: r.gate.direction ?? "both",
    anti_passback: zone?.antiPassback ?? "off",
    anti_passback_reset_ms: zone?.antiPassbackResetMs || null,
    max_occupancy: r.presence?.zones.filter((z) => z.maxOccupancy).map((z) => ({ zone_id: z.id, max: z.maxOccupancy })) ?? [],
    two_person_window_ms: r.twoPersonMs || null,
    requires_pin: r.pin,
    escort_window_ms: r.escortMs || null,
    visitor_host_user_id: cred?.hostUserId ?? null,
    first_in: r.firstIn ? { supervisor_group_id: r.firstIn.groupId, schedule_id: r.firstIn.scheduleId, supervisor: isMember(ix, userId, r.firstIn.groupId) } : null,
    state_failure: r.failOpen ? "open" : "closed",
  };
  const out: Record<string, unknown> = { rules, store: store.kind };
  try {
    if (zone) {
      const present = (await store.presence(zone.id)).find((p) => p.userId === userId);
      out.inside = present ? { since: new Date(present.since).toISOString(), gate_id: present.gateId } : null;
      const ids = r.presence?.zones.map((z) => z.id) ?? [zone.id];
      const counts = await store.occupancy(ids);
      out.occupancy = ids.map((id, i) => ({ zone_id: id, count: counts[i], max: ix.zones.get(id)?.maxOccupancy || null }));
    }
    const asCred = cred ?? ({ id: "explain", userId, hostUserId: null } as unknown as CredentialRec);
    const planned = buildPlan(ix, { ...r, pin: false }, asCred, { pinOk: 1, now, ev: "explain", dry: true, pinLimit });
    if (planned) {
      const reply = await store.run(planned.keys, planned.plan);
      out.outcome = reply[0] === "ok" ? "passes" : reply[0] === "unbuilt" ? (r.failOpen ? "state_failure_open" : "state_unavailable") : reply[0];
      if (reply[1]) out.flags = reply[1].split(",");
    } else out.outcome = "passes";
    if (r.pin) out.note = "the PIN is not checked by explain: a verify without one answers pin_required";
  } catch (e) {
    out.outcome = r.failOpen ? "state_failure_open" : "state_unavailable";
    out.error = e instanceof StateUnavailable ? e.why : String(e);
  }
  return out;
}
