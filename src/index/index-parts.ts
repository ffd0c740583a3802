// An index as data: its columns, tables and lists as transferable buffers plus the small tables'
// plain records — what a build worker posts to the serving thread (moved, not copied) — and the
// empty and pre-sized layouts a build starts from.
import { BoundsPool, type BoundsPoolParts, ListPool, type ListPoolParts, roomFor, TextColumn, type TextColumnParts } from "./columns";
import { DigestTable, type DigestTableParts } from "./digest-table";
import { KeyTable, type KeyTableParts } from "./key-table";
import type { GateRec, GroupRec, ScheduleRec, ZoneRec } from "./types";

/** Everything an index is, as transferable buffers plus the small tables' plain records. */
export interface IndexParts {
  revision: number;
  /** Validity intervals of users, grants and credentials (a row's `bounds` indexes it; 0: open). */
  bounds: BoundsPoolParts;
  users: { ids: KeyTableParts; flags: Uint8Array; bounds: Uint32Array; names: TextColumnParts; count: number };
  grants: {
    ids: KeyTableParts; flags: Uint8Array; subject: Int32Array; target: Int32Array; schedule: Int32Array; bounds: Uint32Array; count: number;
  };
  credentials: { ids: KeyTableParts; bits: Uint8Array; user: Int32Array; bounds: Uint32Array; digests: DigestTableParts };
  lists: { userOwn: ListPoolParts; userGroups: ListPoolParts; groupOwn: ListPoolParts; closures: ListPoolParts };
  small: {
    groups: GroupRec[]; zones: ZoneRec[]; gates: GateRec[]; schedules: ScheduleRec[];
    groupIds: string[]; zoneIds: string[]; gateIds: string[]; scheduleIds: string[];
    /** The few credentials with a PIN or a visitor's host (src/state/). */
    credentialRules?: Array<[id: string, rules: CredentialRules]>;
  };
}

export interface CredentialRules {
  pinHash: string | null;
  hostUserId: string | null;
}

/** The ArrayBuffers of `parts`, for postMessage's transfer list (moved, not copied). */
export function transferables(parts: IndexParts): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const walk = (v: unknown) => {
    if (ArrayBuffer.isView(v)) out.add(v.buffer as ArrayBuffer);
    else if (v !== null && typeof v === "object" && !Array.isArray(v)) for (const x of Object.values(v)) walk(x);
  };
  walk({ bounds: parts.bounds, users: parts.users, grants: parts.grants, credentials: parts.credentials, lists: parts.lists });
  return [...out];
}

export function emptyParts(): IndexParts {
  const keys = () => KeyTable.create(0, 16).parts();
  const lists = () => ListPool.empty(16, 16).parts();
  return {
    revision: 0,
    bounds: BoundsPool.empty().parts(),
    users: { ids: keys(), flags: new Uint8Array(16), bounds: new Uint32Array(16), names: TextColumn.empty(16, 64).parts(), count: 0 },
    grants: {
      ids: keys(), flags: new Uint8Array(16), subject: new Int32Array(16), target: new Int32Array(16), schedule: new Int32Array(16),
      bounds: new Uint32Array(16), count: 0,
    },
    credentials: { ids: keys(), bits: new Uint8Array(16), user: new Int32Array(16), bounds: new Uint32Array(16), digests: DigestTable.create(16).parts() },
    lists: { userOwn: lists(), userGroups: lists(), groupOwn: lists(), closures: lists() },
    small: { groups: [], zones: [], gates: [], schedules: [], groupIds: [], zoneIds: [], gateIds: [], scheduleIds: [] },
  };
}

/** Sized for the snapshot up front, so the build does not copy columns as it grows. */
export function sizedParts(n: { users: number; grants: number; credentials: number }): IndexParts {
  const p = emptyParts();
  // Ids take ~6–16 bytes encoded (the arenas are trimmed after the build).
  const users = roomFor(n.users + (n.users >> 4)), grants = roomFor(n.grants), creds = roomFor(n.credentials);
  p.users = {
    ids: KeyTable.create(users, 24).parts(), flags: new Uint8Array(users), bounds: new Uint32Array(users),
    names: TextColumn.empty(users, users * 16).parts(), count: 0,
  };
  p.grants = {
    ids: KeyTable.create(grants, 24).parts(), flags: new Uint8Array(grants), subject: new Int32Array(grants), target: new Int32Array(grants),
    schedule: new Int32Array(grants), bounds: new Uint32Array(grants), count: 0,
  };
  p.credentials = {
    ids: KeyTable.create(creds, 24).parts(), bits: new Uint8Array(creds), user: new Int32Array(creds), bounds: new Uint32Array(creds),
    digests: DigestTable.create(creds).parts(),
  };
  return p;
}
