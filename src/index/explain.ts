// "Why was I refused at door 3?" — the decision with its derivation: every grant that reached the
// user for this gate (directly or through which group path, on the gate or its zone), and why it
// counted or was ruled out. Pure, like the rest of the index; it must agree with decide().
import type { PermissionIndex } from "./permission-index";
import type { Explanation, GrantExplanation } from "../wire";
import type { CredentialRec, GrantRec, Reason } from "./types";

const time = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : null);

/** Explains the decision for a credential (as verify sees it) or a user (skipping credential checks). */
export function explain(ix: PermissionIndex, who: { credential?: CredentialRec; userId?: string }, gateId: string, at: number): Explanation {
  const cred = who.credential;
  const userId = cred?.userId ?? who.userId;
  const out: Explanation = { allow: false, reason: "unknown_token", at: new Date(at).toISOString(), gate_id: gateId, groups: [], grants: [] };
  if (cred) {
    out.credential = { id: cred.id, kind: cred.kind, revoked: cred.revoked, expires_at: time(cred.expiresAt), valid_from: time(cred.validFrom) };
  }
  const user = userId !== undefined ? ix.users.get(userId) : undefined;
  if (userId !== undefined) out.user_id = userId;
  if (user) {
    out.user = { id: user.id, username: user.username, active: user.active, valid_from: time(user.validFrom), valid_until: time(user.validUntil) };
  }
  const gate = ix.gates.get(gateId);
  if (gate) out.gate = { id: gate.id, name: gate.name, mode: gate.mode, zone_id: gate.zoneId };

  // The grants that reach this user for this gate, and the group path of each.
  const paths = userId !== undefined ? ix.effectiveGroups(userId) : new Map<string, string[]>();
  const groupName = (id: string) => ix.groups.get(id)?.name ?? id;
  for (const [id, path] of paths) out.groups.push({ id, name: groupName(id), path: path.map(groupName) });
  let allowed = 0; // 0 none, 1 an allow closed by its schedule, 2 an allow in force
  let denied = false;
  if (gate && userId !== undefined) {
    const reaching: Array<[GrantRec, string[] | null]> = [];
    const consider = (g: GrantRec, path: string[] | null) => {
      if (g.targetGateId === gateId || (g.targetZoneId !== null && g.targetZoneId === gate.zoneId)) reaching.push([g, path]);
    };
    for (const id of ix.grantsOfUser.get(userId) ?? []) consider(ix.grants.get(id)!, null);
    for (const [groupId, path] of paths) for (const id of ix.grantsOfGroup.get(groupId) ?? []) consider(ix.grants.get(id)!, path);
    for (const [g, path] of reaching) {
      const inValidity = at >= g.validFrom && at < g.validUntil;
      const compiled = g.scheduleId !== null ? ix.schedules.get(g.scheduleId) : undefined;
      const described = compiled?.describe(at);
      const open = g.scheduleId === null || (described?.open ?? false);
      let outcome: GrantExplanation["outcome"] = "ruled_out";
      let why: string;
      if (!inValidity) why = at < g.validFrom ? "grant not yet valid" : "grant expired";
      else if (!open) why = compiled ? `schedule closed at local time ${described!.local} (${compiled.rec.timezone})` : "its schedule no longer exists";
      else {
        outcome = g.effect === "deny" ? "denies" : "allows";
        why = g.scheduleId === null ? `${g.effect} in force` : `${g.effect} in force; schedule open at local time ${described!.local}`;
      }
      if (outcome === "denies") denied = true;
      else if (outcome === "allows") allowed = 2;
      else if (g.effect === "allow" && inValidity && !open && allowed === 0) allowed = 1;
      out.grants.push({
        id: g.id,
        effect: g.effect,
        subject: path === null ? { user_id: userId } : { group_id: path[path.length - 1]!, group_path: path.map(groupName) },
        target: g.targetGateId !== null ? { gate_id: g.targetGateId } : { zone_id: g.targetZoneId! },
        valid_from: time(g.validFrom),
        valid_until: time(g.validUntil),
        in_validity: inValidity,
        schedule: compiled && described
          ? { id: compiled.rec.id, name: compiled.rec.name, timezone: compiled.rec.timezone, local_time: described.local, open: described.open, window: described.window }
          : null,
        outcome,
        why,
      });
    }
  }

  // The same order of checks as PermissionIndex.decideFor.
  const reason = ((): Reason => {
    if (cred) {
      if (cred.revoked) return "revoked_token";
      if (at >= cred.expiresAt) return "expired_token";
      if (at < cred.validFrom) return "not_yet_valid";
    } else if (userId === undefined) return "unknown_token";
    if (!user || !user.active || at < user.validFrom || at >= user.validUntil) return "inactive_user";
    if (!gate) return "unknown_gate";
    if (gate.mode === "locked") return "gate_locked";
    if (gate.mode === "disabled") return "gate_disabled";
    if (denied) return "denied";
    return allowed === 2 ? "granted" : allowed === 1 ? "outside_schedule" : "no_grant";
  })();
  out.reason = reason;
  out.allow = reason === "granted";
  return out;
}
