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
export function graphParamsFromEnv(env: Record<string, string | undefined> = process.env, base: Readonly<GraphParams> = DEFAULT_GRAPH): GraphParams {
  const p: GraphParams = { ...base };
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
  mode: "fast" | "plain";
  /** Milliseconds per step (each table's INSERT, index builds, checks). */
  steps: Record<string, number>;
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

/** The tables the generator fills, parents before children. */
const GRAPH_TABLES = ["zones", "gates", "schedules", "groups", "users", "memberships", "grants", "credentials"] as const;
/** Big enough that dropping their secondary indexes during the load and building them after pays. */
const BIG_TABLES = ["users", "memberships", "grants", "credentials"];

export interface GenerateOptions {
  /** Credentials to create: numbers [from, to] (default: 1 … params.credentials). */
  credentialRange?: [number, number];
  /** Only the credentials (the rest of the graph exists already): see addCredentials. */
  credentialsOnly?: boolean;
  /**
   * "fast" (default when the role is a superuser): one transaction that takes its revision
   * explicitly, loads with triggers off (session_replication_role = replica: no per-row
   * foreign-key triggers, no change-log rows), drops the big tables' secondary indexes and
   * unreferenced unique constraints for the load and builds them after, then checks every foreign
   * key set-based (one anti-join each) before committing, and marks the change log as pruned
   * through that revision (it holds no rows for it: a node must load a snapshot, as any fresh node
   * does). "plain": the same INSERTs through the triggers (every row logged), as an admin bulk
   * write would. The graph — every row of every table, and one revision — is the same.
   */
  mode?: "fast" | "plain";
}

/** The INSERT … SELECT statements of the graph, in dependency order. */
function graphStatements(params: GraphParams, [c1, c2]: [number, number], credentialsOnly: boolean): Array<{ table: string; sql: string; args?: unknown[] }> {
  const { users: U, gates: N, zones: Z, groups: G, groupDepth, membershipsPerUser: M, grants: GR } = params;
  const perLevel = G > 0 ? Math.ceil(G / Math.max(1, groupDepth)) : 0;
  const out: Array<{ table: string; sql: string; args?: unknown[] }> = [];
  if (!credentialsOnly) {
    out.push({ table: "zones", sql: `
      insert into zones (id, name)
      select ${idSql("z_bench_", "i")}, 'bench zone ' || i from generate_series(1, ${Z}) i` });

    // 1 % locked, 1 % disabled; zone = round-robin, so every zone has about N/Z gates.
    out.push({ table: "gates", sql: `
      insert into gates (id, name, zone_id, mode, unlock_ms)
      select ${idSql("GATE_", "i")}, 'bench gate ' || i, ${idSql("z_bench_", "((i - 1) % " + Z + ") + 1")},
             case ${h("i", 1)} % 100 when 0 then 'locked' when 1 then 'disabled' else 'normal' end,
             500 + (i % 5) * 100
      from generate_series(1, ${N}) i` });

    out.push({ table: "schedules", sql: `
      insert into schedules (id, name, timezone, windows)
      select 's_bench_' || lpad(o::text, ${ID_WIDTH}, '0'), s->>'name', s->>'timezone', s->'windows'
      from jsonb_array_elements($1::text::jsonb) with ordinality as x(s, o)`, args: [JSON.stringify(SCHEDULES)] });

    // Groups in levels: group i > perLevel has parent i - perLevel, giving chains groupDepth long.
    // One statement: the self-referencing foreign key is checked at its end.
    if (G > 0) {
      out.push({ table: "groups", sql: `
        insert into groups (id, name, parent_id)
        select ${idSql("g_bench_", "i")}, 'bench group ' || i,
               case when i > ${perLevel} then ${idSql("g_bench_", `i - ${perLevel}`)} end
        from generate_series(1, ${G}) i` });
    }

    // 1 % inactive, 1 % whose validity has ended.
    out.push({ table: "users", sql: `
      insert into users (id, username, display_name, active, valid_until)
      select ${idSql("u_bench_", "i")}, 'bench_user_' || i, 'Bench User ' || i,
             ${h("i", 2)} % 100 <> 0,
             case when ${h("i", 2)} % 100 = 1 then now() - interval '1 day' end
      from generate_series(1, ${U}) i` });

    // M consecutive groups from a per-user start: distinct, spread over all levels.
    if (G > 0 && M > 0) {
      out.push({ table: "memberships", sql: `
        insert into memberships (group_id, user_id)
        select ${idSql("g_bench_", `((${h("u", 3)} + k) % ${G}) + 1`)}, ${idSql("u_bench_", "u")}
        from generate_series(1, ${U}) u, generate_series(0, ${M - 1}) k` });
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
      out.push({ table: "grants", sql: `
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
             lateral (select ${isUser} as u, ${h("j", 7)} % 100 as t, ${h("j", 9)} % 100 < ${params.denyPercent} as deny) x` });
    }
  }

  // Secrets are derivable (ids.ts secretFor); only their SHA-256 is stored, computed here.
  // Round-robin over users; 1 % revoked, 1 % expired.
  if (c2 >= c1) {
    out.push({ table: "credentials", sql: `
      insert into credentials (id, user_id, kind, label, secret_hash, expires_at, revoked_at)
      select ${idSql("c_bench_", "i")}, ${idSql("u_bench_", `((i - 1) % ${U}) + 1`)},
             case i % 10 when 0 then 'pin' when 1 then 'api' else 'card' end,
             'bench credential ' || i,
             encode(sha256(convert_to('${SECRET_PREFIX}' || lpad(i::text, ${SECRET_LENGTH - SECRET_PREFIX.length}, '0'), 'UTF8')), 'hex'),
             case when ${h("i", 13)} % 100 = 1 then now() - interval '1 day' end,
             case when ${h("i", 13)} % 100 = 0 then now() end
      from generate_series(${c1}, ${c2}) i` });
  }
  return out;
}

type Tx = import("postgres").TransactionSql<Record<string, never>>;

/** Drops the secondary indexes and unreferenced unique constraints of `tables`; answers how to rebuild them. */
async function dropForLoad(tx: Tx, tables: string[]): Promise<string[]> {
  const rebuild: string[] = [];
  const idx = await tx.unsafe<{ name: string; def: string }[]>(`
    select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as def
    from pg_index i
    where i.indrelid = any($1::text[]::regclass[])
      and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)`, [tables]);
  const uniq = await tx.unsafe<{ tbl: string; name: string; def: string }[]>(`
    select c.conrelid::regclass::text as tbl, c.conname as name, pg_get_constraintdef(c.oid) as def
    from pg_constraint c
    where c.conrelid = any($1::text[]::regclass[]) and c.contype = 'u'
      and not exists (select 1 from pg_constraint f where f.contype = 'f' and f.conindid = c.conindid)`, [tables]);
  // Regular-expression CHECKs cost Postgres ~11 µs a row (credentials.secret_hash ~
  // '^[0-9a-f]{64}$': 11 s per million rows, a third of the whole load). They are dropped for the
  // load and re-added NOT VALID (every new row is checked again); the loaded rows are checked by an
  // equivalent expression, set-based, in checkRegexChecks (0.8 s per million).
  const checks = await tx.unsafe<{ tbl: string; name: string; def: string }[]>(`
    select c.conrelid::regclass::text as tbl, c.conname as name, pg_get_constraintdef(c.oid) as def
    from pg_constraint c
    where c.conrelid = any($1::text[]::regclass[]) and c.contype = 'c' and pg_get_constraintdef(c.oid) ~ ' ~ '`, [tables]);
  for (const c of checks) {
    const m = /^(CHECK \(\((\w+) ~ '\^\[([0-9a-zA-Z-]+)\]\{(\d+)\}\$'::text\)\))( NOT VALID)?$/.exec(c.def);
    if (!m) continue; // a shape we cannot check more cheaply: leave it in force
    await tx.unsafe(`alter table ${c.tbl} drop constraint "${c.name}"`);
    rebuild.push(`alter table ${c.tbl} add constraint "${c.name}" ${m[1]} not valid`);
    rebuild.push(`--check ${c.tbl} ${m[2]} ${m[3]} ${m[4]} ${c.name}`);
  }
  for (const i of idx) {
    await tx.unsafe(`drop index ${i.name}`);
    rebuild.push(i.def);
  }
  for (const u of uniq) {
    await tx.unsafe(`alter table ${u.tbl} drop constraint "${u.name}"`);
    rebuild.push(`alter table ${u.tbl} add constraint "${u.name}" ${u.def}`);
  }
  return rebuild;
}

/** Every foreign key of `tables`, checked set-based (one anti-join each); throws naming the first broken one. */
async function checkForeignKeys(tx: Tx, tables: string[]): Promise<void> {
  const fks = await tx.unsafe<{ name: string; child: string; parent: string; ccols: string[]; pcols: string[] }[]>(`
    select c.conname as name, c.conrelid::regclass::text as child, c.confrelid::regclass::text as parent,
           array(select a.attname::text from unnest(c.conkey) with ordinality k(n, i)
                 join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.n order by k.i) as ccols,
           array(select a.attname::text from unnest(c.confkey) with ordinality k(n, i)
                 join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.n order by k.i) as pcols
    from pg_constraint c where c.contype = 'f' and c.conrelid = any($1::text[]::regclass[])`, [tables]);
  for (const fk of fks) {
    const notNull = fk.ccols.map((c) => `x."${c}" is not null`).join(" and ");
    const match = fk.ccols.map((c, i) => `p."${fk.pcols[i]}" = x."${c}"`).join(" and ");
    const [r] = await tx.unsafe<{ bad: boolean }[]>(
      `select exists (select 1 from ${fk.child} x where ${notNull} and not exists (select 1 from ${fk.parent} p where ${match})) as bad`);
    if (r!.bad) throw new Error(`generated graph breaks foreign key ${fk.name} (${fk.child} → ${fk.parent})`);
  }
}

async function isSuperuser(sql: Sql): Promise<boolean> {
  const [r] = await sql<{ s: boolean }[]>`select rolsuper as s from pg_roles where rolname = current_user`;
  return r?.s === true;
}

/**
 * Fills an empty, migrated database with the graph, in one transaction (one revision). Each table
 * is one INSERT … SELECT from generate_series (set-based; no statement per row). See
 * GenerateOptions.mode for the fast load (the default for a superuser) and the plain one.
 */
export async function generateGraph(sql: Sql, params: GraphParams, opts: GenerateOptions = {}): Promise<GraphStats> {
  const problems = graphProblems(params);
  if (problems.length) throw new Error("invalid graph parameters: " + problems.join("; "));
  const range = opts.credentialRange ?? [1, params.credentials];
  const mode = opts.mode ?? (process.env.BENCH_GRAPH_MODE === "plain" ? "plain" : (await isSuperuser(sql)) ? "fast" : "plain");
  const statements = graphStatements(params, range, opts.credentialsOnly === true);
  const tables = [...new Set(statements.map((s) => s.table))];
  const t0 = performance.now();
  const steps: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await f();
    } finally {
      steps[name] = Math.round(performance.now() - t);
    }
  };

  const revision = await sql.begin(async (tx) => {
    await tx.unsafe(`set local statement_timeout = 0`);
    let rebuild: string[] = [];
    let rev = 0;
    if (mode === "fast") {
      await tx.unsafe(`set local maintenance_work_mem = '512MB'`);
      await tx.unsafe(`set local session_replication_role = replica`);
      const [r] = await tx.unsafe<{ r: number }[]>(`select pcl_tx_revision() as r`); // takes the revision lock, notifies at commit
      rev = Number(r!.r);
      rebuild = await timed("drop indexes", () => dropForLoad(tx, tables.filter((t) => BIG_TABLES.includes(t))));
    }
    for (const s of statements) await timed(s.table, () => tx.unsafe(s.sql, (s.args ?? []) as any[]));
    if (mode === "fast") {
      await timed("build indexes", async () => {
        for (const r of rebuild) {
          const m = /^--check (\S+) (\w+) (\S+) (\d+) (\S+)$/.exec(r);
          if (!m) {
            await tx.unsafe(r);
            continue;
          }
          // col ~ '^[set]{n}$'  ⇔  length(col) = n and col !~ '[^set]'
          const [, tbl, col, set, n, name] = m;
          const [bad] = await tx.unsafe<{ bad: boolean }[]>(
            `select exists (select 1 from ${tbl} where not (length("${col}") = ${n} and "${col}" !~ '[^${set}]')) as bad`);
          if (bad!.bad) throw new Error(`generated graph breaks check ${name} on ${tbl}`);
        }
      });
      await timed("check foreign keys", () => checkForeignKeys(tx, tables));
      // The log holds no row of this revision: a node behind it must load a snapshot.
      await tx.unsafe(`update change_log_state set pruned_through = greatest(pruned_through, $1)`, [rev]);
    }
    const [r] = await tx<{ n: number }[]>`select n from pcl_revision`;
    return r!.n;
  });

  await timed("analyze", () => sql.unsafe(`analyze ${GRAPH_TABLES.join(", ")}`));
  const [counts] = await sql.unsafe(`
    select (select count(*) from users)::int as users, (select count(*) from groups)::int as groups,
           (select count(*) from memberships)::int as memberships, (select count(*) from zones)::int as zones,
           (select count(*) from gates)::int as gates, (select count(*) from schedules)::int as schedules,
           (select count(*) from grants)::int as grants, (select count(*) from credentials)::int as credentials,
           (select count(*) from change_log)::int as change_log`);
  return { params, revision, rows: counts as Record<string, number>, ms: Math.round(performance.now() - t0), mode, steps };
}

/**
 * Adds credentials [from, to] of the graph `params` describes to a database that holds the rest of
 * it (generated with credentialRange [1, from - 1]): one more transaction, one more revision.
 * With `generateGraph(…, { credentialRange: [1, k] })` first, the database is then equal to one
 * generated whole (the revision aside), and a copy of the smaller one can be kept (CREATE DATABASE
 * … TEMPLATE) without generating the rest of the graph twice.
 */
export function addCredentials(sql: Sql, params: GraphParams, from: number, to: number, mode?: "fast" | "plain"): Promise<GraphStats> {
  return generateGraph(sql, params, { credentialRange: [from, to], credentialsOnly: true, mode });
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

/**
 * Write `i` of a burst like an admin's (one UPDATE a transaction): even ones relabel a credential,
 * odd ones move a user grant's end (the index recompiles that user). `grantIds`: user grants.
 */
export function burstWrite(sql: Sql, i: number, credentials: number, grantIds: string[]): Promise<unknown> {
  if (i % 2 === 0) return sql`update credentials set label = ${"burst " + i} where id = ${credentialId(((i * 7919) % credentials) + 1)}`;
  return sql`update grants set valid_until = ${new Date(Date.now() + 86_400_000 * (1 + (i % 30)))} where id = ${grantIds[i % grantIds.length]!}`;
}
