// Verify throughput and latency of the real service against a bare Bun.serve baseline.
//
//   bun bench/verify.ts            (this figure alone; the whole suite: bun run bench → bench/run.ts)
//
// What it does, all bounded by timeouts, everything cleaned up on success, error or Ctrl-C:
//   1. makes sure wrk and taskset exist (apt-get install -y wrk when wrk is missing);
//   2. creates a scratch database pcl_bench_*, applies migrations (src/db/migrate.ts) and generates
//      the graph of bench/graph.ts with set-based SQL in one transaction (one revision);
//   3. starts `taskset -c 0 bun src/main.ts` (WORKERS=1) and `taskset -c 0 bun bench/bare-server.ts`,
//      waits for /readyz, and sends every load body once to each to check the answers;
//   4. warms each target up once (wrk, 3 s), then for each round measures bare and Portcullis in
//      turn (wrk pinned to core 1; before a Portcullis run, waits until its access events are
//      flushed); parses req/s and the latency distribution, and accounts the CPU each process and
//      each core used during the run (/proc), so a run starved by other load on the machine shows;
//   5. prints a table and writes bench/results/verify-<timestamp>.json; stops both servers and drops
//      the scratch database.
// compareThroughput (below) is the reusable part: bench/run.ts measures several pairs with it.
// Processes, databases, wrk and the CPU accounting live in bench/harness.ts.
//
// Knobs (env): BENCH_DURATION=10s BENCH_WARMUP=3s BENCH_CONNECTIONS=50 BENCH_THREADS=1
//   BENCH_BODIES=2000 BENCH_ROUNDS=3 BENCH_TARGET_RATIO=0.90 BENCH_KEEP_DB=0
//   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test (where to create the scratch database)
//   BENCH_READY_TIMEOUT=120s BENCH_DEADLINE=<whole run>, plus the graph sizes of bench/graph.ts (BENCH_USERS, BENCH_CREDENTIALS …).
//
// wrk is closed-loop: right for throughput; its latency figures are those of a saturated server
// (coordinated omission), comparable between the two targets but not a fixed-rate latency.
// Figures are medians over the rounds; bare and Portcullis alternate, so drift hits both alike.
// "req/CPU-s" (requests per second of server CPU) is the steadier comparison when something else
// on the machine takes CPU from the server or from wrk: req/s drops, req/CPU-s hardly moves.
// Portcullis also makes Postgres work (access-event inserts); that is shown apart ("pg"), since
// Postgres runs unpinned on the same two cores here but on its own host in production.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { migrate } from "../src/db/migrate";
import { hashSecret } from "../src/tokens";
import { checkSecretHashes, generateGraph, graphParamsFromEnv, sampleVerifyPairs, type GraphStats } from "./graph";
import {
  createScratchDb, endSql, ensureTools, fmtInt, fmtMs, freePort, int, loadSettings, median, metrics, pctf, probeAnswers, processTree, RESULTS_DIR,
  ROOT, run, runMain, say, seconds, setPg, spawnChild, stopChild, table, trackedSql, trackTmp, VERIFY_PATH, waitEventsFlushed, waitReady,
  withCpu, wrk, luaScript, type CpuUse, type WrkOptions, type WrkResult,
} from "./harness";

// ---------------------------------------------------------------------------------------------
// The comparison, reusable: bench/run.ts calls it for several pairs of targets.

export interface Target {
  name: string;
  /** http://host:port */
  base: string;
  /** The server's process (its descendants are accounted too). */
  pid: number;
  /** A Portcullis server: wait for its access events to be flushed before each run. */
  portcullis: boolean;
  /** Its own wrk script (else CompareOptions.lua). */
  lua?: string;
}

export interface Run extends WrkResult {
  cpu: CpuUse;
  /** Requests per second of server CPU time. */
  rpsPerCpu: number;
}

export interface Summary {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  rpsPerCpu: number;
  serverCpuPct: number;
  wrkCpuPct: number;
  pgCpuPct: number;
  otherOnServerCorePct: number;
  otherOnWrkCorePct: number;
  otherPct: number;
  non2xx: number;
  socketErrors: number;
  runs: Array<Omit<Run, "raw">>;
}

export function summarise(runs: Run[]): Summary {
  const med = (f: (r: Run) => number) => median(runs.map(f));
  return {
    rps: med((r) => r.rps),
    p50Ms: med((r) => r.p50Ms),
    p99Ms: med((r) => r.p99Ms),
    rpsPerCpu: med((r) => r.rpsPerCpu),
    serverCpuPct: med((r) => r.cpu.serverPct),
    wrkCpuPct: med((r) => r.cpu.wrkPct),
    pgCpuPct: med((r) => r.cpu.pgPct),
    otherOnServerCorePct: med((r) => r.cpu.otherOnServerCorePct),
    otherOnWrkCorePct: med((r) => r.cpu.otherOnWrkCorePct),
    otherPct: med((r) => r.cpu.otherPct),
    non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
    socketErrors: runs.reduce((a, r) => a + r.socketErrors, 0),
    runs: runs.map(({ raw, ...r }) => r),
  };
}

export interface CompareOptions {
  lua: string;
  durationS: number;
  warmupS: number;
  rounds: number;
  wrk: WrkOptions;
  /** Cores the servers and wrk are pinned to (for "other on core"); null when not pinned. */
  serverCore: number | null;
  wrkCore: number | null;
  /** The scratch databases' Postgres backends, to account their CPU apart. */
  pgPids: () => Promise<number[]>;
  label?: string;
}

/**
 * wrk against each target in turn, round after round (so drift on the machine hits all alike),
 * after one warm-up each; answers the median of the rounds per target, with the CPU each used.
 */
export async function compareThroughput(targets: Target[], o: CompareOptions): Promise<Record<string, Summary>> {
  for (const t of targets) {
    if (t.portcullis) await waitEventsFlushed(t.base);
    if (o.warmupS > 0) {
      say(`  warm-up ${t.name}: ${o.warmupS} s`);
      await wrk(t.base + VERIFY_PATH, t.lua ?? o.lua, o.warmupS, o.wrk);
    }
  }
  const runs: Record<string, Run[]> = Object.fromEntries(targets.map((t) => [t.name, []]));
  for (let round = 1; round <= o.rounds; round++) {
    for (const t of targets) {
      if (t.portcullis) await waitEventsFlushed(t.base);
      const [r, cpu] = await withCpu(processTree(t.pid), o.pgPids, o.serverCore, o.wrkCore, () => wrk(t.base + VERIFY_PATH, t.lua ?? o.lua, o.durationS, o.wrk));
      const run: Run = { ...r, cpu, rpsPerCpu: r.rps / (cpu.serverPct / 100) };
      runs[t.name]!.push(run);
      say(`  ${o.label ? o.label + " " : ""}round ${round}/${o.rounds} ${t.name.padEnd(12)} ${fmtInt(r.rps).padStart(7)} req/s, p50 ${fmtMs(r.p50Ms)}, p99 ${fmtMs(r.p99Ms)}; ` +
        `CPU: server ${pctf(cpu.serverPct)}, wrk ${pctf(cpu.wrkPct)}, pg ${pctf(cpu.pgPct)}, ` +
        (o.serverCore !== null ? `other on core ${o.serverCore} ${pctf(cpu.otherOnServerCorePct)} / core ${o.wrkCore} ${pctf(cpu.otherOnWrkCorePct)}` : `other ${pctf(cpu.otherPct)}`) +
        `${r.non2xx ? `; ${r.non2xx} non-2xx` : ""}${r.socketErrors ? `; ${r.socketErrors} socket errors` : ""}`);
    }
  }
  return Object.fromEntries(targets.map((t) => [t.name, summarise(runs[t.name]!)]));
}

// ---------------------------------------------------------------------------------------------
// Standalone: portcullis against the bare baseline on one generated graph.

async function main(): Promise<void> {
  const settings = { ...loadSettings(), readyTimeoutS: seconds("BENCH_READY_TIMEOUT", "120s") };
  const graph = graphParamsFromEnv();
  const started = new Date();
  const cores = availableParallelism();
  const [serverCore, wrkCore] = cores >= 2 ? ["0", "1"] : ["0", "0"];
  say(`Portcullis verify benchmark — ${cores} cores (${cpus()[0]?.model ?? "?"}), Bun ${Bun.version}`);
  if (cores < 2) say("warning: fewer than 2 cores; server and wrk share core 0, figures are not comparable to 2-core runs");

  await ensureTools();
  const wrkVersion = (await run(["wrk", "-v"], 10_000)).out.split("\n")[0]!.trim();

  // Scratch database, migrations, graph.
  const adminSql = setPg(settings.pgUrl, settings.keepDb);
  const scratchDb = `pcl_bench_${Date.now().toString(36)}_${process.pid}`;
  const databaseUrl = await createScratchDb(scratchDb);
  say(`scratch database ${scratchDb}`);

  const scratchSql = trackedSql(databaseUrl, { max: 2, statementTimeoutMs: 0 });
  const applied = await migrate(scratchSql);
  say(`migrations applied: ${applied.join(", ")}`);
  say(`generating graph: ${Object.entries(graph).map(([k, v]) => `${k}=${v}`).join(" ")}`);
  const stats: GraphStats = await generateGraph(scratchSql, graph);
  say(`graph generated in ${(stats.ms / 1000).toFixed(1)} s (${stats.mode}) at revision ${stats.revision}: ${Object.entries(stats.rows).map(([k, v]) => `${k} ${fmtInt(v)}`).join(", ")}`);
  await checkSecretHashes(scratchSql, graph.credentials, hashSecret);
  const pairs = await sampleVerifyPairs(scratchSql, graph, settings.bodies);
  await endSql(scratchSql);

  const tmp = trackTmp(mkdtempSync(join(tmpdir(), "pcl-bench-")));
  const lua = join(tmp, "verify.lua");
  writeFileSync(lua, luaScript(pairs));

  // Servers, both pinned to the server core; the idle one costs nothing while the other is measured.
  const pcPort = freePort();
  const pc = spawnChild("portcullis", ["taskset", "-c", serverCore, process.execPath, "src/main.ts"], {
    DATABASE_URL: databaseUrl, WORKERS: "1", PORT: String(pcPort), LOG_LEVEL: "warn", DEMO_DATA: "0", HOST: "127.0.0.1",
  });
  const pcBase = `http://127.0.0.1:${pcPort}`;
  const t0 = performance.now();
  await waitReady("portcullis", pc, pcBase + "/readyz", settings.readyTimeoutS * 1000);
  const pcReadyMs = Math.round(performance.now() - t0);
  say(`portcullis ready on :${pcPort} in ${(pcReadyMs / 1000).toFixed(1)} s (pid ${pc.proc.pid}, core ${serverCore})`);

  const barePort = freePort();
  const bare = spawnChild("bare", ["taskset", "-c", serverCore, process.execPath, "bench/bare-server.ts"], {
    PORT: String(barePort), BENCH_CREDENTIALS: String(graph.credentials), BENCH_USERS: String(graph.users),
  });
  const bareBase = `http://127.0.0.1:${barePort}`;
  await waitReady("bare", bare, bareBase + "/readyz", settings.readyTimeoutS * 1000);
  say(`bare server ready on :${barePort} (pid ${bare.proc.pid}, core ${serverCore})`);

  // Every body once through each server: all 200, and Portcullis decides known tokens (a hash
  // mismatch would show as unknown_token everywhere).
  const pcProbe = await probeAnswers(pcBase, pairs);
  const bareProbe = await probeAnswers(bareBase, pairs);
  const fmtCounts = (o: Record<string, number>) => Object.entries(o).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ");
  say(`decision mix of the ${pairs.length} bodies (portcullis): ${fmtCounts(pcProbe.reasons)}`);
  for (const [name, p] of [["portcullis", pcProbe], ["bare", bareProbe]] as const) {
    const bad = Object.entries(p.status).filter(([s]) => s !== "200");
    if (bad.length) throw new Error(`${name} answered non-200 to load bodies: ${fmtCounts(p.status)}`);
  }
  const unknownShare = (pcProbe.reasons["unknown_token"] ?? 0) / pairs.length;
  if (unknownShare > 0.05) throw new Error(`portcullis does not know the generated tokens (${(unknownShare * 100).toFixed(0)} % unknown_token): hashes differ?`);

  // The service's own Postgres backends (pool, listener, event writer), to account their CPU.
  const pgPids = async () =>
    (await adminSql<{ pid: number }[]>`select pid from pg_stat_activity where datname = ${scratchDb}`).map((r) => r.pid);

  const eventsBefore = await metrics(pcBase);
  const res = await compareThroughput([
    { name: "bare", base: bareBase, pid: bare.proc.pid, portcullis: false },
    { name: "portcullis", base: pcBase, pid: pc.proc.pid, portcullis: true },
  ], {
    lua, durationS: settings.durationS, warmupS: settings.warmupS, rounds: settings.rounds,
    wrk: { threads: settings.threads, connections: settings.connections, core: wrkCore },
    serverCore: Number(serverCore), wrkCore: Number(wrkCore), pgPids,
  });
  const pcMetrics = await metrics(pcBase);
  const flushedDuring = (pcMetrics["portcullis_events_flushed_total"] ?? 0) - (eventsBefore["portcullis_events_flushed_total"] ?? 0);
  await waitEventsFlushed(pcBase);
  const pcMetricsEnd = await metrics(pcBase);

  // Stop the servers before reporting: Portcullis drains its events on SIGTERM.
  await stopChild(pc.proc, 60_000);
  await stopChild(bare.proc);

  const b = res.bare!;
  const p = res.portcullis!;
  const ratio = p.rps / b.rps;
  const cpuRatio = p.rpsPerCpu / b.rpsPerCpu;
  const met = ratio >= settings.targetRatio;
  const header = `wrk -t${settings.threads} -c${settings.connections}, ${settings.durationS} s per run after a ${settings.warmupS} s warm-up, ` +
    `${pairs.length} bodies rotated; server on core ${serverCore}, wrk on core ${wrkCore}; median of ${settings.rounds} round${settings.rounds > 1 ? "s" : ""}`;
  const err = (x: Summary) => String(x.non2xx + x.socketErrors);
  const notes: string[] = [];
  const all = [...b.runs, ...p.runs];
  const unsaturated = all.filter((r) => r.cpu.serverPct < 90).length;
  if (unsaturated) {
    notes.push(`note: in ${unsaturated} of ${all.length} runs the server used < 90 % of its core: it was not the bottleneck (wrk starved, or other load on the machine); req/s understates it, req/CPU-s is the steadier figure`);
  }
  const busyOthers = Math.max(...all.map((r) => Math.max(r.cpu.otherOnServerCorePct, r.cpu.otherOnWrkCorePct)));
  if (busyOthers > 15) {
    notes.push(`note: up to ${pctf(busyOthers)} of a benchmark core went to processes other than the server and wrk (kernel networking; ` +
      `Postgres — in Portcullis runs mostly its own access-event inserts, the pg column; anything else running): compare runs with care`);
  }
  const report = [
    "",
    `POST ${VERIFY_PATH} — ${header}`,
    `graph: ${fmtInt(stats.rows.users!)} users, ${fmtInt(stats.rows.gates!)} gates in ${fmtInt(stats.rows.zones!)} zones, ${fmtInt(stats.rows.groups!)} groups (depth ${graph.groupDepth}), ` +
      `${fmtInt(stats.rows.memberships!)} memberships, ${fmtInt(stats.rows.grants!)} grants, ${fmtInt(stats.rows.credentials!)} credentials (revision ${stats.revision})`,
    `decisions in the load: ${fmtCounts(pcProbe.reasons)}`,
    "",
    table([
      ["target", "req/s", "p50", "p99", "server CPU", "req/CPU-s", "pg CPU", "errors"],
      ["portcullis", fmtInt(p.rps), fmtMs(p.p50Ms), fmtMs(p.p99Ms), pctf(p.serverCpuPct), fmtInt(p.rpsPerCpu), pctf(p.pgCpuPct), err(p)],
      ["bare Bun.serve", fmtInt(b.rps), fmtMs(b.p50Ms), fmtMs(b.p99Ms), pctf(b.serverCpuPct), fmtInt(b.rpsPerCpu), pctf(b.pgCpuPct), err(b)],
      ["portcullis/bare", ratio.toFixed(2), (p.p50Ms / b.p50Ms).toFixed(2) + "×", (p.p99Ms / b.p99Ms).toFixed(2) + "×", "", cpuRatio.toFixed(2), "", ""],
    ]),
    "",
    `throughput ratio portcullis/bare ${ratio.toFixed(2)} (per server CPU-second ${cpuRatio.toFixed(2)}): target ≥ ${settings.targetRatio.toFixed(2)} ${met ? "MET" : "NOT MET"}`,
    `portcullis: ${fmtInt(flushedDuring)} access events written during the runs, ${pcMetricsEnd["portcullis_events_shed_total"] ?? 0} shed; ` +
      `RSS ${((pcMetricsEnd["process_resident_memory_bytes"] ?? 0) / 2 ** 20).toFixed(0)} MiB; ready in ${(pcReadyMs / 1000).toFixed(1)} s`,
    ...notes,
    "",
  ].join("\n");
  say(report);

  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `verify-${started.toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify({
    bench: "verify",
    started: started.toISOString(),
    machine: { cores, cpu: cpus()[0]?.model ?? null, bun: Bun.version, wrk: wrkVersion, serverCore, wrkCore },
    settings: { ...settings, pgUrl: undefined },
    graph: { params: graph, rows: stats.rows, revision: stats.revision, generateMs: stats.ms, mode: stats.mode, steps: stats.steps },
    decisionMix: pcProbe.reasons,
    portcullis: { ...p, readyMs: pcReadyMs,
      eventsFlushedDuringRuns: flushedDuring, eventsShed: pcMetricsEnd["portcullis_events_shed_total"] ?? 0,
      rssBytes: pcMetricsEnd["process_resident_memory_bytes"] ?? null, indexEntries: Object.fromEntries(Object.entries(pcMetrics).filter(([k]) => k.startsWith("portcullis_index_entries"))) },
    bare: b,
    ratio: { throughput: ratio, perServerCpu: cpuRatio, p50: p.p50Ms / b.p50Ms, p99: p.p99Ms / b.p99Ms, target: settings.targetRatio, met },
  }, null, 2) + "\n");
  say(`results: ${file.slice(ROOT.length + 1)}`);
}

if (import.meta.main) {
  const g = graphParamsFromEnv();
  // Whole-run deadline: setup (graph generation grows with its size), readiness, every warm-up
  // and measurement, with room to spare. BENCH_DEADLINE overrides.
  const deadlineMs = process.env.BENCH_DEADLINE
    ? seconds("BENCH_DEADLINE", "0s") * 1000
    : (600 + (g.credentials + g.grants) / 1e6 * 120 + seconds("BENCH_READY_TIMEOUT", "120s") * 2 + 2 * (seconds("BENCH_WARMUP", "3s") + 60) +
        int("BENCH_ROUNDS", 3) * 2 * (seconds("BENCH_DURATION", "10s") + 180)) * 1000;
  await runMain(main, deadlineMs);
}
