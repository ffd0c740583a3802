// Housekeeping, at start and hourly: daily event partitions created a week ahead, partitions past
// the retention dropped whole (a cheap DROP, not a DELETE), and the change log pruned. One
// process at a time does it (advisory lock); the others skip.
import type { Sql } from "./client";
import { log } from "../log";
import { withTimeout } from "../timeout";

const LOCK_KEY = 0x70636d; // "pcm"

export interface MaintenanceResult {
  partitionsCreated: number;
  partitionsDropped: number;
  changeLogPrunedThrough: number;
}

export async function runMaintenance(sql: Sql, eventRetentionDays: number, changeLogRetentionMs: number): Promise<MaintenanceResult | null> {
  const reserved = await sql.reserve();
  try {
    const { locked } = (await reserved`select pg_try_advisory_lock(${LOCK_KEY}) as locked`)[0]!;
    if (!locked) return null;
    try {
      const { made } = (await reserved`select pcl_ensure_event_partitions(1, 7) as made`)[0]!;
      const { dropped } = (await reserved`select pcl_drop_event_partitions(${eventRetentionDays}) as dropped`)[0]!;
      const { through } = (await reserved`select pcl_prune_change_log(${`${Math.floor(changeLogRetentionMs / 1000)} seconds`}::interval) as through`)[0]!;
      await reserved`delete from nodes where heartbeat_at < now() - interval '1 day'`;
      const r = { partitionsCreated: made, partitionsDropped: dropped, changeLogPrunedThrough: through };
      if (made || dropped || through) log.info("maintenance", r as unknown as Record<string, unknown>);
      return r;
    } finally {
      await reserved`select pg_advisory_unlock(${LOCK_KEY})`;
    }
  } finally {
    reserved.release();
  }
}

/** Runs it now and every `everyMs`; the returned stop waits for a run in progress (its reserved connection must be back before the pool ends). */
export function scheduleMaintenance(sql: Sql, eventRetentionDays: number, changeLogRetentionMs: number, everyMs = 3_600_000): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  const run = () => {
    running ??= runMaintenance(sql, eventRetentionDays, changeLogRetentionMs)
      .catch((e) => log.warn("maintenance failed", { error: String(e) }))
      .finally(() => (running = null));
  };
  run();
  const t = setInterval(run, everyMs);
  return async () => {
    clearInterval(t);
    // Bounded: a statement the driver never settles (a connection cut mid-query) must not hang a stop.
    if (running) await withTimeout(running, 5000, "maintenance").catch(() => {});
  };
}
