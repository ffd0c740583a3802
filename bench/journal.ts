// What the crash-safe event journal costs the verify path: the same service three times, in the
// same run, round after round —
//   off    EVENT_JOURNAL=off: events kept in memory only (lost on a crash; the baseline)
//   on     the journal (the default): one write(2) per event-loop tick before its answers go
//   fsync  the journal with EVENT_JOURNAL_FSYNC_MS (default 2 here): answers also wait for a group fsync
// wrk against each (server on core 0, wrk on core 1), median of the rounds; the figure that matters
// is verify requests per second of server CPU, journal ÷ off (target ≥ 0.97), with the spread of
// the rounds as the noise.
//
// Before that, in this process, the journal's own CPU per event (record + the answer's wait, ticks of
// 32 events, no HTTP, no Postgres: the shipper is idle), off vs on vs fsync — a figure that other
// load on the machine hardly moves; divided into the service's CPU per verify it gives the same
// ratio from another side.
//
//   bun bench/journal.ts        knobs: BENCH_DURATION=10s BENCH_ROUNDS=3 BENCH_CONNECTIONS=50
//                               BENCH_FSYNC_MS=2, and the graph sizes of bench/graph.ts
//   bun bench/journal.ts --in-process      only the in-process figure
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import type { Sql } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { EventWriter } from "../src/events/event-writer";
import { generateGraph, graphParamsFromEnv, sampleVerifyPairs } from "./graph";
import {
  createScratchDb, endSql, ensureTools, fmtInt, freePort, int, loadSettings, luaScript, metrics, pctf, probeAnswers, RESULTS_DIR, ROOT, runMain, say,
  seconds, setPg, spawnChild, stopChild, table, trackedSql, trackTmp, waitReady,
} from "./harness";
import { compareThroughput, type Summary, type Target } from "./verify";

/** CPU microseconds per event of recording it and waiting for its write, over `ticks` ticks. */
async function cpuPerEvent(journal: boolean, fsyncMs: number, ticks: number, perTick = 32): Promise<number> {
  const dir = journal ? trackTmp(mkdtempSync(join(tmpdir(), "pcl-bench-journal-cpu-"))) : null;
  const w = new EventWriter(null as unknown as Sql, { flushMs: 1e9, journalDir: dir, segmentBytes: 64 << 20, maxBytes: 2 ** 40, fsyncMs, whenFull: "refuse" });
  const d = { allow: true, userId: "u_0123456789", credentialId: "c_0123456789", credentialKind: "card", reason: "granted" } as const;
  const c0 = process.cpuUsage();
  for (let t = 0; t < ticks; t++) {
    const answers: unknown[] = [];
    for (let i = 0; i < perTick; i++) {
      w.record(d as any, "GATE_00001", 42, Date.now());
      answers.push(w.after(i));
    }
    await Promise.all(answers);
    await new Promise((r) => setImmediate(r));
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / (ticks * perTick);
}

async function inProcess(fsyncMs: number): Promise<{ off: number; on: number; fsync: number }> {
  const rounds: Array<{ off: number; on: number; fsync: number }> = [];
  for (let r = 0; r < 5; r++) {
    rounds.push({ off: await cpuPerEvent(false, 0, 3000), on: await cpuPerEvent(true, 0, 3000), fsync: await cpuPerEvent(true, fsyncMs, 300) });
  }
  const med = (k: "off" | "on" | "fsync") => rounds.map((x) => x[k]).sort((a, b) => a - b)[2]!;
  const out = { off: med("off"), on: med("on"), fsync: med("fsync") };
  say(`in-process CPU per event (median of 5 rounds; ticks of 32): off ${out.off.toFixed(2)} µs, journal ${out.on.toFixed(2)} µs (+${(out.on - out.off).toFixed(2)}), ` +
    `journal + fsync every ${fsyncMs} ms ${out.fsync.toFixed(2)} µs (+${(out.fsync - out.off).toFixed(2)}); rounds: ${rounds.map((x) => `${x.off.toFixed(2)}/${x.on.toFixed(2)}/${x.fsync.toFixed(2)}`).join(", ")}`);
  return out;
}

async function main(): Promise<void> {
  const settings = loadSettings();
  const fsyncMs = int("BENCH_FSYNC_MS", 2);
  const cpu = await inProcess(fsyncMs);
  if (process.argv.includes("--in-process")) return;
  const graph = graphParamsFromEnv();
  const cores = availableParallelism();
  const [serverCore, wrkCore] = cores >= 2 ? ["0", "1"] : ["0", "0"];
  say(`Portcullis event journal cost — ${cores} cores, Bun ${Bun.version}`);
  await ensureTools();

  const adminSql = setPg(settings.pgUrl, settings.keepDb);
  const scratchDb = `pcl_bench_journal_${Date.now().toString(36)}_${process.pid}`;
  const databaseUrl = await createScratchDb(scratchDb);
  const sql = trackedSql(databaseUrl, { max: 2, statementTimeoutMs: 0 });
  await migrate(sql);
  const stats = await generateGraph(sql, graph);
  say(`graph: ${Object.entries(stats.rows).map(([k, v]) => `${k} ${fmtInt(v)}`).join(", ")}`);
  const pairs = await sampleVerifyPairs(sql, graph, settings.bodies);
  await endSql(sql);
  const tmp = trackTmp(mkdtempSync(join(tmpdir(), "pcl-bench-journal-")));
  const lua = join(tmp, "verify.lua");
  writeFileSync(lua, luaScript(pairs));

  const variants: Array<[string, Record<string, string>]> = [
    ["off", { EVENT_JOURNAL: "off" }],
    ["on", {}],
    ["fsync", { EVENT_JOURNAL_FSYNC_MS: String(fsyncMs) }],
  ];
  const targets: Target[] = [];
  const procs = [];
  for (const [name, env] of variants) {
    const port = freePort();
    const s = spawnChild(name, ["taskset", "-c", serverCore, process.execPath, "src/main.ts"], {
      DATABASE_URL: databaseUrl, WORKERS: "1", PORT: String(port), LOG_LEVEL: "warn", DEMO_DATA: "0", HOST: "127.0.0.1",
      DATA_DIR: join(tmp, name), ...env,
    });
    const base = `http://127.0.0.1:${port}`;
    await waitReady(name, s, base + "/readyz", 120_000);
    const probe = await probeAnswers(base, pairs);
    if (Object.keys(probe.status).some((k) => k !== "200")) throw new Error(`${name}: non-200 answers to the load bodies`);
    targets.push({ name, base, pid: s.proc.pid, portcullis: true });
    procs.push(s);
  }
  const pgPids = async () => (await adminSql<{ pid: number }[]>`select pid from pg_stat_activity where datname = ${scratchDb}`).map((r) => r.pid);
  const res = await compareThroughput(targets, {
    lua, durationS: settings.durationS, warmupS: settings.warmupS, rounds: settings.rounds,
    wrk: { threads: settings.threads, connections: settings.connections, core: wrkCore },
    serverCore: Number(serverCore), wrkCore: Number(wrkCore), pgPids,
  });
  const writes: Record<string, { writes: number; flushed: number }> = {};
  for (const t of targets) {
    const m = await metrics(t.base);
    writes[t.name] = { writes: m["portcullis_events_journal_writes_total"] ?? 0, flushed: m["portcullis_events_flushed_total"] ?? 0 };
  }
  for (const s of procs) await stopChild(s.proc, 60_000);

  const off = res.off!;
  const spread = (x: Summary) => {
    const v = x.runs.map((r) => r.rpsPerCpu);
    return `${fmtInt(Math.min(...v))}–${fmtInt(Math.max(...v))}`;
  };
  const rows = [["journal", "req/s", "p50", "p99", "server CPU", "req/CPU-s", "rounds' req/CPU-s", "÷ off per CPU-s", "events per write"]];
  for (const [name] of variants) {
    const x = res[name]!;
    const w = writes[name]!;
    rows.push([name, fmtInt(x.rps), `${x.p50Ms.toFixed(2)} ms`, `${x.p99Ms.toFixed(2)} ms`, pctf(x.serverCpuPct), fmtInt(x.rpsPerCpu), spread(x),
      (x.rpsPerCpu / off.rpsPerCpu).toFixed(3), w.writes ? (w.flushed / w.writes).toFixed(1) : "—"]);
  }
  const noise = Math.max(...Object.values(res).map((x) => {
    const v = x.runs.map((r) => r.rpsPerCpu);
    return (Math.max(...v) - Math.min(...v)) / x.rpsPerCpu;
  }));
  const perVerifyUs = 1e6 / off.rpsPerCpu;
  const derived = (extra: number) => (perVerifyUs / (perVerifyUs + extra)).toFixed(3);
  const report = [
    "",
    `POST /api/v1/access/verify, wrk -c${settings.connections}, ${settings.durationS} s × ${settings.rounds} rounds per target, server on core ${serverCore}, wrk on core ${wrkCore}; fsync every ${fsyncMs} ms`,
    table(rows),
    `journal on ÷ off: ${(res.on!.rpsPerCpu / off.rpsPerCpu).toFixed(3)} per server CPU-second (target ≥ 0.97); with fsync: ${(res.fsync!.rpsPerCpu / off.rpsPerCpu).toFixed(3)}; ` +
      `noise (largest spread of one target's rounds ÷ its median): ${(noise * 100).toFixed(1)} %`,
    `from the in-process cost: a verify costs ${perVerifyUs.toFixed(1)} µs of server CPU without the journal; + ${(cpu.on - cpu.off).toFixed(2)} µs → ${derived(cpu.on - cpu.off)}; ` +
      `with fsync + ${(cpu.fsync - cpu.off).toFixed(2)} µs → ${derived(cpu.fsync - cpu.off)}`,
  ].join("\n");
  say(report);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `journal-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify({ settings, fsyncMs, graph, inProcessCpuPerEventUs: cpu, results: res, writes }, null, 2) + "\n");
  say(`results: ${file.slice(ROOT.length + 1)}`);
}

if (import.meta.main) {
  await runMain(main, (600 + int("BENCH_ROUNDS", 3) * 3 * (seconds("BENCH_DURATION", "10s") + 60)) * 1000);
}
