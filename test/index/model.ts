// A small in-memory model of the permission database (with its cascades) and of the change feed
// (the current state of every touched row, in no particular order), for randomized index tests.
import type {
  ChangeSet, CredentialKind, CredentialRec, GateMode, GateRec, GrantRec, GroupRec, ScheduleRec,
  ScheduleWindow, Snapshot, UserRec, ZoneRec,
} from "../../src/index/types";
import { HOUR, MINUTE, type Rng } from "./helpers";

// Around the Europe/Berlin spring-forward change, so schedules cross a DST transition.
const T0 = Date.parse("2026-03-28T12:00:00Z");
const TIMEZONES = ["UTC", "Europe/Berlin", "America/Los_Angeles", "Pacific/Auckland"];
const MODES: GateMode[] = ["normal", "normal", "normal", "locked", "disabled"];
const KINDS: CredentialKind[] = ["card", "pin", "api", "device", "session"];

type Entity = "users" | "groups" | "memberships" | "zones" | "gates" | "schedules" | "grants" | "credentials";

export class Model {
  users = new Map<string, UserRec>();
  groups = new Map<string, GroupRec>();
  memberships = new Map<string, Set<string>>(); // userId → groupIds
  zones = new Map<string, ZoneRec>();
  gates = new Map<string, GateRec>();
  schedules = new Map<string, ScheduleRec>();
  grants = new Map<string, GrantRec>();
  credentials = new Map<string, CredentialRec>();

  touched = new Map<Entity, Set<string>>();
  private seq = 0;
  readonly everHashes = new Set<string>();
  readonly everGates = new Set<string>();

  constructor(private r: Rng) {}

  id(prefix: string): string {
    return `${prefix}${++this.seq}`;
  }
  touch(e: Entity, id: string): void {
    let s = this.touched.get(e);
    if (!s) this.touched.set(e, (s = new Set()));
    s.add(id);
  }
  keys<T>(m: Map<string, T>): string[] {
    return [...m.keys()];
  }

  // ---- random values ----
  instant(spreadHours = 72): number {
    return T0 + Math.round((this.r.next() * 2 - 1) * spreadHours * HOUR / MINUTE) * MINUTE;
  }
  window(): [number, number] {
    const r = this.r;
    const from = r.chance(0.6) ? -Infinity : this.instant();
    let until = r.chance(0.6) ? Infinity : this.instant();
    if (until <= from) until = from === -Infinity ? until : from + (1 + r.int(48)) * HOUR;
    return [from, until];
  }
  hhmm(allow24: boolean): string {
    const r = this.r;
    if (allow24 && r.chance(0.15)) return "24:00";
    const m = r.int(48) * 30;
    return `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
  }
  windows(): ScheduleWindow[] {
    const r = this.r;
    const out: ScheduleWindow[] = [];
    const n = r.int(3) + (r.chance(0.1) ? 0 : 1);
    for (let i = 0; i < n; i++) {
      const days = [...new Set(Array.from({ length: 1 + r.int(4) }, () => 1 + r.int(7)))];
      const start = this.hhmm(false);
      let end = this.hhmm(true);
      if (end === start) end = "24:00";
      out.push({ days, start, end });
    }
    return out;
  }

  // ---- rows ----
  putUser(id = this.id("u")): void {
    const [validFrom, validUntil] = this.r.chance(0.7) ? [-Infinity, Infinity] : this.window();
    this.users.set(id, { id, username: id, active: this.r.chance(0.85), validFrom, validUntil });
    this.touch("users", id);
  }
  deleteUser(id: string): void {
    this.users.delete(id);
    this.touch("users", id);
    if (this.memberships.delete(id)) this.touch("memberships", id);
    for (const g of [...this.grants.values()]) if (g.subjectUserId === id) this.deleteGrant(g.id);
    for (const c of [...this.credentials.values()]) if (c.userId === id) this.deleteCredential(c.id);
  }
  putGroup(id = this.id("g")): void {
    const others = this.keys(this.groups).filter((g) => g !== id);
    const parentId = others.length && this.r.chance(0.7) ? this.r.pick(others) : null;
    this.groups.set(id, { id, name: id, parentId });
    this.touch("groups", id);
  }
  deleteGroup(id: string): void {
    this.groups.delete(id);
    this.touch("groups", id);
    for (const g of this.groups.values()) {
      if (g.parentId === id) {
        this.groups.set(g.id, { ...g, parentId: null });
        this.touch("groups", g.id);
      }
    }
    for (const [u, gs] of this.memberships) if (gs.delete(id)) this.touch("memberships", u);
    for (const g of [...this.grants.values()]) if (g.subjectGroupId === id) this.deleteGrant(g.id);
  }
  setMemberships(userId: string): void {
    const gs = new Set(this.keys(this.groups).filter(() => this.r.chance(0.3)));
    this.memberships.set(userId, gs);
    this.touch("memberships", userId);
  }
  putZone(id = this.id("z")): void {
    this.zones.set(id, { id, name: id });
    this.touch("zones", id);
  }
  deleteZone(id: string): void {
    this.zones.delete(id);
    this.touch("zones", id);
    for (const g of this.gates.values()) {
      if (g.zoneId === id) {
        this.gates.set(g.id, { ...g, zoneId: null });
        this.touch("gates", g.id);
      }
    }
    for (const g of [...this.grants.values()]) if (g.targetZoneId === id) this.deleteGrant(g.id);
  }
  putGate(id = this.id("G")): void {
    const zones = this.keys(this.zones);
    const zoneId = zones.length && this.r.chance(0.75) ? this.r.pick(zones) : null;
    this.gates.set(id, { id, name: id, zoneId, mode: this.r.pick(MODES), unlockMs: this.r.int(5) * 500, maxStalenessMs: this.r.chance(0.2) ? 5000 : null });
    this.everGates.add(id);
    this.touch("gates", id);
  }
  deleteGate(id: string): void {
    this.gates.delete(id);
    this.touch("gates", id);
    for (const g of [...this.grants.values()]) if (g.targetGateId === id) this.deleteGrant(g.id);
  }
  putSchedule(id = this.id("s")): void {
    const old = this.schedules.get(id);
    const timezone = old && this.r.chance(0.7) ? old.timezone : this.r.pick(TIMEZONES);
    this.schedules.set(id, { id, name: id, timezone, windows: this.windows() });
    this.touch("schedules", id);
  }
  deleteSchedule(id: string): boolean {
    // on delete restrict: only an unused schedule can go.
    for (const g of this.grants.values()) if (g.scheduleId === id) return false;
    this.schedules.delete(id);
    this.touch("schedules", id);
    return true;
  }
  putGrant(id = this.id("gr")): boolean {
    const r = this.r;
    const users = this.keys(this.users), groups = this.keys(this.groups);
    const gates = this.keys(this.gates), zones = this.keys(this.zones);
    const byGroup = groups.length > 0 && (users.length === 0 || r.chance(0.6));
    const toZone = zones.length > 0 && (gates.length === 0 || r.chance(0.4));
    if ((!byGroup && users.length === 0) || (!toZone && gates.length === 0)) return false;
    const schedules = this.keys(this.schedules);
    const [validFrom, validUntil] = r.chance(0.6) ? [-Infinity, Infinity] : this.window();
    this.grants.set(id, {
      id,
      subjectUserId: byGroup ? null : r.pick(users),
      subjectGroupId: byGroup ? r.pick(groups) : null,
      targetGateId: toZone ? null : r.pick(gates),
      targetZoneId: toZone ? r.pick(zones) : null,
      effect: r.chance(0.25) ? "deny" : "allow",
      scheduleId: schedules.length && r.chance(0.4) ? r.pick(schedules) : null,
      validFrom, validUntil,
    });
    this.touch("grants", id);
    return true;
  }
  deleteGrant(id: string): void {
    this.grants.delete(id);
    this.touch("grants", id);
  }
  putCredential(id = this.id("c")): boolean {
    const r = this.r;
    const old = this.credentials.get(id);
    const users = this.keys(this.users);
    if (!old && users.length === 0) return false;
    // Hashes are never re-used here: re-use across rows is covered by incremental.test.ts.
    const secretHash = !old || r.chance(0.3) ? this.id("h") : old.secretHash;
    const kind = old?.kind ?? r.pick(KINDS);
    const rec: CredentialRec = {
      id, userId: old?.userId ?? r.pick(users), kind, scopes: [], secretHash,
      expiresAt: r.chance(0.7) ? Infinity : this.instant(),
      validFrom: r.chance(0.7) ? -Infinity : this.instant(),
      revoked: r.chance(0.15),
    };
    if (kind === "device" && rec.revoked && r.chance(0.5)) rec.deviceRevoked = true;
    this.credentials.set(id, rec);
    this.everHashes.add(secretHash);
    this.touch("credentials", id);
    return true;
  }
  deleteCredential(id: string): void {
    this.credentials.delete(id);
    this.touch("credentials", id);
  }

  /** One random operation, like one admin write. */
  randomOp(): void {
    const r = this.r;
    const some = <T>(m: Map<string, T>): string | undefined => (m.size ? r.pick(this.keys(m)) : undefined);
    for (;;) {
      const op = r.int(24);
      let id: string | undefined;
      switch (op) {
        case 0: this.putUser(); return;
        case 1: if ((id = some(this.users))) { this.putUser(id); return; } break;
        case 2: if ((id = some(this.users)) && r.chance(0.5)) { this.deleteUser(id); return; } break;
        case 3: this.putGroup(); return;
        case 4: case 5: if ((id = some(this.groups))) { this.putGroup(id); return; } break; // re-parent, cycles allowed
        case 6: if ((id = some(this.groups)) && r.chance(0.5)) { this.deleteGroup(id); return; } break;
        case 7: case 8: if ((id = some(this.users))) { this.setMemberships(id); return; } break;
        case 9: if (r.chance(0.3)) { this.putZone(); return; } break;
        case 10: if ((id = some(this.zones)) && r.chance(0.2)) { this.deleteZone(id); return; } break;
        case 11: if (r.chance(0.4)) { this.putGate(); return; } break;
        case 12: case 13: if ((id = some(this.gates))) { this.putGate(id); return; } break; // mode, zone move
        case 14: if ((id = some(this.gates)) && r.chance(0.2)) { this.deleteGate(id); return; } break;
        case 15: if (r.chance(0.3)) { this.putSchedule(); return; } break;
        case 16: if ((id = some(this.schedules))) { this.putSchedule(id); return; } break; // edit in place
        case 17: if ((id = some(this.schedules)) && this.deleteSchedule(id)) return; break;
        case 18: if (this.putGrant()) return; break;
        case 19: if ((id = some(this.grants)) && this.putGrant(id)) return; break; // re-subject, re-target
        case 20: if ((id = some(this.grants))) { this.deleteGrant(id); return; } break;
        case 21: if (this.putCredential()) return; break;
        case 22: if ((id = some(this.credentials)) && this.putCredential(id)) return; break; // revoke, new hash
        case 23: if ((id = some(this.credentials)) && r.chance(0.4)) { this.deleteCredential(id); return; } break;
      }
    }
  }

  /** Touch a row without changing it: the feed may name rows whose net change is nothing. */
  touchNoop(): void {
    const r = this.r;
    const e = r.pick<Entity>(["users", "groups", "memberships", "gates", "schedules", "grants", "credentials"]);
    const m = e === "memberships" ? this.users : (this[e] as Map<string, unknown>);
    if (m.size) this.touch(e, r.pick(this.keys(m)));
  }

  changeSet(revision: number): ChangeSet {
    const r = this.r;
    const rows = <T>(e: Entity, m: Map<string, T>): Array<[string, T | null]> =>
      r.shuffle([...(this.touched.get(e) ?? [])].map((id) => [id, m.get(id) ?? null] as [string, T | null]));
    const cs: ChangeSet = {
      revision,
      users: rows("users", this.users),
      groups: rows("groups", this.groups),
      memberships: r.shuffle([...(this.touched.get("memberships") ?? [])]
        .map((u) => [u, r.shuffle([...(this.memberships.get(u) ?? [])])] as [string, string[]])),
      zones: rows("zones", this.zones),
      gates: rows("gates", this.gates),
      schedules: rows("schedules", this.schedules),
      grants: rows("grants", this.grants),
      credentials: rows("credentials", this.credentials),
    };
    this.touched.clear();
    return cs;
  }

  snapshot(revision: number): Snapshot {
    const memberships: Array<[string, string]> = [];
    for (const [u, gs] of this.memberships) for (const g of gs) memberships.push([g, u]);
    return {
      revision,
      users: [...this.users.values()],
      groups: [...this.groups.values()],
      memberships,
      zones: [...this.zones.values()],
      gates: [...this.gates.values()],
      schedules: [...this.schedules.values()],
      grants: [...this.grants.values()],
      credentials: [...this.credentials.values()],
    };
  }

  seed(): void {
    const r = this.r;
    for (let i = 0; i < 8; i++) this.putUser();
    for (let i = 0; i < 7; i++) this.putGroup();
    // A guaranteed two-group cycle.
    const [a, b] = this.keys(this.groups);
    this.groups.set(a!, { id: a!, name: a!, parentId: b! });
    this.groups.set(b!, { id: b!, name: b!, parentId: a! });
    for (const u of this.keys(this.users)) if (r.chance(0.8)) this.setMemberships(u);
    for (let i = 0; i < 3; i++) this.putZone();
    for (let i = 0; i < 6; i++) this.putGate();
    for (let i = 0; i < 4; i++) this.putSchedule();
    for (let i = 0; i < 24; i++) this.putGrant();
    for (let i = 0; i < 12; i++) this.putCredential();
    this.touched.clear();
  }
}

