// Bulk import throughput: importData (src/admin/import.ts) against a raw unnest insert.
//
//   bun bench/import.ts
//
// What it does, in a scratch database pcl_bench_import_<pid> (dropped at the end, also on error
// or Ctrl-C):
//   1. baseline: a raw `insert … select from unnest(…)` of BENCH_USERS users, once into a copy of
//      the users table without triggers, once into `users` itself (with the change-log triggers);
//   2. importData per collection, one import each in dependency order: rows/s per collection; then, as a floor for the two big
//      referencing tables, the same memberships and credentials re-inserted raw by id (their
//      foreign-key checks, indexes and change-log triggers included; rolled back);
//   3. after truncating: everything in ONE importData call (users, groups, memberships, zones,
//      gates, schedules, grants, credentials), then the same data again (a no-op re-import);
//   4. after truncating: the same combined import once through HTTP (JSON body, in-process
//      app.handle of the real service, so parse + auth + validation + SQL).
//
// Knobs (env): BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test BENCH_USERS=100000
//   BENCH_GROUPS=100 BENCH_MEMBERSHIPS=200000 BENCH_CREDENTIALS=100000 BENCH_USER_GRANTS=10000
//   (grants of single users to gates, besides one grant per group) BENCH_HTTP=1 BENCH_KEEP_DB=0
import postgres from "postgres";
import { importData } from "../src/admin/import";
import type { ImportData } from "../src/admin/import-fields";
import { pgArray } from "../src/admin/import-sql";
import { loadConfig } from "../src/config";
import { createSql, type Sql } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { hashSecret, newSecret } from "../src/tokens";

const int = (name: string, def: number) => {
  const raw = process.env[name];
  const n = raw === undefined || raw === "" ? def : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${JSON.stringify(raw)}: expected a positive integer`);
  return n;
};
const PG_URL = process.env.BENCH_PG_URL || "postgres://postgres@127.0.0.1:5432/test";
const USERS = int("BENCH_USERS", 100_000);
const GROUPS = int("BENCH_GROUPS", 100);
const MEMBERSHIPS = Math.min(int("BENCH_MEMBERSHIPS", 200_000), USERS * GROUPS);
const CREDENTIALS = int("BENCH_CREDENTIALS", 100_000);
const USER_GRANTS = Math.min(int("BENCH_USER_GRANTS", 10_000), USERS);
const HTTP = process.env.BENCH_HTTP !== "0";
const KEEP = process.env.BENCH_KEEP_DB === "1";

const DB_NAME = `pcl_bench_import_${process.pid}`;
const dbUrl = (() => {
  const u = new URL(PG_URL);
  u.pathname = "/" + DB_NAME;
  return u.toString();
})();

// ---------------------------------------------------------------------------------------------
// Data

function generate(): ImportData {
  const pad = (i: number) => String(i).padStart(6, "0");
  const users = Array.from({ length: USERS }, (_, i) => ({ username: `user-${pad(i)}`, email: `user-${pad(i)}@example.com`, display_name: `User ${i}` }));
  // A tree (group k's parent is group ⌊(k-1)/10⌋), listed children first: parents come later.
  const groups = Array.from({ length: GROUPS }, (_, j) => {
    const k = GROUPS - 1 - j;
    return k === 0 ? { name: "group-000" } : { name: `group-${String(k).padStart(3, "0")}`, parent: `group-${String(Math.floor((k - 1) / 10)).padStart(3, "0")}` };
  });
  const memberships: { group: string; username: string }[] = [];
  const perUser = Math.ceil(MEMBERSHIPS / USERS);
  for (let i = 0; i < USERS && memberships.length < MEMBERSHIPS; i++) {
    for (let m = 0; m < perUser && memberships.length < MEMBERSHIPS; m++) {
      memberships.push({ group: `group-${String((i + m * 37) % GROUPS).padStart(3, "0")}`, username: users[i]!.username });
    }
  }
  const zones = Array.from({ length: 10 }, (_, z) => ({ name: `zone-${z}` }));
  const gates = Array.from({ length: 100 }, (_, g) => ({ id: `GATE_${String(g).padStart(3, "0")}`, name: `Gate ${g}`, zone: `zone-${g % 10}` }));
  const schedules = [{ name: "office", timezone: "Europe/Berlin", windows: [{ days: [1, 2, 3, 4, 5], start: "07:00", end: "19:00" }] }];
  const grants: Record<string, string>[] = groups.map((g, j) => ({ group: g.name, zone: `zone-${j % 10}`, ...(j % 2 ? { schedule: "office" } : {}) }));
  for (let i = 0; i < USER_GRANTS; i++) grants.push({ username: users[i]!.username, gate: gates[i % 100]!.id, ...(i % 3 ? {} : { effect: "deny" }) });
  const credentials = Array.from({ length: CREDENTIALS }, (_, i) => ({ username: users[i % USERS]!.username, kind: "card", secret: `BENCH-CARD-${pad(i)}` }));
  return { users, groups, memberships, zones, gates, schedules, grants, credentials };
}

// ---------------------------------------------------------------------------------------------
// Helpers

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const lines: string[] = [];
function report(what: string, rows: number, seconds: number) {
  const line = `${what.padEnd(60)} ${fmt(rows).padStart(9)} rows ${seconds.toFixed(3).padStart(8)} s ${fmt(rows / seconds).padStart(11)} rows/s`;
  lines.push(line);
  console.log(line);
}
async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await fn();
  return [v, (performance.now() - t0) / 1000];
}
const total = (d: ImportData) => Object.values(d).reduce((n, rows) => n + (rows?.length ?? 0), 0);

async function truncate(sql: Sql) {
  await sql`truncate users, groups, memberships, zones, gates, schedules, grants, credentials, devices, change_log, audit_log cascade`;
}

const ROLLBACK = new Error("rollback");
async function rawFloor(sql: Sql, table: string, columns: string, rows: number) {
  let seconds = 0;
  await sql.begin(async (tx) => {
    await tx.unsafe(`create temp table raw_rows on commit drop as select ${columns} from ${table}`);
    await tx.unsafe(`delete from ${table}`);
    const t0 = performance.now();
    await tx.unsafe(`insert into ${table} (${columns}) select ${columns} from raw_rows`);
    seconds = (performance.now() - t0) / 1000;
    throw ROLLBACK;
  }).catch((e) => {
    if (e !== ROLLBACK) throw e;
  });
  report(`baseline: raw insert of ${table} by id (FKs, triggers)`, rows, seconds);
}

// ---------------------------------------------------------------------------------------------

const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
let sql: Sql | null = null;
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  await sql?.end({ timeout: 2 }).catch(() => {});
  if (!KEEP) await admin.unsafe(`drop database if exists "${DB_NAME}" with (force)`).catch((e) => console.error("drop failed:", e.message));
  else console.log(`kept database ${dbUrl}`);
  await admin.end({ timeout: 2 }).catch(() => {});
}
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    void cleanup().finally(() => process.exit(130));
  });
}

const started = performance.now();
try {
  await admin.unsafe(`create database "${DB_NAME}"`);
  sql = createSql(dbUrl, { max: 4, statementTimeoutMs: 600_000 });
  await migrate(sql);
  const actor = { credentialId: null };
  const data = generate();
  console.log(`scratch database ${DB_NAME}; ${Object.entries(data).map(([c, rows]) => `${fmt(rows!.length)} ${c}`).join(", ")}\n`);

  // 1. Baselines: the same users, raw, no validation, no upsert, no merge.
  const names = data.users!.map((u) => u.username), emails = data.users!.map((u) => u.email), display = data.users!.map((u) => u.display_name);
  await sql`create table bench_users_raw (like users including defaults including constraints including indexes)`;
  {
    const [, s] = await timed(() => sql!`insert into bench_users_raw (username, email, display_name)
      select * from unnest(${pgArray(names)}::text[], ${pgArray(emails)}::text[], ${pgArray(display)}::text[])`);
    report("baseline: raw unnest insert, no triggers", USERS, s);
  }
  {
    const [, s] = await timed(() => sql!.begin((tx) => tx`insert into users (username, email, display_name)
      select * from unnest(${pgArray(names)}::text[], ${pgArray(emails)}::text[], ${pgArray(display)}::text[])`));
    report("baseline: raw unnest insert into users (triggers)", USERS, s);
  }
  await sql`drop table bench_users_raw`;
  await truncate(sql);

  // 2. Per collection, one import each.
  for (const c of ["users", "groups", "memberships", "zones", "gates", "schedules", "grants", "credentials"] as const) {
    const [w, s] = await timed(() => importData(sql!, actor, { [c]: data[c] }));
    report(`importData ${c}`, w.value.counts[c]!, s);
  }
  // The floor for the two big referencing tables: the same rows by id, a plain insert (with their
  // foreign keys, indexes and change-log triggers), in a transaction that is rolled back.
  await rawFloor(sql, "memberships", "group_id, user_id", MEMBERSHIPS);
  await rawFloor(sql, "credentials", "user_id, kind, secret_hash", CREDENTIALS);
  await truncate(sql);

  // 3. Everything in one import, then again (nothing changes: no writes, same revision).
  {
    const [w, s] = await timed(() => importData(sql!, actor, data));
    report("importData, all collections in one transaction", total(data), s);
    const [again, s2] = await timed(() => importData(sql!, actor, data));
    if (again.revision !== w.revision || Object.values(again.value.updated).some((n) => n !== 0)) throw new Error("re-import was not a no-op");
    report("importData again (no-op re-import)", total(data), s2);
    const [[check]] = await Promise.all([sql`select (select count(*) from users)::int as users, (select count(*) from memberships)::int as memberships,
                                                  (select count(*) from credentials)::int as credentials, (select count(*) from grants)::int as grants`]);
    console.log(`  in Postgres: ${JSON.stringify(check)}`);
  }

  // 4. Once through HTTP: JSON body → parse → auth → validation → SQL, in-process.
  if (HTTP) {
    await truncate(sql);
    const token = newSecret();
    await sql.begin(async (tx) => {
      const [u] = await tx`insert into users (username) values ('bench-admin') returning id`;
      await tx`insert into credentials (user_id, kind, scopes, secret_hash) values (${u!.id}, 'api', ${["admin"]}, ${hashSecret(token)})`;
    });
    const { startService } = await import("../src/service");
    const service = await startService(loadConfig({ LOG_LEVEL: "error", WORKERS: "1", PORT: "0" }), { databaseUrl: dbUrl, maintenance: false });
    try {
      const body = JSON.stringify(data);
      const [res, s] = await timed(async () => {
        const r = await service.app.handle(new Request("http://localhost/api/v1/admin/import", {
          method: "POST", body, headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        }));
        return { status: r.status, body: await r.json() as any };
      });
      if (res.status !== 200) throw new Error(`HTTP import answered ${res.status}: ${JSON.stringify(res.body)}`);
      report(`HTTP POST /api/v1/admin/import (${(body.length / 1048576).toFixed(1)} MiB JSON)`, total(data), s);
    } finally {
      await service.stop();
    }
  }
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await cleanup();
}
