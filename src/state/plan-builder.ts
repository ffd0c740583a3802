// A gate's rules with memory and one decision → the plan the store runs (plan.ts): the keys it
// touches and the steps that apply. Pure: no I/O.
import type { RateLimit } from "../config";
import type { PermissionIndex } from "../index/permission-index";
import type { CredentialRec } from "../index/types";
import { type Plan, KEY } from "./plan";
import { type GateRules, isMember, localDate } from "./rules";

const DAY = 86_400_000;

export interface PlanInput {
  /** 1: the PIN was right (or none is needed); 0: wrong, counts against RATE_LIMIT_PIN. */
  pinOk: 0 | 1;
  now: number;
  /** This decision's event id (a two-person pair names it). */
  ev: string;
  /** Check only, write nothing (explain). */
  dry: boolean;
  pinLimit: RateLimit;
}

/** The plan for one allowed decision at a gate with rules; null when no state is needed after all. */
export function buildPlan(ix: PermissionIndex, r: GateRules, cred: CredentialRec, o: PlanInput): { keys: string[]; plan: Plan } | null {
  const { pinOk, now, ev, dry, pinLimit } = o;
  const keys: string[] = [KEY.built];
  const k = (name: string) => keys.push(name);
  const user = cred.userId;
  const p: Plan = { now, user, gate: r.gate.id, ev };
  if (dry) p.dry = 1;
  let any = false;
  if (r.pin) {
    p.pin = { k: k(KEY.pin(cred.id)), ok: pinOk, lim: pinLimit.count, win: pinLimit.windowMs };
    any = true;
  }
  const host = cred.hostUserId ?? null;
  if (r.escortMs > 0) {
    if (host !== null) p.esc = { k: k(KEY.pass(r.gate.id, host)), win: r.escortMs };
    p.pass = { k: k(KEY.pass(r.gate.id, user)), ttl: r.escortMs };
    any = true;
  }
  if (r.firstIn !== null) {
    const date = localDate(ix, r.firstIn.scheduleId, now);
    if (date !== null) {
      const sup = isMember(ix, user, r.firstIn.groupId);
      const open = ix.schedules.get(r.firstIn.scheduleId)?.isOpen(now) ?? false;
      if (sup || open) {
        p.fi = { k: k(KEY.firstIn(r.firstIn.zone.id, date)), sup: sup ? 1 : 0, ttl: 2 * DAY };
        any = true;
      }
    }
  }
  if (r.presence !== null) {
    const pr = r.presence;
    p.pr = {
      dir: pr.dir, apb: pr.apb, reset: pr.resetMs,
      z: pr.zones.map((z) => ({ i: k(KEY.zoneIn(z.id)), o: k(KEY.zoneOut(z.id)), max: pr.dir === "in" ? z.maxOccupancy ?? 0 : 0 })),
    };
    any = true;
  }
  if (r.twoPersonMs > 0) {
    p.tp = { k: k(KEY.twoPerson(r.gate.id)), win: r.twoPersonMs };
    any = true;
  }
  return any ? { keys, plan: p } : null;
}
