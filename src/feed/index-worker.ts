// Runs in a Bun Worker: loads a snapshot over its own connection, builds the compact index and
// hands its buffers to the serving thread by transfer (moved, not copied). The serving thread
// never parses a snapshot row or builds a table, so a rebuild of a million credentials costs it
// a few milliseconds, not seconds — and the rows' garbage dies with this thread's heap.
import { createSql } from "../db/client";
import { loadSnapshot } from "../db/permissions";
import { PermissionIndex, transferables } from "../index/permission-index";
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
  const sql = createSql(url, { max: 1, statementTimeoutMs: 300_000, applicationName: "portcullis-index-build" });
  try {
    const t0 = performance.now();
    const snapshot = await loadSnapshot(sql);
    const t1 = performance.now();
    const parts = PermissionIndex.fromSnapshot(snapshot).toParts();
    const timings = { loadMs: t1 - t0, buildMs: performance.now() - t1 };
    self.postMessage({ ok: true, parts, timings }, transferables(parts));
  } catch (e) {
    self.postMessage({ ok: false, error: e instanceof Error ? `${e.message}` : String(e), code: (e as { code?: string })?.code });
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
};
