// Where a cold start (and a full rebuild) spends its time, in-process, with the service's own code:
// loadSnapshot (Postgres queries + postgres.js parsing rows into records, async) and then
// PermissionIndex.fromSnapshot (synchronous: while it runs, the event loop serves nothing — in a
// live rebuild that is the stretch without answers), then the heap after a full GC with and
// without the snapshot's records.
//
//   DATABASE_URL=postgres://… bun bench/coldstart.ts      prints one JSON line
import { heapStats } from "bun:jsc";
import { createSql } from "../src/db/client";
import { loadSnapshot } from "../src/db/permissions";
import { PermissionIndex } from "../src/index/permission-index";

export interface ColdStartBreakdown {
  loadSnapshotMs: number;
  fromSnapshotMs: number;
  /** Heap after a full GC holding the index only (the snapshot dropped). */
  indexHeapBytes: number;
  rows: Record<string, number>;
}

if (import.meta.main) {
  const sql = createSql(process.env.DATABASE_URL!, { max: 10, statementTimeoutMs: 0 });
  Bun.gc(true);
  const base = heapStats().heapSize;
  let t = performance.now();
  let snap: Awaited<ReturnType<typeof loadSnapshot>> | null = await loadSnapshot(sql);
  const loadSnapshotMs = performance.now() - t;
  const rows = Object.fromEntries(Object.entries(snap).filter(([, v]) => Array.isArray(v)).map(([k, v]) => [k, (v as unknown[]).length]));
  t = performance.now();
  const ix = PermissionIndex.fromSnapshot(snap);
  const fromSnapshotMs = performance.now() - t;
  snap = null;
  Bun.gc(true);
  const indexHeapBytes = heapStats().heapSize - base;
  (globalThis as { keep?: unknown }).keep = ix;
  await sql.end({ timeout: 2 });
  const r: ColdStartBreakdown = { loadSnapshotMs, fromSnapshotMs, indexHeapBytes, rows };
  console.log(JSON.stringify(r));
  process.exit(0);
}
