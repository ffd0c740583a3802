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

export interface ZoneRec {
  id: string;
  name: string;
}

export interface GateRec {
  id: string;
  name: string;
  zoneId: string | null;
  mode: GateMode;
  unlockMs: number;
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
] as const;
export type Reason = (typeof REASONS)[number];

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
