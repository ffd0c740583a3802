// Runs in a Bun Worker: loads a snapshot over its own connection straight into the compact
// index (db/snapshot-load.ts) and hands its buffers to the serving thread by transfer (moved, not
// copied). The serving thread never parses a snapshot row or builds a table, so a rebuild of a
// million credentials costs it a few milliseconds, not seconds — and the load's garbage dies with
// this thread's heap.
import { createSql } from "../db/client";
import { loadIndex } from "../db/snapshot-load";
import { transferables } from "../index/index-parts";
import { lowerThreadPriority } from "./thread-priority";

declare const self: Worker;

export interface BuildRequest {
  url: string;
  /** Nice value for this thread: a rebuild under load yields the core to the verifies. */
  nice: number;
}

self.onmessage = async (ev: MessageEvent<BuildRequest>) => {
  const { url, nice } = ev.data;
  if (nice > 0) lowerThreadPriority(nice);
  // One connection: this thread's parsing is the bottleneck, not Postgres; a second connection
  // (loadIndex can share the snapshot over two) measured no faster unpinned and slower with the
  // process pinned to one core (14 s against 9 s at 1M, machine loaded).
  const sql = createSql(url, { max: 1, statementTimeoutMs: 300_000, applicationName: "portcullis-index-build" });
  try {
    const t0 = performance.now();
    const loaded = await loadIndex(sql);
    const parts = loaded.index.toParts();
    // The rows are interned as they arrive: "build" is the last step, lists and closures.
    const timings = { loadMs: performance.now() - t0 - loaded.finishMs, buildMs: loaded.finishMs };
    self.postMessage({ ok: true, parts, timings }, transferables(parts));
  } catch (e) {
    self.postMessage({ ok: false, error: e instanceof Error ? `${e.message}` : String(e), code: (e as { code?: string })?.code });
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
};
