// Verify throughput of several Portcullis trees (e.g. main before a change and the change) against
// one bare Bun.serve baseline, in ONE run, rounds alternating over all of them, so the machine's
// drift hits each alike — the way to measure a per-request change on a shared machine.
//
//   git archive <commit> | tar -x -C /tmp/pcl-base && ln -s "$PWD/node_modules" /tmp/pcl-base/
//   BENCH_TREES=base=/tmp/pcl-base,new=. BENCH_ROUNDS=5 BENCH_DURATION=5s bun bench/verify-ab.ts
//   BENCH_TREES='new=.,slow-flush=.?EVENT_FLUSH_MS=100' …   (a server's own settings after "?")
//
// The graph is bench/graph.ts's (small by default: 20k credentials); every server is pinned to
// core 0 and wrk to core 1, as in bench/verify.ts, whose compareThroughput does the measuring.
// Each tree's server runs from its own directory with its own event journal. The figure is
// requests per second of server CPU (steady when other load takes CPU), per tree ÷ bare and ÷ the
// first tree; the spread is the lowest and highest round, each round's ratio against the other's
// run of the same round.
//
// BENCH_PROFILE=1: instead, each tree's server runs under `bun --cpu-prof` for one wrk run of
// BENCH_DURATION and is stopped; the profiles are summarised (bench/profile-summary.ts) and kept
// under bench/results/profile-<name>-<time>.cpuprofile.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { migrate } from "../src/db/migrate";
import { generateGraph, graphParamsFromEnv, sampleVerifyPairs } from "./graph";
import {
  createScratchDb, endSql, ensureTools, fmtInt, freePort, loadSettings, luaScript, median, probeAnswers, processTree, RESULTS_DIR, ROOT, run, runMain,
  say, seconds, setPg, spawnChild, stopChild, table, trackedSql, trackTmp, VERIFY_PATH, waitEventsFlushed, waitReady, withCpu, wrk, type Spawned,
} from "./harness";
import { compareThroughput, type Target } from "./verify";

interface Tree {
  name: string;
  dir: string;
  /** Extra environment of its server (`name=dir?EVENT_FLUSH_MS=100&HTTP_METRICS=0`). */
  env: Record<string, string>;
}

function treesFromEnv(): Tree[] {
  const raw = process.env.BENCH_TREES || `this=${ROOT}`;
  return raw.split(",").map((x) => {
    const eq = x.indexOf("=");
    const [dir, query] = x.slice(eq + 1).split("?");
    const name = x.slice(0, eq);
    if (eq < 1 || !dir) throw new Error(`BENCH_TREES: expected name=dir[?VAR=value&…],…, got ${JSON.stringify(x)}`);
    return { name, dir: resolve(dir), env: Object.fromEntries(new URLSearchParams(query ?? "")) };
  });
}

async function main(): Promise<void> {
  const settings = { ...loadSettings(), readyTimeoutS: seconds("BENCH_READY_TIMEOUT", "120s") };
  const profile = process.env.BENCH_PROFILE === "1";
  const trees = treesFromEnv();
  const graph = graphParamsFromEnv();
  const [serverCore, wrkCore] = availableParallelism() >= 2 ? ["0", "1"] : ["0", "0"];
  await ensureTools();
  const admin = setPg(settings.pgUrl, settings.keepDb);
  const db = `pcl_bench_ab_${Date.now().toString(36)}_${process.pid}`;
  const url = await createScratchDb(db);
  const sql = trackedSql(url, { max: 2, statementTimeoutMs: 0 });
  await migrate(sql);
  const stats = await generateGraph(sql, graph);
  say(`graph in ${(stats.ms / 1000).toFixed(1)} s: ${Object.entries(stats.rows).map(([k, v]) => `${k} ${fmtInt(v)}`).join(", ")}`);
  const pairs = await sampleVerifyPairs(sql, graph, settings.bodies);
  await endSql(sql);
  const tmp = trackTmp(mkdtempSync(join(tmpdir(), "pcl-ab-")));
  const lua = join(tmp, "verify.lua");
  writeFileSync(lua, luaScript(pairs));
  const pgPids = async () => (await admin<{ pid: number }[]>`select pid from pg_stat_activity where datname = ${db}`).map((r) => r.pid);

  const start = async (t: Tree, extra: string[] = []): Promise<{ s: Spawned; base: string }> => {
    const port = freePort();
    const s = spawnChild(t.name, ["taskset", "-c", serverCore, process.execPath, ...extra, "src/main.ts"], {
      DATABASE_URL: url, WORKERS: "1", PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn", DEMO_DATA: "0",
      EVENT_JOURNAL_DIR: join(tmp, `journal-${t.name}`), ...t.env,
    }, { cwd: t.dir });
    const base = `http://127.0.0.1:${port}`;
    await waitReady(t.name, s, base + "/readyz", settings.readyTimeoutS * 1000);
    const probe = await probeAnswers(base, pairs);
    if (Object.keys(probe.status).some((k) => k !== "200")) throw new Error(`${t.name}: non-200 answers ${JSON.stringify(probe.status)}`);
    say(`${t.name} (${t.dir}) ready on :${port}, pid ${s.proc.pid}`);
    return { s, base };
  };
  const startBare = async (extra: string[]): Promise<{ s: Spawned; base: string }> => {
    const port = freePort();
    const s = spawnChild("bare", ["taskset", "-c", serverCore, process.execPath, ...extra, "bench/bare-server.ts"], {
      PORT: String(port), BENCH_CREDENTIALS: String(graph.credentials), BENCH_USERS: String(graph.users),
    });
    const base = `http://127.0.0.1:${port}`;
    await waitReady("bare", s, base + "/readyz", settings.readyTimeoutS * 1000);
    return { s, base };
  };
  const wrkOpts = { threads: settings.threads, connections: settings.connections, core: wrkCore };

  if (profile) {
    mkdirSync(RESULTS_DIR, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    for (const t of [{ name: "bare", dir: ROOT, env: {} }, ...trees]) {
      const dir = join(tmp, `prof-${t.name}`);
      const flags = ["--cpu-prof", `--cpu-prof-dir=${dir}`];
      const { s, base } = t.name === "bare" ? await startBare(flags) : await start(t, flags);
      if (t.name !== "bare") await waitEventsFlushed(base);
      await wrk(base + VERIFY_PATH, lua, settings.warmupS, wrkOpts);
      const [r, cpu] = await withCpu(processTree(s.proc.pid), pgPids, 0, 1, () => wrk(base + VERIFY_PATH, lua, settings.durationS, wrkOpts));
      say(`${t.name}: ${fmtInt(r.rps)} req/s at ${cpu.serverPct.toFixed(0)} % server CPU: ${((cpu.serverPct / 100 / r.rps) * 1e6).toFixed(1)} µs of server CPU a request (profiled: the profiler costs too)`);
      await stopChild(s.proc, 60_000);
      const f = readdirSync(dir).find((x) => x.endsWith(".cpuprofile"));
      if (!f) throw new Error(`${t.name}: no .cpuprofile in ${dir}`);
      const kept = join(RESULTS_DIR, `profile-${t.name}-${stamp}.cpuprofile`);
      copyFileSync(join(dir, f), kept);
      // The measured run only: the start-up and the warm-up are left out.
      say((await run([process.execPath, "bench/profile-summary.ts", kept, "30"], 120_000, { env: { PROFILE_LAST_S: String(settings.durationS) } })).out);
    }
    return;
  }

  const { s: bare, base: bareBase } = await startBare([]);
  const targets: Target[] = [{ name: "bare", base: bareBase, pid: bare.proc.pid, portcullis: false }];
  for (const t of trees) {
    const { s, base } = await start(t);
    targets.push({ name: t.name, base, pid: s.proc.pid, portcullis: true });
  }
  const res = await compareThroughput(targets, {
    lua, durationS: settings.durationS, warmupS: settings.warmupS, rounds: settings.rounds,
    wrk: wrkOpts, serverCore: Number(serverCore), wrkCore: Number(wrkCore), pgPids,
  });
  const b = res.bare!;
  // Each tree against bare and against the first tree, round by round (the pairs ran seconds apart).
  const first = res[trees[0]!.name]!;
  const spread = (xs: number[]) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)} (median ${median(xs).toFixed(2)})`;
  const rows = [["target", "req/s", "req/CPU-s (median)", "best round", "µs CPU/req", "÷ bare", "per round ÷ bare", `per round ÷ ${trees[0]!.name}`, "server CPU"]];
  for (const t of targets) {
    const x = res[t.name]!;
    rows.push([t.name, fmtInt(x.rps), fmtInt(x.rpsPerCpu), fmtInt(Math.max(...x.runs.map((r) => r.rpsPerCpu))), (1e6 / x.rpsPerCpu).toFixed(1), (x.rpsPerCpu / b.rpsPerCpu).toFixed(2),
      spread(x.runs.map((r, i) => r.rpsPerCpu / b.runs[i]!.rpsPerCpu)), spread(x.runs.map((r, i) => r.rpsPerCpu / first.runs[i]!.rpsPerCpu)), `${x.serverCpuPct.toFixed(0)} %`]);
  }
  say(`\nPOST ${VERIFY_PATH}: wrk -t${settings.threads} -c${settings.connections}, ${settings.rounds} rounds × ${settings.durationS} s, ` +
    `${fmtInt(graph.credentials)} credentials, servers on core ${serverCore}, wrk on core ${wrkCore}\n`);
  say(table(rows));
}

if (import.meta.main) await runMain(main, seconds("BENCH_DEADLINE", "40m") * 1000);
