// Plain records the index is built from. Times are epoch milliseconds; an open bound is
// -Infinity (from) or +Infinity (until), so every check is one numeric comparison.

export type GateMode = "normal" | "locked" | "disabled";
export type Effect = "allow" | "deny";
export type CredentialKind = "card" | "pin" | "api" | "device" | "session";

export interface UserRec {
  id: string;
  username: string;
  active: boolean;
  validFrom: number;
  validUntil: number;
}

export interface GroupRec {
  id: string;
  name: string;
  parentId: string | null;
}

export type AntiPassback = "off" | "soft" | "hard";
export type Direction = "in" | "out" | "both";

export interface ZoneRec {
  id: string;
  name: string;
  /** The enclosing zone (presence only: an entry here is an entry there too). */
  parentId?: string | null;
  antiPassback?: AntiPassback;
  /** 0: a presence never stops counting against the next pass. */
  antiPassbackResetMs?: number;
  /** 0: no limit. */
  maxOccupancy?: number;
  /** Shared state unreachable: decide without the stateful rules ("open") or refuse ("closed"). */
  stateFailure?: "open" | "closed";
  supervisorGroupId?: string | null;
  supervisorScheduleId?: string | null;
  requiresEscort?: boolean;
  escortWindowMs?: number;
}

export interface GateRec {
  id: string;
  name: string;
  zoneId: string | null;
  mode: GateMode;
  unlockMs: number;
  direction?: Direction;
  /** 0: one person opens. */
  twoPersonWindowMs?: number;
  requiresPin?: boolean;
  requiresEscort?: boolean;
  escortWindowMs?: number;
  /** Refuse (stale_index) on a node whose data is older than this; null/absent: decide from whatever the index holds. */
  maxStalenessMs?: number | null;
}

/** A weekly window in the schedule's own timezone; days are ISO weekdays (1 = Monday). */
export interface ScheduleWindow {
  days: number[];
  start: string; // "HH:MM"
  end: string; // "HH:MM", "24:00" allowed; end < start runs past midnight into the next day
}

export interface ScheduleRec {
  id: string;
  name: string;
  timezone: string;
  windows: ScheduleWindow[];
}

export interface GrantRec {
  id: string;
  subjectUserId: string | null;
  subjectGroupId: string | null;
  targetGateId: string | null;
  targetZoneId: string | null;
  effect: Effect;
  scheduleId: string | null;
  validFrom: number;
  validUntil: number;
}

export interface CredentialRec {
  id: string;
  userId: string;
  kind: CredentialKind;
  scopes: string[];
  secretHash: string; // SHA-256 hex of the secret
  expiresAt: number; // +Infinity when it never expires
  validFrom: number;
  revoked: boolean;
  /** Set for device credentials whose device was revoked (a distinct reason for old clients). */
  deviceRevoked?: boolean;
  /** "hs256$salt$mac" when the credential has a PIN (src/state/pin.ts). */
  pinHash?: string | null;
  /** A visitor credential's host. */
  hostUserId?: string | null;
}

/** Everything, consistent at one revision. */
export interface Snapshot {
  revision: number;
  users: UserRec[];
  groups: GroupRec[];
  memberships: Array<[groupId: string, userId: string]>;
  zones: ZoneRec[];
  gates: GateRec[];
  schedules: ScheduleRec[];
  grants: GrantRec[];
  credentials: CredentialRec[];
}

/** The current state of every row the change log named; `null` means the row is gone. */
export interface ChangeSet {
  revision: number;
  users?: Array<[id: string, rec: UserRec | null]>;
  groups?: Array<[id: string, rec: GroupRec | null]>;
  /** The complete set of direct groups of each named user. */
  memberships?: Array<[userId: string, groupIds: string[]]>;
  zones?: Array<[id: string, rec: ZoneRec | null]>;
  gates?: Array<[id: string, rec: GateRec | null]>;
  schedules?: Array<[id: string, rec: ScheduleRec | null]>;
  grants?: Array<[id: string, rec: GrantRec | null]>;
  credentials?: Array<[id: string, rec: CredentialRec | null]>;
}

export const REASONS = [
  "granted",
  "unknown_token",
  "expired_token",
  "revoked_token",
  "not_yet_valid",
  "inactive_user",
  "unknown_gate",
  "gate_disabled",
  "gate_locked",
  "no_grant",
  "denied",
  "outside_schedule",
  "stale_index",
] as const;

/** Reasons of the rules with memory (src/state/), decided after the grants allowed; never by decide(). */
export const STATE_REASONS = [
  "pin_required",
  "wrong_pin",
  "pin_locked",
  "escort_required",
  "awaiting_supervisor",
  "anti_passback",
  "zone_full",
  "awaiting_second",
  "state_unavailable",
] as const;
export type Reason = (typeof REASONS)[number] | (typeof STATE_REASONS)[number];

export interface Decision {
  allow: boolean;
  reason: Reason;
  userId: string | undefined;
  credentialId: string | undefined;
  credentialKind: CredentialKind | undefined;
  deviceRevoked: boolean;
  /** How long the gate holds its strike open on allow. */
  unlockMs: number;
}
