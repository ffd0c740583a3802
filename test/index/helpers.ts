// Small factories for the pure permission index. Hashes are arbitrary unique strings here: the
// index only uses them as map keys.
import { PermissionIndex } from "../../src/index/permission-index";
import type {
  ChangeSet, CredentialRec, GateRec, GrantRec, GroupRec, ScheduleRec, ScheduleWindow, Snapshot,
  UserRec, ZoneRec,
} from "../../src/index/types";

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const MINUTE = 60_000;

/** A fixed "now" well inside every default validity window: Wednesday 2026-03-25 12:00Z. */
export const NOW = Date.parse("2026-03-25T12:00:00Z");
export const at = (iso: string): number => Date.parse(iso);

export function user(id: string, over: Partial<UserRec> = {}): UserRec {
  return { id, username: id, active: true, validFrom: -Infinity, validUntil: Infinity, ...over };
}

export function group(id: string, parentId: string | null = null, over: Partial<GroupRec> = {}): GroupRec {
  return { id, name: id, parentId, ...over };
}

export function zone(id: string): ZoneRec {
  return { id, name: id };
}

export function gate(id: string, over: Partial<GateRec> = {}): GateRec {
  return { id, name: id, zoneId: null, mode: "normal", unlockMs: 800, maxStalenessMs: null, ...over };
}

export function schedule(id: string, timezone: string, windows: ScheduleWindow[]): ScheduleRec {
  return { id, name: id, timezone, windows };
}

export const ALL_DAYS = [1, 2, 3, 4, 5, 6, 7];

/** A schedule that is never open: no windows at all. */
export function closedSchedule(id: string): ScheduleRec {
  return schedule(id, "UTC", []);
}

/** A schedule that is always open. */
export function openSchedule(id: string): ScheduleRec {
  return schedule(id, "UTC", [{ days: ALL_DAYS, start: "00:00", end: "24:00" }]);
}

type GrantSpec = Partial<GrantRec> & ({ user: string } | { group: string }) & ({ gate: string } | { zone: string });

/** grant("gr1", { user: "u1", gate: "G1" }) — allow by default, always valid, no schedule. */
export function grant(id: string, spec: GrantSpec & { effect?: "allow" | "deny" }): GrantRec {
  const { user: u, group: g, gate: gt, zone: z, ...rest } = spec as GrantSpec & {
    user?: string; group?: string; gate?: string; zone?: string;
  };
  return {
    id,
    subjectUserId: u ?? null,
    subjectGroupId: g ?? null,
    targetGateId: gt ?? null,
    targetZoneId: z ?? null,
    effect: "allow",
    scheduleId: null,
    validFrom: -Infinity,
    validUntil: Infinity,
    ...rest,
  };
}

export const allow = (id: string, spec: GrantSpec) => grant(id, { ...spec, effect: "allow" });
export const deny = (id: string, spec: GrantSpec) => grant(id, { ...spec, effect: "deny" });

export function cred(id: string, userId: string, over: Partial<CredentialRec> = {}): CredentialRec {
  return {
    id, userId, kind: "card", scopes: [], secretHash: `hash-${id}`, expiresAt: Infinity,
    validFrom: -Infinity, revoked: false, ...over,
  };
}

export function snapshot(over: Partial<Snapshot> = {}): Snapshot {
  return {
    revision: 1, users: [], groups: [], memberships: [], zones: [], gates: [], schedules: [], grants: [],
    credentials: [], ...over,
  };
}

export function build(over: Partial<Snapshot> = {}): PermissionIndex {
  return PermissionIndex.fromSnapshot(snapshot(over));
}

export function changes(revision: number, over: Omit<ChangeSet, "revision"> = {}): ChangeSet {
  return { revision, ...over };
}

/** The reason (and allow flag) for credential `credId`'s default hash at `gateId`. */
export function reason(ix: PermissionIndex, credId: string, gateId: string, now = NOW): string {
  return ix.decide(`hash-${credId}`, gateId, now).reason;
}

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number): number => Math.floor(next() * n),
    chance: (p: number): boolean => next() < p,
    pick<T>(xs: readonly T[]): T {
      return xs[Math.floor(next() * xs.length)]!;
    },
    shuffle<T>(xs: T[]): T[] {
      for (let i = xs.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [xs[i], xs[j]] = [xs[j]!, xs[i]!];
      }
      return xs;
    },
  };
}
export type Rng = ReturnType<typeof prng>;
