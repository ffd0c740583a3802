// The consistency checker: decisions for (credential, gate) pairs computed straight from SQL — an
// implementation of API.md's decision rule independent of the index (recursive CTE over group
// parents, zones through the gate's zone, validity windows, schedules evaluated by Postgres'
// own tz database) — compared with the in-memory index at the SAME revision and the same instant.
//
// How "the same revision" is made sure of: the SQL runs in one REPEATABLE READ snapshot that also
// reads the revision R it shows. Then the index source is asked to reach R (the feed: wait for
// it; the CLI: build an index from a fresh snapshot). The comparison itself runs synchronously,
// only when the index's revision is exactly R, so no change can be applied in between. When the
// index has already moved past R (writes went on meanwhile), the check is retried with a fresh
// snapshot, a few times.
//
// The index side is asked exactly as verify asks it: decide(secret hash, gate id, now). Checking
// every pair also covers rows only the index has: a secret SQL does not know must be
// unknown_token everywhere, a gate SQL does not know unknown_gate. Cost at the 5 M-pair bound
// (measured, 2 cores): ~14 s of SQL, then ~1 s of synchronous comparison that holds up verifies.
import type { Sql } from "../db/client";
import { loadSnapshot } from "../db/permissions";
import { ApiError } from "../errors";
import { PermissionIndex } from "../index/permission-index";
import { REASONS, type Reason } from "../index/types";
import { mapDbError } from "../db/errors";

/** More pairs than this in one check are refused (400): pass a sample instead. */
export const MAX_PAIRS = 5_000_000;
/** At most this many mismatches are listed; `mismatch_count` has them all. */
export const MAX_LISTED = 1000;

export interface Side {
  allow: boolean;
  reason: Reason;
}

export interface Mismatch {
  credential_id: string;
  gate_id: string;
  /** The index's decision; `credential_id` is set when the index resolved the secret to another credential. */
  index: Side & { credential_id?: string | null };
  sql: Side;
}

export interface ConsistencyReport {
  /** The revision both sides were compared at. */
  revision: number;
  /** Pairs compared. */
  checked: number;
  mode: "all" | "sample";
  mismatches: Mismatch[];
  mismatch_count: number;
  /** The instant both sides decided at (RFC 3339). */
  at: string;
  /** Rows on each side; with a sample, the only check of rows the sample did not reach. */
  counts: { sql: { credentials: number; gates: number }; index: { credentials: number; gates: number } };
  /** The SQL side's decisions by reason (how much the check covered). */
  by_reason: Partial<Record<Reason, number>>;
  /** True when there are no mismatches and both sides hold the same number of rows. */
  consistent: boolean;
  attempts: number;
  ms: number;
}

/** Where the index comes from: the running service's feed, or one built for the check (CLI). */
export interface IndexSource {
  /** Resolves once the index may be at `revision`; false when it cannot get there (yet). */
  reach(revision: number): Promise<boolean>;
  /** The index in force right now (read synchronously right before comparing). */
  current(): PermissionIndex;
}

/** The running service's index, kept up to date by its change feed. */
export function feedSource(feed: { current: PermissionIndex; waitFor(rev: number, ms: number): Promise<boolean> }, timeoutMs = 5000): IndexSource {
  return {
    reach: (revision) => (feed.current.revision >= revision ? Promise.resolve(true) : feed.waitFor(revision, timeoutMs)),
    current: () => feed.current,
  };
}

/** An index built from a fresh snapshot (the CLI has no running index). */
export function snapshotSource(sql: Sql): IndexSource {
  let ix: PermissionIndex | null = null;
  return {
    async reach(revision) {
      if (ix === null || ix.revision < revision) ix = PermissionIndex.fromSnapshot(await loadSnapshot(sql));
      return ix.revision >= revision;
    },
    current: () => ix ?? new PermissionIndex(),
  };
}

// ---- the SQL side ----

/** One letter per reason, for the per-credential strings of the all-pairs query. */
const CODE = new Map<Reason, string>(REASONS.map((r, i) => [r, String.fromCharCode(97 + i)]));
const REASON_OF = new Map<string, Reason>(REASONS.map((r, i) => [String.fromCharCode(97 + i), r]));

/**
 * The shared CTEs. `$1` is the instant (whole milliseconds, as the index decides at); it is
 * compared with the stored timestamps at their full (microsecond) precision.
 * `credFilter` limits the credentials looked at.
 * Produces: cr (credential → reason decided before the gate, or null), ug (user → every group,
 * ancestors included), sched (schedule → open now), ugr (user → every grant reaching them, with
 * `valid` and `open`).
 */
function baseCtes(credFilter: string): string {
  return `
  p as (select $1::timestamptz as now),
  cr as (
    select c.id, c.user_id, c.secret_hash,
      case
        when c.revoked_at is not null then 'revoked_token'
        when c.expires_at is not null and p.now >= c.expires_at then 'expired_token'
        when c.valid_from is not null and p.now < c.valid_from then 'not_yet_valid'
        when u.id is null or not u.active
          or (u.valid_from is not null and p.now < u.valid_from)
          or (u.valid_until is not null and p.now >= u.valid_until) then 'inactive_user'
      end as pre
    from p cross join credentials c left join users u on u.id = c.user_id
    ${credFilter}
  ),
  live_users as (select distinct user_id from cr where pre is null),
  -- Every group of each user: direct ones, then parents. UNION (not UNION ALL) drops rows already
  -- found, so a parent cycle ends the recursion.
  ug(user_id, group_id) as (
    select m.user_id, m.group_id from memberships m where m.user_id in (select user_id from live_users)
    union
    select ug.user_id, g.parent_id from ug join groups g on g.id = ug.group_id where g.parent_id is not null
  ),
  -- Timezones Postgres cannot evaluate leave their schedules closed here (and so show up as
  -- mismatches when the index thinks otherwise) instead of failing the whole check.
  tz_names as materialized (select lower(name) as name from pg_timezone_names),
  tz as (
    select s.timezone, exists (select 1 from tz_names n where n.name = lower(s.timezone)) as known
    from (select distinct timezone from schedules) s
  ),
  sched as (
    select s.id, exists (
      select 1
      from jsonb_array_elements(case jsonb_typeof(s.windows) when 'array' then s.windows else '[]'::jsonb end) w(v)
      cross join lateral (select
          case when w.v->>'start' ~ '^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$'
               then split_part(w.v->>'start', ':', 1)::int * 60 + split_part(w.v->>'start', ':', 2)::int end as st,
          case when w.v->>'end' ~ '^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$'
               then split_part(w.v->>'end', ':', 1)::int * 60 + split_part(w.v->>'end', ':', 2)::int end as en) t
      cross join lateral jsonb_array_elements(case jsonb_typeof(w.v->'days') when 'array' then w.v->'days' else '[]'::jsonb end) d(v)
      where t.st is not null and t.en is not null and t.st <> t.en and lt.dow is not null and (
        -- the window's own day, from its start (to its end, or to midnight when it runs past it)
        (d.v = to_jsonb(lt.dow) and lt.minute >= t.st and (t.en < t.st or lt.minute < t.en))
        -- a window that ends before it starts runs into the next day until its end
        or (t.en < t.st and d.v = to_jsonb(case when lt.dow = 1 then 7 else lt.dow - 1 end) and lt.minute < t.en))
    ) as open
    from schedules s
    join tz on tz.timezone = s.timezone
    cross join lateral (select case when tz.known then (select now from p) at time zone s.timezone end as local) l
    cross join lateral (select extract(isodow from l.local)::int as dow,
                               (extract(hour from l.local) * 60 + extract(minute from l.local))::int as minute) lt
  ),
  gr as (
    select g.subject_user_id, g.subject_group_id, g.target_gate_id, g.target_zone_id, g.effect,
      (g.valid_from is null or g.valid_from <= p.now) and (g.valid_until is null or p.now < g.valid_until) as valid,
      (g.schedule_id is null or coalesce(s.open, false)) as open
    from p cross join grants g left join sched s on s.id = g.schedule_id
  ),
  ugr as (
    select g.subject_user_id as user_id, g.* from gr g where g.subject_user_id in (select user_id from live_users)
    union all
    select ug.user_id, g.* from ug join gr g on g.subject_group_id = ug.group_id
  )`;
}

const FLAGS = `
  bool_or(x.effect = 'deny' and x.valid and x.open) as denied,
  bool_or(x.effect = 'allow' and x.valid and x.open) as allowed,
  bool_or(x.effect = 'allow' and x.valid and not x.open) as closed`;

/** The rule past the credential and user checks, in the order of PermissionIndex.decideFor. */
function gateCase(out: (r: Reason) => string): string {
  const q = (r: Reason) => `'${out(r)}'`;
  return `case
      when gt.id is null then ${q("unknown_gate")}
      when gt.mode = 'locked' then ${q("gate_locked")}
      when gt.mode <> 'normal' then ${q("gate_disabled")}
      when f.denied then ${q("denied")}
      when f.allowed then ${q("granted")}
      when f.closed then ${q("outside_schedule")}
      else ${q("no_grant")} end`;
}

/** Every credential against every gate of the list ($2, in order): one row per credential. */
const ALL_PAIRS = `
with recursive ${baseCtes("")},
  gl as (select id, ord from unnest($2::text[]) with ordinality as t(id, ord)),
  flags as (
    select x.user_id, x.gate_id, ${FLAGS}
    from (
      select ugr.user_id, gt.id as gate_id, ugr.effect, ugr.valid, ugr.open from ugr join gates gt on gt.id = ugr.target_gate_id
      union all
      select ugr.user_id, gt.id, ugr.effect, ugr.valid, ugr.open from ugr join gates gt on gt.zone_id = ugr.target_zone_id
    ) x group by x.user_id, x.gate_id
  )
select cr.id, cr.secret_hash, null::text as pre,
       coalesce(string_agg(${gateCase((r) => CODE.get(r)!)}, '' order by gl.ord) filter (where gl.id is not null), '') as codes
from cr left join gl on true left join gates gt on gt.id = gl.id
left join flags f on f.user_id = cr.user_id and f.gate_id = gl.id
where cr.pre is null
group by cr.id, cr.secret_hash
union all
select cr.id, cr.secret_hash, cr.pre, null from cr where cr.pre is not null`;

/** The sampled pairs: $2 and $3 are 1-based positions in the id-ordered credentials and gates. */
const SAMPLE_PAIRS = `
with recursive
  cl as (select id, row_number() over (order by id) as i from credentials),
  gl as (select id, row_number() over (order by id) as i from gates),
  pairs as (
    select cl.id as cred_id, gl.id as gate_id
    from unnest($2::int8[], $3::int8[]) as t(ci, gi) join cl on cl.i = t.ci join gl on gl.i = t.gi
  ),
  ${baseCtes("where c.id in (select cred_id from pairs)")},
  flags as (
    select x.cred_id, x.gate_id, ${FLAGS}
    from (
      select pr.cred_id, pr.gate_id, ugr.effect, ugr.valid, ugr.open
      from pairs pr join cr on cr.id = pr.cred_id and cr.pre is null join gates gt on gt.id = pr.gate_id
      join ugr on ugr.user_id = cr.user_id and ugr.target_gate_id = gt.id
      union all
      select pr.cred_id, pr.gate_id, ugr.effect, ugr.valid, ugr.open
      from pairs pr join cr on cr.id = pr.cred_id and cr.pre is null join gates gt on gt.id = pr.gate_id
      join ugr on ugr.user_id = cr.user_id and ugr.target_zone_id = gt.zone_id
    ) x group by x.cred_id, x.gate_id
  )
select pr.cred_id as id, cr.secret_hash, pr.gate_id, coalesce(cr.pre, ${gateCase((r) => r)}) as reason
from pairs pr join cr on cr.id = pr.cred_id left join gates gt on gt.id = pr.gate_id
left join flags f on f.cred_id = pr.cred_id and f.gate_id = pr.gate_id`;

interface SqlSide {
  revision: number;
  credentials: number;
  gates: number;
  /** all: every credential, with its reason before the gate or one letter per gate of `gateIds` */
  all?: { gateIds: string[]; rows: Array<{ id: string; secret_hash: string; pre: Reason | null; codes: string | null }> };
  /** sample: one row per pair */
  sample?: Array<{ id: string; secret_hash: string; gate_id: string; reason: Reason }>;
}

/** `n` distinct numbers from [0, total), uniformly. */
function distinctSample(n: number, total: number): number[] {
  if (n * 2 >= total) {
    const all = Array.from({ length: total }, (_, i) => i);
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(Math.random() * (total - i));
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    return all.slice(0, n);
  }
  const seen = new Set<number>();
  while (seen.size < n) seen.add(Math.floor(Math.random() * total));
  return [...seen];
}

async function sqlSide(sql: Sql, now: number, sample: number): Promise<SqlSide> {
  return sql.begin("isolation level repeatable read read only", async (tx) => {
    // The first statement fixes the snapshot: the revision read here is the one every later
    // statement of this transaction sees.
    const [head] = await tx<{ n: number; credentials: number; gates: number }[]>`
      select (select n from pcl_revision) as n, (select count(*) from credentials)::int8 as credentials,
             (select count(*) from gates)::int8 as gates`;
    const { n: revision, credentials, gates } = head!;
    const total = credentials * gates;
    await tx`set local statement_timeout = '10min'`;
    const at = new Date(now);
    if (sample === 0 || sample >= total) {
      if (total > MAX_PAIRS) {
        throw new ApiError("invalid_request", `sample: ${credentials} credentials × ${gates} gates = ${total} pairs is more than ${MAX_PAIRS}; pass ?sample=N`, { field: "sample", pairs: total, max: MAX_PAIRS });
      }
      const [row] = await tx<{ ids: string[] }[]>`select coalesce(array_agg(id order by id), '{}') as ids from gates`;
      const ids = row!.ids;
      const rows = await tx.unsafe(ALL_PAIRS, [at, ids] as any[]);
      return { revision, credentials, gates, all: { gateIds: ids, rows: rows as any } };
    }
    const picks = distinctSample(sample, total);
    const ci = picks.map((k) => Math.floor(k / gates) + 1), gi = picks.map((k) => (k % gates) + 1);
    const rows = await tx.unsafe(SAMPLE_PAIRS, [at, ci, gi] as any[]);
    return { revision, credentials, gates, sample: rows as any };
  }) as Promise<SqlSide>;
}

// ---- the comparison (synchronous) ----

function compare(ix: PermissionIndex, s: SqlSide, now: number, t0: number, attempts: number): ConsistencyReport {
  const mismatches: Mismatch[] = [];
  let count = 0, checked = 0;
  const byReason: Partial<Record<Reason, number>> = {};
  const one = (credentialId: string, hash: string, gateId: string, sqlReason: Reason) => {
    checked++;
    byReason[sqlReason] = (byReason[sqlReason] ?? 0) + 1;
    const d = ix.decide(hash, gateId, now);
    const sameCredential = sqlReason === "unknown_token" ? d.credentialId === undefined : d.credentialId === credentialId;
    if (d.reason === sqlReason && sameCredential) return;
    count++;
    if (mismatches.length >= MAX_LISTED) return;
    const index: Mismatch["index"] = { allow: d.allow, reason: d.reason };
    if (!sameCredential) index.credential_id = d.credentialId ?? null;
    mismatches.push({ credential_id: credentialId, gate_id: gateId, index, sql: { allow: sqlReason === "granted", reason: sqlReason } });
  };

  if (s.all) {
    const { gateIds, rows } = s.all;
    const sqlGates = new Set(gateIds);
    const extraGates = [...ix.gates.keys()].filter((g) => !sqlGates.has(g));
    const sqlHashes = new Set<string>();
    for (const r of rows) {
      sqlHashes.add(r.secret_hash);
      for (let i = 0; i < gateIds.length; i++) {
        one(r.id, r.secret_hash, gateIds[i]!, r.pre ?? REASON_OF.get(r.codes![i]!)!);
      }
      // A gate only the index knows: SQL decides as for any unknown gate.
      for (const g of extraGates) one(r.id, r.secret_hash, g, r.pre ?? "unknown_gate");
    }
    // A secret only the index knows: SQL says unknown_token at every gate.
    for (const c of ix.credentialsByHash.values()) {
      if (sqlHashes.has(c.secretHash)) continue;
      for (const g of gateIds) one(c.id, c.secretHash, g, "unknown_token");
      for (const g of extraGates) one(c.id, c.secretHash, g, "unknown_token");
    }
  } else {
    for (const r of s.sample!) one(r.id, r.secret_hash, r.gate_id, r.reason);
  }

  const counts = {
    sql: { credentials: s.credentials, gates: s.gates },
    index: { credentials: ix.credentialsById.size, gates: ix.gates.size },
  };
  return {
    revision: s.revision,
    checked,
    mode: s.all ? "all" : "sample",
    mismatches,
    mismatch_count: count,
    at: new Date(now).toISOString(),
    counts,
    by_reason: byReason,
    consistent: count === 0 && counts.sql.credentials === counts.index.credentials
      && ix.credentialsByHash.size === s.credentials && counts.sql.gates === counts.index.gates,
    attempts,
    ms: Math.round(performance.now() - t0),
  };
}

export interface CheckOptions {
  /** Pairs to sample; 0 or absent: every pair (at most MAX_PAIRS). */
  sample?: number;
  /** The instant to decide at (epoch ms); default now. Both sides use the same one. */
  now?: number;
  /** Fresh snapshots to try when the index keeps moving past the snapshot's revision. */
  attempts?: number;
}

export async function checkConsistency(sql: Sql, source: IndexSource, opts: CheckOptions = {}): Promise<ConsistencyReport> {
  const sample = opts.sample ?? 0;
  if (!Number.isInteger(sample) || sample < 0 || sample > MAX_PAIRS) {
    throw new ApiError("invalid_request", `sample: must be an integer from 0 (every pair) to ${MAX_PAIRS}`, { field: "sample" });
  }
  const t0 = performance.now();
  const attempts = opts.attempts ?? 5;
  let lastRevision = 0, lastIndex = 0;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const now = opts.now ?? Date.now();
    let s: SqlSide;
    try {
      s = await sqlSide(sql, now, sample);
    } catch (e) {
      throw mapDbError(e);
    }
    const reached = await source.reach(s.revision);
    // From here on synchronous: the index cannot change under the comparison.
    const ix = source.current();
    if (ix.revision === s.revision) return compare(ix, s, now, t0, attempt);
    lastRevision = s.revision;
    lastIndex = ix.revision;
    if (!reached && ix.revision < s.revision) break; // the index is not catching up: no point retrying
  }
  throw new ApiError(
    "unavailable",
    lastIndex < lastRevision
      ? `the index has not reached revision ${lastRevision} (it is at ${lastIndex}); try again shortly`
      : `the data kept changing: the index moved past every snapshot taken (${attempts} tries); try again or pass a smaller sample`,
    { revision: lastRevision, index_revision: lastIndex }, 1,
  );
}
