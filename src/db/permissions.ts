// Reads the permission data into the index's plain records: the full snapshot (one REPEATABLE READ
// transaction), and the current state of the rows the change log names (one statement, so one
// snapshot and one round trip). Either way, what comes back is exactly the database at the
// revision it reports. Rows travel as positional arrays and times as epoch milliseconds — no
// object and no Date per row: a million credentials must load in seconds.
import { PackedCredential } from "../index/credential";
import type {
  ChangeSet, CredentialRec, GateRec, GrantRec, GroupRec, ScheduleRec, Snapshot, UserRec, ZoneRec,
} from "../index/types";
import type { Sql } from "./client";

export const ms = (col: string) => `(extract(epoch from ${col}) * 1000)::float8`;

// One column list per entity; the mappers below read them by position.
export const COLS = {
  user: `u.id, u.username, u.active, ${ms("u.valid_from")}, ${ms("u.valid_until")}`,
  group: "g.id, g.name, g.parent_id",
  zone: `z.id, z.name, z.parent_id, z.anti_passback, z.anti_passback_reset_ms, z.max_occupancy, z.state_failure,
         z.supervisor_group_id, z.supervisor_schedule_id, z.requires_escort, z.escort_window_s`,
  gate: "t.id, t.name, t.zone_id, t.mode, t.unlock_ms, t.direction, t.two_person_window_ms, t.requires_pin, t.requires_escort, t.escort_window_s, t.max_staleness_ms",
  schedule: "s.id, s.name, s.timezone, s.windows",
  grant: `r.id, r.subject_user_id, r.subject_group_id, r.target_gate_id, r.target_zone_id, r.effect, r.schedule_id,
          ${ms("r.valid_from")}, ${ms("r.valid_until")}`,
  credential: `c.id, c.user_id, c.kind, c.scopes, c.secret_hash, ${ms("c.expires_at")}, ${ms("c.valid_from")},
               c.revoked_at is not null, d.credential_id is not null, c.pin_hash, c.host_user_id`,
} as const;

// Revoked devices, for the DEVICE_INACTIVE distinction: a hash join, not a subquery per credential.
export const REVOKED_DEVICES = `left join (select distinct credential_id from devices
  where revoked_at is not null and credential_id is not null) d on d.credential_id = c.id`;

export type Row = any[];
const from = (v: number | null) => v ?? -Infinity;
const until = (v: number | null) => v ?? Infinity;

export const toUser = (r: Row): UserRec => ({ id: r[0], username: r[1], active: r[2], validFrom: from(r[3]), validUntil: until(r[4]) });
export const toGroup = (r: Row): GroupRec => ({ id: r[0], name: r[1], parentId: r[2] });
export const toZone = (r: Row): ZoneRec => ({
  id: r[0], name: r[1], parentId: r[2], antiPassback: r[3], antiPassbackResetMs: Number(r[4] ?? 0), maxOccupancy: r[5] ?? 0,
  stateFailure: r[6], supervisorGroupId: r[7], supervisorScheduleId: r[8], requiresEscort: r[9], escortWindowMs: r[10] * 1000,
});
export const toGate = (r: Row): GateRec => ({
  id: r[0], name: r[1], zoneId: r[2], mode: r[3], unlockMs: r[4], direction: r[5], twoPersonWindowMs: r[6] ?? 0,
  requiresPin: r[7], requiresEscort: r[8], escortWindowMs: r[9] * 1000, maxStalenessMs: r[10],
});
export const toSchedule = (r: Row): ScheduleRec => ({ id: r[0], name: r[1], timezone: r[2], windows: r[3] });
export const toGrant = (r: Row): GrantRec => ({
  id: r[0], subjectUserId: r[1], subjectGroupId: r[2], targetGateId: r[3], targetZoneId: r[4], effect: r[5],
  scheduleId: r[6], validFrom: from(r[7]), validUntil: until(r[8]),
});
export const toCredential = (r: Row): CredentialRec => {
  const c: CredentialRec = new PackedCredential(r[0], r[1], r[2], r[3], r[4], until(r[5]), from(r[6]), r[7], r[8]);
  // Only the few credentials with a PIN or a host carry these (src/state/ reads them).
  if (r[9] !== null) c.pinHash = r[9];
  if (r[10] !== null) c.hostUserId = r[10];
  return c;
};

export const RR = "isolation level repeatable read read only";

export async function loadSnapshot(sql: Sql): Promise<Snapshot> {
  return sql.begin(RR, async (tx) => {
    const { n } = (await tx<{ n: number }[]>`select n from pcl_revision`)[0]!;
    const q = (text: string) => tx.unsafe(text).values() as unknown as Promise<Row[]>;
    const [users, groups, memberships, zones, gates, schedules, grants, credentials] = await Promise.all([
      q(`select ${COLS.user} from users u`),
      q(`select ${COLS.group} from groups g`),
      q(`select group_id, user_id from memberships`),
      q(`select ${COLS.zone} from zones z`),
      q(`select ${COLS.gate} from gates t`),
      q(`select ${COLS.schedule} from schedules s`),
      q(`select ${COLS.grant} from grants r`),
      q(`select ${COLS.credential} from credentials c ${REVOKED_DEVICES}`),
    ]);
    return {
      revision: n,
      users: users.map(toUser),
      groups: groups.map(toGroup),
      memberships: memberships as Array<[string, string]>,
      zones: zones.map(toZone),
      gates: gates.map(toGate),
      schedules: schedules.map(toSchedule),
      grants: grants.map(toGrant),
      credentials: credentials.map(toCredential),
    };
  }) as Promise<Snapshot>;
}

export type CatchUp =
  | { kind: "changes"; changes: ChangeSet; rows: number }
  | { kind: "current" }
  /** The log no longer reaches back to the applied revision, or the backlog is too big to replay. */
  | { kind: "rebuild"; why: string };

/** Rows of one entity named by the change log, as JSON arrays in the column order above. */
const changed = (entity: string, table: string, alias: string, cols: string, extra = "") => `
  (select coalesce(json_agg(json_build_array(${cols})), '[]') from ${table} ${alias} ${extra}
   where ${alias}.id in (select key from k where entity = '${entity}'))`;

// Everything a catch-up needs in ONE statement: in READ COMMITTED a single statement reads one
// snapshot, so the head revision, the changed keys and their rows are consistent with each other.
const CATCH_UP = `
  with h as (select r.n, s.pruned_through from pcl_revision r, change_log_state s),
  k as (select entity, key from change_log
        where revision > $1 and revision <= (select n from h) group by entity, key limit $2)
  select (select n from h) as head, (select pruned_through from h) as pruned, (select count(*)::int from k) as count,
    (select coalesce(json_agg(json_build_array(entity, key)), '[]') from k) as keys,
    ${changed("user", "users", "u", COLS.user)} as users,
    ${changed("group", "groups", "g", COLS.group)} as groups,
    (select coalesce(json_agg(json_build_array(m.user_id, m.groups)), '[]') from
       (select user_id, array_agg(group_id) as groups from memberships
        where user_id in (select key from k where entity = 'membership') group by user_id) m) as memberships,
    ${changed("zone", "zones", "z", COLS.zone)} as zones,
    ${changed("gate", "gates", "t", COLS.gate)} as gates,
    ${changed("schedule", "schedules", "s", COLS.schedule)} as schedules,
    ${changed("grant", "grants", "r", COLS.grant)} as grants,
    ${changed("credential", "credentials", "c", COLS.credential, REVOKED_DEVICES)} as credentials`;

/** Every change after `after`, as the current state of each row it names (at the head revision). */
export async function loadChangesAfter(sql: Sql, after: number, maxKeys = 200_000): Promise<CatchUp> {
  // Prepared (postgres.js leaves `unsafe` text unprepared): planning this statement cost ~4× its
  // execution, and it runs on every notification at every process — the bulk of a change's
  // propagation time and of Postgres' CPU during a burst of writes.
  const [r] = await sql.unsafe(CATCH_UP, [after, maxKeys + 1], { prepare: true });
  const head = Number(r!.head);
  if (head <= after) return { kind: "current" };
  if (Number(r!.pruned) > after) return { kind: "rebuild", why: `change log pruned through ${r!.pruned}, applied ${after}` };
  if (r!.count > maxKeys) return { kind: "rebuild", why: `more than ${maxKeys} changed rows` };

  const named = new Map<string, string[]>();
  for (const [entity, key] of r!.keys as Array<[string, string]>) {
    let list = named.get(entity);
    if (!list) named.set(entity, (list = []));
    list.push(key);
  }
  // Every named key gets an entry: a key with no row is a delete.
  function pairs<R>(entity: string, rows: Row[], map: (r: Row) => R): Array<[string, R | null]> {
    const found = new Map<string, R>();
    for (const row of rows) found.set(row[0], map(row));
    return (named.get(entity) ?? []).map((id) => [id, found.get(id) ?? null]);
  }
  const changes: ChangeSet = {
    revision: head,
    users: pairs("user", r!.users, toUser),
    groups: pairs("group", r!.groups, toGroup),
    memberships: pairs("membership", r!.memberships, (m) => m[1] as string[]).map(([u, g]) => [u, g ?? []]),
    zones: pairs("zone", r!.zones, toZone),
    gates: pairs("gate", r!.gates, toGate),
    schedules: pairs("schedule", r!.schedules, toSchedule),
    grants: pairs("grant", r!.grants, toGrant),
    credentials: pairs("credential", r!.credentials, toCredential),
  };
  return { kind: "changes", changes, rows: r!.count };
}
