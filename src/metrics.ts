// Every metric in one catalogue, owned by one service instance: createMetrics() makes a registry and
// its hot-path counters, attach() points the scrape-time gauges at that instance's feed, event
// writer and limits. Two services in one process (the cluster tests) each show only their own.
// Hot-path figures are cheap: decisions are plain counters read at scrape time, and request
// histograms use pre-bound series (no label hashing per request).
// prom-client's default collectors are not used: under Bun its GC metrics stay empty, its V8 heap
// metrics read 0 and its heap-space collector blocks the loop for milliseconds per scrape. Process
// and heap figures come from process.* and bun:jsc instead — only the ones that are cheap to read.
//
// Each metric says how a host with WORKERS > 1 merges it (`aggregator`, prom-client's
// AggregatorRegistry semantics; src/metrics-host.ts does the merging): counts and sizes add up,
// the revision is the slowest process's, lag the worst, "connected" is 1 only when every process is.
import { memoryUsage as jscMemoryUsage } from "bun:jsc";
import { Counter, Gauge, Registry, type Aggregator } from "prom-client";
import type { Config } from "./config";
import type { Sql } from "./db/client";
import type { EventWriter } from "./events/event-writer";
import type { ChangeFeed } from "./feed/change-feed";
import { REASONS, STATE_REASONS } from "./index/types";
import type { Propagation } from "./nodes/propagation";
import type { NodeRegistry } from "./nodes/registry";
import type { RateLimits } from "./ratelimit/rate-limits";

/** What the scrape-time gauges read: one service instance's parts. */
export interface MetricSources {
  config: Readonly<Config>;
  sql: Sql;
  feed: ChangeFeed;
  events: EventWriter;
  limits: RateLimits | null;
  nodes?: NodeRegistry;
  propagation?: Propagation;
}

/** Admin write transactions in flight: what admin/tx.ts reports to (it knows no metrics). */
export interface WriteObserver {
  begin(): void;
  end(): void;
}

/** The registry's content as prom-client's AggregatorRegistry takes it. */
export type MetricJson = Awaited<ReturnType<Registry["getMetricsAsJSON"]>>;

export type RateLimitName = "gate" | "token" | "login_username" | "login_address";

export interface Metrics {
  readonly registry: Registry;
  /** Decisions by reason, counted on the verify path. */
  countDecision(reason: string): void;
  /** One request: two Map lookups and a short scan, no allocation once the series exists. */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  /** Requests refused by a rate limit. */
  rateLimited(limit: RateLimitName): void;
  readonly writes: WriteObserver;
  /** Points the gauges at the running service. */
  attach(sources: MetricSources): void;
  /** This process's metrics, as JSON for a host-wide merge. */
  json(): Promise<MetricJson>;
  /** What GET /metrics answers: this process, or the whole host once setHostView() is called. */
  render(): Promise<string>;
  setHostView(view: () => Promise<string>): void;
}

// Request latency: a histogram of our own — a Float64Array per (method, route, status) series and
// a scan of 14 bounds per observation — handed to the registry in prom-client's histogram format.
// prom-client's Histogram costs about 1.5 µs an observation on the verify path; this, a tenth.
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
interface Series {
  labels: { method: string; route: string; status: string };
  counts: Float64Array; // per bucket (not cumulative), +Inf last
  sum: number;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  let bound: MetricSources | null = null;
  const registers = [registry];

  const decisionCounts: Record<string, number> = Object.fromEntries([...REASONS, ...STATE_REASONS].map((r) => [r, 0]));
  new Counter({
    name: "portcullis_decisions_total", help: "Verify decisions by reason", labelNames: ["reason", "allow"], registers,
    collect() {
      this.reset();
      for (const reason of [...REASONS, ...STATE_REASONS]) this.inc({ reason, allow: String(reason === "granted") }, decisionCounts[reason]!);
    },
  });

  const series = new Map<string, Map<string, Series>>();
  registry.registerMetric({
    name: "portcullis_http_request_duration_seconds",
    help: "HTTP requests by method, route and status: count and latency (from request to response)",
    type: "histogram",
    aggregator: "sum",
    get() {
      const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
      for (const byKey of series.values()) {
        for (const s of byKey.values()) {
          let cumulative = 0;
          for (let b = 0; b < BUCKETS.length; b++) {
            cumulative += s.counts[b]!;
            values.push({ metricName: "portcullis_http_request_duration_seconds_bucket", labels: { ...s.labels, le: BUCKETS[b]! }, value: cumulative });
          }
          cumulative += s.counts[BUCKETS.length]!;
          values.push({ metricName: "portcullis_http_request_duration_seconds_bucket", labels: { ...s.labels, le: "+Inf" }, value: cumulative });
          values.push({ metricName: "portcullis_http_request_duration_seconds_sum", labels: s.labels, value: s.sum });
          values.push({ metricName: "portcullis_http_request_duration_seconds_count", labels: s.labels, value: cumulative });
        }
      }
      return { name: this.name, help: this.help, type: "histogram", values, aggregator: "sum" };
    },
  } as any);

  // Refusals by limit, through pre-bound children.
  const rateLimitedCounter = new Counter({ name: "portcullis_rate_limited_total", help: "Requests refused by a rate limit", labelNames: ["limit"], registers });
  const limitedBy = {
    gate: rateLimitedCounter.labels("gate"),
    token: rateLimitedCounter.labels("token"),
    login_username: rateLimitedCounter.labels("login_username"),
    login_address: rateLimitedCounter.labels("login_address"),
  };

  new Gauge({
    name: "portcullis_ratelimit_mode", help: "Rate-limit mode: 1 for the configured one (local, synced, exact)", labelNames: ["mode"], registers, aggregator: "max",
    collect() {
      if (!bound) return;
      for (const mode of ["local", "synced", "exact"]) this.set({ mode }, bound.config.rateLimitMode === mode ? 1 : 0);
    },
  });
  new Gauge({
    name: "portcullis_index_entries", help: "Entries in the in-memory index by kind", labelNames: ["kind"], registers, aggregator: "max",
    collect() {
      if (!bound) return;
      for (const [kind, n] of Object.entries(bound.feed.current.counts())) this.set({ kind }, n);
    },
  });

  // A gauge or a counter whose value is read from the service at scrape time. Counters read a
  // running total the service keeps (reset-and-add: prom-client counters have no set()).
  const gauge = (name: string, help: string, aggregator: Aggregator, read: (s: MetricSources) => number) =>
    new Gauge({ name, help, registers, aggregator, collect() { if (bound) this.set(read(bound)); } });
  const counter = (name: string, help: string, read: (s: MetricSources) => number) =>
    new Counter({ name, help, registers, aggregator: "sum", collect() { this.reset(); if (bound) this.inc(read(bound)); } });

  gauge("portcullis_index_revision", "Revision the index has applied (host: the slowest process)", "min", (s) => s.feed.revision);
  gauge("portcullis_feed_known_revision", "Highest revision known to exist", "max", (s) => s.feed.knownHead);
  gauge("portcullis_feed_lag_seconds", "How long the index has been behind a known revision (host: the worst process)", "max", (s) => s.feed.lagMs / 1000);
  gauge("portcullis_feed_connected", "1 while the LISTEN connection is up (host: 1 only when every process's is)", "min", (s) => (s.feed.connected ? 1 : 0));
  counter("portcullis_feed_reconnects_total", "Listener reconnects", (s) => s.feed.reconnects);
  counter("portcullis_feed_rebuilds_total", "Full index rebuilds (start, pruned log, huge backlog)", (s) => s.feed.rebuilds);
  counter("portcullis_feed_changes_applied_total", "Change-log rows applied incrementally", (s) => s.feed.appliedChanges);
  new Gauge({
    name: "portcullis_nodes", help: "Nodes in the registry by state (live; gone: silent past NODE_TIMEOUT; stopped), as of this process's last heartbeat", labelNames: ["state"], registers, aggregator: "max",
    collect() {
      if (!bound?.nodes) return;
      const n = { live: 0, gone: 0, stopped: 0 };
      for (const x of bound.nodes.last.nodes) n[x.state]++;
      for (const [state, v] of Object.entries(n)) this.set({ state }, v);
    },
  });
  new Counter({
    name: "portcullis_write_propagation_total", help: "Admin writes answered, by propagation: complete (every live node applied it) or partial (answered at PROPAGATION_TIMEOUT_MS)", labelNames: ["result"], registers, aggregator: "sum",
    collect() {
      this.reset();
      if (!bound?.propagation) return;
      this.inc({ result: "complete" }, bound.propagation.complete);
      this.inc({ result: "partial" }, bound.propagation.partial);
    },
  });
  gauge("portcullis_data_age_seconds", "Time since this process last confirmed it had everything Postgres had; gates with max_staleness_ms refuse past theirs (host: the oldest)", "max", (s) => {
    const age = s.feed.dataAgeMs();
    return Number.isFinite(age) ? age / 1000 : -1;
  });
  gauge("portcullis_node_heartbeat_failures", "Consecutive failed node heartbeats (0 when the last one succeeded)", "max", (s) => s.nodes?.heartbeatFailures ?? 0);
  gauge("portcullis_events_buffered", "Access events recorded by this process and not yet in Postgres", "sum", (s) => s.events.depth);
  counter("portcullis_events_flushed_total", "Access events written to Postgres", (s) => s.events.flushed);
  counter("portcullis_events_flush_failures_total", "Failed event batch inserts (kept and retried)", (s) => s.events.failed);
  gauge("portcullis_events_journal_bytes", "Bytes of the access-event journal on disk", "sum", (s) => s.events.journalBytes);
  counter("portcullis_events_journal_writes_total", "Journal writes (one per event-loop tick with decisions)", (s) => s.events.writes);
  gauge("portcullis_events_journal_full", "Processes whose access-event journal is at its disk budget", "sum", (s) => (s.events.full ? 1 : 0));
  counter("portcullis_events_refused_total", "Decisions answered 503 because their events could not be recorded (journal full)", (s) => s.events.refused);
  counter("portcullis_events_replayed_total", "Access events of earlier runs or stopped processes shipped from their journals", (s) => s.events.replayed);
  counter("portcullis_events_rejected_total", "Access events Postgres refused for their content (logged)", (s) => s.events.rejected);
  counter("portcullis_events_shed_total", "Access events dropped at the journal's disk budget (EVENT_JOURNAL_FULL=shed)", (s) => s.events.shed);
  gauge("portcullis_ratelimit_fallback", "1 while rate limits are decided locally because Redis is unavailable (down, slow, or not connected yet; host: any process)", "max", (s) => (s.limits?.fallbackActive ? 1 : 0));
  gauge("portcullis_ratelimit_redis_connected", "1 while the rate limits' Redis connection is up (0 in local mode; host: 1 only when every process's is)", "min", (s) => (s.limits?.link?.connected ? 1 : 0));
  counter("portcullis_ratelimit_redis_errors_total", "Rate-limit calls to Redis that failed or timed out (each decided locally instead)", (s) => s.limits?.redisErrors ?? 0);
  counter("portcullis_ratelimit_redis_outages_total", "Times Redis became unavailable to the rate limits", (s) => s.limits?.link?.outages ?? 0);
  counter("portcullis_ratelimit_fallback_decisions_total", "Rate-limit decisions made locally because Redis was unavailable", (s) => s.limits?.fallbackDecisions ?? 0);
  counter("portcullis_ratelimit_syncs_total", "synced mode: sync rounds sent to Redis", (s) => s.limits?.syncs ?? 0);
  counter("portcullis_ratelimit_sync_failures_total", "synced mode: sync rounds that failed (admits kept and sent again)", (s) => s.limits?.syncFailures ?? 0);
  gauge("portcullis_ratelimit_keys", "Rate-limit keys held in memory", "sum", (s) => s.limits?.keys ?? 0);
  gauge("portcullis_ratelimit_sync_age_seconds", "synced mode: time since this instance last learnt the cluster-wide counts (host: the oldest view)", "max", (s) => (s.limits?.syncAgeMs ?? 0) / 1000);
  gauge("portcullis_ratelimit_sync_gap_max_seconds", "synced mode: longest time between two completed syncs since start", "max", (s) => (s.limits?.maxSyncGapMs ?? 0) / 1000);
  gauge("portcullis_db_pool_max", "Configured size of the Postgres pool (host: all processes)", "sum", (s) => (s.sql as any).options?.max ?? 0);
  let writesInFlight = 0;
  gauge("portcullis_db_writes_in_flight", "Admin write transactions in progress", "sum", () => writesInFlight);
  gauge("process_resident_memory_bytes", "Resident memory (host: all processes)", "sum", () => process.memoryUsage.rss());
  new Counter({
    name: "process_cpu_seconds_total", help: "User and system CPU time (host: all processes)", registers, aggregator: "sum",
    collect() {
      const u = process.cpuUsage();
      this.reset();
      this.inc((u.user + u.system) / 1e6);
    },
  });
  const started = Date.now() / 1000 - process.uptime();
  gauge("process_start_time_seconds", "Start time since the epoch (host: the first process)", "min", () => started);
  // Heap figures from process.memoryUsage() (JavaScriptCore's own counters, ~0.03 ms) and
  // bun:jsc memoryUsage() (the allocator). Not heapStats(): it walks the whole heap to count objects
  // by type — 1.6 s at a million credentials, during which no verify is answered.
  new Gauge({
    name: "bun_jsc_heap_bytes", help: "JavaScriptCore heap: used and total (process.memoryUsage; host: all processes)", labelNames: ["kind"], registers, aggregator: "sum",
    collect() {
      const m = process.memoryUsage();
      this.set({ kind: "used" }, m.heapUsed);
      this.set({ kind: "total" }, m.heapTotal);
      this.set({ kind: "external" }, m.external);
    },
  });
  gauge("bun_allocator_committed_bytes", "Memory committed by Bun's allocator (bun:jsc memoryUsage; host: all processes)", "sum", () => jscMemoryUsage().currentCommit);

  let hostView: (() => Promise<string>) | null = null;
  return {
    registry,
    countDecision(reason) {
      decisionCounts[reason]!++;
    },
    observeRequest(method, route, status, seconds) {
      let byKey = series.get(route);
      if (byKey === undefined) series.set(route, (byKey = new Map()));
      const key = status === 200 ? method : method + status;
      let s = byKey.get(key);
      if (s === undefined) {
        s = { labels: { method, route, status: String(status) }, counts: new Float64Array(BUCKETS.length + 1), sum: 0 };
        byKey.set(key, s);
      }
      let b = 0;
      while (b < BUCKETS.length && seconds > BUCKETS[b]!) b++;
      s.counts[b]!++;
      s.sum += seconds;
    },
    rateLimited(limit) {
      limitedBy[limit].inc();
    },
    writes: { begin: () => void writesInFlight++, end: () => void writesInFlight-- },
    attach(sources) {
      bound = sources;
    },
    json: () => registry.getMetricsAsJSON(),
    render: () => (hostView ? hostView() : registry.metrics()),
    setHostView(view) {
      hostView = view;
    },
  };
}
