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
//
// Each step is a module in bench/steps/ exporting `step: { name, run(ctx) → rows }` (context.ts);
// this runner runs them in order, the selected ones, and prints the table and the JSON.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { ensureTools, fmtInt, median, pctf, RESULTS_DIR, ROOT, run, runMain, say, seconds, setPg, table, type CpuUse } from "./harness";
import { backgroundLoad, cores, graph, LOAD_CORE, r1s, S, SERVER_CORE, want, type Ctx, type Row, type Step } from "./steps/context";
import { step as graphStep } from "./steps/graph";
import { step as decide } from "./steps/decide";
import { step as coldstart } from "./steps/coldstart";
import { step as tput } from "./steps/throughput";
import { step as open } from "./steps/open-loop";
import { step as workers } from "./steps/workers";
import { step as churn } from "./steps/churn";
import { step as memory } from "./steps/memory";

/** In the order they run; BENCH_ONLY selects among those not `always`. */
const STEPS: Step[] = [graphStep, decide, coldstart, tput, open, workers, churn, memory];

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
  const ctx: Ctx = { admin, results, allCpu, notes, maxRps: NaN };
  for (const step of STEPS) {
    if (step.always || want(step.name)) rows.push(...(await step.run(ctx)));
    await step.release?.(ctx);
  }
  const { generateMs } = ctx.fx!;

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

const deadlineMs = process.env.BENCH_DEADLINE
  ? seconds("BENCH_DEADLINE", "0s") * 1000
  : (900 + ((graph.credentials + graph.grants) / 1e6) * 300 + S.readyTimeoutS * 6 + S.rounds * 10 * (S.durationS + 30) + 20 * (S.warmupS + 30)) * 1000;
await runMain(main, deadlineMs);
