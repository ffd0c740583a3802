// Forward-only numbered migrations from sql/, applied in order under an advisory lock (so several
// processes starting at once apply each file exactly once) and recorded in schema_migrations.
// A few dozen lines of our own rather than a tool: plain SQL files need nothing more.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Sql } from "./client";

const LOCK_KEY = 0x70636c; // "pcl"
export const SQL_DIR = join(import.meta.dir, "..", "..", "sql");

export async function migrate(sql: Sql, dir = SQL_DIR): Promise<string[]> {
  const files = readdirSync(dir).filter((f) => /^\d{4}_.+\.sql$/.test(f)).sort();
  const applied: string[] = [];
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${LOCK_KEY})`;
    await tx`create table if not exists schema_migrations (
      version text primary key, applied_at timestamptz not null default now())`;
    const done = new Set((await tx<{ version: string }[]>`select version from schema_migrations`).map((r) => r.version));
    for (const f of files) {
      if (done.has(f)) continue;
      await tx.unsafe(readFileSync(join(dir, f), "utf8"));
      await tx`insert into schema_migrations (version) values (${f})`;
      applied.push(f);
    }
  });
  return applied;
}
