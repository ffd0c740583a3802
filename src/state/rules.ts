// Which gates have a rule with memory, compiled from the index (pure: no I/O). The verify path
// asks `rulesFor(index, gateId)` — one Map lookup, undefined for every plain gate — so a gate
// without such a rule pays nothing else. The table is recompiled only when a gate or zone changed
// (PermissionIndex.layoutVersion), not on every revision.
import type { PermissionIndex } from "../index/permission-index";
import type { CredentialRec, GateRec, ZoneRec } from "../index/types";

export interface PresenceRule {
  dir: "in" | "out";
  /** The gate's zone first; then its enclosing zones (in) or the zones inside it (out). */
  zones: ZoneRec[];
  /** 0 off, 1 soft, 2 hard (the gate's own zone's setting). */
  apb: 0 | 1 | 2;
  resetMs: number;
}

export interface FirstInRule {
  zone: ZoneRec;
  groupId: string;
  scheduleId: string;
}

export interface GateRules {
  gate: GateRec;
  zone: ZoneRec | null;
  /** The zone's state_failure (a gate without a zone fails closed). */
  failOpen: boolean;
  presence: PresenceRule | null;
  twoPersonMs: number;
  pin: boolean;
  /** > 0: a visitor passes only when their host passed this gate within this many ms. */
  escortMs: number;
  firstIn: FirstInRule | null;
}

const APB = { off: 0, soft: 1, hard: 2 } as const;

/** The zone and every zone enclosing it, innermost first (cycle-safe). */
export function enclosing(ix: PermissionIndex, zoneId: string): ZoneRec[] {
  const out: ZoneRec[] = [];
  const seen = new Set<string>();
  for (let z = ix.zones.get(zoneId); z !== undefined && !seen.has(z.id); z = z.parentId ? ix.zones.get(z.parentId) : undefined) {
    seen.add(z.id);
    out.push(z);
  }
  return out;
}

/** The zone and every zone inside it, the zone first (cycle-safe). */
export function inside(ix: PermissionIndex, zoneId: string, children = childrenOf(ix)): ZoneRec[] {
  const out: ZoneRec[] = [];
  const seen = new Set<string>();
  const stack = [zoneId];
  while (stack.length) {
    const id = stack.pop()!;
    const z = ix.zones.get(id);
    if (z === undefined || seen.has(id)) continue;
    seen.add(id);
    out.push(z);
    for (const c of children.get(id) ?? []) stack.push(c);
  }
  return out;
}

export function childrenOf(ix: PermissionIndex): Map<string, string[]> {
  const children = new Map<string, string[]>();
  for (const z of ix.zones.values()) {
    if (!z.parentId) continue;
    const list = children.get(z.parentId);
    if (list) list.push(z.id);
    else children.set(z.parentId, [z.id]);
  }
  return children;
}

function compileGate(ix: PermissionIndex, g: GateRec, children: Map<string, string[]>): GateRules | null {
  const zone = g.zoneId !== null ? ix.zones.get(g.zoneId) ?? null : null;
  let presence: PresenceRule | null = null;
  if (zone !== null && (g.direction === "in" || g.direction === "out")) {
    presence = {
      dir: g.direction,
      zones: g.direction === "in" ? enclosing(ix, zone.id) : inside(ix, zone.id, children),
      apb: APB[zone.antiPassback ?? "off"],
      resetMs: zone.antiPassbackResetMs ?? 0,
    };
  }
  const escortMs = g.requiresEscort ? g.escortWindowMs ?? 60_000 : zone?.requiresEscort ? zone.escortWindowMs ?? 60_000 : 0;
  const firstIn = zone !== null && zone.supervisorGroupId && zone.supervisorScheduleId && g.direction !== "out"
    ? { zone, groupId: zone.supervisorGroupId, scheduleId: zone.supervisorScheduleId }
    : null;
  const twoPersonMs = g.twoPersonWindowMs ?? 0;
  const pin = g.requiresPin === true;
  if (presence === null && escortMs === 0 && firstIn === null && twoPersonMs === 0 && !pin) return null;
  return { gate: g, zone, failOpen: zone?.stateFailure === "open", presence, twoPersonMs, pin, escortMs, firstIn };
}

/** Every gate with a rule with memory, by id. */
export function compileRules(ix: PermissionIndex): Map<string, GateRules> {
  const children = childrenOf(ix);
  const out = new Map<string, GateRules>();
  for (const g of ix.gates.values()) {
    const r = compileGate(ix, g, children);
    if (r !== null) out.set(g.id, r);
  }
  return out;
}

const tables = new WeakMap<PermissionIndex, { version: number; rules: Map<string, GateRules> }>();

/** The gate's rules with memory, or undefined for a plain gate (the common case: one Map lookup). */
export function rulesFor(ix: PermissionIndex, gateId: string): GateRules | undefined {
  let t = tables.get(ix);
  if (t === undefined || t.version !== ix.layoutVersion) {
    t = { version: ix.layoutVersion, rules: compileRules(ix) };
    tables.set(ix, t);
  }
  return t.rules.get(gateId);
}

/** True when any gate has a rule with memory (startup warnings). */
export function anyStatefulGate(ix: PermissionIndex): boolean {
  return compileRules(ix).size > 0;
}

/** Is the user a member (directly or through nested groups) of the group? */
export function isMember(ix: PermissionIndex, userId: string, groupId: string): boolean {
  return ix.effectiveGroups(userId).has(groupId);
}

/** The local calendar date ("YYYY-MM-DD") at `now` in the timezone of the schedule. */
export function localDate(ix: PermissionIndex, scheduleId: string, now: number): string | null {
  const s = ix.schedules.get(scheduleId);
  if (s === undefined) return null;
  return new Date(now + s.clock.offsetMs(now)).toISOString().slice(0, 10);
}

/** The visitor's host, when the credential is a visitor's. */
export const hostOf = (c: CredentialRec | undefined): string | null => c?.hostUserId ?? null;
