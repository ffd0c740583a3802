// What a burst of admin writes costs Postgres, part by part: the bench's burst (one UPDATE per
// transaction, half of them a credential's label, half a user grant's validity, 4 connections) run
// against a scratch database with the change-feed triggers as they are, and again with parts of
// them switched off or rewritten, rounds alternating. The figure is the CPU of the writers' backends
// (/proc/<pid>/stat) per transaction, median of the rounds, with the spread.
//
//   bun bench/burst-pg.ts
// knobs: BENCH_TX=4000 (transactions per variant and round), BENCH_ROUNDS=3
import type { Sql } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { burstWrite, DEFAULT_GRAPH, generateGraph } from "./graph";
import { createScratchDb, endSql, fmtInt, int, loadSettings, median, procTicks, runMain, say, setPg, trackedSql } from "./harness";

interface Variant {
  name: string;
  what: string;
  /** Applied once, after the graph is loaded (each variant has a database of its own). */
  ddl: string[];
}

const VARIANTS: Variant[] = [
  { name: "as-is", what: "the change-feed triggers as migrated", ddl: [] },
  {
    name: "no-feed",
    what: "no change-log triggers (the UPDATE and its commit alone)",
    ddl: ["alter table credentials disable trigger credentials_log_upd", "alter table grants disable trigger grants_log_upd"],
  },
  {
    name: "static",
    what: "the change-log trigger as static SQL (plans kept) instead of EXECUTE format(...)",
    ddl: [
      `create function pcl_log_changed_ids() returns trigger language plpgsql as $$
       begin
         if not exists (select 1 from changed_rows) then return null; end if;
         insert into change_log (revision, entity, op, key) select pcl_tx_revision(), tg_argv[0], lower(tg_op), id from changed_rows;
         return null;
       end $$`,
      "drop trigger credentials_log_upd on credentials",
      "create trigger credentials_log_upd after update on credentials referencing new table as changed_rows for each statement execute function pcl_log_changed_ids('credential')",
      "drop trigger grants_log_upd on grants",
      "create trigger grants_log_upd after update on grants referencing new table as changed_rows for each statement execute function pcl_log_changed_ids('grant')",
    ],
  },
  {
    name: "no-derived",
    what: "without the derived-sessions trigger on credentials",
    ddl: ["alter table credentials disable trigger credentials_end_derived_sessions"],
  },
];

async function burst(url: string, n: number, grants: string[], credentials: number): Promise<{ ticks: number; ms: number }> {
  const w = trackedSql(url, { max: 4 });
  // One backend per connection: warm them all and learn their pids.
  const pids = new Set<number>();
  await Promise.all(Array.from({ length: 4 }, () => w.reserve().then(async (c) => {
    pids.add(Number((await c`select pg_backend_pid() as p`)[0]!.p));
    c.release();
  })));
  const before = [...pids].reduce((s, p) => s + procTicks(p), 0);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < n) {
      const i = next++;
      await burstWrite(w, i, credentials, grants);
    }
  }));
  const ms = performance.now() - t0;
  const after = [...pids].reduce((s, p) => s + procTicks(p), 0);
  await endSql(w);
  return { ticks: after - before, ms };
}

async function main(): Promise<void> {
  const settings = loadSettings();
  const n = int("BENCH_TX", 4000);
  const rounds = int("BENCH_ROUNDS", 3);
  setPg(settings.pgUrl, settings.keepDb);
  const dbs: Array<{ v: Variant; url: string; grants: string[] }> = [];
  for (const v of VARIANTS) {
    const url = await createScratchDb(`pcl_burstpg_${v.name.replace(/-/g, "_")}_${process.pid}`);
    const sql: Sql = trackedSql(url, { max: 1 });
    await migrate(sql);
    await generateGraph(sql, DEFAULT_GRAPH);
    for (const d of v.ddl) await sql.unsafe(d);
    const grants = (await sql<{ id: string }[]>`select id from grants where subject_user_id is not null order by id limit 2000`).map((r) => r.id);
    await sql`vacuum analyze`.catch(() => {});
    await endSql(sql);
    dbs.push({ v, url, grants });
  }
  const per: Record<string, number[]> = {};
  const wall: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r++) {
    const order = dbs.map((_, i) => dbs[(i + r) % dbs.length]!);
    for (const d of order) {
      const { ticks, ms } = await burst(d.url, n, d.grants, DEFAULT_GRAPH.credentials);
      (per[d.v.name] ??= []).push((ticks * 10_000) / n); // µs per transaction (a tick is 10 ms)
      (wall[d.v.name] ??= []).push((ms * 1000) / n);
    }
  }
  say(`\nPostgres CPU per burst transaction (writers' backends), ${fmtInt(n)} transactions × ${rounds} rounds, 4 connections`);
  for (const d of dbs) {
    const p = per[d.v.name]!;
    say(`  ${d.v.name.padEnd(11)} ${median(p).toFixed(0).padStart(5)} µs CPU (${Math.min(...p).toFixed(0)}–${Math.max(...p).toFixed(0)}), wall ${median(wall[d.v.name]!).toFixed(0)} µs a transaction — ${d.v.what}`);
  }
}

await runMain(main, 20 * 60_000);
