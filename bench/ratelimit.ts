// Rate limits: what each mode costs a verify, and how close the shared modes hold a limit.
//
//   bun bench/ratelimit.ts
//
// 1. Throughput: four servers on one generated database (bench/graph.ts), each `taskset -c 0 bun
//    src/main.ts` with WORKERS=1 — limits off; local; synced; exact — the three with
//    RATE_LIMIT_GATE and RATE_LIMIT_TOKEN at 1000000/1s, so nothing is refused and what is
//    measured is the limiter's own cost. wrk (pinned to core 1) drives each in turn, rounds
//    alternating so drift hits all alike; before each run the server's access events are flushed.
//    Reports req/s, latency (wrk: closed loop), server CPU, req per server CPU-second, Redis CPU,
//    and the cost of each mode against "off" (target: local and synced ≤ 5 %).
//    1b. The same bodies through app.handle in this process, off/local/synced interleaved in
//    small batches: the per-verify cost in µs, steady even when other load on the machine makes
//    the wrk figures swing by more than the few per cent being measured.
// 2. Accuracy: for exact and synced, two servers (cores 0 and 1) sharing RATE_LIMIT_GATE=200/1s
//    through Redis, each driven by this script's own open-loop sender at 200 verifies/s on one
//    gate for 60 s (twice the limit together), started on a window boundary. Admitted (200) is
//    compared with 60 × 200; Redis's per-window counters are read back as a cross-check; the
//    synced mode's stated bound per window is limit + (n − 1) × A, A = r × (2 × SYNC_MS + RTT).
// Prints a table and writes bench/results/ratelimit-<timestamp>.json. Everything it starts is
// stopped, and the scratch database dropped, on success, error or Ctrl-C.
//
// Knobs (env): BENCH_DURATION=10s BENCH_WARMUP=3s BENCH_ROUNDS=3 BENCH_CONNECTIONS=50
//   BENCH_BODIES=2000 BENCH_ACCURACY_S=60 BENCH_ACCURACY_LIMIT=200 BENCH_ACCURACY_RATE=200 (per instance)
//   BENCH_MODES=off,local,synced,exact BENCH_SKIP_ACCURACY=0 BENCH_SKIP_THROUGHPUT=0 BENCH_SYNC_MS=100
//   BENCH_SKIP_INPROCESS=0 BENCH_IP_ROUNDS=30 BENCH_IP_BATCH=3000
//   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test BENCH_REDIS_URL=redis://127.0.0.1:6379,
//   plus the graph sizes of bench/graph.ts (BENCH_USERS, BENCH_CREDENTIALS …).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import Redis from "ioredis";
import { loadConfig } from "../src/config";
import { createSql, type Sql } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { startService, type Service } from "../src/service";
import { hashSecret } from "../src/tokens";
import { checkSecretHashes, generateGraph, graphParamsFromEnv, sampleVerifyPairs, type VerifyPair } from "./graph";
import { gateId, secretFor } from "./ids";
import { freePort, int, luaScript, parseWrk, procTicks, seconds, within, type WrkResult } from "./harness";

const ROOT = join(import.meta.dir, "..");
const RESULTS_DIR = join(import.meta.dir, "results");
const VERIFY_PATH = "/api/v1/access/verify";

// ---------------------------------------------------------------------------------------------
// Settings


const ALL_MODES = ["off", "local", "synced", "exact"] as const;
type ModeName = (typeof ALL_MODES)[number];
const settings = {
  durationS: seconds("BENCH_DURATION", "10s"),
  warmupS: seconds("BENCH_WARMUP", "3s"),
  rounds: int("BENCH_ROUNDS", 3),
  connections: int("BENCH_CONNECTIONS", 50),
  bodies: int("BENCH_BODIES", 2000),
  accuracyS: int("BENCH_ACCURACY_S", 60),
  accuracyLimit: int("BENCH_ACCURACY_LIMIT", 200),
  accuracyRate: int("BENCH_ACCURACY_RATE", 200),
  syncMs: int("BENCH_SYNC_MS", 100, 10),
  modes: (process.env.BENCH_MODES || ALL_MODES.join(",")).split(",").map((m) => m.trim()) as ModeName[],
  skipAccuracy: process.env.BENCH_SKIP_ACCURACY === "1",
  skipThroughput: process.env.BENCH_SKIP_THROUGHPUT === "1",
  skipInProcess: process.env.BENCH_SKIP_INPROCESS === "1",
  ipRounds: int("BENCH_IP_ROUNDS", 30),
  ipBatch: int("BENCH_IP_BATCH", 3000),
  pgUrl: process.env.BENCH_PG_URL || "postgres://postgres@127.0.0.1:5432/test",
  redisUrl: process.env.BENCH_REDIS_URL || "redis://127.0.0.1:6379",
  highLimit: "1000000/1s",
};
for (const m of settings.modes) if (!ALL_MODES.includes(m)) throw new Error(`BENCH_MODES: unknown mode ${m}`);
const graph = graphParamsFromEnv();
const DEADLINE_MS = (900 + settings.rounds * settings.modes.length * (settings.durationS + 120) + 2 * (settings.accuracyS + 180)) * 1000;
const RUN_ID = `${Date.now().toString(36)}_${process.pid}`;
const PREFIX = `pcl:bench:${RUN_ID}:`;

// ---------------------------------------------------------------------------------------------
// Processes and cleanup

const children = new Set<Subprocess>();
let scratchDb: string | null = null;
let adminSql: Sql | null = null;
let tmp: string | null = null;
let redis: Redis | null = null;
let cleaning: Promise<void> | null = null;
let inProcess: Map<string, Service> | null = null;
const say = (s: string) => console.log(s);
const sleep = (ms: number) => Bun.sleep(ms);


async function stopChild(c: Subprocess, graceMs = 30_000): Promise<void> {
  if (c.exitCode === null && c.signalCode === null) {
    c.kill("SIGTERM");
    const done = await Promise.race([c.exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!done) {
      say(`  pid ${c.pid} did not stop within ${graceMs / 1000} s: SIGKILL`);
      c.kill("SIGKILL");
      await Promise.race([c.exited, sleep(5000)]);
    }
  }
  children.delete(c);
}

async function deleteRedisKeys(): Promise<void> {
  if (!redis) return;
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${PREFIX}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== "0");
}

function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    await Promise.all([...children].map((c) => stopChild(c).catch((e) => say(`  stopping pid ${c.pid}: ${e}`))));
    if (inProcess) await Promise.all([...inProcess.values()].map((s) => s.stop().catch(() => {})));
    if (scratchDb) {
      try {
        adminSql ??= createSql(settings.pgUrl, { max: 1 });
        await within(30_000, "drop database", adminSql.unsafe(`drop database if exists "${scratchDb}" with (force)`));
        say(`dropped scratch database ${scratchDb}`);
        scratchDb = null;
      } catch (e) {
        say(`could not drop scratch database ${scratchDb}: ${e}`);
      }
    }
    await adminSql?.end({ timeout: 2 }).catch(() => {});
    adminSql = null;
    await within(10_000, "redis cleanup", deleteRedisKeys()).catch((e) => say(`could not remove Redis keys ${PREFIX}*: ${e}`));
    redis?.disconnect();
    redis = null;
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    tmp = null;
  })());
}

process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  if (scratchDb) {
    Bun.spawnSync(["psql", settings.pgUrl, "-c", `drop database if exists "${scratchDb}" with (force)`], {
      stdio: ["ignore", "ignore", "ignore"], timeout: 20_000, env: { ...process.env, PGCONNECT_TIMEOUT: "5" },
    });
  }
});
let interrupted: string | null = null;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    interrupted = sig;
    say(`\n${sig}: cleaning up`);
    void within(60_000, "cleanup", cleanup()).finally(() => process.exit(130));
  });
}

interface Spawned {
  name: string;
  proc: Subprocess;
  out: string[];
  base: string;
}

function spawnServer(name: string, core: string, port: number, env: Record<string, string>): Spawned {
  const proc = Bun.spawn(["taskset", "-c", core, process.execPath, "src/main.ts"], {
    cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe",
    env: { ...process.env, WORKERS: "1", PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn", DEMO_DATA: "0", ...env },
  });
  children.add(proc);
  const out: string[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    let rest = "";
    for await (const chunk of stream) {
      const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n");
      rest = lines.pop()!;
      for (const l of lines) {
        out.push(l);
        if (out.length > 50) out.shift();
        console.log(`  [${name}] ${l}`);
      }
    }
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>);
  void pump(proc.stderr as ReadableStream<Uint8Array>);
  return { name, proc, out, base: `http://127.0.0.1:${port}` };
}

async function run(cmd: string[], timeoutMs: number, echo = false): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(cmd, { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  children.add(proc);
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  try {
    const collect = async (s: ReadableStream<Uint8Array>) => {
      let text = "";
      const decoder = new TextDecoder();
      for await (const chunk of s) {
        const t = decoder.decode(chunk, { stream: true });
        text += t;
        if (echo) process.stdout.write(t);
      }
      return text;
    };
    const [out, err] = await Promise.all([collect(proc.stdout as ReadableStream<Uint8Array>), collect(proc.stderr as ReadableStream<Uint8Array>)]);
    const code = await proc.exited;
    if (proc.signalCode === "SIGKILL") throw new Error(`${cmd.join(" ")}: killed after ${timeoutMs / 1000} s`);
    return { code, out: out + err };
  } finally {
    clearTimeout(timer);
    children.delete(proc);
  }
}

async function ensureTools(): Promise<void> {
  if (!Bun.which("taskset")) throw new Error("taskset is missing (Debian package util-linux)");
  if (Bun.which("wrk")) return;
  say("wrk is missing: apt-get install -y wrk");
  let r = await run(["apt-get", "install", "-y", "wrk"], 300_000, true);
  if (r.code !== 0) {
    await run(["apt-get", "update"], 300_000, true);
    r = await run(["apt-get", "install", "-y", "wrk"], 300_000, true);
  }
  if (r.code !== 0 || !Bun.which("wrk")) throw new Error("could not install wrk");
}


async function waitReady(s: Spawned, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < until) {
    if (s.proc.exitCode !== null || s.proc.signalCode !== null) {
      throw new Error(`${s.name} exited (code ${s.proc.exitCode ?? s.proc.signalCode}) before it was ready:\n    ${s.out.slice(-15).join("\n    ")}`);
    }
    try {
      const r = await fetch(s.base + "/readyz", { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) return;
      last = `${r.status}`;
    } catch (e) {
      last = String(e);
    }
    await sleep(200);
  }
  throw new Error(`${s.name}: not ready within ${timeoutMs / 1000} s (last: ${last})`);
}

// ---------------------------------------------------------------------------------------------
// CPU accounting (/proc)

const CLK_TCK = 100;
function reapedChildTicks(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[13]) + Number(f[14]);
}

async function withCpu<T>(pids: Record<string, number>, fn: () => Promise<T>): Promise<[T, Record<string, number>]> {
  const t0 = performance.now();
  const before = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, procTicks(p)]));
  const w0 = reapedChildTicks();
  const r = await fn();
  const secs = (performance.now() - t0) / 1000;
  const pct: Record<string, number> = {};
  for (const [k, p] of Object.entries(pids)) pct[k] = ((procTicks(p) - before[k]!) / CLK_TCK / secs) * 100;
  pct.wrk = ((reapedChildTicks() - w0) / CLK_TCK / secs) * 100;
  return [r, pct];
}

// ---------------------------------------------------------------------------------------------
// wrk





async function wrk(url: string, lua: string, durationS: number): Promise<WrkResult> {
  const cmd = ["taskset", "-c", "1", "wrk", "-t1", `-c${settings.connections}`, `-d${Math.max(1, Math.round(durationS))}s`, "--latency", "-s", lua, url];
  const r = await run(cmd, (durationS + 60) * 1000);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.code}:\n${r.out}`);
  return parseWrk(r.out);
}

async function metrics(base: string): Promise<Record<string, number>> {
  const text = await (await fetch(base + "/metrics", { signal: AbortSignal.timeout(5000) })).text();
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) ([-\d.e+]+|NaN)$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

async function waitEventsFlushed(base: string, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if ((await metrics(base))["portcullis_events_buffered"] === 0) return;
    await sleep(250);
  }
  say(`  warning: access events still buffered after ${timeoutMs / 1000} s; measuring anyway`);
}

// ---------------------------------------------------------------------------------------------
// Open-loop sender (accuracy): requests are due at fixed times whatever the answers; nothing waits.

interface SendResult {
  sent: number;
  status: Record<string, number>;
  errors: number;
  lateMsMax: number;
}

async function openLoop(base: string, bodies: string[], rate: number, startAt: number, durationS: number): Promise<SendResult> {
  const n = Math.round(rate * durationS);
  const interval = 1000 / rate;
  const res: SendResult = { sent: 0, status: {}, errors: 0, lateMsMax: 0 };
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const due = startAt + i * interval;
    const wait = due - Date.now();
    if (wait > 1) await sleep(wait - 0.5);
    while (Date.now() < due) await new Promise((r) => setImmediate(r));
    res.lateMsMax = Math.max(res.lateMsMax, Date.now() - due);
    res.sent++;
    inflight.push(
      fetch(base + VERIFY_PATH, { method: "POST", headers: { "content-type": "application/json" }, body: bodies[i % bodies.length], signal: AbortSignal.timeout(10_000) })
        .then(async (r) => {
          await r.arrayBuffer();
          res.status[r.status] = (res.status[r.status] ?? 0) + 1;
        })
        .catch(() => {
          res.errors++;
        }),
    );
  }
  await Promise.all(inflight);
  return res;
}

// ---------------------------------------------------------------------------------------------
// Report helpers

const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");
const fmtMs = (n: number) => (n < 1 ? `${(n * 1000).toFixed(0)} µs` : `${n.toFixed(2)} ms`);
const pctf = (n: number) => `${n.toFixed(0)} %`;
const signed = (n: number, digits = 1) => `${n >= 0 ? "+" : ""}${n.toFixed(digits)} %`;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("   ")).join("\n");
}

function modeEnv(mode: ModeName, prefix: string): Record<string, string> {
  if (mode === "off") return { RATE_LIMIT_GATE: "off", RATE_LIMIT_TOKEN: "off" };
  const env: Record<string, string> = { RATE_LIMIT_GATE: settings.highLimit, RATE_LIMIT_TOKEN: settings.highLimit, RATE_LIMIT_MODE: mode, RATE_LIMIT_PREFIX: prefix };
  if (mode !== "local") env.REDIS_URL = settings.redisUrl;
  if (mode === "synced") env.RATE_LIMIT_SYNC_MS = String(settings.syncMs);
  return env;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = new Date();
  const cores = availableParallelism();
  say(`Portcullis rate-limit benchmark — ${cores} cores (${cpus()[0]?.model ?? "?"}), Bun ${Bun.version}`);
  if (cores < 2) say("warning: fewer than 2 cores; server and wrk share a core");
  await ensureTools();
  const wrkVersion = (await run(["wrk", "-v"], 10_000)).out.split("\n")[0]!.trim();

  redis = new Redis(settings.redisUrl, { maxRetriesPerRequest: 1 });
  const redisInfo = await within(5000, "Redis", redis.info("server"));
  const redisPid = Number(/process_id:(\d+)/.exec(redisInfo)?.[1] ?? NaN);
  const redisVersion = /redis_version:(\S+)/.exec(redisInfo)?.[1] ?? "?";
  say(`Redis ${redisVersion} at ${settings.redisUrl} (pid ${redisPid}); key prefix ${PREFIX}`);

  adminSql = createSql(settings.pgUrl, { max: 1 });
  scratchDb = `pcl_bench_rl_${RUN_ID}`;
  await within(30_000, "create database", adminSql.unsafe(`create database "${scratchDb}"`));
  const dbUrl = new URL(settings.pgUrl);
  dbUrl.pathname = "/" + scratchDb;
  const databaseUrl = dbUrl.toString();
  const sql = createSql(databaseUrl, { max: 2, statementTimeoutMs: 0 });
  await within(60_000, "migrations", migrate(sql));
  say(`scratch database ${scratchDb}; generating graph`);
  const stats = await within(60 * 60_000, "graph generation", generateGraph(sql, graph));
  await checkSecretHashes(sql, graph.credentials, hashSecret);
  const pairs = await within(300_000, "sampling verify pairs", sampleVerifyPairs(sql, graph, settings.bodies));
  await sql.end({ timeout: 5 });
  say(`graph: ${Object.entries(stats.rows).map(([k, v]) => `${k} ${fmtInt(v)}`).join(", ")} (revision ${stats.revision})`);

  tmp = mkdtempSync(join(tmpdir(), "pcl-bench-rl-"));
  const lua = join(tmp, "verify.lua");
  writeFileSync(lua, luaScript(pairs));

  const result: Record<string, unknown> = {
    bench: "ratelimit",
    started: started.toISOString(),
    machine: { cores, cpu: cpus()[0]?.model ?? null, bun: Bun.version, wrk: wrkVersion, redis: redisVersion },
    settings: { ...settings, pgUrl: undefined },
    graph: { params: graph, rows: stats.rows },
  };
  const report: string[] = [];

  // ---- 1. throughput
  if (!settings.skipThroughput) {
    const servers = new Map<ModeName, Spawned>();
    for (const mode of settings.modes) {
      const s = spawnServer(mode, "0", freePort(), { DATABASE_URL: databaseUrl, ...modeEnv(mode, `${PREFIX}tp-${mode}:`) });
      servers.set(mode, s);
    }
    for (const s of servers.values()) await waitReady(s);
    // Every body once through each: all 200 (nothing is refused at these limits).
    for (const [mode, s] of servers) {
      const codes: Record<number, number> = {};
      await Promise.all(pairs.slice(0, 200).map(async (p) => {
        const r = await fetch(s.base + VERIFY_PATH, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(p) });
        await r.arrayBuffer();
        codes[r.status] = (codes[r.status] ?? 0) + 1;
      }));
      if (Object.keys(codes).some((c) => c !== "200")) throw new Error(`${mode}: non-200 answers to the load bodies: ${JSON.stringify(codes)}`);
    }
    for (const [mode, s] of servers) {
      await waitEventsFlushed(s.base);
      say(`warm-up ${mode}: ${settings.warmupS} s`);
      await wrk(s.base + VERIFY_PATH, lua, settings.warmupS);
    }
    type Run = WrkResult & { serverPct: number; redisPct: number; wrkPct: number; rpsPerCpu: number };
    const runs: Record<string, Run[]> = Object.fromEntries(settings.modes.map((m) => [m, []]));
    for (let round = 1; round <= settings.rounds; round++) {
      // Rotate the order each round, so no mode always follows the same one.
      const order = settings.modes.map((_, i) => settings.modes[(i + round - 1) % settings.modes.length]!);
      for (const mode of order) {
        const s = servers.get(mode)!;
        await waitEventsFlushed(s.base);
        const [r, cpu] = await withCpu({ server: s.proc.pid, redis: redisPid }, () => wrk(s.base + VERIFY_PATH, lua, settings.durationS));
        const run: Run = { ...r, serverPct: cpu.server!, redisPct: cpu.redis!, wrkPct: cpu.wrk!, rpsPerCpu: r.rps / (cpu.server! / 100) };
        runs[mode]!.push(run);
        say(`round ${round}/${settings.rounds} ${mode.padEnd(7)} ${fmtInt(r.rps).padStart(7)} req/s, p50 ${fmtMs(r.p50Ms)}, p99 ${fmtMs(r.p99Ms)}; ` +
          `CPU server ${pctf(run.serverPct)}, redis ${pctf(run.redisPct)}, wrk ${pctf(run.wrkPct)}${r.non2xx ? `; ${r.non2xx} non-2xx` : ""}${r.socketErrors ? `; ${r.socketErrors} socket errors` : ""}`);
      }
    }
    const endMetrics: Record<string, Record<string, number>> = {};
    for (const [mode, s] of servers) endMetrics[mode] = await metrics(s.base);
    for (const s of servers.values()) await stopChild(s.proc, 60_000);

    const sum = Object.fromEntries(settings.modes.map((m) => {
      const rs = runs[m]!;
      return [m, {
        rps: median(rs.map((r) => r.rps)), p50Ms: median(rs.map((r) => r.p50Ms)), p99Ms: median(rs.map((r) => r.p99Ms)),
        serverPct: median(rs.map((r) => r.serverPct)), redisPct: median(rs.map((r) => r.redisPct)), rpsPerCpu: median(rs.map((r) => r.rpsPerCpu)),
        errors: rs.reduce((a, r) => a + r.non2xx + r.socketErrors, 0),
        redisErrors: endMetrics[m]!["portcullis_ratelimit_redis_errors_total"] ?? 0,
        fallbackDecisions: endMetrics[m]!["portcullis_ratelimit_fallback_decisions_total"] ?? 0,
        syncs: endMetrics[m]!["portcullis_ratelimit_syncs_total"] ?? 0,
      }];
    })) as Record<string, { rps: number; p50Ms: number; p99Ms: number; serverPct: number; redisPct: number; rpsPerCpu: number; errors: number; redisErrors: number; fallbackDecisions: number; syncs: number }>;
    const off = sum.off;
    const rows: string[][] = [["mode", "req/s", "vs off", "p50", "p99", "server CPU", "req/CPU-s", "vs off", "redis CPU", "errors"]];
    for (const m of settings.modes) {
      const x = sum[m]!;
      rows.push([m, fmtInt(x.rps), off && m !== "off" ? signed((x.rps / off.rps - 1) * 100) : "", fmtMs(x.p50Ms), fmtMs(x.p99Ms), pctf(x.serverPct),
        fmtInt(x.rpsPerCpu), off && m !== "off" ? signed((x.rpsPerCpu / off.rpsPerCpu - 1) * 100) : "", pctf(x.redisPct), String(x.errors)]);
    }
    report.push(
      "",
      `Throughput: POST ${VERIFY_PATH}, wrk -t1 -c${settings.connections}, ${settings.durationS} s per run, median of ${settings.rounds} rounds; ` +
        `server on core 0, wrk on core 1; limits ${settings.highLimit} per gate and per credential (nothing refused)`,
      `graph: ${fmtInt(stats.rows.users!)} users, ${fmtInt(stats.rows.gates!)} gates, ${fmtInt(stats.rows.credentials!)} credentials; ${pairs.length} bodies rotated`,
      "",
      table(rows),
      "",
      ...settings.modes.filter((m) => m === "local" || m === "synced").map((m) => {
        const cost = off ? (1 - sum[m]!.rps / off.rps) * 100 : NaN;
        const costCpu = off ? (1 - sum[m]!.rpsPerCpu / off.rpsPerCpu) * 100 : NaN;
        return `${m}: costs ${cost.toFixed(1)} % of throughput (${costCpu.toFixed(1)} % per server CPU-second): target ≤ 5 % ${cost <= 5 ? "MET" : "NOT MET"}`;
      }),
      ...settings.modes.filter((m) => m === "synced" || m === "exact").map((m) =>
        `${m}: ${fmtInt(sum[m]!.redisErrors)} Redis errors, ${fmtInt(sum[m]!.fallbackDecisions)} fallback decisions${m === "synced" ? `, ${fmtInt(sum[m]!.syncs)} syncs` : ""}`),
    );
    const all = Object.values(runs).flat();
    const starved = all.filter((r) => r.serverPct < 90).length;
    if (starved) {
      report.push(`note: in ${starved} of ${all.length} runs the server used < 90 % of its core (other load on the machine took it): ` +
        "req/s understates it; req/CPU-s (requests per second of server CPU) is the steadier comparison");
    }
    result.throughput = { summary: sum, runs };
  }

  // ---- 1b. per-request cost, in-process: noise-robust where wrk is not (a shared, busy machine)
  if (!settings.skipInProcess) {
    const ipModes = settings.modes.filter((m) => m !== "exact"); // exact waits on Redis: a latency, not a CPU cost
    const services = new Map<ModeName, Service>();
    for (const mode of ipModes) {
      const cfg = loadConfig({ LOG_LEVEL: "error", WORKERS: "1", PORT: "0", DEMO_DATA: "0", DATABASE_URL: databaseUrl, ...modeEnv(mode, `${PREFIX}ip-${mode}:`) });
      services.set(mode, await startService(cfg, { databaseUrl, maintenance: false }));
    }
    inProcess = services;
    const bodies = pairs.map((p) => JSON.stringify(p));
    const batch = async (svc: Service, n: number, from: number) => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const r = await svc.app.handle(new Request("http://localhost" + VERIFY_PATH, { method: "POST", headers: { "content-type": "application/json" }, body: bodies[(from + i) % bodies.length] }));
        await r.arrayBuffer();
      }
      return ((performance.now() - t0) / n) * 1000;
    };
    say(`in-process: ${ipModes.join(", ")} — ${settings.ipRounds} rounds of ${settings.ipBatch} verifies each through app.handle, interleaved`);
    for (const [, svc] of services) await batch(svc, 20_000, 0);
    const us: Record<string, number[]> = Object.fromEntries(ipModes.map((m) => [m, []]));
    for (let round = 0; round < settings.ipRounds; round++) {
      for (const [mode, svc] of services) us[mode]!.push(await batch(svc, settings.ipBatch, round * settings.ipBatch));
      for (const [, svc] of services) await svc.deps.events.drain();
    }
    for (const svc of services.values()) await svc.stop();
    inProcess = null;
    const med = Object.fromEntries(ipModes.map((m) => [m, median(us[m]!)]));
    const offUs = med.off;
    // What a verify costs over HTTP on this machine (server CPU per request, from the wrk runs).
    const httpUs = result.throughput ? 1e6 / (result.throughput as any).summary.off.rpsPerCpu : NaN;
    const rows: string[][] = [["mode", "µs/verify (median)", "min", "vs off", "of an HTTP verify"]];
    for (const m of ipModes) {
      const d = offUs === undefined ? NaN : med[m]! - offUs;
      rows.push([m, med[m]!.toFixed(2), Math.min(...us[m]!).toFixed(2), m === "off" ? "" : `${d >= 0 ? "+" : ""}${d.toFixed(2)} µs`,
        m === "off" || Number.isNaN(httpUs) ? "" : signed((d / httpUs) * 100)]);
    }
    report.push(
      "",
      `Per-verify cost in-process (app.handle: no sockets, so only the service's own work), median of ${settings.ipRounds} interleaved rounds of ${settings.ipBatch}` +
        (Number.isNaN(httpUs) ? "" : `; "of an HTTP verify" relates the difference to the ${httpUs.toFixed(1)} µs of server CPU one verify took over HTTP (off, wrk)`),
      "",
      table(rows),
    );
    result.inProcess = { rounds: us, median: med, httpUsPerVerify: httpUs };
  }

  // ---- 2. accuracy
  if (!settings.skipAccuracy) {
    const L = settings.accuracyLimit, rate = settings.accuracyRate, T = settings.accuracyS;
    const gate = gateId(2); // any gate: only the limiter's verdict (200 or 429) counts
    const bodies = Array.from({ length: 20 }, (_, k) => JSON.stringify({ gate_id: gate, token: secretFor(k + 1) }));
    const acc: Record<string, unknown> = {};
    const rows: string[][] = [["mode", "offered", "admitted", "expected", "error", "max/window", "bound/window", "Redis sum", "fallback/errors", "other"]];
    for (const mode of ["exact", "synced"] as const) {
      const prefix = `${PREFIX}acc-${mode}:`;
      const env = { DATABASE_URL: databaseUrl, REDIS_URL: settings.redisUrl, RATE_LIMIT_MODE: mode, RATE_LIMIT_GATE: `${L}/1s`, RATE_LIMIT_TOKEN: "off", RATE_LIMIT_PREFIX: prefix, RATE_LIMIT_SYNC_MS: String(settings.syncMs) };
      const a = spawnServer(`${mode}-a`, "0", freePort(), env);
      const b = spawnServer(`${mode}-b`, "1", freePort(), env);
      await waitReady(a);
      await waitReady(b);
      // Warm the connections, then start both senders together on a window boundary.
      await Promise.all([a, b].map((s) => fetch(s.base + "/healthz").then((r) => r.arrayBuffer())));
      const startAt = Math.ceil((Date.now() + 1500) / 1000) * 1000 + 2;
      say(`accuracy ${mode}: 2 instances × ${rate} verifies/s for ${T} s against ${L}/1s per gate (shared)`);
      // Each window's cluster-wide count, read from Redis ~0.6 s after the window ended (the last
      // syncs have landed; the key lives two windows more).
      const firstWindow = Math.floor(startAt / 1000);
      const perWindow: number[] = new Array(T).fill(NaN);
      let polling = true;
      const poller = (async () => {
        while (polling) {
          const done = Math.floor((Date.now() - 600) / 1000) - 1;
          for (let w = firstWindow; w <= Math.min(done, firstWindow + T - 1); w++) {
            if (Number.isNaN(perWindow[w - firstWindow]!)) perWindow[w - firstWindow] = Number((await redis!.get(`${prefix}gate:${gate}:${w}`)) ?? 0);
          }
          await sleep(200);
        }
      })();
      const [ra, rb] = await Promise.all([openLoop(a.base, bodies, rate, startAt, T), openLoop(b.base, bodies, rate, startAt + 1000 / rate / 2, T)]);
      await sleep(1800);
      polling = false;
      await poller;
      for (const s of [a, b]) {
        if (s.proc.exitCode !== null || s.proc.signalCode !== null) {
          throw new Error(`${s.name} exited during the run (code ${s.proc.exitCode ?? s.proc.signalCode}):\n    ${s.out.slice(-15).join("\n    ")}`);
        }
      }
      const ma = await metrics(a.base), mb = await metrics(b.base);
      const fallbackDecisions = (ma["portcullis_ratelimit_fallback_decisions_total"] ?? 0) + (mb["portcullis_ratelimit_fallback_decisions_total"] ?? 0);
      const redisErrors = (ma["portcullis_ratelimit_redis_errors_total"] ?? 0) + (mb["portcullis_ratelimit_redis_errors_total"] ?? 0);
      const maxSyncGapMs = Math.round(1000 * Math.max(ma["portcullis_ratelimit_sync_gap_max_seconds"] ?? 0, mb["portcullis_ratelimit_sync_gap_max_seconds"] ?? 0));
      const admitted = (ra.status[200] ?? 0) + (rb.status[200] ?? 0);
      const limited = (ra.status[429] ?? 0) + (rb.status[429] ?? 0);
      const other = ra.sent + rb.sent - admitted - limited;
      const expected = T * L;
      const errPct = (admitted / expected - 1) * 100;
      // Stated bound (limiter.ts): per window limit + (n − 1) × A, A = r × (2 × SYNC_MS + RTT).
      const rttMs = 1;
      const bound = mode === "exact" ? L : L + 1 * rate * ((2 * settings.syncMs + rttMs) / 1000);
      const boundPct = (bound / L - 1) * 100;
      const maxWindow = Math.max(...perWindow.filter((x) => !Number.isNaN(x)));
      await stopChild(a.proc);
      await stopChild(b.proc);
      const redisSum = perWindow.reduce((x, y) => x + (Number.isNaN(y) ? 0 : y), 0);
      rows.push([mode, fmtInt(ra.sent + rb.sent), fmtInt(admitted), fmtInt(expected), signed(errPct, 2), fmtInt(maxWindow), `${fmtInt(bound)} (${signed(boundPct, 0)})`,
        fmtInt(redisSum), `${fmtInt(fallbackDecisions)} / ${fmtInt(redisErrors)}`, String(other)]);
      acc[mode] = { sent: ra.sent + rb.sent, admitted, limited, other, expected, errorPct: errPct, perWindow, redisSum, boundPerWindow: bound,
        boundPct, fallbackDecisions, redisErrors, maxSyncGapMs, senderLateMsMax: Math.max(ra.lateMsMax, rb.lateMsMax), perInstance: { a: ra.status, b: rb.status } };
      say(`  ${mode}: admitted ${admitted} of ${ra.sent + rb.sent} (expected ${expected}, ${signed(errPct, 2)}); windows in Redis: sum ${redisSum}, ` +
        `max ${maxWindow}; fallback decisions ${fallbackDecisions}, Redis errors ${redisErrors}; sender late ≤ ${Math.max(ra.lateMsMax, rb.lateMsMax)} ms` +
        (mode === "synced" ? `; longest gap between syncs ${maxSyncGapMs} ms (nominal ${settings.syncMs})` : ""));
    }
    report.push(
      "",
      `Accuracy: 2 instances (cores 0 and 1), each sent ${settings.accuracyRate} verifies/s open-loop for ${T} s at one gate, limit ${L}/1s shared (${T} windows)`,
      "",
      table(rows),
      "",
      `targets: exact within 1 % of ${fmtInt(T * L)}: ${Math.abs((acc.exact as any).errorPct) <= 1 ? "MET" : "NOT MET"}; ` +
        `synced within its stated bound (every window ≤ limit + (n−1) × r × (2 × SYNC_MS + RTT)): ${(acc.synced as any).perWindow.every((c: number) => Number.isNaN(c) || c <= (acc.synced as any).boundPerWindow) ? "MET" : "NOT MET"}`,
    );
    result.accuracy = acc;
  }

  say(report.join("\n") + "\n");
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `ratelimit-${started.toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify({ ...result, report }, null, 2) + "\n");
  say(`results: ${file.slice(ROOT.length + 1)}`);
}

const watchdog = setTimeout(() => {
  say(`benchmark exceeded its ${Math.round(DEADLINE_MS / 1000)} s deadline: aborting`);
  void within(60_000, "cleanup", cleanup()).finally(() => process.exit(1));
}, DEADLINE_MS);

let code = 0;
try {
  await main();
} catch (e) {
  if (interrupted) console.error(`benchmark interrupted (${interrupted})`);
  else console.error(`\nbenchmark failed: ${(e as Error)?.stack ?? e}`);
  code = 1;
} finally {
  await within(90_000, "cleanup", cleanup()).catch((e) => {
    console.error(String(e));
    code = 1;
  });
  clearTimeout(watchdog);
}
process.exit(code);
