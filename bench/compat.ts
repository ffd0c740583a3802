// Compat verify throughput beside native verify throughput, measured in the same run, against the
// same server process, with the same wrk setup (bench/harness.ts) and the same bodies.
//
//   bun bench/compat.ts
//
//   1. a scratch database with the graph of bench/graph.ts (set-based, one revision) and
//      BENCH_BODIES (gate_id, token) pairs sampled from it (sampleVerifyPairs);
//   2. ONE server: `taskset -c 0 bun src/main.ts` (WORKERS=1) listening on PORT and on
//      OPENWAY_COMPAT_PORT, so both routes share the index, the event writer and the core;
//   3. every body once through both routes: they must agree (ALLOW ⇔ allow, duration_ms =
//      unlock_ms) on every pair, else the run fails;
//   4. a wrk warm-up per route, then BENCH_ROUNDS rounds of both routes (alternating which goes
//      first; wrk pinned to core 1 with the same Lua script rotating the same pre-formatted bodies;
//      before each run the event buffer is drained), CPU accounted from /proc;
//   5. medians, requests per server CPU-second, compat/native ratios; JSON in bench/results/.
//
// Knobs: BENCH_DURATION=10s BENCH_WARMUP=3s BENCH_CONNECTIONS=50 BENCH_THREADS=1 BENCH_BODIES=2000
//   BENCH_ROUNDS=3 BENCH_TARGET_RATIO=0.90 BENCH_KEEP_DB=0
//   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test, and the graph sizes of bench/graph.ts.
// wrk is closed-loop: throughput figures; its latencies are those of a saturated server.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { migrate } from "../src/db/migrate";
import { generateGraph, graphParamsFromEnv, sampleVerifyPairs, type VerifyPair } from "./graph";
import {
  createScratchDb, type CpuUse, endSql, ensureTools, fmtInt, fmtMs, freePort, int, luaScript, median, pctf, processTree,
  loadSettings, RESULTS_DIR, ROOT, runMain, say, seconds, setPg, spawnChild, table, trackedSql, trackTmp, VERIFY_PATH, waitEventsFlushed,
  waitReady, withCpu, within, wrk, type WrkResult,
} from "./harness";

const settings = loadSettings();
const graph = graphParamsFromEnv();
const DEADLINE_MS = (900 + (graph.credentials + graph.grants) / 1e6 * 300 + 2 * (settings.warmupS + 60) + settings.rounds * 2 * (settings.durationS + 180)) * 1000;

type Route = "native" | "compat";
interface Run extends WrkResult {
  cpu: CpuUse;
  rpsPerCpu: number;
}

/** Every pair through both routes: they must agree on allow/deny and the unlock time. */
async function probeBoth(nativeBase: string, compatBase: string, pairs: VerifyPair[]) {
  const reasons: Record<string, number> = {};
  const mismatches: string[] = [];
  let next = 0;
  const post = async (base: string, p: VerifyPair): Promise<any> => {
    const r = await fetch(base + VERIFY_PATH, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ gate_id: p.gate_id, token: p.token }),
      signal: AbortSignal.timeout(5000),
    });
    return r.json();
  };
  const worker = async () => {
    while (next < pairs.length) {
      const p = pairs[next++]!;
      const [n, c] = await Promise.all([post(nativeBase, p), post(compatBase, p)]);
      reasons[c.reason] = (reasons[c.reason] ?? 0) + 1;
      if (n.allow !== (c.decision === "ALLOW") || (n.allow && n.unlock_ms !== c.duration_ms)) {
        mismatches.push(`${p.gate_id} ${p.token}: native ${n.reason}, compat ${c.reason}`);
      }
    }
  };
  await within(300_000, "probing answers", Promise.all(Array.from({ length: 16 }, worker)));
  return { reasons, mismatches };
}

async function main(): Promise<void> {
  const started = new Date();
  const cores = availableParallelism();
  const [serverCore, wrkCore] = cores >= 2 ? [0, 1] : [0, 0];
  say(`Portcullis compat-vs-native verify benchmark — ${cores} cores (${cpus()[0]?.model ?? "?"}), Bun ${Bun.version}`);
  if (cores < 2) say("warning: fewer than 2 cores; server and wrk share core 0");
  await ensureTools();

  setPg(settings.pgUrl, settings.keepDb);
  const databaseUrl = await createScratchDb(`pcl_bench_compat_${Date.now().toString(36)}_${process.pid}`);
  const sql = trackedSql(databaseUrl, { max: 2, statementTimeoutMs: 0 });
  await within(60_000, "migrations", migrate(sql));
  const stats = await within(60 * 60_000, "graph generation", generateGraph(sql, graph));
  say(`graph: ${Object.entries(stats.rows).map(([k, v]) => `${k} ${fmtInt(v)}`).join(", ")} (revision ${stats.revision}, ${(stats.ms / 1000).toFixed(1)} s)`);
  const pairs = await within(300_000, "sampling verify pairs", sampleVerifyPairs(sql, graph, settings.bodies));
  const pgPids = (await sql<{ pid: number }[]>`select pid from pg_stat_activity where datname = current_database()`).map((r) => r.pid);
  await endSql(sql);

  const tmp = trackTmp(mkdtempSync(join(tmpdir(), "pcl-bench-compat-")));
  const lua = join(tmp, "verify.lua");
  writeFileSync(lua, luaScript(pairs));

  const port = freePort();
  let compatPort = freePort();
  while (compatPort === port) compatPort = freePort();
  const server = spawnChild("portcullis", ["taskset", "-c", String(serverCore), process.execPath, "src/main.ts"], {
    DATABASE_URL: databaseUrl, WORKERS: "1", PORT: String(port), OPENWAY_COMPAT_PORT: String(compatPort), HOST: "127.0.0.1",
    LOG_LEVEL: "warn", DEMO_DATA: "0", DATA_DIR: join(tmp, "data"), COMPAT_TOKEN_KEY: "bench-compat-" + "k".repeat(40),
  });
  const nativeBase = `http://127.0.0.1:${port}`;
  const compatBase = `http://127.0.0.1:${compatPort}`;
  await waitReady("portcullis", server, nativeBase + "/readyz", 120_000);
  await waitReady("portcullis compat", server, compatBase + "/readyz", 30_000);

  const probe = await probeBoth(nativeBase, compatBase, pairs);
  say(`compat answers in the load: ${Object.entries(probe.reasons).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  if (probe.mismatches.length) throw new Error(`native and compat disagree on ${probe.mismatches.length} pairs, e.g.:\n  ${probe.mismatches.slice(0, 5).join("\n  ")}`);
  say(`native and compat agree on all ${pairs.length} pairs`);

  const url: Record<Route, string> = { native: nativeBase + VERIFY_PATH, compat: compatBase + VERIFY_PATH };
  const wrkOpts = { threads: settings.threads, connections: settings.connections, core: String(wrkCore) };
  for (const route of ["native", "compat"] as const) {
    say(`warm-up ${route} (${settings.warmupS} s)`);
    await waitEventsFlushed(nativeBase);
    await wrk(url[route], lua, settings.warmupS, wrkOpts);
  }
  const runs: Record<Route, Run[]> = { native: [], compat: [] };
  for (let round = 1; round <= settings.rounds; round++) {
    for (const route of round % 2 ? (["native", "compat"] as const) : (["compat", "native"] as const)) {
      await waitEventsFlushed(nativeBase);
      const [w, cpu] = await withCpu(processTree(server.proc.pid), pgPids, serverCore, wrkCore, () => wrk(url[route], lua, settings.durationS, wrkOpts));
      const r: Run = { ...w, cpu, rpsPerCpu: cpu.serverPct > 0 ? w.rps / (cpu.serverPct / 100) : NaN };
      runs[route].push(r);
      say(`round ${round} ${route.padEnd(6)} ${fmtInt(r.rps).padStart(8)} req/s  p50 ${fmtMs(r.p50Ms)}  p99 ${fmtMs(r.p99Ms)}  ` +
        `server CPU ${pctf(cpu.serverPct)}  other load ${pctf(cpu.otherPct)}  errors ${r.non2xx + r.socketErrors}`);
    }
  }

  const sum = (rs: Run[]) => ({
    rps: median(rs.map((r) => r.rps)), p50Ms: median(rs.map((r) => r.p50Ms)), p99Ms: median(rs.map((r) => r.p99Ms)),
    serverCpuPct: median(rs.map((r) => r.cpu.serverPct)), rpsPerCpu: median(rs.map((r) => r.rpsPerCpu)),
    otherPct: median(rs.map((r) => r.cpu.otherPct)), errors: rs.reduce((a, r) => a + r.non2xx + r.socketErrors, 0),
  });
  const n = sum(runs.native);
  const c = sum(runs.compat);
  const ratio = c.rps / n.rps;
  const cpuRatio = c.rpsPerCpu / n.rpsPerCpu;
  say("");
  say(`POST ${VERIFY_PATH} on both ports — wrk -t${settings.threads} -c${settings.connections}, ${settings.durationS} s per run after a ${settings.warmupS} s warm-up, ` +
    `${pairs.length} bodies rotated; one server (WORKERS=1) on core ${serverCore}, wrk on core ${wrkCore}; median of ${settings.rounds} round${settings.rounds > 1 ? "s" : ""}`);
  say(table([
    ["route", "req/s", "p50", "p99", "server CPU", "req/CPU-s", "other load", "errors"],
    ["native", fmtInt(n.rps), fmtMs(n.p50Ms), fmtMs(n.p99Ms), pctf(n.serverCpuPct), fmtInt(n.rpsPerCpu), pctf(n.otherPct), String(n.errors)],
    ["compat (openway_access)", fmtInt(c.rps), fmtMs(c.p50Ms), fmtMs(c.p99Ms), pctf(c.serverCpuPct), fmtInt(c.rpsPerCpu), pctf(c.otherPct), String(c.errors)],
    ["compat/native", ratio.toFixed(2), (c.p50Ms / n.p50Ms).toFixed(2) + "×", (c.p99Ms / n.p99Ms).toFixed(2) + "×", "", cpuRatio.toFixed(2), "", ""],
  ]));
  say(`compat/native throughput ${ratio.toFixed(2)} (per server CPU-second ${cpuRatio.toFixed(2)}): target ≥ ${settings.targetRatio.toFixed(2)} ${ratio >= settings.targetRatio ? "MET" : "NOT MET"}`);
  if (Math.max(n.otherPct, c.otherPct) > 15) say("note: other processes took CPU during the runs (see 'other load'): compare req/CPU-s rather than req/s");

  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `compat-${started.toISOString().replace(/[:.]/g, "-")}.json`);
  const strip = (rs: Run[]) => rs.map(({ raw, ...r }) => r);
  writeFileSync(file, JSON.stringify({
    bench: "compat", started: started.toISOString(),
    machine: { cores, cpu: cpus()[0]?.model ?? null, bun: Bun.version, serverCore, wrkCore },
    settings: { ...settings, pgUrl: undefined }, graph: { params: graph, rows: stats.rows, revision: stats.revision },
    compatReasons: probe.reasons,
    native: { ...n, runs: strip(runs.native) }, compat: { ...c, runs: strip(runs.compat) },
    ratio: { throughput: ratio, perServerCpu: cpuRatio, p50: c.p50Ms / n.p50Ms, p99: c.p99Ms / n.p99Ms, target: settings.targetRatio },
  }, null, 2) + "\n");
  say(`results: ${file.slice(ROOT.length + 1)}`);
}

await runMain(main, DEADLINE_MS);
