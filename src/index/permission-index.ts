// THE INDEX: the whole permission graph compiled for constant-time decisions. Pure — it imports
// nothing from the database or HTTP layers.
//
// Layout: the bulk (credentials, users, grants, memberships, the compiled per-user and per-group
// grant lists) lives in typed arrays — ids interned to integers once (KeyTable), columns indexed
// by those integers, lists in pools (ListPool) — so a full garbage collection does not visit a
// million objects. The small tables (gates, zones, groups, schedules: thousands of rows) are
// ordinary objects, so a new gate or zone field is one more property. Incremental updates
// overwrite columns in place and append replaced lists to their pool (a verify never runs
// mid-update: JavaScript is single-threaded); the garbage they leave is dropped by the next full
// build. `toParts()`/`fromParts()` move a built index between threads as transferable buffers.
import { TzClock } from "./clock";
import { BoundsPool, grown, ListPool, roomFor, TextColumn } from "./columns";
import { DigestTable } from "./digest-table";
import { type CredentialRules, emptyParts, type IndexParts, sizedParts, transferables } from "./index-parts";
import { KeyTable } from "./key-table";
import { type ReadonlyMapLike, view } from "./map-view";
import { CompiledSchedule } from "./schedule";
import type {
  ChangeSet, CredentialKind, CredentialRec, Decision, GateRec, GrantRec, GroupRec, Reason, ScheduleRec,
  Snapshot, UserRec, ZoneRec,
} from "./types";

// ---- packed flags ----
const KINDS: CredentialKind[] = ["card", "pin", "api", "device", "session"];
const SCOPE_LISTS: readonly string[][] = [[], ["admin"], ["user"], ["admin", "user"]].map((l) => Object.freeze(l) as string[]);
const C_PRESENT = 1 << 7, C_REVOKED = 1 << 3, C_DEVICE_REVOKED = 1 << 4, C_SCOPE_SHIFT = 5;
const U_PRESENT = 1, U_ACTIVE = 2;
const G_PRESENT = 1, G_DENY = 2, G_USER = 4, G_GROUP = 8;
const NO_TARGET = -1;
const NO_SCHEDULE = -1;

function credBits(c: CredentialRec): number {
  const k = KINDS.indexOf(c.kind);
  const s = (c.scopes.includes("admin") ? 1 : 0) | (c.scopes.includes("user") ? 2 : 0);
  return C_PRESENT | (k < 0 ? 0 : k) | (c.revoked ? C_REVOKED : 0) | (c.deviceRevoked === true ? C_DEVICE_REVOKED : 0) | (s << C_SCOPE_SHIFT);
}

// Outcomes past the credential checks: an unlock time (≥ 0) when granted, else a refusal code.
const INACTIVE = -1, UNKNOWN_GATE = -2, DISABLED = -3, LOCKED = -4, DENIED = -5, OUTSIDE = -6, NO_GRANT = -7;
const REFUSAL: Record<number, Reason> = {
  [INACTIVE]: "inactive_user", [UNKNOWN_GATE]: "unknown_gate", [DISABLED]: "gate_disabled", [LOCKED]: "gate_locked",
  [DENIED]: "denied", [OUTSIDE]: "outside_schedule", [NO_GRANT]: "no_grant",
};

const UNKNOWN_TOKEN: Decision = Object.freeze({
  allow: false, reason: "unknown_token", userId: undefined, credentialId: undefined, credentialKind: undefined,
  deviceRevoked: false, unlockMs: 0,
}) as Decision;
const STALE_UNKNOWN_TOKEN: Decision = Object.freeze({ ...UNKNOWN_TOKEN, reason: "stale_index" }) as Decision;

/** A gate as decisions read it: its record and its grant-target keys (gate, and zone or -1). */
interface GateSlot {
  rec: GateRec;
  key: number;
  zoneKey: number;
}

/**
 * Small string → integer interning for the small tables. intern() goes through a KeyTable (the
 * same numbers: both are append-only): a bulk load interns a gate, zone or group id for each of a
 * million grants, and a compact table stays in cache where a Map of strings does not.
 */
class Names {
  readonly ix = new Map<string, number>();
  readonly ids: string[] = [];
  private readonly table = KeyTable.create(64, 16);
  constructor(ids: string[] = []) {
    for (const id of ids) this.intern(id);
  }
  intern(id: string): number {
    const n = this.table.intern(id);
    if (n === this.ids.length) {
      this.ids.push(id);
      this.ix.set(id, n);
    }
    return n;
  }
}

/**
 * Rows of a snapshot as fields (see PermissionIndex.builder). Small tables first; then users,
 * grants, memberships and credentials in any order and interleaved; finish() last.
 */
export interface IndexBuilder {
  small(s: Pick<Snapshot, "zones" | "groups" | "gates" | "schedules">): void;
  user(id: string, username: string, active: boolean, from: number, until: number): void;
  /**
   * The subject is a user's id or a group's; the target a gate's id or a zone's (null: none).
   * Each grant once: the id is a primary key (it is added without a lookup).
   */
  grant(
    id: string, subjectIsUser: boolean, subject: string, targetIsGate: boolean, target: string | null, deny: boolean,
    scheduleId: string | null, from: number, until: number,
  ): void;
  member(groupId: string, userId: string): void;
  /**
   * `scopes`: 1 admin, 2 user (bits). `hash` is the secret hash when `hashAt` is -1; else it holds
   * the 64 characters of a hex digest from `hashAt` on (so a loader can pass one string of many
   * concatenated digests without cutting it). Each credential once, like grants, and each digest
   * (the column is unique).
   */
  credential(
    id: string, userId: string, kind: CredentialKind, scopes: number, revoked: boolean, deviceRevoked: boolean, hash: string, hashAt: number,
    from: number, until: number,
  ): void;
  /** A credential's PIN hash and visitor's host, when it has either (after its row or before). */
  credentialRules(id: string, pinHash: string | null, hostUserId: string | null): void;
  finish(revision: number): PermissionIndex;
}

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
  /** Bumped by every change of a gate or zone: what src/state/ compiles its rule table from. */
  layoutVersion = 0;

  /** Validity intervals; rows hold an index into it (0: no bounds, the common case). */
  private bounds: BoundsPool;
  // ---- users (interned ids; columns by user number) ----
  private userIds: KeyTable;
  private userFlags: Uint8Array;
  private userBounds: Uint32Array;
  private userNames: TextColumn;
  private userCount: number;
  // ---- grants ----
  private grantIds: KeyTable;
  private grantFlags: Uint8Array;
  private grantSubject: Int32Array;
  /** Gate number × 2, zone number × 2 + 1, or -1. */
  private grantTarget: Int32Array;
  private grantSchedule: Int32Array;
  private grantBounds: Uint32Array;
  private grantCount: number;
  // ---- credentials ----
  private credIds: KeyTable;
  private credBits: Uint8Array;
  private credUser: Int32Array;
  /** [validFrom, expiresAt) */
  private credBounds: Uint32Array;
  /** SHA-256 hex of the secret → credential number: the one lookup a verify starts with. */
  private digests: DigestTable;
  // ---- lists ----
  /** A user's own grants, in the order they were added. */
  private userOwn: ListPool;
  /** A user's direct groups (group numbers). */
  private userGroups: ListPool;
  private groupOwn: ListPool;
  /** A group's grants and those of every ancestor, sorted by target key (binary-searched). */
  private closures: ListPool;
  // ---- small tables: ordinary objects ----
  readonly groups = new Map<string, GroupRec>();
  readonly zones = new Map<string, ZoneRec>();
  readonly gates = new Map<string, GateRec>();
  readonly schedules = new Map<string, CompiledSchedule>();
  readonly childrenOfGroup = new Map<string, Set<string>>();
  private readonly gateSlots = new Map<string, GateSlot>();
  private readonly groupNames: Names;
  private readonly zoneNames: Names;
  private readonly gateNames: Names;
  private readonly scheduleNames: Names;
  private scheduleAt: Array<CompiledSchedule | undefined> = [];
  private readonly clocks = new Map<string, TzClock>();
  /** PIN hashes and visitors' hosts: a small table beside the credential columns, read by src/state/. */
  private readonly credentialRules = new Map<string, CredentialRules>();

  constructor(parts?: IndexParts) {
    const p = parts ?? emptyParts();
    this.revision = p.revision;
    const u = p.users, g = p.grants, c = p.credentials, l = p.lists, s = p.small;
    this.bounds = new BoundsPool(p.bounds);
    this.userIds = new KeyTable(u.ids);
    this.userFlags = u.flags;
    this.userBounds = u.bounds;
    this.userNames = new TextColumn(u.names);
    this.userCount = u.count;
    this.grantIds = new KeyTable(g.ids);
    this.grantFlags = g.flags;
    this.grantSubject = g.subject;
    this.grantTarget = g.target;
    this.grantSchedule = g.schedule;
    this.grantBounds = g.bounds;
    this.grantCount = g.count;
    this.credIds = new KeyTable(c.ids);
    this.credBits = c.bits;
    this.credUser = c.user;
    this.credBounds = c.bounds;
    this.digests = new DigestTable(c.digests);
    this.userOwn = new ListPool(l.userOwn);
    this.userGroups = new ListPool(l.userGroups);
    this.groupOwn = new ListPool(l.groupOwn);
    this.closures = new ListPool(l.closures);
    this.groupNames = new Names(s.groupIds);
    this.zoneNames = new Names(s.zoneIds);
    this.gateNames = new Names(s.gateIds);
    this.scheduleNames = new Names(s.scheduleIds);
    for (const z of s.zones) this.zones.set(z.id, z);
    for (const [id, r] of s.credentialRules ?? []) this.credentialRules.set(id, r);
    for (const gr of s.groups) this.putGroup(gr);
    for (const gt of s.gates) this.putGate(gt);
    for (const sc of s.schedules) this.putSchedule(sc);
  }

  /** Rebuilds an index moved from another thread (its buffers are used as they are). */
  static fromParts(parts: IndexParts): PermissionIndex {
    return new PermissionIndex(parts);
  }

  /** The index as buffers (shared with this index: transfer them only when this one is dropped). */
  toParts(): IndexParts {
    return {
      revision: this.revision,
      bounds: this.bounds.parts(),
      users: { ids: this.userIds.parts(), flags: this.userFlags, bounds: this.userBounds, names: this.userNames.parts(), count: this.userCount },
      grants: {
        ids: this.grantIds.parts(), flags: this.grantFlags, subject: this.grantSubject, target: this.grantTarget,
        schedule: this.grantSchedule, bounds: this.grantBounds, count: this.grantCount,
      },
      credentials: { ids: this.credIds.parts(), bits: this.credBits, user: this.credUser, bounds: this.credBounds, digests: this.digests.parts() },
      lists: {
        userOwn: this.userOwn.parts(), userGroups: this.userGroups.parts(), groupOwn: this.groupOwn.parts(),
        closures: this.closures.parts(),
      },
      small: {
        groups: [...this.groups.values()], zones: [...this.zones.values()], gates: [...this.gates.values()],
        schedules: [...this.schedules.values()].map((s) => s.rec),
        groupIds: this.groupNames.ids, zoneIds: this.zoneNames.ids, gateIds: this.gateNames.ids, scheduleIds: this.scheduleNames.ids,
        credentialRules: [...this.credentialRules],
      },
    };
  }

  static fromSnapshot(s: Snapshot): PermissionIndex {
    return buildIndex(s);
  }

  /**
   * The same build, letting the event loop run between its phases. (The service builds in a
   * worker thread; this is for in-process tools.)
   */
  static async build(s: Snapshot, _sliceMs = 4): Promise<PermissionIndex> {
    await new Promise((r) => setImmediate(r));
    const ix = buildIndex(s);
    await new Promise((r) => setImmediate(r));
    return ix;
  }

  // ---------------------------------------------------------------------------------------------
  // Decisions

  /**
   * The decision for a presented secret (by its hash) at a gate, at instant `now`. `dataAgeMs` is
   * how long ago this node last confirmed it had everything Postgres had (the caller knows; the
   * index does not): a gate whose `maxStalenessMs` is below it refuses with stale_index, whatever
   * the token — fail closed.
   */
  decide(secretHash: string, gateId: string, now: number, dataAgeMs = 0): Decision {
    return this.decideRow(this.digests.find(secretHash), gateId, now, dataAgeMs);
  }

  /**
   * decide() for the SHA-256 of the secret as its 32 bytes (what a verify has, see
   * src/tokens.ts secretDigest): the same decision, without encoding the digest as hex and decoding
   * it again in the lookup.
   */
  decideDigest(digest: Uint8Array, gateId: string, now: number, dataAgeMs = 0): Decision {
    return this.decideRow(this.digests.findDigest(digest), gateId, now, dataAgeMs);
  }

  /** decide() for credential number `c` (-1: no credential has the hash). */
  private decideRow(c: number, gateId: string, now: number, dataAgeMs: number): Decision {
    // One lookup of the gate for both the staleness bound and the outcome (gates and gateSlots hold the same records).
    const gate = this.gateSlots.get(gateId);
    if (dataAgeMs > 0) {
      const bound = gate?.rec.maxStalenessMs;
      if (bound != null && dataAgeMs > bound) return c < 0 ? STALE_UNKNOWN_TOKEN : this.refusedRow("stale_index", c);
    }
    if (c < 0) return UNKNOWN_TOKEN;
    const bits = this.credBits[c]!;
    const user = this.credUser[c]!;
    if ((bits & C_REVOKED) !== 0) return this.refusedRow("revoked_token", c);
    const b = this.credBounds[c]!;
    if (b !== 0) {
      if (now >= this.bounds.until(b)) return this.refusedRow("expired_token", c);
      if (now < this.bounds.from(b)) return this.refusedRow("not_yet_valid", c);
    }
    const r = this.outcome(user, gate, now);
    if (r < 0) return this.refusedRow(REFUSAL[r]!, c);
    return {
      allow: true, reason: "granted", userId: this.userIds.key(user), credentialId: this.credIds.key(c),
      credentialKind: KINDS[bits & 7], deviceRevoked: false, unlockMs: r,
    };
  }

  /** The decision for a credential record (e.g. one from credentialsByHash) at a gate. */
  decideFor(cred: CredentialRec, gateId: string, now: number): Decision {
    const refused = (reason: Reason): Decision => ({
      allow: false, reason, userId: cred.userId, credentialId: cred.id, credentialKind: cred.kind,
      deviceRevoked: cred.deviceRevoked === true, unlockMs: 0,
    });
    if (cred.revoked) return refused("revoked_token");
    if (now >= cred.expiresAt) return refused("expired_token");
    if (now < cred.validFrom) return refused("not_yet_valid");
    const r = this.outcome(this.userIds.find(cred.userId), this.gateSlots.get(gateId), now);
    if (r < 0) return refused(REFUSAL[r]!);
    return {
      allow: true, reason: "granted", userId: cred.userId, credentialId: cred.id, credentialKind: cred.kind,
      deviceRevoked: false, unlockMs: r,
    };
  }

  private refusedRow(reason: Reason, c: number): Decision {
    const bits = this.credBits[c]!;
    return {
      allow: false, reason, userId: this.userIds.key(this.credUser[c]!), credentialId: this.credIds.key(c),
      credentialKind: KINDS[bits & 7], deviceRevoked: (bits & C_DEVICE_REVOKED) !== 0, unlockMs: 0,
    };
  }

  /** Past the credential checks: the user, the gate, then the strongest grant state. */
  private outcome(u: number, gate: GateSlot | undefined, now: number): number {
    if (u < 0 || u >= this.userCount) return INACTIVE;
    if ((this.userFlags[u]! & (U_PRESENT | U_ACTIVE)) !== (U_PRESENT | U_ACTIVE)) return INACTIVE;
    const b = this.userBounds[u]!;
    if (b !== 0 && (now < this.bounds.from(b) || now >= this.bounds.until(b))) return INACTIVE;
    if (gate === undefined) return UNKNOWN_GATE;
    const mode = gate.rec.mode;
    if (mode !== "normal") return mode === "locked" ? LOCKED : DISABLED;
    const gk = gate.key, zk = gate.zoneKey;
    // 0 nothing, 1 an allow closed by its schedule, 2 an allow in force, 3 a deny in force
    let allowed = 0;
    const own = this.userOwn, data = own.data;
    for (let i = own.start[u]!, end = i + own.len[u]!; i < end; i++) {
      const g = data[i]!, t = this.grantTarget[g]!;
      if (t !== gk && (t !== zk || zk < 0)) continue;
      const r = this.grantState(g, now);
      if (r > allowed && (allowed = r) === 3) return DENIED;
    }
    const ug = this.userGroups, gdata = ug.data;
    for (let i = ug.start[u]!, end = i + ug.len[u]!; i < end; i++) {
      const grp = gdata[i]!;
      let r = this.scanClosure(grp, gk, now);
      if (r === 3) return DENIED;
      if (zk >= 0) {
        const z = this.scanClosure(grp, zk, now);
        if (z > r) r = z;
      }
      if (r > allowed && (allowed = r) === 3) return DENIED;
    }
    if (allowed === 2) return gate.rec.unlockMs;
    return allowed === 1 ? OUTSIDE : NO_GRANT;
  }

  /** The strongest state among a group closure's grants with target `key` (a sorted run). */
  private scanClosure(grp: number, key: number, now: number): number {
    const cl = this.closures;
    if (grp >= cl.len.length) return 0;
    const data = cl.data, target = this.grantTarget;
    let lo = cl.start[grp]!, hi = lo + cl.len[grp]!;
    const end = hi;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (target[data[mid]!]! < key) lo = mid + 1;
      else hi = mid;
    }
    let best = 0;
    for (let i = lo; i < end && target[data[i]!] === key; i++) {
      const r = this.grantState(data[i]!, now);
      if (r === 3) return 3;
      if (r > best) best = r;
    }
    return best;
  }

  /** 3 a deny in force, 2 an allow in force, 1 an allow closed by its schedule, 0 nothing. */
  private grantState(g: number, now: number): number {
    const b = this.grantBounds[g]!;
    if (b !== 0 && (now < this.bounds.from(b) || now >= this.bounds.until(b))) return 0;
    const s = this.grantSchedule[g]!;
    // A grant whose schedule is gone is closed: failing shut is the safe side for allows,
    // and a deny that cannot be evaluated must not block on a guess either.
    let open = true;
    if (s !== NO_SCHEDULE) {
      const cs = this.scheduleAt[s];
      open = cs !== undefined && cs.isOpen(now);
    }
    if ((this.grantFlags[g]! & G_DENY) !== 0) return open ? 3 : 0;
    return open ? 2 : 1;
  }

  // ---------------------------------------------------------------------------------------------
  // Incremental updates

  /** Applies the state of every changed row, then recompiles only the closures it touches. */
  apply(cs: ChangeSet): void {
    const dirtyGroups = new Set<string>(); // groups whose closure (and all below) must be recompiled
    for (const [id, rec] of cs.users ?? []) {
      if (rec) this.putUser(rec);
      else this.deleteUser(id);
    }
    for (const [id, rec] of cs.schedules ?? []) {
      if (rec) this.putSchedule(rec);
      else if (this.schedules.delete(id)) this.scheduleAt[this.scheduleNames.intern(id)] = undefined; // its grants stay closed
    }
    for (const [id, rec] of cs.groups ?? []) {
      // The group and every group below it gain or lose ancestors: their closures change.
      dirtyGroups.add(id);
      const old = this.groups.get(id);
      if (old?.parentId) removeFrom(this.childrenOfGroup, old.parentId, id);
      if (rec) this.putGroup(rec);
      else {
        this.groups.delete(id);
        const gk = this.groupNames.ix.get(id);
        if (gk !== undefined) for (const u of this.membersOf(gk)) this.userGroups.set(u, this.userGroups.list(u).filter((x) => x !== gk));
      }
    }
    for (const [userId, groupIds] of cs.memberships ?? []) {
      const u = this.userIds.intern(userId);
      this.ensureUsers();
      this.userGroups.set(u, [...new Set(groupIds.map((g) => this.groupNames.intern(g)))]);
    }
    for (const [id, rec] of cs.zones ?? []) {
      if (rec) this.zones.set(id, rec);
      else this.zones.delete(id);
    }
    if (cs.zones?.length || cs.gates?.length) this.layoutVersion++;
    // Gates are read at decision time (mode, zone), so a gate change recompiles nobody.
    for (const [id, rec] of cs.gates ?? []) {
      if (rec) this.putGate(rec);
      else {
        this.gates.delete(id);
        this.gateSlots.delete(id);
      }
    }
    for (const [id, rec] of cs.grants ?? []) {
      const g = this.grantIds.find(id);
      if (g >= 0 && (this.grantFlags[g]! & G_PRESENT) !== 0) {
        this.markSubject(g, dirtyGroups);
        this.dropGrant(g);
      }
      if (rec) {
        const n = this.putGrant(rec);
        this.linkGrant(n);
        this.markSubject(n, dirtyGroups);
      }
    }
    this.applyCredentials(cs.credentials ?? []);
    const closures = new Set<string>();
    for (const g of dirtyGroups) this.addSubtree(g, closures);
    for (const g of closures) this.compileClosure(g);
    if (cs.revision > this.revision) this.revision = cs.revision;
  }

  // Remove every old row before adding any new one: within one change set a secret hash can
  // move from one credential to another, in whatever order the rows come.
  private applyCredentials(rows: Array<[string, CredentialRec | null]>): void {
    if (rows.length === 0) return;
    for (const [id] of rows) {
      this.credentialRules.delete(id);
      const c = this.credIds.find(id);
      if (c < 0 || (this.credBits[c]! & C_PRESENT) === 0) continue;
      this.digests.remove(c);
      this.credBits[c] = 0;
    }
    for (const [, rec] of rows) if (rec) this.putCredential(rec);
  }

  // ---------------------------------------------------------------------------------------------
  // Reading, for callers and tools

  /** SHA-256 hex of the secret → credential. */
  get credentialsByHash(): ReadonlyMapLike<string, CredentialRec> {
    return view(
      () => this.digests.size,
      () => this.credentialRows(true),
      (h) => {
        const c = this.digests.find(h);
        return c < 0 ? undefined : this.credentialRec(c);
      },
    );
  }

  get credentialsById(): ReadonlyMapLike<string, CredentialRec> {
    return view(
      () => this.credIds.live - this.deadCredentials(),
      () => this.credentialRows(false),
      (id) => {
        const c = this.credIds.find(id);
        return c < 0 || (this.credBits[c]! & C_PRESENT) === 0 ? undefined : this.credentialRec(c);
      },
    );
  }

  get users(): ReadonlyMapLike<string, UserRec> {
    const self = this;
    return view(
      () => this.userCountPresent(),
      function* () {
        for (let u = 0; u < self.userIds.count; u++) if ((self.userFlags[u]! & U_PRESENT) !== 0) yield [self.userIds.key(u), self.userRec(u)];
      },
      (id) => {
        const u = this.userIds.find(id);
        return u < 0 || (this.userFlags[u]! & U_PRESENT) === 0 ? undefined : this.userRec(u);
      },
    );
  }

  get grants(): ReadonlyMapLike<string, GrantRec> {
    const self = this;
    return view(
      () => this.grantCountPresent(),
      function* () {
        for (let g = 0; g < self.grantIds.count; g++) if ((self.grantFlags[g]! & G_PRESENT) !== 0) yield [self.grantIds.key(g), self.grantRec(g)];
      },
      (id) => {
        const g = this.grantIds.find(id);
        return g < 0 || (this.grantFlags[g]! & G_PRESENT) === 0 ? undefined : this.grantRec(g);
      },
    );
  }

  /** A user's direct groups (ids, in their order), absent when none. */
  get groupsOfUser(): ReadonlyMapLike<string, string[]> {
    const self = this;
    const get = (id: string) => {
      const u = this.userIds.find(id);
      const l = u < 0 ? [] : this.userGroups.list(u);
      return l.length === 0 ? undefined : l.map((g) => this.groupNames.ids[g]!);
    };
    return view(() => [...this.groupsOfUser.keys()].length, function* () {
      for (let u = 0; u < self.userIds.count; u++) {
        const v = get(self.userIds.key(u));
        if (v) yield [self.userIds.key(u), v];
      }
    }, get);
  }

  /** A group's direct members (user ids), absent when none. */
  get membersOfGroup(): ReadonlyMapLike<string, string[]> {
    const get = (id: string) => {
      const gk = this.groupNames.ix.get(id);
      const l = gk === undefined ? [] : this.membersOf(gk).map((u) => this.userIds.key(u));
      return l.length === 0 ? undefined : l;
    };
    const rows = () => this.groupNames.ids.flatMap((g): Array<[string, string[]]> => {
      const v = get(g);
      return v ? [[g, v]] : [];
    });
    return view(() => rows().length, rows, get);
  }

  /** A user's own grants (ids, in the order they were added), absent when none. */
  get grantsOfUser(): ReadonlyMapLike<string, string[]> {
    const self = this;
    const get = (id: string) => {
      const u = this.userIds.find(id);
      const l = u < 0 ? [] : this.userOwn.list(u);
      return l.length === 0 ? undefined : l.map((g) => this.grantIds.key(g));
    };
    return view(() => [...this.grantsOfUser.keys()].length, function* () {
      for (let u = 0; u < self.userIds.count; u++) {
        const v = get(self.userIds.key(u));
        if (v) yield [self.userIds.key(u), v];
      }
    }, get);
  }

  /** A group's own grants (ids), absent when none. */
  get grantsOfGroup(): ReadonlyMapLike<string, string[]> {
    const get = (id: string) => {
      const gk = this.groupNames.ix.get(id);
      const l = gk === undefined ? [] : this.groupOwn.list(gk);
      return l.length === 0 ? undefined : l.map((g) => this.grantIds.key(g));
    };
    const rows = () => this.groupNames.ids.flatMap((g): Array<[string, string[]]> => {
      const v = get(g);
      return v ? [[g, v]] : [];
    });
    return view(() => rows().length, rows, get);
  }

  /** Users a decision would find grants for (present, with own grants or direct groups). */
  get compiled(): ReadonlyMapLike<string, true> {
    const self = this;
    const has = (u: number) => u >= 0 && (this.userFlags[u]! & U_PRESENT) !== 0 && (this.userOwn.size(u) > 0 || this.userGroups.size(u) > 0);
    const rows = function* (): Generator<[string, true]> {
      for (let u = 0; u < self.userIds.count; u++) if (has(u)) yield [self.userIds.key(u), true];
    };
    return view(() => [...rows()].length, rows, (id) => (has(this.userIds.find(id)) ? true : undefined));
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

  /** For tests and tools: every grant reaching the user, by target, as sorted grant ids. */
  grantIdsFor(userId: string): { gates: Record<string, string[]>; zones: Record<string, string[]> } {
    const gates = new Map<string, Set<string>>(), zones = new Map<string, Set<string>>();
    const u = this.userIds.find(userId);
    if (this.compiled.has(userId)) {
      const rows = [...this.userOwn.list(u)];
      for (const grp of this.userGroups.list(u)) if (this.groups.has(this.groupNames.ids[grp]!)) rows.push(...this.closures.list(grp));
      for (const g of rows) {
        const t = this.grantTarget[g]!;
        if (t === NO_TARGET) continue;
        if ((t & 1) === 0) addTo(gates, this.gateNames.ids[t >> 1]!, this.grantIds.key(g));
        else addTo(zones, this.zoneNames.ids[t >> 1]!, this.grantIds.key(g));
      }
    }
    const norm = (m: Map<string, Set<string>>) =>
      Object.fromEntries([...m].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, [...v].sort()]));
    return { gates: norm(gates), zones: norm(zones) };
  }

  counts(): Record<string, number> {
    return {
      users: this.userCountPresent(), groups: this.groups.size, zones: this.zones.size, gates: this.gates.size,
      schedules: this.schedules.size, grants: this.grantCountPresent(), credentials: this.digests.size,
    };
  }

  /** Bytes held in typed arrays. */
  bytes(): number {
    let n = 0;
    for (const b of transferables(this.toParts())) n += b.byteLength;
    return n;
  }

  /** The share of list and digest entries that incremental updates have left as garbage. */
  garbageRatio(): number {
    const lists = [this.userOwn, this.userGroups, this.groupOwn, this.closures];
    // (The floor keeps small indexes, where a few updates are a large share, from rebuilding often.)
    let used = this.credIds.count + this.bounds.used + 65_536;
    let garbage = this.credIds.garbage + this.digests.tombstones + this.bounds.garbage;
    for (const l of lists) {
      used += l.used;
      garbage += l.garbage;
    }
    return garbage / used;
  }

  // ---------------------------------------------------------------------------------------------
  // Rows

  private userCountPresent(): number {
    let n = 0;
    for (let u = 0; u < this.userIds.count; u++) if ((this.userFlags[u]! & U_PRESENT) !== 0) n++;
    return n;
  }
  private grantCountPresent(): number {
    let n = 0;
    for (let g = 0; g < this.grantIds.count; g++) if ((this.grantFlags[g]! & G_PRESENT) !== 0) n++;
    return n;
  }
  private deadCredentials(): number {
    let n = 0;
    for (let c = 0; c < this.credIds.count; c++) if ((this.credBits[c]! & C_PRESENT) === 0) n++;
    return n;
  }

  private *credentialRows(byHash: boolean): Generator<[string, CredentialRec]> {
    if (byHash) {
      for (let c = 0; c < this.credIds.count; c++) if (this.digests.has(c)) yield [this.digests.hashOf(c), this.credentialRec(c)];
    } else {
      for (let c = 0; c < this.credIds.count; c++) if ((this.credBits[c]! & C_PRESENT) !== 0) yield [this.credIds.key(c), this.credentialRec(c)];
    }
  }

  private credentialRec(c: number): CredentialRec {
    const bits = this.credBits[c]!, b = this.credBounds[c]!;
    return {
      id: this.credIds.key(c), userId: this.userIds.key(this.credUser[c]!), kind: KINDS[bits & 7]!,
      scopes: SCOPE_LISTS[(bits >> C_SCOPE_SHIFT) & 3]!, secretHash: this.digests.hashOf(c),
      expiresAt: this.bounds.until(b), validFrom: this.bounds.from(b), revoked: (bits & C_REVOKED) !== 0,
      deviceRevoked: (bits & C_DEVICE_REVOKED) !== 0, ...this.credentialRules.get(this.credIds.key(c)),
    };
  }

  private userRec(u: number): UserRec {
    return {
      id: this.userIds.key(u), username: this.userNames.get(u), active: (this.userFlags[u]! & U_ACTIVE) !== 0,
      validFrom: this.bounds.from(this.userBounds[u]!), validUntil: this.bounds.until(this.userBounds[u]!),
    };
  }

  private grantRec(g: number): GrantRec {
    const f = this.grantFlags[g]!, subj = this.grantSubject[g]!, t = this.grantTarget[g]!, s = this.grantSchedule[g]!;
    return {
      id: this.grantIds.key(g),
      subjectUserId: (f & G_USER) !== 0 ? this.userIds.key(subj) : null,
      subjectGroupId: (f & G_GROUP) !== 0 ? this.groupNames.ids[subj]! : null,
      targetGateId: t !== NO_TARGET && (t & 1) === 0 ? this.gateNames.ids[t >> 1]! : null,
      targetZoneId: t !== NO_TARGET && (t & 1) === 1 ? this.zoneNames.ids[t >> 1]! : null,
      effect: (f & G_DENY) !== 0 ? "deny" : "allow",
      scheduleId: s === NO_SCHEDULE ? null : this.scheduleNames.ids[s]!,
      validFrom: this.bounds.from(this.grantBounds[g]!), validUntil: this.bounds.until(this.grantBounds[g]!),
    };
  }

  /** Users whose direct groups include group number `gk` (a scan: group deletions are rare). */
  private membersOf(gk: number): number[] {
    const out: number[] = [];
    const ug = this.userGroups;
    for (let u = 0; u < ug.len.length && u < this.userIds.count; u++) {
      for (let i = ug.start[u]!, end = i + ug.len[u]!; i < end; i++) {
        if (ug.data[i] === gk) {
          out.push(u);
          break;
        }
      }
    }
    return out;
  }

  /** Column capacity for every interned user. */
  private ensureUsers(): void {
    const n = this.userIds.count;
    this.userCount = Math.max(this.userCount, n);
    if (n <= this.userFlags.length) return;
    const cap = roomFor(n + (n >> 1));
    this.userFlags = grown(this.userFlags, cap);
    this.userBounds = grown(this.userBounds, cap);
    this.userOwn.ensureOwners(cap);
    this.userGroups.ensureOwners(cap);
  }

  private putUser(rec: UserRec): void {
    this.userRow(rec.id, rec.username, rec.active, rec.validFrom, rec.validUntil);
  }

  private userRow(id: string, username: string, active: boolean, from: number, until: number): void {
    const u = this.userIds.intern(id);
    this.ensureUsers();
    this.userFlags[u] = U_PRESENT | (active ? U_ACTIVE : 0);
    this.userBounds[u] = this.bounds.replace(this.userBounds[u]!, from, until);
    this.userNames.set(u, username);
  }

  private deleteUser(id: string): void {
    const u = this.userIds.find(id);
    if (u < 0) return;
    this.userFlags[u] = 0;
    this.userGroups.set(u, []);
  }

  private putGroup(g: GroupRec): void {
    this.groups.set(g.id, g);
    this.groupNames.intern(g.id);
    if (g.parentId !== null) addTo(this.childrenOfGroup, g.parentId, g.id);
  }

  private putGate(g: GateRec): void {
    this.gates.set(g.id, g);
    this.gateSlots.set(g.id, {
      rec: g, key: this.gateNames.intern(g.id) * 2, zoneKey: g.zoneId === null ? -1 : this.zoneNames.intern(g.zoneId) * 2 + 1,
    });
  }

  private putSchedule(rec: ScheduleRec): void {
    const existing = this.schedules.get(rec.id);
    if (existing && existing.rec.timezone === rec.timezone) {
      existing.compile(rec);
      return;
    }
    let clock = this.clocks.get(rec.timezone);
    if (!clock) this.clocks.set(rec.timezone, (clock = new TzClock(rec.timezone)));
    const compiled = new CompiledSchedule(rec, clock);
    this.schedules.set(rec.id, compiled);
    this.scheduleAt[this.scheduleNames.intern(rec.id)] = compiled;
  }

  /** Writes a grant's columns (its lists are the caller's business); returns its number. */
  private putGrant(r: GrantRec): number {
    return this.grantRow(false, r.id, r.subjectUserId, r.subjectGroupId, r.targetGateId, r.targetZoneId, r.effect === "deny", r.scheduleId, r.validFrom, r.validUntil);
  }

  private grantRow(
    fresh: boolean, id: string, subjectUserId: string | null, subjectGroupId: string | null, gateId: string | null, zoneId: string | null, deny: boolean,
    scheduleId: string | null, from: number, until: number,
  ): number {
    const g = fresh ? this.grantIds.add(id) : this.grantIds.intern(id);
    this.roomForGrant(g);
    let flags = G_PRESENT | (deny ? G_DENY : 0);
    let subject = -1;
    if (subjectUserId !== null) {
      flags |= G_USER;
      subject = this.userIds.intern(subjectUserId);
      this.ensureUsers();
    } else if (subjectGroupId !== null) {
      flags |= G_GROUP;
      subject = this.groupNames.intern(subjectGroupId);
    }
    this.grantFlags[g] = flags;
    this.grantSubject[g] = subject;
    this.grantTarget[g] = gateId !== null ? this.gateNames.intern(gateId) * 2 : zoneId !== null ? this.zoneNames.intern(zoneId) * 2 + 1 : NO_TARGET;
    this.grantSchedule[g] = scheduleId === null ? NO_SCHEDULE : this.scheduleNames.intern(scheduleId);
    this.grantBounds[g] = this.bounds.replace(this.grantBounds[g]!, from, until);
    return g;
  }

  /** Appends a grant to its subject's list. */
  private linkGrant(g: number): void {
    const f = this.grantFlags[g]!, subj = this.grantSubject[g]!;
    if ((f & G_USER) !== 0) this.userOwn.set(subj, [...this.userOwn.list(subj), g]);
    else if ((f & G_GROUP) !== 0) this.groupOwn.set(subj, [...this.groupOwn.list(subj), g]);
  }

  private dropGrant(g: number): void {
    const f = this.grantFlags[g]!, subj = this.grantSubject[g]!;
    if ((f & G_USER) !== 0) this.userOwn.set(subj, this.userOwn.list(subj).filter((x) => x !== g));
    else if ((f & G_GROUP) !== 0) this.groupOwn.set(subj, this.groupOwn.list(subj).filter((x) => x !== g));
    this.grantFlags[g] = 0;
  }

  private putCredential(c: CredentialRec): void {
    if (c.pinHash || c.hostUserId) this.credentialRules.set(c.id, { pinHash: c.pinHash ?? null, hostUserId: c.hostUserId ?? null });
    this.credentialRow(false, c.id, c.userId, credBits(c), c.secretHash, -1, c.validFrom, c.expiresAt);
  }

  /**
   * `hash` is the secret hash (hashAt -1), or holds a hex digest's 64 characters from `hashAt` on.
   * `fresh`: the id is known to be new (a bulk load's primary key).
   */
  private credentialRow(fresh: boolean, id: string, userId: string, bits: number, hash: string, hashAt: number, from: number, until: number): void {
    const n = fresh ? this.credIds.add(id) : this.credIds.intern(id);
    const u = this.userIds.intern(userId);
    this.roomForCredential(n);
    this.credUser[n] = u;
    this.credBits[n] = bits;
    this.credBounds[n] = this.bounds.replace(this.credBounds[n]!, from, until);
    if (hashAt < 0) this.digests.set(n, hash);
    else this.digests.setDigestAt(n, hash, hashAt, fresh);
  }

  private markSubject(g: number, groups: Set<string>): void {
    if ((this.grantFlags[g]! & G_GROUP) !== 0) groups.add(this.groupNames.ids[this.grantSubject[g]!]!);
  }

  /** Recompiles a group's closure: its grants and its ancestors', sorted by target. */
  private compileClosure(groupId: string): void {
    const gk = this.groupNames.intern(groupId);
    const rows: number[] = [];
    if (this.groups.has(groupId)) {
      for (const g of this.effectiveGroupsOf([groupId]).keys()) {
        const k = this.groupNames.ix.get(g);
        if (k !== undefined) for (const x of this.groupOwn.list(k)) rows.push(x);
      }
    }
    const t = this.grantTarget;
    rows.sort((a, b) => t[a]! - t[b]! || a - b);
    this.closures.set(gk, rows);
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

  // ---- the full build ----

  private loadSmall(s: Pick<Snapshot, "zones" | "groups" | "gates" | "schedules">): void {
    for (const z of s.zones) this.zones.set(z.id, z);
    for (const g of s.groups) this.putGroup(g);
    for (const g of s.gates) this.putGate(g);
    for (const sc of s.schedules) this.putSchedule(sc);
  }

  /** @internal Bulk loading for buildIndex: rows straight into columns, lists in one pass each. */
  static bulk(ix: PermissionIndex, s: Snapshot): void {
    ix.revision = s.revision;
    for (const u of s.users) ix.putUser(u);
    ix.loadSmall(s);
    const c = new Collect();
    for (const r of s.grants) c.grant(ix, ix.putGrant(r));
    // Memberships and credentials may name users with no row: they are interned all the same.
    for (const [g, u] of s.memberships) c.member(ix.userIds.intern(u), ix.groupNames.intern(g));
    for (const cr of s.credentials) ix.putCredential(cr);
    c.finish(ix);
    for (const t of [ix.userIds, ix.grantIds, ix.credIds, ix.userNames, ix.bounds]) t.trim();
  }

  /**
   * A build fed field by field, for a loader that parses the rows itself (src/db/snapshot-load.ts):
   * no record per row. The same build as fromSnapshot's, row for row.
   */
  static builder(n: { users: number; grants: number; credentials: number }): IndexBuilder {
    const ix = new PermissionIndex(sizedParts(n));
    const c = new Collect();
    return {
      small: (s) => ix.loadSmall(s),
      user: (id, username, active, from, until) => ix.userRow(id, username, active, from, until),
      grant: (id, subjectIsUser, subject, targetIsGate, target, deny, scheduleId, from, until) => {
        const g = ix.grantRow(
          true, id, subjectIsUser ? subject : null, subjectIsUser ? null : subject, target !== null && targetIsGate ? target : null,
          target !== null && !targetIsGate ? target : null, deny, scheduleId, from, until,
        );
        c.grant(ix, g);
      },
      member: (groupId, userId) => c.member(ix.userIds.intern(userId), ix.groupNames.intern(groupId)),
      credential: (id, userId, kind, scopes, revoked, deviceRevoked, hash, hashAt, from, until) => {
        const k = KINDS.indexOf(kind);
        const bits = C_PRESENT | (k < 0 ? 0 : k) | (revoked ? C_REVOKED : 0) | (deviceRevoked ? C_DEVICE_REVOKED : 0) | ((scopes & 3) << C_SCOPE_SHIFT);
        ix.credentialRow(true, id, userId, bits, hash, hashAt, from, until);
      },
      credentialRules: (id, pinHash, hostUserId) => {
        if (pinHash || hostUserId) ix.credentialRules.set(id, { pinHash, hostUserId });
      },
      finish: (revision) => {
        ix.revision = revision;
        ix.fitColumns();
        c.finish(ix);
        for (const t of [ix.userIds, ix.grantIds, ix.credIds, ix.userNames, ix.bounds]) t.trim();
        return ix;
      },
    };
  }

  /** Shrinks columns sized by an estimate of the rows (builder()) to the rows there are, plus headroom. */
  private fitColumns(): void {
    const fit = <T extends Uint8Array | Uint32Array | Int32Array>(a: T, n: number): T => (roomFor(n) < a.length ? (a.slice(0, roomFor(n)) as T) : a);
    const u = this.userIds.count, g = this.grantIds.count, c = this.credIds.count;
    this.userFlags = fit(this.userFlags, u);
    this.userBounds = fit(this.userBounds, u);
    this.grantFlags = fit(this.grantFlags, g);
    this.grantSubject = fit(this.grantSubject, g);
    this.grantTarget = fit(this.grantTarget, g);
    this.grantSchedule = fit(this.grantSchedule, g);
    this.grantBounds = fit(this.grantBounds, g);
    this.credBits = fit(this.credBits, c);
    this.credUser = fit(this.credUser, c);
    this.credBounds = fit(this.credBounds, c);
    this.digests.trim(c);
  }

  /** @internal For Collect. */
  static lists(ix: PermissionIndex, c: Collect): void {
    ix.ensureUsers();
    const owners = ix.userFlags.length;
    ix.userOwn = ListPool.fromPairs(owners, c.userOf, c.rowOf, c.nu);
    ix.userGroups = ListPool.fromPairs(owners, c.memberUser, c.memberGroup, c.nm);
    const groups = roomFor(ix.groupNames.ids.length);
    let groupGrants = 0;
    for (const l of c.byGroup.values()) groupGrants += l.length;
    ix.groupOwn = ListPool.empty(groups, roomFor(groupGrants));
    for (const [k, l] of c.byGroup) ix.groupOwn.set(k, l);
    ix.closures = ListPool.empty(groups, roomFor(groupGrants * 4));
    for (const id of ix.groups.keys()) ix.compileClosure(id);
    ix.closures.trim();
  }

  /** @internal */
  static subjectOf(ix: PermissionIndex, g: number): [flags: number, subject: number] {
    return [ix.grantFlags[g]!, ix.grantSubject[g]!];
  }

  private roomForGrant(g: number): void {
    if (g >= this.grantFlags.length) {
      const cap = roomFor(g + 1 + (g >> 1));
      this.grantFlags = grown(this.grantFlags, cap);
      this.grantSubject = grown(this.grantSubject, cap);
      this.grantTarget = grown(this.grantTarget, cap);
      this.grantSchedule = grown(this.grantSchedule, cap);
      this.grantBounds = grown(this.grantBounds, cap);
    }
    this.grantCount = Math.max(this.grantCount, g + 1);
  }

  private roomForCredential(n: number): void {
    if (n >= this.credBits.length) {
      const cap = roomFor(n + 1 + (n >> 1));
      this.credBits = grown(this.credBits, cap);
      this.credUser = grown(this.credUser, cap);
      this.credBounds = grown(this.credBounds, cap);
    }
    this.ensureUsers();
  }
}


/** Subject lists collected during a load, built in one pass each at the end. */
class Collect {
  userOf = new Int32Array(1024);
  rowOf = new Int32Array(1024);
  nu = 0;
  memberUser = new Int32Array(1024);
  memberGroup = new Int32Array(1024);
  nm = 0;
  byGroup = new Map<number, number[]>();

  grant(ix: PermissionIndex, g: number): void {
    const [f, subject] = PermissionIndex.subjectOf(ix, g);
    if ((f & G_USER) !== 0) {
      if (this.nu === this.userOf.length) {
        this.userOf = grown(this.userOf, this.nu * 2);
        this.rowOf = grown(this.rowOf, this.nu * 2);
      }
      this.userOf[this.nu] = subject;
      this.rowOf[this.nu++] = g;
    } else if ((f & G_GROUP) !== 0) {
      let l = this.byGroup.get(subject);
      if (!l) this.byGroup.set(subject, (l = []));
      l.push(g);
    }
  }

  member(u: number, g: number): void {
    if (this.nm === this.memberUser.length) {
      this.memberUser = grown(this.memberUser, this.nm * 2);
      this.memberGroup = grown(this.memberGroup, this.nm * 2);
    }
    this.memberUser[this.nm] = u;
    this.memberGroup[this.nm++] = g;
  }

  finish(ix: PermissionIndex): void {
    PermissionIndex.lists(ix, this);
  }
}

function buildIndex(s: Snapshot): PermissionIndex {
  const ix = new PermissionIndex(sizedParts({ users: s.users.length, grants: s.grants.length, credentials: s.credentials.length }));
  PermissionIndex.bulk(ix, s);
  return ix;
}
