// What every bench step shares: the settings (env knobs, see run.ts), the servers and the load
// generator as children, the figure helpers, and the context the runner hands from step to step.
import { availableParallelism } from "node:os";
import type { Sql } from "../../src/db/client";
import type { ColdStartBreakdown } from "../coldstart";
import { graphParamsFromEnv, type GraphParams, type VerifyPair } from "../graph";
import { fmtInt, freePort, int, say, seconds, sleep, spawnChild, waitEventsFlushed, waitReady, VERIFY_PATH, within, metrics, type CpuUse, type Spawned } from "../harness";
import type { LoadOptions, LoadResult } from "../loadgen";

// ---------------------------------------------------------------------------------------------
// Settings

export const BIG: GraphParams = {
  users: 100_000, gates: 10_000, zones: 500, groups: 1_000, groupDepth: 4, membershipsPerUser: 2, grants: 1_000_000,
  credentials: 1_000_000, userGrantPercent: 90, denyPercent: 5, schedulePercent: 10,
};
export const graph = graphParamsFromEnv(process.env, BIG);
export const S = {
  durationS: seconds("BENCH_DURATION", "10s"),
  warmupS: seconds("BENCH_WARMUP", "3s"),
  rounds: int("BENCH_ROUNDS", 3),
  connections: int("BENCH_CONNECTIONS", 50),
  threads: int("BENCH_THREADS", 1),
  bodies: int("BENCH_BODIES", 20_000),
  smallCredentials: Math.min(int("BENCH_SMALL_CREDENTIALS", 1000), graph.credentials),
  burst: int("BENCH_BURST", 10_000),
  propagationSamples: int("BENCH_PROPAGATION_SAMPLES", 200),
  pgUrl: process.env.BENCH_PG_URL || "postgres://postgres@127.0.0.1:5432/test",
  keepDb: process.env.BENCH_KEEP_DB === "1",
  readyTimeoutS: seconds("BENCH_READY_TIMEOUT", "300s"),
};
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",")) : null;
/** Phases: decide, tput, open, workers (with propagation), churn; the graph and cold starts always run. BENCH_ONLY=a,b for a part. */
export const want = (phase: string) => ONLY === null || ONLY.has(phase);
export const cores = availableParallelism();
export const SERVER_CORE = "0";
export const LOAD_CORE = cores >= 2 ? "1" : "0";
export const BUN = process.execPath;

// ---------------------------------------------------------------------------------------------
// Servers

export interface Server {
  name: string;
  s: Spawned;
  base: string;
  port: number;
  probe: string;
  readyMs: number;
}

export async function startServer(name: string, cmd: string[], env: Record<string, string>, core: string | null, readyPath: string, pollMs = 50): Promise<Server> {
  const port = freePort();
  const probePort = freePort();
  const t0 = performance.now();
  const s = spawnChild(name, [...(core === null ? [] : ["taskset", "-c", core]), BUN, "--preload", "./bench/probe.ts", ...cmd], {
    ...env, PORT: String(port), PROBE_PORT: String(probePort), HOST: "127.0.0.1",
  });
  const base = `http://127.0.0.1:${port}`;
  await waitReady(name, s, base + readyPath, S.readyTimeoutS * 1000, pollMs);
  const readyMs = performance.now() - t0;
  say(`${name} ready on :${port} in ${(readyMs / 1000).toFixed(1)} s (pid ${s.proc.pid}${core === null ? ", not pinned" : `, core ${core}`})`);
  return { name, s, base, port, probe: `http://127.0.0.1:${probePort}`, readyMs };
}

export function startPortcullis(name: string, databaseUrl: string, opts: { workers?: number; core?: string | null; env?: Record<string, string> } = {}): Promise<Server> {
  return startServer(name, ["src/main.ts"], {
    DATABASE_URL: databaseUrl, WORKERS: String(opts.workers ?? 1), LOG_LEVEL: "warn", DEMO_DATA: "0", ...opts.env,
  }, opts.core === undefined ? SERVER_CORE : opts.core, "/readyz");
}

export function startBare(credentials: number): Promise<Server> {
  return startServer("bare", ["bench/bare-server.ts"], { BENCH_CREDENTIALS: String(credentials), BENCH_USERS: String(graph.users) }, SERVER_CORE, "/readyz");
}

export interface LagStats {
  samples: number;
  p50: number;
  p99: number;
  max: number;
  over5ms: number;
}

export interface Heap {
  gcMs: number;
  /** The first forced collection after the start (with the start's garbage). */
  firstGcMs?: number;
  heapSize: number;
  heapCapacity: number;
  extraMemorySize: number;
  objectCount: number;
  rss: number;
  /** bun_jsc_heap_bytes{kind="used"} (process.memoryUsage) from /metrics, read just before the forced GC (bare: none). */
  metricsHeapBytes: number | null;
}
export async function heapOf(sv: Server, hasMetrics: boolean): Promise<Heap> {
  const before = hasMetrics ? (await metrics(sv.base))['bun_jsc_heap_bytes{kind="used"}'] ?? null : null;
  const gc = async () => (await (await fetch(sv.probe + "/gc", { signal: AbortSignal.timeout(60_000) })).json()) as Omit<Heap, "metricsHeapBytes">;
  // The first collection also frees what the start left behind; the second is the steady state's.
  const first = await gc();
  const r = await gc();
  return { ...r, firstGcMs: first.gcMs, metricsHeapBytes: before };
}

// ---------------------------------------------------------------------------------------------
// The load generator as a child (pinned to the load core)

export interface LoadRun {
  proc: Spawned;
  result: Promise<LoadResult>;
  stop(): void;
}
export function loadgen(o: LoadOptions, core: string | null = LOAD_CORE): LoadRun {
  const proc = spawnChild("loadgen", [...(core === null ? [] : ["taskset", "-c", core]), BUN, "bench/loadgen.ts", JSON.stringify(o)], {}, { quiet: true });
  const result = new Promise<LoadResult>((resolve, reject) => {
    proc.listeners.push((line) => {
      // Resolved once the generator has exited and been reaped, so its CPU counts in withCpu.
      if (line.startsWith("{")) void proc.proc.exited.then(() => resolve(JSON.parse(line) as LoadResult));
    });
    void proc.proc.exited.then((code) => {
      setTimeout(() => reject(new Error(`loadgen exited ${code} without a result:\n    ${proc.out.slice(-10).join("\n    ")}`)), 500);
    });
  });
  return { proc, result: within((o.durationS + 120) * 1000, "loadgen", result), stop: () => proc.proc.kill("SIGTERM") };
}

/** A short wrk run: the maximum, when the throughput phase did not run. */
export async function wrkQuick(base: string, lua: string): Promise<number> {
  const { wrk } = await import("../harness");
  await waitEventsFlushed(base);
  return (await wrk(base + VERIFY_PATH, lua, S.durationS, { threads: S.threads, connections: S.connections, core: LOAD_CORE })).rps;
}

/** Completions per second within [fromMs, toMs] (epoch ms) of a bucketed run. */
export function windowRps(r: LoadResult, fromMs: number, toMs: number): { rps: number; seconds: number } {
  const b0 = Math.max(0, Math.floor((fromMs - r.startedAtMs) / r.bucketMs));
  const b1 = Math.min(r.buckets.length, Math.ceil((toMs - r.startedAtMs) / r.bucketMs));
  let n = 0;
  for (let i = b0; i < b1; i++) n += r.buckets[i]!;
  const secs = ((b1 - b0) * r.bucketMs) / 1000;
  return { rps: secs > 0 ? n / secs : NaN, seconds: secs };
}

// ---------------------------------------------------------------------------------------------
// Figures

export type Verdict = "MET" | "NOT MET" | "report";
export interface Row {
  key: string;
  figure: string;
  value: string;
  baseline: string;
  ratio: string;
  target: string;
  verdict: Verdict | "";
}

export const r2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "–");
export const r1s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
export const rps = (x: number) => `${fmtInt(x)} req/s`;

export function pcts(xs: number[]): { p50: number; p99: number; max: number; mean: number; n: number } {
  const s = [...xs].sort((a, b) => a - b);
  const p = (q: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]! : NaN);
  return { p50: p(0.5), p99: p(0.99), max: s[s.length - 1] ?? NaN, mean: s.reduce((a, b) => a + b, 0) / Math.max(1, s.length), n: s.length };
}

/** Busy percent of each core over `ms`, with nothing of ours running: the machine's background load. */
export async function backgroundLoad(ms: number): Promise<number[]> {
  const read = () => Bun.file("/proc/stat").text().then((t) => t.split("\n").filter((l) => /^cpu\d/.test(l)).map((l) => {
    const [user, nice, system, idle, iowait, irq, softirq, steal] = l.trim().split(/\s+/).slice(1).map(Number) as number[];
    return { busy: user! + nice! + system! + irq! + softirq! + (steal ?? 0), total: user! + nice! + system! + idle! + iowait! + irq! + softirq! + (steal ?? 0) };
  }));
  const a = await read();
  await sleep(ms);
  const b = await read();
  return b.map((x, i) => ((x.busy - a[i]!.busy) / Math.max(1, x.total - a[i]!.total)) * 100);
}

/** What the graph step leaves for the others: the two scratch databases and the load bodies. */
export interface Fixtures {
  smallDb: string;
  bigDb: string;
  smallUrl: string;
  bigUrl: string;
  smallPairs: VerifyPair[];
  bigPairs: VerifyPair[];
  bigLua: string;
  smallLua: string;
  bigBodies: string;
  generateMs: number;
  pgPids: () => Promise<number[]>;
}

/** What the cold-start step leaves: the servers the later steps measure, and their heaps. */
export interface Servers {
  big: Server;
  small: Server;
  bare: Server;
  noMetrics: Server | null;
  bigHeap: Heap;
  smallHeap: Heap;
  bareHeap: Heap;
  /** The same service on an empty database: the GC floor of its code alone. */
  emptyHeap: Heap;
  breakdown: ColdStartBreakdown;
  perCred: number;
  marginal: number;
  barePerCred: number;
}

/** Handed from step to step by the runner (run.ts), in order. */
export interface Ctx {
  admin: Sql;
  results: Record<string, unknown>;
  allCpu: Array<{ what: string; cpu: CpuUse }>;
  notes: string[];
  /** Portcullis's measured maximum (throughput step), NaN until measured. */
  maxRps: number;
  fx?: Fixtures;
  sv?: Servers;
}

/**
 * One benchmark step: `run` measures and returns its table rows (and may add to ctx.results);
 * it runs when BENCH_ONLY selects `name` (or always, for `always`). `release`, if any, runs
 * whether or not the step was selected: it stops the servers no later step uses.
 */
export interface Step {
  name: string;
  always?: boolean;
  run(ctx: Ctx): Promise<Row[]>;
  release?(ctx: Ctx): Promise<void>;
}
