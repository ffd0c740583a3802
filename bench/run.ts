// The whole benchmark suite, end to end: `bun run bench`. Every figure beside a baseline measured
// in the same run, on the same machine, one table at the end and bench/results/<timestamp>.json.
//
// What it does (each step bounded by timeouts; servers, load generators and scratch databases are
// cleaned up on success, error or Ctrl-C — see harness.ts):
//   0. installs what is missing from Debian (wrk; taskset and psql normally present), reads the
//      machine, and samples 3 s of background CPU load before starting anything (the noise);
//   1. the graph, generated once, set-based (graph.ts): a scratch database with the whole graph
//      but only BENCH_SMALL_CREDENTIALS credentials, copied (CREATE DATABASE … TEMPLATE) into a
//      second one to which the remaining credentials are added — the two differ only in the
//      number of credentials;
//   2. in-process decision vs node-casbin (decide.ts, mitata), pinned to one core, before any
//      server runs;
//   3. cold start of the big graph (spawn → /readyz 200; coldstart.ts times the service's own
//      snapshot load and index build in-process), heap after a forced full GC (through the
//      bench-only preload probe.ts, read with bun:jsc heapStats; /metrics bun_jsc_heap_bytes is
//      reported too); the same for the small graph (Δheap / Δcredentials: the marginal cost of a
//      credential) and for the bare baseline holding the same credentials in one Map;
//   4. closed-loop throughput with wrk (verify.ts compareThroughput), servers pinned to core 0,
//      wrk to core 1, rounds alternating over: bare Bun.serve, Portcullis with 1M credentials,
//      with 1k credentials, and with 1M and HTTP_METRICS=0;
//   5. open-loop latency (loadgen.ts) at 50 % of Portcullis's measured maximum, for Portcullis and
//      for bare at the same rate; then Portcullis again while /metrics is scraped every 100 ms;
//      the scrape's own wall time on an idle server and the event-loop stall it causes (probe.ts);
//   6. WORKERS=2 against WORKERS=1 (wrk on core 1 competes with the second worker: 2 cores);
//   7. propagation with WORKERS=2: a credential revoked (or reinstated) by a committed SQL write,
//      until the verify answer of EACH process has changed, against a raw NOTIFY round trip;
//   8. throughput during a burst of 10k changes (10k transactions) and during a full index
//      rebuild, each against the same load without (loadgen.ts closed loop, per-100 ms buckets).
//
// Knobs (env), defaults for the full run; for a quick try e.g.
//   BENCH_DURATION=3s BENCH_WARMUP=1s BENCH_ROUNDS=1 BENCH_CREDENTIALS=20000 BENCH_USERS=10000 \
//   BENCH_GATES=1000 BENCH_ZONES=50 BENCH_GROUPS=100 BENCH_GRANTS=50000 bun run bench
//   BENCH_DURATION=10s BENCH_WARMUP=3s BENCH_ROUNDS=3 BENCH_CONNECTIONS=50 BENCH_THREADS=1
//   BENCH_BODIES=20000 BENCH_SMALL_CREDENTIALS=1000 BENCH_BURST=10000 BENCH_PROPAGATION_SAMPLES=200
//   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test BENCH_KEEP_DB=0 BENCH_READY_TIMEOUT=300s
//   graph: BENCH_USERS=100000 BENCH_GATES=10000 BENCH_ZONES=500 BENCH_GROUPS=1000 BENCH_GRANTS=1000000
//   BENCH_CREDENTIALS=1000000 (and the rest of graph.ts's BENCH_* knobs)
//   BENCH_ONLY=decide,tput,open,workers,churn — a subset (the graph and cold starts always run)
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import type { Sql } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { hashSecret } from "../src/tokens";
import type { ColdStartBreakdown } from "./coldstart";
import type { DecideResult } from "./decide";
import { addCredentials, checkSecretHashes, generateGraph, graphParamsFromEnv, sampleVerifyPairs, type GraphParams, type GraphStats, type VerifyPair } from "./graph";
import {
  createScratchDb, dbUrl, endSql, ensureTools, fmtInt, fmtMs, freePort, int, luaScript, median, metrics, parseMetrics, pctf, probeAnswers,
  processTree, RESULTS_DIR, ROOT, run, runMain, say, seconds, setPg, sleep, spawnChild, stopChild, table, trackedSql, trackTmp, VERIFY_PATH,
  waitEventsFlushed, waitReady, withCpu, within, type CpuUse, type Spawned,
} from "./harness";
import { secretFor } from "./ids";
import type { LoadOptions, LoadResult } from "./loadgen";
import { compareThroughput, type Summary } from "./verify";

// ---------------------------------------------------------------------------------------------
// Settings

const BIG: GraphParams = {
  users: 100_000, gates: 10_000, zones: 500, groups: 1_000, groupDepth: 4, membershipsPerUser: 2, grants: 1_000_000,
  credentials: 1_000_000, userGrantPercent: 90, denyPercent: 5, schedulePercent: 10,
};
const graph = graphParamsFromEnv(process.env, BIG);
const S = {
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
const want = (phase: string) => ONLY === null || ONLY.has(phase);
const cores = availableParallelism();
const SERVER_CORE = "0";
const LOAD_CORE = cores >= 2 ? "1" : "0";
const BUN = process.execPath;

// ---------------------------------------------------------------------------------------------
// Servers

interface Server {
  name: string;
  s: Spawned;
  base: string;
  port: number;
  probe: string;
  readyMs: number;
}

async function startServer(name: string, cmd: string[], env: Record<string, string>, core: string | null, readyPath: string, pollMs = 50): Promise<Server> {
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

function startPortcullis(name: string, databaseUrl: string, opts: { workers?: number; core?: string | null; env?: Record<string, string> } = {}): Promise<Server> {
  return startServer(name, ["src/main.ts"], {
    DATABASE_URL: databaseUrl, WORKERS: String(opts.workers ?? 1), LOG_LEVEL: "warn", DEMO_DATA: "0", ...opts.env,
  }, opts.core === undefined ? SERVER_CORE : opts.core, "/readyz");
}

function startBare(credentials: number): Promise<Server> {
  return startServer("bare", ["bench/bare-server.ts"], { BENCH_CREDENTIALS: String(credentials), BENCH_USERS: String(graph.users) }, SERVER_CORE, "/readyz");
}

interface LagStats {
  samples: number;
  p50: number;
  p99: number;
  max: number;
  over5ms: number;
}

interface Heap {
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
async function heapOf(sv: Server, hasMetrics: boolean): Promise<Heap> {
  const before = hasMetrics ? (await metrics(sv.base))['bun_jsc_heap_bytes{kind="used"}'] ?? null : null;
  const gc = async () => (await (await fetch(sv.probe + "/gc", { signal: AbortSignal.timeout(60_000) })).json()) as Omit<Heap, "metricsHeapBytes">;
  // The first collection also frees what the start left behind; the second is the steady state's.
  const first = await gc();
  const r = await gc();
  return { ...r, firstGcMs: first.gcMs, metricsHeapBytes: before };
}

// ---------------------------------------------------------------------------------------------
// The load generator as a child (pinned to the load core)

interface LoadRun {
  proc: Spawned;
  result: Promise<LoadResult>;
  stop(): void;
}
function loadgen(o: LoadOptions, core: string | null = LOAD_CORE): LoadRun {
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
async function wrkQuick(base: string, lua: string): Promise<number> {
  const { wrk } = await import("./harness");
  await waitEventsFlushed(base);
  return (await wrk(base + VERIFY_PATH, lua, S.durationS, { threads: S.threads, connections: S.connections, core: LOAD_CORE })).rps;
}

/** Completions per second within [fromMs, toMs] (epoch ms) of a bucketed run. */
function windowRps(r: LoadResult, fromMs: number, toMs: number): { rps: number; seconds: number } {
  const b0 = Math.max(0, Math.floor((fromMs - r.startedAtMs) / r.bucketMs));
  const b1 = Math.min(r.buckets.length, Math.ceil((toMs - r.startedAtMs) / r.bucketMs));
  let n = 0;
  for (let i = b0; i < b1; i++) n += r.buckets[i]!;
  const secs = ((b1 - b0) * r.bucketMs) / 1000;
  return { rps: secs > 0 ? n / secs : NaN, seconds: secs };
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 connection, one request at a time: for the propagation probe, where each
// connection must stay with one process of a reusePort group.

class Http1 {
  private buf: Buffer | null = null;
  private waiting: ((r: { status: number; head: string; body: string }) => void) | null = null;
  private constructor(private sock: import("bun").Socket<undefined> | null) {}

  static async connect(port: number): Promise<Http1> {
    const c = new Http1(null);
    c.sock = await Bun.connect({
      hostname: "127.0.0.1", port,
      socket: { data: (_s, chunk) => c.onData(chunk as unknown as Buffer), close: () => void (c.sock = null), error: () => {} },
    });
    c.sock.setNoDelay(true);
    return c;
  }

  private onData(chunk: Buffer): void {
    const buf = this.buf === null ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const end = buf.indexOf("\r\n\r\n");
    if (end < 0) {
      this.buf = buf;
      return;
    }
    const head = buf.toString("latin1", 0, end);
    const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (buf.length < end + 4 + len) {
      this.buf = buf;
      return;
    }
    this.buf = null;
    const w = this.waiting;
    this.waiting = null;
    w?.({ status: Number(head.slice(9, 12)), head, body: buf.toString("utf8", end + 4, end + 4 + len) });
  }

  request(method: string, path: string, body?: string): Promise<{ status: number; head: string; body: string }> {
    if (!this.sock) return Promise.reject(new Error("connection closed"));
    return new Promise((resolve) => {
      this.waiting = resolve;
      const b = body ?? "";
      this.sock!.write(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`);
    });
  }

  close(): void {
    this.sock?.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Figures

type Verdict = "MET" | "NOT MET" | "report";
interface Row {
  key: string;
  figure: string;
  value: string;
  baseline: string;
  ratio: string;
  target: string;
  verdict: Verdict | "";
}

const r2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "–");
const r1s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const rps = (x: number) => `${fmtInt(x)} req/s`;

function pcts(xs: number[]): { p50: number; p99: number; max: number; mean: number; n: number } {
  const s = [...xs].sort((a, b) => a - b);
  const p = (q: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]! : NaN);
  return { p50: p(0.5), p99: p(0.99), max: s[s.length - 1] ?? NaN, mean: s.reduce((a, b) => a + b, 0) / Math.max(1, s.length), n: s.length };
}

/** Busy percent of each core over `ms`, with nothing of ours running: the machine's background load. */
async function backgroundLoad(ms: number): Promise<number[]> {
  const read = () => Bun.file("/proc/stat").text().then((t) => t.split("\n").filter((l) => /^cpu\d/.test(l)).map((l) => {
    const [user, nice, system, idle, iowait, irq, softirq, steal] = l.trim().split(/\s+/).slice(1).map(Number) as number[];
    return { busy: user! + nice! + system! + irq! + softirq! + (steal ?? 0), total: user! + nice! + system! + idle! + iowait! + irq! + softirq! + (steal ?? 0) };
  }));
  const a = await read();
  await sleep(ms);
  const b = await read();
  return b.map((x, i) => ((x.busy - a[i]!.busy) / Math.max(1, x.total - a[i]!.total)) * 100);
}

async function main(): Promise<void> {
  const started = new Date();
  const cpuModel = cpus()[0]?.model ?? "?";
  say(`Portcullis benchmark suite — ${cores} cores (${cpuModel}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Bun ${Bun.version}`);
  if (cores < 2) say("warning: fewer than 2 cores: servers and load generators share core 0; figures are not comparable to 2-core runs");
  await ensureTools();
  const wrkVersion = (await run(["wrk", "-v"], 10_000)).out.split("\n")[0]!.trim();
  const admin = setPg(S.pgUrl, S.keepDb);
  const pgVersion = (await admin<{ version: string }[]>`select current_setting('server_version') as version`)[0]!.version;
  const noiseBefore = await backgroundLoad(3000);
  say(`background load before the run (nothing of ours running): ${noiseBefore.map((x, i) => `core ${i} ${pctf(x)}`).join(", ")}`);
  const allCpu: Array<{ what: string; cpu: CpuUse }> = [];
  const results: Record<string, unknown> = {};
  const rows: Row[] = [];
  const notes: string[] = [];

  // ------------------------------------------------------------------------------------------
  // 1. The graph: small (few credentials) generated, copied, and completed into the big one.
  const tag = `${Date.now().toString(36)}_${process.pid}`;
  const smallDb = `pcl_bench_small_${tag}`, bigDb = `pcl_bench_big_${tag}`;
  const smallUrl = await createScratchDb(smallDb);
  let sql: Sql = trackedSql(smallUrl, { max: 2, statementTimeoutMs: 0 });
  await migrate(sql);
  say(`generating graph: ${Object.entries(graph).map(([k, v]) => `${k}=${v}`).join(" ")} (first ${S.smallCredentials} credentials)`);
  const gen1: GraphStats = await generateGraph(sql, graph, { credentialRange: [1, S.smallCredentials] });
  say(`  ${(gen1.ms / 1000).toFixed(1)} s (${gen1.mode}): ${JSON.stringify(gen1.steps)}`);
  await sql.unsafe(`select pcl_prune_change_log('0 seconds')`);
  await sql.unsafe(`vacuum analyze`);
  const smallPairs = await sampleVerifyPairs(sql, { ...graph, credentials: S.smallCredentials }, S.bodies);
  await endSql(sql);
  const tCopy = performance.now();
  const bigUrl = await createScratchDb(bigDb, smallDb);
  const copyMs = performance.now() - tCopy;
  sql = trackedSql(bigUrl, { max: 2, statementTimeoutMs: 0 });
  let gen2: GraphStats | null = null;
  if (graph.credentials > S.smallCredentials) {
    gen2 = await addCredentials(sql, graph, S.smallCredentials + 1, graph.credentials);
    say(`  copied in ${(copyMs / 1000).toFixed(1)} s; credentials ${S.smallCredentials + 1}…${graph.credentials} added in ${(gen2.ms / 1000).toFixed(1)} s: ${JSON.stringify(gen2.steps)}`);
  }
  await sql.unsafe(`select pcl_prune_change_log('0 seconds')`);
  await sql.unsafe(`vacuum analyze`);
  await checkSecretHashes(sql, graph.credentials, hashSecret);
  const bigPairs = await sampleVerifyPairs(sql, graph, S.bodies);
  const generateMs = gen1.ms + copyMs + (gen2?.ms ?? 0);
  const [sizes] = await sql<{ small: number; big: number }[]>`select pg_database_size(${smallDb})::float8 as small, pg_database_size(${bigDb})::float8 as big`;
  say(`graph ready in ${(generateMs / 1000).toFixed(1)} s; databases ${(sizes!.small / 2 ** 20).toFixed(0)} MiB and ${(sizes!.big / 2 ** 20).toFixed(0)} MiB`);
  results.graph = { params: graph, smallCredentials: S.smallCredentials, generateMs, small: gen1, copyMs, addCredentials: gen2, dbBytes: sizes };

  const tmp = trackTmp(mkdtempSync(join(tmpdir(), "pcl-bench-")));
  const bigLua = join(tmp, "big.lua"), smallLua = join(tmp, "small.lua");
  writeFileSync(bigLua, luaScript(bigPairs));
  writeFileSync(smallLua, luaScript(smallPairs));
  const bigBodies = join(tmp, "big.json");
  writeFileSync(bigBodies, JSON.stringify(bigPairs.map((p) => JSON.stringify({ gate_id: p.gate_id, token: p.token }))));

  const pgPids = async () =>
    (await admin<{ pid: number }[]>`select pid from pg_stat_activity where datname in (${smallDb}, ${bigDb})`).map((r) => r.pid);

  // ------------------------------------------------------------------------------------------
  // 2. In-process decision vs casbin, before any server runs.
  if (want("decide")) {
    say("\nin-process decision vs node-casbin (mitata), pinned to core " + LOAD_CORE);
    const dec = await run(["taskset", "-c", LOAD_CORE, BUN, "bench/decide.ts"], 600_000);
    if (dec.code !== 0) throw new Error(`bench/decide.ts failed:\n${dec.out}`);
    const decide = JSON.parse(dec.stdout.trim().split("\n").pop()!) as DecideResult;
    say(`  portcullis ${decide.portcullisNs.toFixed(0)} ns (decide ${decide.decideOnlyNs.toFixed(0)} ns + sha256 ${decide.hashOnlyNs.toFixed(0)} ns), casbin ${(decide.casbinNs / 1000).toFixed(1)} µs: ${decide.speedup.toFixed(0)}× faster`);
    results.decide = decide;
    rows.push({
      key: "decide",
      figure: "in-process decision (SHA-256 + index lookup) vs node-casbin RBAC enforceSync, 1,100 rules (mitata)",
      value: `${decide.portcullisNs.toFixed(0)} ns`, baseline: `${fmtInt(decide.casbinNs)} ns`, ratio: `${fmtInt(decide.speedup)}× faster`, target: "≥ 100×",
      verdict: decide.speedup >= 100 ? "MET" : "NOT MET",
    });
  }

  // ------------------------------------------------------------------------------------------
  // 3. Cold starts and heaps.
  say("\ncold starts");
  // Where the time goes: the service's own snapshot load and index build, in-process (coldstart.ts).
  const csRun = await run(["taskset", "-c", SERVER_CORE, BUN, "bench/coldstart.ts"], S.readyTimeoutS * 1000, { env: { DATABASE_URL: bigUrl } });
  if (csRun.code !== 0) throw new Error(`bench/coldstart.ts failed:\n${csRun.out}`);
  const breakdown = JSON.parse(csRun.stdout.trim().split("\n").pop()!) as ColdStartBreakdown;
  say(`  in-process: loadSnapshot ${r1s(breakdown.loadSnapshotMs)}, PermissionIndex.fromSnapshot ${r1s(breakdown.fromSnapshotMs)} (synchronous), index heap ${(breakdown.indexHeapBytes / 2 ** 20).toFixed(0)} MiB`);
  const big = await startPortcullis("portcullis-1M", bigUrl);
  const bigHeap = await heapOf(big, true);
  const small = await startPortcullis("portcullis-1k", smallUrl);
  const smallHeap = await heapOf(small, true);
  const bare = await startBare(graph.credentials);
  const bareHeap = await heapOf(bare, false);
  const bigIndex = await metrics(big.base);
  const perCred = bigHeap.heapSize / graph.credentials;
  const marginal = (bigHeap.heapSize - smallHeap.heapSize) / (graph.credentials - S.smallCredentials);
  const barePerCred = bareHeap.heapSize / graph.credentials;
  say(`  1M: ready ${r1s(big.readyMs)}, heap ${(bigHeap.heapSize / 2 ** 20).toFixed(0)} MiB after GC (${(bigHeap.metricsHeapBytes! / 2 ** 20).toFixed(0)} MiB before), RSS ${(bigHeap.rss / 2 ** 20).toFixed(0)} MiB; ` +
    `${fmtInt(perCred)} B per credential, marginal ${fmtInt(marginal)} B; bare Map ${fmtInt(barePerCred)} B per credential, ready ${r1s(bare.readyMs)}`);
  results.coldStart = {
    big: { readyMs: big.readyMs, heap: bigHeap, index: Object.fromEntries(Object.entries(bigIndex).filter(([k]) => k.startsWith("portcullis_index_entries"))) },
    small: { readyMs: small.readyMs, heap: smallHeap }, bare: { readyMs: bare.readyMs, heap: bareHeap },
    bytesPerCredential: perCred, marginalBytesPerCredential: marginal, bareBytesPerCredential: barePerCred, breakdown,
  };
  const noMetrics = want("tput") ? await startPortcullis("portcullis-1M-nometrics", bigUrl, { env: { HTTP_METRICS: "0" } }) : null;

  // Every body through each server once: all 200, and the tokens are known (else hashes differ).
  const mix = await probeAnswers(big.base, bigPairs);
  const smallMix = await probeAnswers(small.base, smallPairs);
  for (const [name, m] of [["1M", mix], ["1k", smallMix]] as const) {
    if (Object.keys(m.status).some((s) => s !== "200")) throw new Error(`portcullis-${name} answered non-200 to load bodies: ${JSON.stringify(m.status)}`);
    if ((m.reasons["unknown_token"] ?? 0) > 0.05 * S.bodies) throw new Error(`portcullis-${name} does not know the generated tokens: ${JSON.stringify(m.reasons)}`);
  }
  say(`  decision mix, 1M: ${JSON.stringify(mix.reasons)}; 1k: ${JSON.stringify(smallMix.reasons)}`);
  results.decisionMix = { big: mix.reasons, small: smallMix.reasons };

  // ------------------------------------------------------------------------------------------
  // 4. Closed-loop throughput, rounds alternating over the four targets.
  let maxRps = NaN;
  if (want("tput")) {
    say(`\nthroughput (wrk -t${S.threads} -c${S.connections}, ${S.durationS} s × ${S.rounds} rounds, servers on core ${SERVER_CORE}, wrk on core ${LOAD_CORE})`);
    const tput = await compareThroughput([
      { name: "bare", base: bare.base, pid: bare.s.proc.pid, portcullis: false },
      { name: "1M", base: big.base, pid: big.s.proc.pid, portcullis: true },
      { name: "1k", base: small.base, pid: small.s.proc.pid, portcullis: true, lua: smallLua },
      { name: "1M-nometrics", base: noMetrics!.base, pid: noMetrics!.s.proc.pid, portcullis: true },
    ], {
      lua: bigLua, durationS: S.durationS, warmupS: S.warmupS, rounds: S.rounds,
      wrk: { threads: S.threads, connections: S.connections, core: LOAD_CORE },
      serverCore: Number(SERVER_CORE), wrkCore: Number(LOAD_CORE), pgPids,
    });
    for (const [k, v] of Object.entries(tput)) for (const r of v.runs) allCpu.push({ what: `wrk ${k}`, cpu: r.cpu });
    results.throughput = tput;
    const T = (k: string) => tput[k]!;
    const cpuNote = (a: Summary, b: Summary) => `per server CPU-s ${r2(a.rpsPerCpu / b.rpsPerCpu)}`;
    rows.push({
      key: "bare",
      figure: "verify ÷ bare Bun.serve (JSON parse + SHA-256 + Map.get + JSON), per server CPU-second, events on, 1M credentials",
      value: `${fmtInt(T("1M").rpsPerCpu)} req/CPU-s`, baseline: `${fmtInt(T("bare").rpsPerCpu)} req/CPU-s`,
      ratio: `${r2(T("1M").rpsPerCpu / T("bare").rpsPerCpu)} (raw ${rps(T("1M").rps)} vs ${rps(T("bare").rps)}: ${r2(T("1M").rps / T("bare").rps)})`, target: "≥ 0.90",
      verdict: T("1M").rpsPerCpu / T("bare").rpsPerCpu >= 0.9 ? "MET" : "NOT MET",
    });
    // Every verify is an access event: Postgres CPU while the 1M server runs flat out ÷ its events/s.
    const pgUsPerEvent = (T("1M").pgCpuPct / 100 / T("1M").rps) * 1e6;
    rows.push({
      key: "pgevent",
      figure: "Postgres CPU per stored access event (CPU of the scratch databases' backends ÷ events stored, 1M throughput rounds)",
      value: `${pgUsPerEvent.toFixed(1)} µs`, baseline: "12.5 µs (2026-11-22: ~30 % of a core at 24k events/s)",
      ratio: `${r2(pgUsPerEvent / 12.5)} (pg ${pctf(T("1M").pgCpuPct)} of a core at ${rps(T("1M").rps)})`, target: "≤ 0.5 (halve it)",
      verdict: pgUsPerEvent <= 6.25 ? "MET" : "NOT MET",
    });
    rows.push({
      key: "scale",
      figure: `verify throughput, 1M credentials ÷ ${fmtInt(S.smallCredentials)} credentials (same graph otherwise)`,
      value: rps(T("1M").rps), baseline: rps(T("1k").rps), ratio: `${r2(T("1M").rps / T("1k").rps)} (${cpuNote(T("1M"), T("1k"))})`, target: "≥ 0.95",
      verdict: T("1M").rps / T("1k").rps >= 0.95 ? "MET" : "NOT MET",
    });
    const metricsCost = 1 - T("1M").rps / T("1M-nometrics").rps;
    rows.push({
      key: "metrics",
      figure: "verify throughput, HTTP metrics on ÷ HTTP_METRICS=0 (cost of per-request metrics)",
      value: rps(T("1M").rps), baseline: rps(T("1M-nometrics").rps), ratio: `${r2(T("1M").rps / T("1M-nometrics").rps)} (${cpuNote(T("1M"), T("1M-nometrics"))})`, target: "≥ 0.95 (cost ≤ 5 %)",
      verdict: metricsCost <= 0.05 ? "MET" : "NOT MET",
    });
    await stopChild(noMetrics!.s.proc, 60_000);
    maxRps = T("1M").rps;
  }
  await stopChild(small.s.proc, 60_000);

  // ------------------------------------------------------------------------------------------
  // 5. Open-loop latency at 50 % of Portcullis's maximum; scrapes.
  if (want("open")) {
    if (!Number.isFinite(maxRps)) {
      maxRps = await wrkQuick(big.base, bigLua);
    }
    const rate = Math.max(100, Math.round(maxRps * 0.5));
    const openRounds = Math.max(1, Math.min(S.rounds, 2));
    say(`\nopen loop at ${fmtInt(rate)} req/s (50 % of Portcullis's ${fmtInt(maxRps)}), ${S.durationS} s × ${openRounds}, loadgen on core ${LOAD_CORE}`);
    const openOpts = (port: number): LoadOptions => ({ port, path: VERIFY_PATH, bodiesFile: bigBodies, mode: "open", connections: 64, durationS: S.durationS, rate });
    const open: Record<string, LoadResult[]> = { bare: [], "1M": [], "1M+scrape": [] };
    const openCpu: Record<string, CpuUse[]> = { bare: [], "1M": [], "1M+scrape": [] };
    const stalls: Record<string, LagStats[]> = { bare: [], "1M": [], "1M+scrape": [] };
    const scrapeMs: number[] = [];
    const scraper = (base: string) => {
      let on = true;
      const done = (async () => {
        while (on) {
          const t = performance.now();
          const res = await fetch(base + "/metrics", { signal: AbortSignal.timeout(10_000) });
          await res.text();
          scrapeMs.push(performance.now() - t);
          await sleep(Math.max(0, 100 - (performance.now() - t)));
        }
      })();
      return async () => {
        on = false;
        await done;
      };
    };
    for (let round = 1; round <= openRounds; round++) {
      for (const [name, sv] of [["bare", bare], ["1M", big], ["1M+scrape", big]] as const) {
        if (sv !== bare) await waitEventsFlushed(sv.base);
        const stopScrape = name === "1M+scrape" ? scraper(sv.base) : null;
        // The event-loop lag probe (probe.ts) runs in both servers alike: stalls (GC, scrapes) show.
        await fetch(sv.probe + "/lag/start");
        const [res, cpu] = await withCpu(processTree(sv.s.proc.pid), pgPids, Number(SERVER_CORE), Number(LOAD_CORE), () => loadgen(openOpts(sv.port)).result);
        await stopScrape?.();
        const stall = (await (await fetch(sv.probe + "/lag/stop")).json()) as LagStats;
        stalls[name]!.push(stall);
        open[name]!.push(res);
        openCpu[name]!.push(cpu);
        allCpu.push({ what: `open ${name}`, cpu });
        say(`  round ${round}/${openRounds} ${name.padEnd(10)} ${fmtInt(res.rps)} req/s, p50 ${fmtMs(res.latencyMs.p50)}, p99 ${fmtMs(res.latencyMs.p99)}, p99.9 ${fmtMs(res.latencyMs.p999)}, max ${fmtMs(res.latencyMs.max)}; ` +
          `generator lag p99 ${fmtMs(res.sendLagMs!.p99)}; event loop stalled max ${fmtMs(stall.max)} (${stall.over5ms} × > 5 ms); CPU server ${pctf(cpu.serverPct)}, pg ${pctf(cpu.pgPct)}, other ${pctf(cpu.otherPct)}${res.non2xx + res.errors + res.unanswered ? `; ${res.non2xx} non-2xx, ${res.errors} errors, ${res.unanswered} unanswered` : ""}`);
      }
    }
    const p99 = (k: string) => median(open[k]!.map((r) => r.latencyMs.p99));
    const lagP99 = median(Object.values(open).flat().map((r) => r.sendLagMs!.p99));
    rows.push({
      key: "p99",
      figure: `verify p99, open loop at ${fmtInt(rate)} req/s (50 % of max) ÷ bare at the same rate`,
      value: fmtMs(p99("1M")), baseline: fmtMs(p99("bare")),
      ratio: `${r2(p99("1M") / p99("bare"))} (event-loop stalls max ${fmtMs(Math.max(...stalls["1M"]!.map((x) => x.max)))} vs ${fmtMs(Math.max(...stalls.bare!.map((x) => x.max)))})`, target: "≤ 2",
      verdict: p99("1M") / p99("bare") <= 2 ? "MET" : "NOT MET",
    });
    const stallMax = (k: string) => Math.max(...stalls[k]!.map((x) => x.max));
    rows.push({
      key: "stall",
      figure: "max event-loop stall under the open-loop load (1 ms timer probe in the server), 1M ÷ bare",
      value: fmtMs(stallMax("1M")), baseline: fmtMs(stallMax("bare")),
      ratio: `${r2(stallMax("1M") / stallMax("bare"))} (stalls > 5 ms: ${stalls["1M"]!.reduce((n, x) => n + x.over5ms, 0)} vs ${stalls.bare!.reduce((n, x) => n + x.over5ms, 0)})`, target: "≤ 5 ms",
      verdict: stallMax("1M") <= 5 ? "MET" : "NOT MET",
    });
    // The scrape itself: wall time on an idle server, against a /healthz round trip, and the
    // event-loop stall the probe sees meanwhile.
    await waitEventsFlushed(big.base);
    const idleScrape: number[] = [], idleHealth: number[] = [];
    await fetch(big.probe + "/lag/start");
    let scrapeBytes = 0;
    for (let i = 0; i < 6; i++) {
      let t = performance.now();
      const body = await (await fetch(big.base + "/metrics")).text();
      idleScrape.push(performance.now() - t);
      scrapeBytes = body.length;
      await sleep(50);
      t = performance.now();
      await (await fetch(big.base + "/healthz")).text();
      idleHealth.push(performance.now() - t);
      await sleep(50);
    }
    const lag = (await (await fetch(big.probe + "/lag/stop")).json()) as LagStats;
    const sc = pcts(idleScrape), hc = pcts(idleHealth), loaded = pcts(scrapeMs);
    rows.push({
      key: "scrape",
      figure: `/metrics scrape on an idle server: wall time (${fmtInt(scrapeBytes)} bytes) ÷ a /healthz round trip; event-loop stall max`,
      value: `p50 ${fmtMs(sc.p50)}, max ${fmtMs(sc.max)}`, baseline: `p50 ${fmtMs(hc.p50)}`, ratio: `${r2(sc.p50 / hc.p50)}; stall max ${fmtMs(lag.max)}`, target: "report", verdict: "report",
    });
    rows.push({
      key: "scrapeP99",
      figure: "verify p99, open loop as above, /metrics scraped every 100 ms ÷ not scraped",
      value: fmtMs(p99("1M+scrape")), baseline: fmtMs(p99("1M")), ratio: `${r2(p99("1M+scrape") / p99("1M"))} (scrape under load p50 ${fmtMs(loaded.p50)})`, target: "report", verdict: "report",
    });
    results.openLoop = {
      rate, rounds: openRounds, generatorLagP99Ms: lagP99,
      runs: Object.fromEntries(Object.entries(open).map(([k, v]) => [k, v.map(({ buckets, ...x }) => x)])),
      cpu: openCpu, eventLoopStalls: stalls,
      scrape: { idleMs: sc, healthzMs: hc, underLoadMs: loaded, bytes: scrapeBytes, eventLoopLagMs: lag },
    };
    if (lagP99 > 0.5) notes.push(`the open-loop generator itself sent late (p99 ${fmtMs(lagP99)} behind schedule; latencies are measured from the due time, so its own lag inflates both p99s alike)`);
  }
  await stopChild(bare.s.proc);

  // ------------------------------------------------------------------------------------------
  // 6. WORKERS=2 against WORKERS=1.
  if (want("workers")) {
    say(`\nWORKERS=2 (not pinned) against WORKERS=1 (core ${SERVER_CORE}); wrk on core ${LOAD_CORE} in both`);
    const w2 = await startPortcullis("portcullis-1M-workers2", bigUrl, { workers: 2, core: null });
    // Both processes must be ready: the second one loads its own index after the first listens.
    await waitBothReady(w2);
    const nproc = await compareThroughput([
      { name: "workers=1", base: big.base, pid: big.s.proc.pid, portcullis: true },
      { name: "workers=2", base: w2.base, pid: w2.s.proc.pid, portcullis: true },
    ], {
      lua: bigLua, durationS: S.durationS, warmupS: S.warmupS, rounds: Math.max(1, Math.min(S.rounds, 2)),
      wrk: { threads: S.threads, connections: S.connections, core: LOAD_CORE }, serverCore: null, wrkCore: null, pgPids,
    });
    for (const [k, v] of Object.entries(nproc)) for (const r of v.runs) allCpu.push({ what: `wrk ${k}`, cpu: r.cpu });
    results.workers = nproc;
    rows.push({
      key: "workers",
      figure: "verify throughput, WORKERS=2 ÷ WORKERS=1 (2 cores: wrk competes with the second worker)",
      value: rps(nproc["workers=2"]!.rps), baseline: rps(nproc["workers=1"]!.rps),
      ratio: `${r2(nproc["workers=2"]!.rps / nproc["workers=1"]!.rps)} (server CPU ${pctf(nproc["workers=2"]!.serverCpuPct)} vs ${pctf(nproc["workers=1"]!.serverCpuPct)}, wrk ${pctf(nproc["workers=2"]!.wrkCpuPct)} vs ${pctf(nproc["workers=1"]!.wrkCpuPct)})`,
      target: "report", verdict: "report",
    });

    // ------------------------------------------------------------------------------------------
    // 7. Propagation to every process of the WORKERS=2 group, against a raw NOTIFY round trip.
    say(`\npropagation: ${S.propagationSamples} committed writes, each until the answer of both processes changed`);
    const prop = await measurePropagation(w2, bigUrl, bigPairs);
    results.propagation = prop;
    rows.push({
      key: "prop50",
      figure: "propagation p50: SQL write sent → verify answer changed at every process (WORKERS=2) ÷ raw NOTIFY round trip p50",
      value: fmtMs(prop.allMs.p50), baseline: fmtMs(prop.notifyMs.p50), ratio: r2(prop.allMs.p50 / prop.notifyMs.p50), target: "report", verdict: "report",
    });
    rows.push({
      key: "prop99",
      figure: "propagation p99 (write sent → changed at every process), beside a raw NOTIFY round trip p99",
      value: fmtMs(prop.allMs.p99), baseline: fmtMs(prop.notifyMs.p99),
      ratio: `${r2(prop.allMs.p99 / prop.notifyMs.p99)} (from the commit ack: p50 ${fmtMs(prop.fromAckMs.p50)}, p99 ${fmtMs(prop.fromAckMs.p99)})`, target: "≤ 10 ms",
      verdict: prop.allMs.p99 <= 10 ? "MET" : "NOT MET",
    });
    rows.push({
      key: "propw",
      figure: "propagation p99 ÷ a committed one-row write + NOTIFY round trip p99 (the floor for any write, WAL flush included)",
      value: fmtMs(prop.allMs.p99), baseline: fmtMs(prop.writeNotifyMs.p99), ratio: `${r2(prop.allMs.p99 / prop.writeNotifyMs.p99)} (p50 ${r2(prop.allMs.p50 / prop.writeNotifyMs.p50)})`, target: "report", verdict: "report",
    });
    await stopChild(w2.s.proc, 60_000);
  }

  // ------------------------------------------------------------------------------------------
  // 8. Throughput during a burst of changes, and during a full rebuild.
  if (want("churn")) {
    say(`\nthroughput during a burst of ${fmtInt(S.burst)} changes and during a full rebuild (loadgen closed loop, ${S.connections} connections, core ${LOAD_CORE})`);
    const churn = await measureChurn(big, bigUrl, bigBodies, pgPids);
    results.churn = churn;
    for (const c of churn.cpu) allCpu.push(c);
    rows.push({
      key: "burst",
      figure: `verify throughput during a burst of ${fmtInt(S.burst)} changes (${fmtInt(S.burst)} transactions, ${r1s(churn.burst.windowMs)}) ÷ without`,
      value: rps(churn.burst.rps), baseline: rps(churn.baselineRps), ratio: `${r2(churn.burst.rps / churn.baselineRps)} (per server CPU-s ${r2(churn.burst.rpsPerCpu / churn.baselineRpsPerCpu)})`, target: "≥ 0.90",
      verdict: churn.burst.rps / churn.baselineRps >= 0.9 ? "MET" : "NOT MET",
    });
    rows.push({
      key: "rebuild",
      figure: `verify throughput during a full rebuild (${r1s(churn.rebuild.windowMs)}, node behind a pruned log) ÷ without`,
      value: rps(churn.rebuild.rps), baseline: rps(churn.baselineRps), ratio: `${r2(churn.rebuild.rps / churn.baselineRps)} (longest 100 ms with no answer: ${fmtInt(churn.rebuild.zeroBucketsMs)} ms)`, target: "≥ 0.90",
      verdict: churn.rebuild.rps / churn.baselineRps >= 0.9 ? "MET" : "NOT MET",
    });
  }

  // Cold start last in the table but measured first.
  rows.push({
    key: "cold",
    figure: `cold start, ${fmtInt(graph.credentials)} credentials, ${fmtInt(graph.users)} users, ${fmtInt(graph.gates)} gates, ${fmtInt(graph.grants)} grants: spawn → ready`,
    value: r1s(big.readyMs), baseline: `bare Map ${r1s(bare.readyMs)}`,
    ratio: `in-process: snapshot load ${r1s(breakdown.loadSnapshotMs)} + index build ${r1s(breakdown.fromSnapshotMs)} (the service does both in a worker thread)`,
    target: "≤ 4 s", verdict: big.readyMs <= 4_000 ? "MET" : "NOT MET",
  });
  rows.push({
    key: "heap",
    figure: "memory per credential, all in: JSC heap incl. array buffers after a full GC ÷ credentials (marginal: Δ 1M−1k ÷ Δcredentials)",
    value: `${fmtInt(perCred)} B (marginal ${fmtInt(marginal)} B)`, baseline: `bare Map ${fmtInt(barePerCred)} B`,
    ratio: `${r2(perCred / barePerCred)} (of it in typed arrays: ${fmtInt(bigHeap.extraMemorySize / graph.credentials)} B; ${fmtInt(bigHeap.objectCount)} heap objects)`, target: "≤ 150 B",
    verdict: perCred <= 150 ? "MET" : "NOT MET",
  });
  rows.push({
    key: "gc",
    figure: "forced full garbage collection (Bun.gc(true)) of the 1M server, idle",
    value: fmtMs(bigHeap.gcMs), baseline: `bare Map ${fmtMs(bareHeap.gcMs)}`, ratio: r2(bigHeap.gcMs / bareHeap.gcMs), target: "≤ 10 ms",
    verdict: bigHeap.gcMs <= 10 ? "MET" : "NOT MET",
  });
  await stopChild(big.s.proc, 60_000);

  // ------------------------------------------------------------------------------------------
  // Noise and the table.
  const noiseAfter = await backgroundLoad(3000);
  const others = allCpu.map((c) => c.cpu.otherPct).filter(Number.isFinite);
  const noise = {
    backgroundBeforePct: noiseBefore, backgroundAfterPct: noiseAfter,
    otherDuringRunsPct: { median: median(others), max: Math.max(...others) },
    stealMaxPct: Math.max(...allCpu.flatMap((c) => c.cpu.cores.map((x) => x.stealPct))),
  };
  results.noise = noise;
  const order = ["gc", "stall", "bare", "pgevent", "scale", "p99", "prop50", "prop99", "propw", "burst", "rebuild", "cold", "heap", "decide", "workers", "metrics", "scrape", "scrapeP99"];
  const sorted = order.flatMap((k) => rows.filter((r) => r.key === k));
  const text = [
    "",
    `Portcullis benchmarks — ${started.toISOString()} — ${cores} cores (${cpuModel}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Bun ${Bun.version}, PostgreSQL ${pgVersion}, ${wrkVersion.split(" Copyright")[0]}`,
    `graph: ${fmtInt(graph.users)} users, ${fmtInt(graph.gates)} gates in ${fmtInt(graph.zones)} zones, ${fmtInt(graph.groups)} groups (depth ${graph.groupDepth}), ` +
      `${fmtInt(graph.users * graph.membershipsPerUser)} memberships, ${fmtInt(graph.grants)} grants, ${fmtInt(graph.credentials)} credentials; generated in ${r1s(generateMs)}; ` +
      `${fmtInt(S.bodies)} distinct verify bodies; runs of ${S.durationS} s, medians of ${S.rounds} rounds; servers on core ${SERVER_CORE}, load on core ${LOAD_CORE} unless said`,
    "",
    table([["figure", "measured", "baseline (same run)", "ratio", "target", ""], ...sorted.map((r) => [r.figure, r.value, r.baseline, r.ratio, r.target, r.verdict])], ["l", "r", "r", "l", "l", "l"]),
    "",
    `noise: background load before/after the run ${noiseBefore.map(pctf).join("/")} → ${noiseAfter.map(pctf).join("/")} per core; CPU taken by other processes during the measurements ` +
      `median ${pctf(noise.otherDuringRunsPct.median)}, max ${pctf(noise.otherDuringRunsPct.max)} of one core; steal max ${pctf(noise.stealMaxPct)}`,
    ...notes.map((n) => `note: ${n}`),
    "",
  ].join("\n");
  say(text);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${started.toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify({
    bench: "suite", started: started.toISOString(), finished: new Date().toISOString(),
    machine: { cores, cpu: cpuModel, memoryBytes: totalmem(), bun: Bun.version, postgres: pgVersion, wrk: wrkVersion, serverCore: SERVER_CORE, loadCore: LOAD_CORE },
    settings: { ...S, pgUrl: undefined }, table: sorted, text, ...results,
  }, null, 2) + "\n");
  say(`results: ${file.slice(ROOT.length + 1)}`);
}

/** A WORKERS=N group is ready when every process answers /readyz: connections spread over them. */
async function waitBothReady(sv: Server, n = 2): Promise<void> {
  const until = Date.now() + S.readyTimeoutS * 1000;
  while (Date.now() < until) {
    const pids = processTree(sv.s.proc.pid);
    if (pids.length >= n) {
      const ids = await processIds(sv.port, 16);
      if (ids.size >= n) {
        for (const c of ids.values()) c.close();
        return;
      }
      for (const c of ids.values()) c.close();
    }
    await sleep(250);
  }
  throw new Error(`${sv.name}: not all ${n} processes answered within ${S.readyTimeoutS} s`);
}

/**
 * Opens up to `max` keep-alive connections and tells which process each reached, by the prefix of
 * the X-Request-Id the process generates (a per-process boot id, src/http/observe.ts); answers one
 * ready connection per process. With SO_REUSEPORT the kernel spreads connections, not requests,
 * over the processes, so a connection stays with its process for its life. (Not /metrics: a
 * scrape blocks a process for a while, see BENCHMARKS.md.)
 */
async function processIds(port: number, max: number): Promise<Map<string, Http1>> {
  const byProc = new Map<string, Http1>();
  for (let i = 0; i < max && byProc.size < 2; i++) {
    const c = await Http1.connect(port);
    const ready = await c.request("GET", "/readyz");
    const rid = /\r\nx-request-id: *([^\r\n]+)/i.exec(ready.head)?.[1];
    if (!rid) throw new Error("no X-Request-Id in the answer: cannot tell the processes apart");
    const id = rid.slice(0, rid.lastIndexOf("-"));
    if (ready.status === 200 && !byProc.has(id)) byProc.set(id, c);
    else c.close();
  }
  return byProc;
}

interface Propagation {
  samples: number;
  /** Write sent → the answer of the LAST process to change, ms. */
  allMs: ReturnType<typeof pcts>;
  /** Write sent → each process's change, ms. */
  perProcessMs: ReturnType<typeof pcts>[];
  /** Write sent → the write's commit acknowledged to the writer, ms. */
  commitAckMs: ReturnType<typeof pcts>;
  /** The probe's own verify round trip (the resolution of "changed at"), ms. */
  pollRttMs: ReturnType<typeof pcts>;
  notifyMs: ReturnType<typeof pcts>;
  /** A committed one-row UPDATE and its NOTIFY in one statement → received: the floor for any write's propagation (WAL flush included). */
  writeNotifyMs: ReturnType<typeof pcts>;
  /** Commit acknowledged → the answer of the last process changed (negative: changed before the ack arrived). */
  fromAckMs: ReturnType<typeof pcts>;
}

async function measurePropagation(sv: Server, url: string, pairs: VerifyPair[]): Promise<Propagation> {
  const conns = [...(await processIds(sv.port, 64)).values()];
  if (conns.length < 2) throw new Error("propagation: could not reach two distinct processes");
  // Credentials that are granted now: a revocation flips them to revoked_token, a reinstatement back.
  const candidates: Array<{ token: string; gate: string; id: string }> = [];
  for (const p of pairs) {
    if (candidates.length >= 50) break;
    const r = JSON.parse((await conns[0]!.request("POST", VERIFY_PATH, JSON.stringify({ gate_id: p.gate_id, token: p.token }))).body) as { reason: string };
    const n = Number(/(\d+)$/.exec(p.token)![1]);
    if (r.reason === "granted" && p.token === secretFor(n)) candidates.push({ token: p.token, gate: p.gate_id, id: `c_bench_${String(n).padStart(9, "0")}` });
  }
  if (candidates.length < 2) throw new Error("propagation: no granted credentials among the load bodies");
  const writer = trackedSql(url, { max: 1 });
  const listener = trackedSql(url, { max: 1 });
  const notifier = trackedSql(url, { max: 1 });
  await writer`select 1`;
  const all: number[] = [], ack: number[] = [], rtt: number[] = [], notify: number[] = [], writeNotify: number[] = [], fromAck: number[] = [];
  const per: number[][] = conns.map(() => []);
  const reasonOf = async (c: Http1, body: string) => {
    const t = performance.now();
    const r = JSON.parse((await c.request("POST", VERIFY_PATH, body)).body) as { reason: string };
    rtt.push(performance.now() - t);
    return r.reason;
  };
  for (let i = 0; i < S.propagationSamples; i++) {
    const cand = candidates[i % candidates.length]!;
    const body = JSON.stringify({ gate_id: cand.gate, token: cand.token });
    const before = await Promise.all(conns.map((c) => reasonOf(c, body)));
    if (before[0] !== before[1]) throw new Error(`propagation: processes disagree before the write: ${before.join(" / ")}`);
    const t0 = performance.now();
    const write = writer`update credentials set revoked_at = case when revoked_at is null then now() end where id = ${cand.id}`.then(() => ack.push(performance.now() - t0));
    const changed = await within(10_000, "propagation", Promise.all(conns.map(async (c, k) => {
      for (;;) {
        const r = await reasonOf(c, body);
        if (r !== before[k]) {
          const ms = performance.now() - t0;
          per[k]!.push(ms);
          return ms;
        }
      }
    })));
    await write;
    all.push(Math.max(...changed));
    fromAck.push(Math.max(...changed) - ack[ack.length - 1]!);
    await sleep(10 + (i % 7) * 3);
  }
  // The baseline: NOTIFY sent → received by a LISTEN connection, through the same driver.
  let got: ((at: number) => void) | null = null;
  await listener.listen("pcl_bench_rt", () => got?.(performance.now()));
  await notifier`select 1`;
  for (let i = 0; i < S.propagationSamples; i++) {
    const received = new Promise<number>((resolve) => (got = resolve));
    const t0 = performance.now();
    await notifier`select pg_notify('pcl_bench_rt', ${String(i)})`;
    notify.push((await within(10_000, "notify round trip", received)) - t0);
    await sleep(10 + (i % 7) * 3);
  }
  // The floor for a committed write: one UPDATE and its NOTIFY in one autocommit statement.
  await notifier`create table if not exists pcl_bench_rt (n int not null)`;
  await notifier`insert into pcl_bench_rt select 0 where not exists (select 1 from pcl_bench_rt)`;
  for (let i = 0; i < S.propagationSamples; i++) {
    const received = new Promise<number>((resolve) => (got = resolve));
    const t0 = performance.now();
    await notifier`with u as (update pcl_bench_rt set n = n + 1 returning n) select pg_notify('pcl_bench_rt', n::text) from u`;
    writeNotify.push((await within(10_000, "write + notify round trip", received)) - t0);
    await sleep(10 + (i % 7) * 3);
  }
  for (const c of conns) c.close();
  await endSql(writer);
  await endSql(listener);
  await endSql(notifier);
  const res: Propagation = {
    samples: all.length, allMs: pcts(all), perProcessMs: per.map(pcts), commitAckMs: pcts(ack), pollRttMs: pcts(rtt), notifyMs: pcts(notify),
    writeNotifyMs: pcts(writeNotify), fromAckMs: pcts(fromAck),
  };
  say(`  write → changed at both: p50 ${fmtMs(res.allMs.p50)}, p99 ${fmtMs(res.allMs.p99)}, max ${fmtMs(res.allMs.max)}; commit ack p50 ${fmtMs(res.commitAckMs.p50)}; ` +
    `probe round trip p50 ${fmtMs(res.pollRttMs.p50)}; raw NOTIFY round trip p50 ${fmtMs(res.notifyMs.p50)}, p99 ${fmtMs(res.notifyMs.p99)}; ` +
    `committed write + NOTIFY p50 ${fmtMs(res.writeNotifyMs.p50)}, p99 ${fmtMs(res.writeNotifyMs.p99)}; from the commit ack p50 ${fmtMs(res.fromAckMs.p50)}, p99 ${fmtMs(res.fromAckMs.p99)}`);
  return res;
}

interface Churn {
  baselineRps: number;
  baselineRpsPerCpu: number;
  burst: { windowMs: number; rps: number; rpsPerCpu: number; transactions: number; writeMs: number; catchUpMs: number };
  rebuild: { windowMs: number; rps: number; zeroBucketsMs: number; rebuilds: number };
  cpu: Array<{ what: string; cpu: CpuUse }>;
}

async function measureChurn(sv: Server, url: string, bodiesFile: string, pgPids: () => Promise<number[]>): Promise<Churn> {
  const cpuOut: Array<{ what: string; cpu: CpuUse }> = [];
  const opts = (durationS: number): LoadOptions => ({ port: sv.port, path: VERIFY_PATH, bodiesFile, mode: "closed", connections: S.connections, durationS });
  const pids = () => processTree(sv.s.proc.pid);
  // Baseline: the same load, nothing else.
  await waitEventsFlushed(sv.base);
  const [base, baseCpu] = await withCpu(pids(), pgPids, Number(SERVER_CORE), Number(LOAD_CORE), () => loadgen(opts(S.durationS)).result);
  cpuOut.push({ what: "closed baseline", cpu: baseCpu });
  const baselineRps = windowRps(base, base.startedAtMs + 1000, base.startedAtMs + S.durationS * 1000).rps;
  const baselineRpsPerCpu = base.rps / (baseCpu.serverPct / 100);
  say(`  baseline ${fmtInt(baselineRps)} req/s (CPU server ${pctf(baseCpu.serverPct)}, pg ${pctf(baseCpu.pgPct)})`);

  // Burst: S.burst transactions, 4 connections, each one UPDATE (a credential's label or a user
  // grant's validity: the index recompiles that user) through the same triggers as an admin write.
  const w = trackedSql(url, { max: 4 });
  const grants = await w<{ id: string }[]>`select id from grants where subject_user_id is not null order by id limit 2000`;
  const headOf = async () => Number((await w<{ n: number }[]>`select n from pcl_revision`)[0]!.n);
  await waitEventsFlushed(sv.base);
  const lg = loadgen(opts(S.durationS + 120));
  await sleep(1000);
  const [burst, burstCpu] = await withCpu(pids(), pgPids, Number(SERVER_CORE), Number(LOAD_CORE), async () => {
    const t0 = Date.now();
    let next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next < S.burst) {
        const i = next++;
        if (i % 2 === 0) await w`update credentials set label = ${"burst " + i} where id = ${`c_bench_${String((i * 7919) % graph.credentials + 1).padStart(9, "0")}`}`;
        else await w`update grants set valid_until = ${new Date(Date.now() + 86_400_000 * (1 + (i % 30)))} where id = ${grants[i % grants.length]!.id}`;
      }
    }));
    const tWritten = Date.now();
    const head = await headOf();
    for (;;) {
      const r = (await (await fetch(sv.base + "/readyz")).json()) as { revision: number };
      if (r.revision >= head) break;
      await sleep(20);
    }
    return { t0, tWritten, tCaught: Date.now() };
  });
  lg.stop();
  const burstLoad = await lg.result;
  cpuOut.push({ what: "closed burst", cpu: burstCpu });
  const bw = windowRps(burstLoad, burst.t0, burst.tCaught);
  const burstRes = {
    windowMs: burst.tCaught - burst.t0, rps: bw.rps, rpsPerCpu: (bw.rps / (burstCpu.serverPct / 100)), transactions: S.burst,
    writeMs: burst.tWritten - burst.t0, catchUpMs: burst.tCaught - burst.tWritten,
  };
  say(`  burst: ${fmtInt(S.burst)} transactions written in ${r1s(burstRes.writeMs)}, index caught up ${fmtInt(burstRes.catchUpMs)} ms later; ${fmtInt(bw.rps)} req/s meanwhile ` +
    `(CPU server ${pctf(burstCpu.serverPct)}, pg ${pctf(burstCpu.pgPct)}, other ${pctf(burstCpu.otherPct)})`);

  // Rebuild: the node falls behind a pruned log. SIGSTOP it, commit a change, prune the log
  // through it, SIGCONT: its notification (or 2 s heartbeat) finds the log pruned past what it
  // applied, and it rebuilds from a snapshot while answering verifies from the old index.
  await waitEventsFlushed(sv.base);
  const lg2 = loadgen(opts(S.durationS + 300));
  await sleep(2000);
  const pidsNow = pids();
  for (const p of pidsNow) process.kill(p, "SIGSTOP");
  await w`update credentials set label = 'rebuild' where id = 'c_bench_000000001'`;
  await w`select pcl_prune_change_log('0 seconds')`;
  const head = await headOf();
  await sleep(50);
  const tCont = Date.now();
  for (const p of pidsNow) process.kill(p, "SIGCONT");
  // Rebuilt when /readyz reports the head revision: the log cannot bring it there, only a snapshot.
  // (Not /metrics: its scrape would block the service meanwhile.)
  for (;;) {
    const r = (await (await fetch(sv.base + "/readyz", { signal: AbortSignal.timeout(S.readyTimeoutS * 1000) })).json()) as { revision: number };
    if (r.revision >= head) break;
    if (Date.now() - tCont > S.readyTimeoutS * 1000) throw new Error("rebuild: the node did not reach the head revision");
    await sleep(50);
  }
  const tRebuilt = Date.now();
  const rebuilds = (await metrics(sv.base))["portcullis_feed_rebuilds_total"] ?? 0;
  await sleep(1000);
  lg2.stop();
  const rb = await lg2.result;
  const rw = windowRps(rb, tCont, tRebuilt);
  const b0 = Math.max(0, Math.floor((tCont - rb.startedAtMs) / rb.bucketMs)), b1 = Math.min(rb.buckets.length, Math.ceil((tRebuilt - rb.startedAtMs) / rb.bucketMs));
  let zeroRun = 0, longest = 0;
  for (let i = b0; i < b1; i++) {
    zeroRun = rb.buckets[i] === 0 ? zeroRun + 1 : 0;
    longest = Math.max(longest, zeroRun);
  }
  const rebuildRes = { windowMs: tRebuilt - tCont, rps: rw.rps, zeroBucketsMs: longest * rb.bucketMs, rebuilds };
  say(`  rebuild: ${r1s(rebuildRes.windowMs)} from SIGCONT to rebuilt, ${fmtInt(rw.rps)} req/s meanwhile; longest stretch without an answer ${fmtInt(rebuildRes.zeroBucketsMs)} ms`);
  await endSql(w);
  return { baselineRps, baselineRpsPerCpu, burst: burstRes, rebuild: rebuildRes, cpu: cpuOut };
}

const deadlineMs = process.env.BENCH_DEADLINE
  ? seconds("BENCH_DEADLINE", "0s") * 1000
  : (900 + ((graph.credentials + graph.grants) / 1e6) * 300 + S.readyTimeoutS * 6 + S.rounds * 10 * (S.durationS + 30) + 20 * (S.warmupS + 30)) * 1000;
await runMain(main, deadlineMs);
