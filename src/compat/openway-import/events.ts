// access_accessevent → access_events (--events), within the retention, in batches read through a
// keyset cursor on the Django id: ids derived from Django's (a re-run inserts nothing twice),
// reasons in Portcullis' words, revision 0.
import type postgres from "postgres";
import { pgArray } from "../../admin/import-sql";
import type { Tx } from "../../admin/tx";
import { tally, type Tally } from "./tally";

const REASON_SQL = `case s.reason when 'OK' then 'granted' when 'UNKNOWN_GATE' then 'unknown_gate'
  when 'TOKEN_INVALID' then 'unknown_token' when 'DEVICE_NOT_FOUND' then 'unknown_token'
  when 'DEVICE_INACTIVE' then 'revoked_token' when 'NO_PERMISSION' then 'no_grant'
  when 'RATE_LIMIT' then 'rate_limited' when 'INVALID_REQUEST' then 'invalid_request'
  else lower(coalesce(nullif(s.reason, ''), 'unknown')) end`;

export async function copyEvents(s: postgres.TransactionSql, tx: Tx, retentionDays: number, batch: number): Promise<{ tally: Tally; skipped: number }> {
  const [range] = await s`
    select count(*) filter (where created_at >= now() - make_interval(days => ${retentionDays}))::int8 as keep,
           count(*) filter (where created_at < now() - make_interval(days => ${retentionDays}))::int8 as skip,
           min(created_at) filter (where created_at >= now() - make_interval(days => ${retentionDays})) as oldest
    from access_accessevent`;
  const total = Number(range!.keep);
  if (total === 0) return { tally: tally(0), skipped: Number(range!.skip) };
  // Daily partitions back to the oldest copied event, so retention drops them like any other.
  const daysBack = Math.ceil((Date.now() - (range!.oldest as Date).getTime()) / 86_400_000) + 1;
  await tx`select pcl_ensure_event_partitions(${Math.min(daysBack, retentionDays + 1)}, 7)`;
  let inserted = 0;
  let lastId = -1;
  for (;;) {
    const rows = await s`
      select e.id::int8 as id, e.created_at, e.decision, e.reason, e.device_id::int8 as device_id, e.user_id::int8 as user_id,
             coalesce(ap.code, e.raw->>'gate_id', '') as gate
      from access_accessevent e left join access_accesspoint ap on ap.id = e.access_point_id
      where e.id > ${lastId} and e.created_at >= now() - make_interval(days => ${retentionDays})
      order by e.id limit ${batch}`;
    if (!rows.length) break;
    lastId = Number(rows[rows.length - 1]!.id);
    const ins = await tx.unsafe(`
      insert into access_events (id, at, gate_id, user_id, credential_id, allow, reason, revision)
      select md5('openway-event:' || s.oid)::uuid, s.at, left(coalesce(nullif(s.gate, ''), '(unknown)'), 200),
             u.id, d.credential_id, s.decision = 'ALLOW', ${REASON_SQL}, 0
      from unnest($1::int8[], $2::timestamptz[], $3::text[], $4::text[], $5::int8[], $6::int8[], $7::text[])
        as s(oid, at, decision, reason, device_oid, user_oid, gate)
      left join users u on u.openway_id = s.user_oid
      left join devices d on d.openway_id = s.device_oid
      on conflict do nothing`,
      [pgArray(rows.map((r) => r.id)), pgArray(rows.map((r) => (r.created_at as Date).toISOString())), pgArray(rows.map((r) => r.decision)),
        pgArray(rows.map((r) => r.reason)), pgArray(rows.map((r) => r.device_id)), pgArray(rows.map((r) => r.user_id)), pgArray(rows.map((r) => r.gate))]);
    inserted += ins.count;
    if (rows.length < batch) break;
  }
  return { tally: tally(total, inserted), skipped: Number(range!.skip) };
}
