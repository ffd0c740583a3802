// Every metric in one catalogue. Hot-path figures are plain counters read at scrape time (a
// prom-client Counter per verify costs real throughput); the rest are gauges collected on scrape.
// prom-client's default collectors are not used: under Bun its GC metrics stay empty and its V8
// heap-space collector reads 0 and blocks the loop. Heap figures come from bun:jsc instead.
import { heapStats } from "bun:jsc";
import { Counter, Gauge, Registry } from "prom-client";
import type { Deps } from "./http/deps";
import { REASONS } from "./index/types";

/** Decisions by reason, incremented on the verify path. */
export const decisionCounts: Record<string, number> = Object.fromEntries(REASONS.map((r) => [r, 0]));

export function countDecision(reason: string): void {
  decisionCounts[reason]!++;
}

let registry: Registry | null = null;
let bound: Deps | null = null;

function build(): Registry {
  const r = new Registry();
  const d = () => bound!;
  new Counter({
    name: "portcullis_decisions_total", help: "Verify decisions by reason", labelNames: ["reason", "allow"], registers: [r],
    collect() {
      this.reset();
      for (const reason of REASONS) this.inc({ reason, allow: String(reason === "granted") }, decisionCounts[reason]!);
    },
  });
  new Gauge({
    name: "portcullis_index_entries", help: "Entries in the in-memory index by kind", labelNames: ["kind"], registers: [r],
    collect() {
      for (const [kind, n] of Object.entries(d().feed.current.counts())) this.set({ kind }, n);
    },
  });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({ name, help, registers: [r], collect() { this.set(read()); } });
  gauge("portcullis_index_revision", "Revision the index has applied", () => d().feed.revision);
  gauge("portcullis_feed_known_revision", "Highest revision known to exist", () => d().feed.knownHead);
  gauge("portcullis_feed_lag_ms", "How long the index has been behind a known revision", () => d().feed.lagMs);
  gauge("portcullis_feed_connected", "1 while the LISTEN connection is up", () => (d().feed.connected ? 1 : 0));
  gauge("portcullis_feed_reconnects_total", "Listener reconnects", () => d().feed.reconnects);
  gauge("portcullis_feed_rebuilds_total", "Full index rebuilds", () => d().feed.rebuilds);
  gauge("portcullis_feed_changes_applied_total", "Change-log rows applied incrementally", () => d().feed.appliedChanges);
  gauge("portcullis_events_buffered", "Access events waiting to be written", () => d().events.depth);
  gauge("portcullis_events_flushed_total", "Access events written to Postgres", () => d().events.flushed);
  gauge("portcullis_events_flush_failures_total", "Failed event batch inserts (retried)", () => d().events.failed);
  gauge("portcullis_events_shed_total", "Access events dropped because the buffer was full", () => d().events.shed);
  gauge("process_resident_memory_bytes", "Resident memory", () => process.memoryUsage.rss());
  gauge("process_cpu_seconds_total", "User and system CPU time", () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  });
  const started = Date.now() / 1000 - process.uptime();
  gauge("process_start_time_seconds", "Start time since the epoch", () => started);
  new Gauge({
    name: "bun_heap_bytes", help: "JavaScriptCore heap (bun:jsc heapStats)", labelNames: ["kind"], registers: [r],
    collect() {
      const h = heapStats();
      this.set({ kind: "size" }, h.heapSize);
      this.set({ kind: "capacity" }, h.heapCapacity);
      this.set({ kind: "extra" }, h.extraMemorySize);
    },
  });
  return r;
}

export async function renderMetrics(deps: Deps): Promise<string> {
  bound = deps;
  registry ??= build();
  return registry.metrics();
}
