// THE INDEX: the whole permission graph compiled for constant-time decisions. Pure — it imports
// nothing from the database or HTTP layers. Incremental updates mutate it synchronously (a verify
// never runs mid-update: JavaScript is single-threaded); a full rebuild builds a new index and the
// caller swaps the reference.
import { TzClock } from "./clock";
import { CompiledSchedule } from "./schedule";
import type {
  ChangeSet, CredentialRec, Decision, GateRec, GrantRec, GroupRec, Reason, ScheduleRec, Snapshot,
  UserRec, ZoneRec,
} from "./types";

/** Grants keyed by their target. */
export interface GrantTable {
  byGate: Map<string, GrantRec[]> | null;
  byZone: Map<string, GrantRec[]> | null;
}

/**
 * What a decision reads for one user: the user's own grants, and for each group the user is a
 * direct member of, that group's closure — its grants and those of every ancestor. Closures are
 * compiled once per group and shared by all its members (memory grows with groups, not with
 * users × inherited grants), and a closure is recompiled in place, so members need no update
 * when a grant of some ancestor changes.
 */
export interface UserGrants {
  own: GrantTable | null;
  groups: GrantTable[];
}

const NO_GRANTS: UserGrants = { own: null, groups: [] };

function refused(reason: Reason, cred?: CredentialRec): Decision {
  return {
    allow: false, reason, userId: cred?.userId, credentialId: cred?.id, credentialKind: cred?.kind,
    deviceRevoked: cred?.deviceRevoked === true, unlockMs: 0,
  };
}
const UNKNOWN_TOKEN = Object.freeze(refused("unknown_token"));

function addTo<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(v);
}
function removeFrom<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k);
  if (s && s.delete(v) && s.size === 0) m.delete(k);
}

export class PermissionIndex {
  revision = 0;
  readonly users = new Map<string, UserRec>();
  readonly groups = new Map<string, GroupRec>();
  readonly zones = new Map<string, ZoneRec>();
  readonly gates = new Map<string, GateRec>();
  readonly schedules = new Map<string, CompiledSchedule>();
  readonly grants = new Map<string, GrantRec>();
  /** SHA-256 hex of the secret → credential: the one lookup a verify starts with. */
  readonly credentialsByHash = new Map<string, CredentialRec>();
  readonly credentialsById = new Map<string, CredentialRec>();

  readonly groupsOfUser = new Map<string, Set<string>>();
  readonly membersOfGroup = new Map<string, Set<string>>();
  readonly childrenOfGroup = new Map<string, Set<string>>();
  readonly grantsOfUser = new Map<string, Set<string>>();
  readonly grantsOfGroup = new Map<string, Set<string>>();
  /** Group → the grants of it and of every ancestor (cycle-safe). */
  readonly groupClosures = new Map<string, GrantTable>();
  readonly compiled = new Map<string, UserGrants>();
  private readonly clocks = new Map<string, TzClock>();

  static fromSnapshot(s: Snapshot): PermissionIndex {
    const ix = new PermissionIndex();
    for (const step of ix.buildSteps(s)) for (const _ of step()) { /* run to completion */ }
    return ix;
  }

  /**
   * The same build, yielding to the event loop every `sliceMs`: a rebuild of a million credentials
   * takes seconds, and the index in force must keep answering verifies meanwhile.
   */
  static async build(s: Snapshot, sliceMs = 4): Promise<PermissionIndex> {
    const ix = new PermissionIndex();
    let t0 = performance.now();
    for (const step of ix.buildSteps(s)) {
      for (const _ of step()) {
        if (performance.now() - t0 > sliceMs) {
          await new Promise((r) => setImmediate(r));
          t0 = performance.now();
        }
      }
    }
    return ix;
  }

  /** Build phases; each yields every few thousand items so the caller may pause between. */
  private buildSteps(s: Snapshot): Array<() => Generator<void>> {
    const CHUNK = 2048;
    const each = <T>(items: Iterable<T>, f: (x: T) => void) => function* () {
      let n = 0;
      for (const x of items) {
        f(x);
        if (++n % CHUNK === 0) yield;
      }
      yield; // and between phases
    };
    this.revision = s.revision;
    return [
      each(s.users, (u) => this.users.set(u.id, u)),
      each(s.groups, (g) => this.putGroup(g)),
      each(s.memberships, ([g, u]) => {
        addTo(this.groupsOfUser, u, g);
        addTo(this.membersOfGroup, g, u);
      }),
      each(s.zones, (z) => this.zones.set(z.id, z)),
      each(s.gates, (g) => this.gates.set(g.id, g)),
      each(s.schedules, (sc) => this.putSchedule(sc)),
      each(s.grants, (g) => this.putGrant(g)),
      each(s.credentials, (c) => {
        // Share the user's id string rather than keep a copy per credential.
        const u = this.users.get(c.userId);
        if (u !== undefined) c.userId = u.id;
        this.putCredential(c);
      }),
      () => each(this.groups.keys(), (id) => void this.compileClosure(id))(),
      () => each(this.users.keys(), (id) => this.compileUser(id))(),
    ];
  }

  /** Applies the state of every changed row, then recompiles only the users it touches. */
  apply(cs: ChangeSet): void {
    const dirty = new Set<string>(); // users whose own grants or direct groups changed
    const dirtyGroups = new Set<string>(); // groups whose closure (and all below) must be recompiled
    for (const [id, rec] of cs.users ?? []) {
      if (rec) this.users.set(id, rec);
      else this.deleteUser(id);
      dirty.add(id);
    }
    for (const [id, rec] of cs.schedules ?? []) {
      if (rec) this.putSchedule(rec);
      else this.schedules.delete(id); // grants still pointing at it stay closed (see scheduleOf)
    }
    for (const [id, rec] of cs.groups ?? []) {
      // The group and every group below it gain or lose ancestors: their closures change.
      dirtyGroups.add(id);
      const old = this.groups.get(id);
      if (old?.parentId) removeFrom(this.childrenOfGroup, old.parentId, id);
      if (rec) this.putGroup(rec);
      else {
        this.groups.delete(id);
        for (const u of this.membersOfGroup.get(id) ?? []) {
          removeFrom(this.groupsOfUser, u, id);
          dirty.add(u);
        }
        this.membersOfGroup.delete(id);
      }
    }
    for (const [userId, groupIds] of cs.memberships ?? []) {
      for (const g of this.groupsOfUser.get(userId) ?? []) removeFrom(this.membersOfGroup, g, userId);
      this.groupsOfUser.delete(userId);
      for (const g of groupIds) {
        addTo(this.groupsOfUser, userId, g);
        addTo(this.membersOfGroup, g, userId);
      }
      dirty.add(userId);
    }
    for (const [id, rec] of cs.zones ?? []) {
      if (rec) this.zones.set(id, rec);
      else this.zones.delete(id);
    }
    // Gates are read at decision time (mode, zone), so a gate change recompiles nobody.
    for (const [id, rec] of cs.gates ?? []) {
      if (rec) this.gates.set(id, rec);
      else this.gates.delete(id);
    }
    for (const [id, rec] of cs.grants ?? []) {
      const old = this.grants.get(id);
      if (old) {
        this.markSubject(old, dirty, dirtyGroups);
        this.dropGrant(old);
      }
      if (rec) {
        this.putGrant(rec);
        this.markSubject(rec, dirty, dirtyGroups);
      }
    }
    // Remove every old row before adding any new one: within one change set a secret hash can
    // move from one credential to another, in whatever order the rows come.
    for (const [id] of cs.credentials ?? []) {
      const old = this.credentialsById.get(id);
      if (!old) continue;
      if (this.credentialsByHash.get(old.secretHash) === old) this.credentialsByHash.delete(old.secretHash);
      this.credentialsById.delete(id);
    }
    for (const [, rec] of cs.credentials ?? []) if (rec) this.putCredential(rec);
    const closures = new Set<string>();
    for (const g of dirtyGroups) this.addSubtree(g, closures);
    for (const g of closures) {
      if (this.groups.has(g)) this.compileClosure(g);
      else {
        // Gone: empty it in place for anyone still holding it, and forget it.
        const c = this.groupClosures.get(g);
        if (c) c.byGate = c.byZone = null;
        this.groupClosures.delete(g);
      }
    }
    for (const u of dirty) this.compileUser(u);
    if (cs.revision > this.revision) this.revision = cs.revision;
  }

  /** The decision for a presented secret (by its hash) at a gate, at instant `now`. */
  decide(secretHash: string, gateId: string, now: number): Decision {
    const cred = this.credentialsByHash.get(secretHash);
    if (cred === undefined) return UNKNOWN_TOKEN;
    return this.decideFor(cred, gateId, now);
  }

  decideFor(cred: CredentialRec, gateId: string, now: number): Decision {
    if (cred.revoked) return refused("revoked_token", cred);
    if (now >= cred.expiresAt) return refused("expired_token", cred);
    if (now < cred.validFrom) return refused("not_yet_valid", cred);
    const user = this.users.get(cred.userId);
    if (user === undefined || !user.active || now < user.validFrom || now >= user.validUntil) {
      return refused("inactive_user", cred);
    }
    const gate = this.gates.get(gateId);
    if (gate === undefined) return refused("unknown_gate", cred);
    if (gate.mode !== "normal") return refused(gate.mode === "locked" ? "gate_locked" : "gate_disabled", cred);

    const c = this.compiled.get(user.id) ?? NO_GRANTS;
    // 0 nothing, 1 an allow closed by its schedule, 2 an allow in force, 3 a deny in force
    let allowed = c.own === null ? 0 : this.scanTable(c.own, gateId, gate.zoneId, now);
    for (let i = 0; allowed !== 3 && i < c.groups.length; i++) {
      const r = this.scanTable(c.groups[i]!, gateId, gate.zoneId, now);
      if (r > allowed) allowed = r;
    }
    if (allowed === 3) return refused("denied", cred);
    if (allowed === 2) {
      return {
        allow: true, reason: "granted", userId: cred.userId, credentialId: cred.id,
        credentialKind: cred.kind, deviceRevoked: false, unlockMs: gate.unlockMs,
      };
    }
    return refused(allowed === 1 ? "outside_schedule" : "no_grant", cred);
  }

  /** The strongest state among a table's grants for a gate (directly or through its zone). */
  private scanTable(t: GrantTable, gateId: string, zoneId: string | null, now: number): number {
    let best = 0;
    if (t.byGate !== null) {
      const list = t.byGate.get(gateId);
      if (list !== undefined) best = this.scan(list, now);
    }
    if (best !== 3 && zoneId !== null && t.byZone !== null) {
      const list = t.byZone.get(zoneId);
      if (list !== undefined) {
        const r = this.scan(list, now);
        if (r > best) best = r;
      }
    }
    return best;
  }

  /** 3 a deny in force; else the best allow state (see decideFor). */
  private scan(grants: GrantRec[], now: number): number {
    let best = 0;
    for (let i = 0; i < grants.length; i++) {
      const g = grants[i]!;
      if (now < g.validFrom || now >= g.validUntil) continue;
      const open = g.scheduleId === null || this.scheduleOpen(g.scheduleId, now);
      if (g.effect === "deny") {
        if (open) return 3;
      } else if (open) best = 2;
      else if (best === 0) best = 1;
    }
    return best;
  }

  private scheduleOpen(id: string, now: number): boolean {
    // A grant whose schedule is gone is closed: failing shut is the safe side for allows,
    // and a deny that cannot be evaluated must not block on a guess either.
    const s = this.schedules.get(id);
    return s !== undefined && s.isOpen(now);
  }

  /** Every group the user belongs to, directly or through ancestors, with the path that led there. */
  effectiveGroups(userId: string): Map<string, string[]> {
    return this.effectiveGroupsOf(this.groupsOfUser.get(userId) ?? []);
  }

  /** The given groups and all their ancestors, each with the path from a starting group. */
  effectiveGroupsOf(starts: Iterable<string>): Map<string, string[]> {
    const paths = new Map<string, string[]>();
    for (const start of starts) {
      let path: string[] = [];
      // Walk to the root; `paths` doubles as the visited set, so a cycle ends the walk.
      for (let g: string | null = start; g !== null && !paths.has(g);) {
        const rec = this.groups.get(g);
        if (!rec) break;
        path = [...path, g];
        paths.set(g, path);
        g = rec.parentId;
      }
    }
    return paths;
  }

  compileUser(userId: string): void {
    if (!this.users.has(userId)) {
      this.compiled.delete(userId);
      return;
    }
    const own = this.grantsOfUser.get(userId);
    const direct = this.groupsOfUser.get(userId);
    if (own === undefined && direct === undefined) {
      this.compiled.delete(userId);
      return;
    }
    const groups: GrantTable[] = [];
    for (const g of direct ?? []) {
      const closure = this.groupClosures.get(g) ?? this.compileClosure(g);
      if (closure !== null) groups.push(closure);
    }
    this.compiled.set(userId, { own: own === undefined ? null : this.table(own), groups });
  }

  /** Recompiles a group's closure in place (members keep their reference); null for a missing group. */
  compileClosure(groupId: string): GrantTable | null {
    if (!this.groups.has(groupId)) return null;
    const ids = new Set<string>();
    for (const g of this.effectiveGroupsOf([groupId]).keys()) for (const id of this.grantsOfGroup.get(g) ?? []) ids.add(id);
    const fresh = this.table(ids);
    let closure = this.groupClosures.get(groupId);
    if (closure === undefined) this.groupClosures.set(groupId, (closure = fresh));
    else {
      closure.byGate = fresh.byGate;
      closure.byZone = fresh.byZone;
    }
    return closure;
  }

  /** For tests and tools: every grant reaching the user, by target, as sorted grant ids. */
  grantIdsFor(userId: string): { gates: Record<string, string[]>; zones: Record<string, string[]> } {
    const gates = new Map<string, Set<string>>(), zones = new Map<string, Set<string>>();
    const c = this.compiled.get(userId);
    for (const t of c ? [...(c.own ? [c.own] : []), ...c.groups] : []) {
      for (const [k, list] of t.byGate ?? []) for (const g of list) addTo(gates, k, g.id);
      for (const [k, list] of t.byZone ?? []) for (const g of list) addTo(zones, k, g.id);
    }
    const norm = (m: Map<string, Set<string>>) =>
      Object.fromEntries([...m].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, [...v].sort()]));
    return { gates: norm(gates), zones: norm(zones) };
  }

  private table(grantIds: Iterable<string>): GrantTable {
    let byGate: Map<string, GrantRec[]> | null = null;
    let byZone: Map<string, GrantRec[]> | null = null;
    for (const id of grantIds) {
      const g = this.grants.get(id)!;
      if (g.targetGateId !== null) {
        byGate ??= new Map();
        const list = byGate.get(g.targetGateId);
        if (list) list.push(g);
        else byGate.set(g.targetGateId, [g]);
      } else if (g.targetZoneId !== null) {
        byZone ??= new Map();
        const list = byZone.get(g.targetZoneId);
        if (list) list.push(g);
        else byZone.set(g.targetZoneId, [g]);
      }
    }
    return { byGate, byZone };
  }

  counts(): Record<string, number> {
    return {
      users: this.users.size, groups: this.groups.size, zones: this.zones.size, gates: this.gates.size,
      schedules: this.schedules.size, grants: this.grants.size, credentials: this.credentialsByHash.size,
    };
  }

  private deleteUser(id: string): void {
    this.users.delete(id);
    for (const g of this.groupsOfUser.get(id) ?? []) removeFrom(this.membersOfGroup, g, id);
    this.groupsOfUser.delete(id);
  }

  private putGroup(g: GroupRec): void {
    this.groups.set(g.id, g);
    if (g.parentId !== null) addTo(this.childrenOfGroup, g.parentId, g.id);
  }

  private putSchedule(rec: ScheduleRec): void {
    const existing = this.schedules.get(rec.id);
    if (existing && existing.rec.timezone === rec.timezone) {
      existing.compile(rec);
      return;
    }
    let clock = this.clocks.get(rec.timezone);
    if (!clock) this.clocks.set(rec.timezone, (clock = new TzClock(rec.timezone)));
    this.schedules.set(rec.id, new CompiledSchedule(rec, clock));
  }

  private putGrant(g: GrantRec): void {
    this.grants.set(g.id, g);
    if (g.subjectUserId !== null) addTo(this.grantsOfUser, g.subjectUserId, g.id);
    else if (g.subjectGroupId !== null) addTo(this.grantsOfGroup, g.subjectGroupId, g.id);
  }

  private dropGrant(g: GrantRec): void {
    this.grants.delete(g.id);
    if (g.subjectUserId !== null) removeFrom(this.grantsOfUser, g.subjectUserId, g.id);
    else if (g.subjectGroupId !== null) removeFrom(this.grantsOfGroup, g.subjectGroupId, g.id);
  }

  private putCredential(c: CredentialRec): void {
    this.credentialsByHash.set(c.secretHash, c);
    this.credentialsById.set(c.id, c);
  }

  private markSubject(g: GrantRec, users: Set<string>, groups: Set<string>): void {
    if (g.subjectUserId !== null) users.add(g.subjectUserId);
    else if (g.subjectGroupId !== null) groups.add(g.subjectGroupId);
  }

  /** A group and all groups below it (cycle-safe). */
  private addSubtree(groupId: string, into: Set<string>): void {
    const stack = [groupId];
    while (stack.length) {
      const g = stack.pop()!;
      if (into.has(g)) continue;
      into.add(g);
      for (const c of this.childrenOfGroup.get(g) ?? []) stack.push(c);
    }
  }
}
