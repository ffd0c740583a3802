// Reads the permission data into the index's plain records: the full snapshot, and the current
// state of the rows the change log names. Each runs in one REPEATABLE READ transaction, so what
// it returns is exactly the database at the revision it reports.
import type {
  ChangeSet, CredentialRec, GateRec, GrantRec, GroupRec, ScheduleRec, Snapshot, UserRec, ZoneRec,
} from "../index/types";
import { PackedCredential } from "../index/credential";
import type { Sql } from "./client";

const from = (d: Date | null) => (d === null ? -Infinity : d.getTime());
const until = (d: Date | null) => (d === null ? Infinity : d.getTime());

const userCols = "id, username, active, valid_from, valid_until";
const toUser = (r: any): UserRec => ({
  id: r.id, username: r.username, active: r.active, validFrom: from(r.valid_from), validUntil: until(r.valid_until),
});
const toGroup = (r: any): GroupRec => ({ id: r.id, name: r.name, parentId: r.parent_id });
const toZone = (r: any): ZoneRec => ({ id: r.id, name: r.name });
const toGate = (r: any): GateRec => ({ id: r.id, name: r.name, zoneId: r.zone_id, mode: r.mode, unlockMs: r.unlock_ms });
const toSchedule = (r: any): ScheduleRec => ({ id: r.id, name: r.name, timezone: r.timezone, windows: r.windows });
const toGrant = (r: any): GrantRec => ({
  id: r.id, subjectUserId: r.subject_user_id, subjectGroupId: r.subject_group_id,
  targetGateId: r.target_gate_id, targetZoneId: r.target_zone_id, effect: r.effect, scheduleId: r.schedule_id,
  validFrom: from(r.valid_from), validUntil: until(r.valid_until),
});
const credCols = `c.id, c.user_id, c.kind, c.scopes, c.secret_hash, c.expires_at, c.valid_from, c.revoked_at,
  exists (select 1 from devices d where d.credential_id = c.id and d.revoked_at is not null) as device_revoked`;
const toCredential = (r: any): CredentialRec => new PackedCredential(
  r.id, r.user_id, r.kind, r.scopes, r.secret_hash, until(r.expires_at), from(r.valid_from), r.revoked_at !== null, r.device_revoked,
);

const RR = "isolation level repeatable read read only";

export async function loadSnapshot(sql: Sql): Promise<Snapshot> {
  return sql.begin(RR, async (tx) => {
    const [{ n }] = await tx<{ n: number }[]>`select n from pcl_revision`;
    const [users, groups, memberships, zones, gates, schedules, grants, credentials] = await Promise.all([
      tx.unsafe(`select ${userCols} from users`),
      tx`select id, name, parent_id from groups`,
      tx`select group_id, user_id from memberships`.values(),
      tx`select id, name from zones`,
      tx`select id, name, zone_id, mode, unlock_ms from gates`,
      tx`select id, name, timezone, windows from schedules`,
      tx`select * from grants`,
      // A hash join against the (few) revoked devices, not a subquery per credential.
      tx`select c.id, c.user_id, c.kind, c.scopes, c.secret_hash, c.expires_at, c.valid_from, c.revoked_at,
                d.credential_id is not null as device_revoked
         from credentials c
         left join (select distinct credential_id from devices where revoked_at is not null and credential_id is not null) d
           on d.credential_id = c.id`,
    ]);
    return {
      revision: n,
      users: users.map(toUser),
      groups: groups.map(toGroup),
      memberships: memberships as unknown as Array<[string, string]>,
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

/** Every change after `after`, as the current state of each row it names (at the head revision). */
export async function loadChangesAfter(sql: Sql, after: number, maxKeys = 200_000): Promise<CatchUp> {
  return sql.begin(RR, async (tx) => {
    const [head] = await tx<{ n: number; pruned: number }[]>`
      select r.n, s.pruned_through as pruned from pcl_revision r, change_log_state s`;
    if (head!.n <= after) return { kind: "current" };
    if (head!.pruned > after) return { kind: "rebuild", why: `change log pruned through ${head!.pruned}, applied ${after}` };
    const keys = await tx<{ entity: string; key: string }[]>`
      select entity, key from change_log where revision > ${after} and revision <= ${head!.n}
      group by entity, key limit ${maxKeys + 1}`;
    if (keys.length > maxKeys) return { kind: "rebuild", why: `more than ${maxKeys} changed rows` };

    const by = new Map<string, string[]>();
    for (const k of keys) {
      let list = by.get(k.entity);
      if (!list) by.set(k.entity, (list = []));
      list.push(k.key);
    }
    const ids = (e: string) => by.get(e) ?? [];
    const none = Promise.resolve([] as any[]);
    const q = (e: string, run: (ids: string[]) => Promise<any[]>) => (ids(e).length ? run(ids(e)) : none);
    const [users, groups, memberships, zones, gates, schedules, grants, credentials] = await Promise.all([
      q("user", (x) => tx.unsafe(`select ${userCols} from users where id = any($1)`, [x])),
      q("group", (x) => tx`select id, name, parent_id from groups where id = any(${x})`),
      q("membership", (x) => tx`select user_id, array_agg(group_id) as groups from memberships
                                where user_id = any(${x}) group by user_id`),
      q("zone", (x) => tx`select id, name from zones where id = any(${x})`),
      q("gate", (x) => tx`select id, name, zone_id, mode, unlock_ms from gates where id = any(${x})`),
      q("schedule", (x) => tx`select id, name, timezone, windows from schedules where id = any(${x})`),
      q("grant", (x) => tx`select * from grants where id = any(${x})`),
      q("credential", (x) => tx.unsafe(`select ${credCols} from credentials c where c.id = any($1)`, [x])),
    ]);
    // Every named key gets an entry: a key with no row is a delete.
    function pairs<R>(entity: string, rows: any[], map: (r: any) => R, keyOf = (r: any) => r.id as string) {
      const found = new Map<string, R>();
      for (const r of rows) found.set(keyOf(r), map(r));
      return ids(entity).map((id) => [id, found.get(id) ?? null] as [string, R | null]);
    }
    const changes: ChangeSet = {
      revision: head!.n,
      users: pairs("user", users, toUser),
      groups: pairs("group", groups, toGroup),
      memberships: pairs("membership", memberships, (r) => r.groups as string[], (r) => r.user_id)
        .map(([u, g]) => [u, g ?? []] as [string, string[]]),
      zones: pairs("zone", zones, toZone),
      gates: pairs("gate", gates, toGate),
      schedules: pairs("schedule", schedules, toSchedule),
      grants: pairs("grant", grants, toGrant),
      credentials: pairs("credential", credentials, toCredential),
    };
    return { kind: "changes", changes, rows: keys.length };
  }) as Promise<CatchUp>;
}
