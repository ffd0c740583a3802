// Where a cold start (and a full rebuild) spends its time, in-process, with the service's own code:
// loadIndex (what the service's build worker runs: columns as text chunks over two connections,
// interned straight into the index), and for comparison loadSnapshot (postgres.js parsing rows
// into records) then PermissionIndex.fromSnapshot; then the heap after a full GC holding the
// index only.
//
//   DATABASE_URL=postgres://… bun bench/coldstart.ts      prints one JSON line
import { heapStats } from "bun:jsc";
import { createSql } from "../src/db/client";
import { loadSnapshot } from "../src/db/permissions";
import { loadIndex } from "../src/db/snapshot-load";
import { PermissionIndex } from "../src/index/permission-index";

export interface ColdStartBreakdown {
  /** The service's path (src/feed/index-worker.ts): load and build in one. */
  loadIndexMs: number;
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
  await loadIndex(sql);
  const loadIndexMs = performance.now() - t;
  Bun.gc(true);
  t = performance.now();
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
  const r: ColdStartBreakdown = { loadIndexMs, loadSnapshotMs, fromSnapshotMs, indexHeapBytes, rows };
  console.log(JSON.stringify(r));
  process.exit(0);
}
