// A synthetic permission graph for benchmarks, generated with set-based SQL (INSERT … SELECT from
// generate_series; no statement per row) inside ONE transaction, so the whole graph is a single
// revision. Deterministic: the same parameters give the same graph (pseudo-randomness comes from
// hashint8extended(i, salt), not random()).
//
// Reuse for bigger runs: `await generateGraph(sql, graphParamsFromEnv())` with e.g.
// BENCH_USERS=500000 BENCH_CREDENTIALS=1000000.
import type { Sql } from "../src/db/client";
import { ID_WIDTH, SECRET_LENGTH, SECRET_PREFIX, credentialId, gateId, secretFor } from "./ids";

export interface GraphParams {
  users: number;
  gates: number;
  zones: number;
  groups: number;
  /** Length of the parent chains: a group at level d has d ancestors (0 = flat). */
  groupDepth: number;
  membershipsPerUser: number;
  grants: number;
  credentials: number;
  /** Percent of grants whose subject is a user (the rest name a group). */
  userGrantPercent: number;
  /** Percent of grants that deny. */
  denyPercent: number;
  /** Percent of grants limited by a schedule. */
  schedulePercent: number;
}

export const DEFAULT_GRAPH: Readonly<GraphParams> = Object.freeze({
  users: 10_000,
  gates: 1_000,
  zones: 50,
  groups: 100,
  groupDepth: 4,
  membershipsPerUser: 2,
  grants: 50_000,
  credentials: 20_000,
  userGrantPercent: 90,
  denyPercent: 5,
  schedulePercent: 10,
});

const ENV_NAMES: Record<keyof GraphParams, string> = {
  users: "BENCH_USERS",
  gates: "BENCH_GATES",
  zones: "BENCH_ZONES",
  groups: "BENCH_GROUPS",
  groupDepth: "BENCH_GROUP_DEPTH",
  membershipsPerUser: "BENCH_MEMBERSHIPS_PER_USER",
  grants: "BENCH_GRANTS",
  credentials: "BENCH_CREDENTIALS",
  userGrantPercent: "BENCH_USER_GRANT_PERCENT",
  denyPercent: "BENCH_DENY_PERCENT",
  schedulePercent: "BENCH_SCHEDULE_PERCENT",
};

/** Parameters from BENCH_* variables over the defaults; throws listing every bad value. */
export function graphParamsFromEnv(env: Record<string, string | undefined> = process.env): GraphParams {
  const p: GraphParams = { ...DEFAULT_GRAPH };
  const problems: string[] = [];
  for (const [key, name] of Object.entries(ENV_NAMES) as Array<[keyof GraphParams, string]>) {
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    const n = Number(raw.replace(/_/g, ""));
    if (!Number.isInteger(n) || n < 0) problems.push(`${name}=${JSON.stringify(raw)}: expected a non-negative integer`);
    else p[key] = n;
  }
  problems.push(...graphProblems(p).map((m) => `graph: ${m}`));
  if (problems.length) throw new Error("invalid benchmark parameters:\n  - " + problems.join("\n  - "));
  return p;
}

function graphProblems(p: GraphParams): string[] {
  const out: string[] = [];
  if (p.users < 1) out.push("users must be ≥ 1");
  if (p.gates < 1) out.push("gates must be ≥ 1");
  if (p.zones < 1) out.push("zones must be ≥ 1");
  if (p.gates < p.zones) out.push("gates must be ≥ zones (every zone has gates)");
  if (p.credentials < 1) out.push("credentials must be ≥ 1");
  if (p.membershipsPerUser > p.groups) out.push("membershipsPerUser must not exceed groups");
  if (p.groups === 0 && p.userGrantPercent < 100 && p.grants > 0) out.push("group grants need groups (or BENCH_USER_GRANT_PERCENT=100)");
  for (const k of ["userGrantPercent", "denyPercent", "schedulePercent"] as const) {
    if (p[k] > 100) out.push(`${k} must be 0..100`);
  }
  if (Math.max(p.users, p.gates, p.zones, p.groups, p.credentials, p.grants) >= 10 ** ID_WIDTH) out.push("too many rows for the id width");
  return out;
}

export interface GraphStats {
  params: GraphParams;
  revision: number;
  rows: Record<string, number>;
  ms: number;
}

/** Schedules the grants draw from: several timezones, a night window past midnight, a weekend one. */
const SCHEDULES = [
  { name: "office hours (Berlin)", timezone: "Europe/Berlin", windows: [{ days: [1, 2, 3, 4, 5], start: "07:00", end: "19:00" }] },
  { name: "night shift (New York)", timezone: "America/New_York", windows: [{ days: [1, 2, 3, 4, 5], start: "22:00", end: "06:00" }] },
  { name: "weekend (Tokyo)", timezone: "Asia/Tokyo", windows: [{ days: [6, 7], start: "00:00", end: "24:00" }] },
  { name: "business (Sydney)", timezone: "Australia/Sydney", windows: [{ days: [1, 2, 3, 4, 5], start: "09:00", end: "17:00" }, { days: [6], start: "10:00", end: "14:00" }] },
  { name: "always (UTC)", timezone: "UTC", windows: [{ days: [1, 2, 3, 4, 5, 6, 7], start: "00:00", end: "24:00" }] },
];

/** SQL: a stable pseudo-random non-negative integer for row `expr` and `salt`. */
const h = (expr: string, salt: number) => `(hashint8extended((${expr})::int8, ${salt}::int8) & 2147483647)`;
/** SQL twins of ids.ts. */
const idSql = (prefix: string, expr: string) => `'${prefix}' || lpad((${expr})::text, ${ID_WIDTH}, '0')`;

/**
 * Fills an empty, migrated database with the graph, in one transaction (one revision). Memberships,
 * grants and credentials are each one INSERT … SELECT; the triggers log every row to change_log.
 */
export async function generateGraph(sql: Sql, params: GraphParams): Promise<GraphStats> {
  const problems = graphProblems(params);
  if (problems.length) throw new Error("invalid graph parameters: " + problems.join("; "));
  const { users: U, gates: N, zones: Z, groups: G, groupDepth, membershipsPerUser: M, grants: GR, credentials: C } = params;
  const perLevel = G > 0 ? Math.ceil(G / Math.max(1, groupDepth)) : 0;
  const t0 = performance.now();

  const revision = await sql.begin(async (tx) => {
    await tx.unsafe(`set local statement_timeout = 0`);
    await tx.unsafe(`
      insert into zones (id, name)
      select ${idSql("z_bench_", "i")}, 'bench zone ' || i from generate_series(1, ${Z}) i`);

    // 1 % locked, 1 % disabled; zone = round-robin, so every zone has about N/Z gates.
    await tx.unsafe(`
      insert into gates (id, name, zone_id, mode, unlock_ms)
      select ${idSql("GATE_", "i")}, 'bench gate ' || i, ${idSql("z_bench_", "((i - 1) % " + Z + ") + 1")},
             case ${h("i", 1)} % 100 when 0 then 'locked' when 1 then 'disabled' else 'normal' end,
             500 + (i % 5) * 100
      from generate_series(1, ${N}) i`);

    await tx.unsafe(`
      insert into schedules (id, name, timezone, windows)
      select 's_bench_' || lpad(o::text, ${ID_WIDTH}, '0'), s->>'name', s->>'timezone', s->'windows'
      from jsonb_array_elements($1::text::jsonb) with ordinality as x(s, o)`, [JSON.stringify(SCHEDULES)]);

    // Groups in levels: group i > perLevel has parent i - perLevel, giving chains groupDepth long.
    // One statement: the self-referencing foreign key is checked at its end.
    if (G > 0) {
      await tx.unsafe(`
        insert into groups (id, name, parent_id)
        select ${idSql("g_bench_", "i")}, 'bench group ' || i,
               case when i > ${perLevel} then ${idSql("g_bench_", `i - ${perLevel}`)} end
        from generate_series(1, ${G}) i`);
    }

    // 1 % inactive, 1 % whose validity has ended.
    await tx.unsafe(`
      insert into users (id, username, display_name, active, valid_until)
      select ${idSql("u_bench_", "i")}, 'bench_user_' || i, 'Bench User ' || i,
             ${h("i", 2)} % 100 <> 0,
             case when ${h("i", 2)} % 100 = 1 then now() - interval '1 day' end
      from generate_series(1, ${U}) i`);

    // M consecutive groups from a per-user start: distinct, spread over all levels.
    if (G > 0 && M > 0) {
      await tx.unsafe(`
        insert into memberships (group_id, user_id)
        select ${idSql("g_bench_", `((${h("u", 3)} + k) % ${G}) + 1`)}, ${idSql("u_bench_", "u")}
        from generate_series(1, ${U}) u, generate_series(0, ${M - 1}) k`);
    }

    // Subjects: userGrantPercent users, else groups. A user grant names any gate (85 %) or zone.
    // A group grant stays within the group's "site" — 3 zones starting at zone g mod Z — and names
    // one of those zones (60 %) or a gate in them, so a user reaches part of the building, not all
    // of it. denyPercent deny (a group deny names one gate — "not the server room" — never a whole
    // zone); schedulePercent scheduled; 1 % expired, 1 % not yet valid.
    if (GR > 0) {
      const isUser = `${h("j", 5)} % 100 < ${params.userGrantPercent}`;
      const grp = `(${h("j", 6)} % ${Math.max(G, 1)} + 1)`;
      const siteZone = `((${grp} - 1 + ${h("j", 8)} % 3) % ${Z} + 1)`;
      const perZone = Math.floor(N / Z);
      await tx.unsafe(`
        insert into grants (id, subject_user_id, subject_group_id, target_gate_id, target_zone_id,
                            effect, schedule_id, valid_from, valid_until)
        select ${idSql("gr_bench_", "j")},
               case when u then ${idSql("u_bench_", `${h("j", 6)} % ${U} + 1`)} end,
               case when not u then ${idSql("g_bench_", grp)} end,
               case when u and t < 85 then ${idSql("GATE_", `${h("j", 8)} % ${N} + 1`)}
                    when not u and (t < 40 or deny) then ${idSql("GATE_", `${siteZone} + ${Z} * (${h("j", 14)} % ${perZone})`)} end,
               case when u and t >= 85 then ${idSql("z_bench_", `${h("j", 8)} % ${Z} + 1`)}
                    when not u and not (t < 40 or deny) then ${idSql("z_bench_", siteZone)} end,
               case when deny then 'deny' else 'allow' end,
               case when ${h("j", 10)} % 100 < ${params.schedulePercent}
                    then 's_bench_' || lpad((${h("j", 11)} % ${SCHEDULES.length} + 1)::text, ${ID_WIDTH}, '0') end,
               case when ${h("j", 12)} % 100 = 1 then now() + interval '1 day' end,
               case when ${h("j", 12)} % 100 = 0 then now() - interval '1 day' end
        from generate_series(1, ${GR}) j,
             lateral (select ${isUser} as u, ${h("j", 7)} % 100 as t, ${h("j", 9)} % 100 < ${params.denyPercent} as deny) x`);
    }

    // Secrets are derivable (ids.ts secretFor); only their SHA-256 is stored, computed here.
    // Round-robin over users; 1 % revoked, 1 % expired.
    await tx.unsafe(`
      insert into credentials (id, user_id, kind, label, secret_hash, expires_at, revoked_at)
      select ${idSql("c_bench_", "i")}, ${idSql("u_bench_", `((i - 1) % ${U}) + 1`)},
             case i % 10 when 0 then 'pin' when 1 then 'api' else 'card' end,
             'bench credential ' || i,
             encode(sha256(convert_to('${SECRET_PREFIX}' || lpad(i::text, ${SECRET_LENGTH - SECRET_PREFIX.length}, '0'), 'UTF8')), 'hex'),
             case when ${h("i", 13)} % 100 = 1 then now() - interval '1 day' end,
             case when ${h("i", 13)} % 100 = 0 then now() end
      from generate_series(1, ${C}) i`);

    const [r] = await tx<{ n: number }[]>`select n from pcl_revision`;
    return r!.n;
  });

  await sql.unsafe(`analyze`);
  const [counts] = await sql.unsafe(`
    select (select count(*) from users)::int as users, (select count(*) from groups)::int as groups,
           (select count(*) from memberships)::int as memberships, (select count(*) from zones)::int as zones,
           (select count(*) from gates)::int as gates, (select count(*) from schedules)::int as schedules,
           (select count(*) from grants)::int as grants, (select count(*) from credentials)::int as credentials,
           (select count(*) from change_log)::int as change_log`);
  return { params, revision, rows: counts as Record<string, number>, ms: Math.round(performance.now() - t0) };
}

/** The SQL-side hashes must equal what src/tokens.ts hashSecret computes; checks a few. */
export async function checkSecretHashes(sql: Sql, credentials: number, hash: (s: string) => string): Promise<void> {
  const ns = [...new Set([1, 2, Math.ceil(credentials / 2), credentials])];
  const rows = await sql<{ id: string; secret_hash: string }[]>`
    select id, secret_hash from credentials where id = any(${ns.map(credentialId)})`;
  const byId = new Map(rows.map((r) => [r.id, r.secret_hash]));
  for (const n of ns) {
    const want = hash(secretFor(n));
    const got = byId.get(credentialId(n));
    if (got !== want) throw new Error(`credential ${n}: SQL secret_hash ${got} ≠ hashSecret ${want}`);
  }
}

export interface VerifyPair {
  token: string;
  gate_id: string;
}

/**
 * `count` verify requests over many (token, gate) pairs, deterministic. Per 50: 1 unknown token;
 * of the rest about 60 % name a gate the credential's user holds some grant for (directly, through
 * a zone, or through a direct group: these come out granted, denied, outside_schedule …) and 40 %
 * a random gate (mostly no_grant). Credentials are drawn over the whole range.
 */
export async function sampleVerifyPairs(sql: Sql, params: GraphParams, count: number): Promise<VerifyPair[]> {
  const { users: U, gates: N, credentials: C } = params;
  const rows = await sql.unsafe<{ k: number; cred: number; granted_gate: string | null }[]>(`
    with pick as (
      select k, ${h("k", 101)} % ${C} + 1 as cred from generate_series(1, ${count}) k
    ), p as (
      select k, cred, ${idSql("u_bench_", `((cred - 1) % ${U}) + 1`)} as uid from pick
    )
    select p.k::int, p.cred::int, (
      select t.gate from (
        select g.target_gate_id as gate from grants g
        where g.subject_user_id = p.uid and g.target_gate_id is not null
        union all
        select ga.id from grants g join gates ga on ga.zone_id = g.target_zone_id
        where g.subject_user_id = p.uid
        union all
        select coalesce(g.target_gate_id, ga.id) from memberships m
          join grants g on g.subject_group_id = m.group_id
          left join gates ga on ga.zone_id = g.target_zone_id
        where m.user_id = p.uid
      ) t where t.gate is not null
      order by hashint8extended(p.k, hashtext(t.gate)) limit 1
    ) as granted_gate
    from p order by p.k`);
  return rows.map((r) => {
    const k = r.k;
    if (k % 50 === 0) return { token: `pcl_bench_unknown_${String(k).padStart(29, "0")}`, gate_id: gateId((k % N) + 1) };
    const random = gateId((Number(Bun.hash.wyhash(String(k))) % N) + 1);
    const gate = k % 10 < 6 && r.granted_gate ? r.granted_gate : random;
    return { token: secretFor(r.cred), gate_id: gate };
  });
}
