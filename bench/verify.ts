// Verify throughput and latency of the real service against a bare Bun.serve baseline.
//
//   bun bench/verify.ts            (or: bun run bench)
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
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { createSql, type Sql } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { hashSecret } from "../src/tokens";
import { checkSecretHashes, generateGraph, graphParamsFromEnv, sampleVerifyPairs, type GraphStats, type VerifyPair } from "./graph";

const ROOT = join(import.meta.dir, "..");
const RESULTS_DIR = join(import.meta.dir, "results");
const VERIFY_PATH = "/api/v1/access/verify";

// ---------------------------------------------------------------------------------------------
// Settings

function seconds(name: string, def: string): number {
  const raw = process.env[name] || def;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw.trim());
  if (!m) throw new Error(`${name}=${JSON.stringify(raw)}: expected a duration like 10s, 500ms, 2m`);
  const n = +m[1]!;
  return m[2] === "ms" ? n / 1000 : m[2] === "m" ? n * 60 : n;
}
function int(name: string, def: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${JSON.stringify(raw)}: expected an integer ≥ ${min}`);
  return n;
}

const settings = {
  durationS: seconds("BENCH_DURATION", "10s"),
  warmupS: seconds("BENCH_WARMUP", "3s"),
  connections: int("BENCH_CONNECTIONS", 50),
  threads: int("BENCH_THREADS", 1),
  bodies: int("BENCH_BODIES", 2000),
  rounds: int("BENCH_ROUNDS", 3),
  targetRatio: Number(process.env.BENCH_TARGET_RATIO || 0.9),
  keepDb: process.env.BENCH_KEEP_DB === "1",
  pgUrl: process.env.BENCH_PG_URL || "postgres://postgres@127.0.0.1:5432/test",
  readyTimeoutS: seconds("BENCH_READY_TIMEOUT", "120s"),
};
const graph = graphParamsFromEnv();

// Whole-run deadline: setup (graph generation grows with its size: ~3 min per million credentials
// here), readiness, every warm-up and measurement, with room to spare. BENCH_DEADLINE overrides.
const DEADLINE_MS = process.env.BENCH_DEADLINE
  ? seconds("BENCH_DEADLINE", "0s") * 1000
  : (600 + (graph.credentials + graph.grants) / 1e6 * 300 + settings.readyTimeoutS * 2 + 2 * (settings.warmupS + 60) +
      settings.rounds * 2 * (settings.durationS + 180)) * 1000;

// ---------------------------------------------------------------------------------------------
// Processes and cleanup

const children = new Set<Subprocess>();
let scratchDb: string | null = null;
let adminSql: Sql | null = null;
let scratchSql: Sql | null = null;
let tmp: string | null = null;
let cleaning: Promise<void> | null = null;

const say = (s: string) => console.log(s);
const sleep = (ms: number) => Bun.sleep(ms);

/** Rejects after `ms` with a message naming what timed out. */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: timed out after ${Math.round(ms / 1000)} s`)), ms);
    }),
  ]);
}

/** SIGTERM, wait up to `graceMs` for the clean shutdown, then SIGKILL. */
async function stopChild(c: Subprocess, graceMs = 20_000): Promise<void> {
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

async function dropScratchDb(): Promise<void> {
  if (!scratchDb) return;
  const name = scratchDb;
  if (settings.keepDb) {
    say(`keeping scratch database ${name} (BENCH_KEEP_DB=1)`);
    return;
  }
  await scratchSql?.end({ timeout: 2 }).catch(() => {});
  scratchSql = null;
  adminSql ??= createSql(settings.pgUrl, { max: 1 });
  await within(30_000, `drop database ${name}`, adminSql.unsafe(`drop database if exists "${name}" with (force)`));
  scratchDb = null;
  say(`dropped scratch database ${name}`);
}

function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    await Promise.all([...children].map((c) => stopChild(c).catch((e) => say(`  stopping pid ${c.pid}: ${e}`))));
    try {
      await dropScratchDb();
    } catch (e) {
      say(`could not drop scratch database ${scratchDb}: ${e}`);
    }
    await adminSql?.end({ timeout: 2 }).catch(() => {});
    adminSql = null;
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    tmp = null;
  })());
}

// Last resort when the process exits without cleanup (it should not): no child outlives us, and
// the scratch database goes too (synchronously, through psql).
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  if (scratchDb && !settings.keepDb) {
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
  proc: Subprocess;
  out: string[];
}

/** Spawns a long-lived child; its output is echoed with a prefix and kept (the last lines) for errors. */
function spawnChild(name: string, cmd: string[], env: Record<string, string>): Spawned {
  const proc = Bun.spawn(cmd, { cwd: ROOT, env: { ...process.env, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
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
    if (rest) console.log(`  [${name}] ${rest}`);
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>);
  void pump(proc.stderr as ReadableStream<Uint8Array>);
  return { proc, out };
}

/** Runs a command to completion (bounded), echoing its output; answers the exit code and output. */
async function run(cmd: string[], timeoutMs: number, opts: { echo?: boolean } = {}): Promise<{ code: number; out: string }> {
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
        if (opts.echo) process.stdout.write(t);
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

// ---------------------------------------------------------------------------------------------
// Tools

async function ensureTools(): Promise<void> {
  if (!Bun.which("taskset")) throw new Error("taskset is missing (Debian package util-linux); cannot pin processes to cores");
  if (Bun.which("wrk")) return;
  say("wrk is missing: installing it");
  say("$ apt-get install -y wrk");
  let r = await run(["apt-get", "install", "-y", "wrk"], 300_000, { echo: true });
  if (r.code !== 0) {
    say("apt-get install failed; refreshing the package lists");
    say("$ apt-get update");
    await run(["apt-get", "update"], 300_000, { echo: true });
    say("$ apt-get install -y wrk");
    r = await run(["apt-get", "install", "-y", "wrk"], 300_000, { echo: true });
  }
  if (r.code !== 0 || !Bun.which("wrk")) throw new Error("could not install wrk (apt-get install -y wrk failed)");
  say(`wrk installed: ${Bun.which("wrk")}`);
}

function freePort(): number {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = s.port!;
  s.stop(true);
  return port;
}

async function waitReady(name: string, s: Spawned, url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < until) {
    if (s.proc.exitCode !== null || s.proc.signalCode !== null) {
      throw new Error(`${name} exited (code ${s.proc.exitCode ?? s.proc.signalCode}) before it was ready:\n    ${s.out.slice(-15).join("\n    ")}`);
    }
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) return;
      last = `${r.status} ${await r.text()}`;
    } catch (e) {
      last = String(e);
    }
    await sleep(200);
  }
  throw new Error(`${name}: ${url} not 200 within ${timeoutMs / 1000} s (last: ${last.slice(0, 300)})`);
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc (Linux): who used which core during a run

const CLK_TCK = 100; // USER_HZ: 100 on every Linux architecture Bun supports

/** utime + stime of a process, in ticks; NaN when it is gone. */
function procTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // f[0] is field 3 (state)
    return Number(f[11]) + Number(f[12]);
  } catch {
    return NaN;
  }
}

/** cutime + cstime of this process: CPU of children already waited for (wrk, once it exits). */
function reapedChildTicks(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[13]) + Number(f[14]);
}

interface CoreTicks {
  busy: number;
  steal: number;
  total: number;
}
function coreTicks(): CoreTicks[] {
  const out: CoreTicks[] = [];
  for (const line of (readFileSync("/proc/stat", "utf8")).split("\n")) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = m[2]!.trim().split(/\s+/).map(Number) as number[];
    out[+m[1]!] = { busy: user! + nice! + system! + irq! + softirq!, steal: steal ?? 0, total: user! + nice! + system! + idle! + iowait! + irq! + softirq! + (steal ?? 0) };
  }
  return out;
}

export interface CpuUse {
  /** Percent of one core, over the run. */
  serverPct: number;
  wrkPct: number;
  /** The Postgres backends connected to the scratch database (the service's own queries and inserts). */
  pgPct: number;
  /** Per core: percent busy (all processes, kernel included) and stolen by the hypervisor. */
  cores: Array<{ busyPct: number; stealPct: number }>;
  /** Busy time on the server's and wrk's cores that neither the server nor wrk account for. */
  otherOnServerCorePct: number;
  otherOnWrkCorePct: number;
}

async function withCpu<T>(serverPid: number, pgPids: number[], serverCore: number, wrkCore: number, fn: () => Promise<T>): Promise<[T, CpuUse]> {
  const t0 = performance.now();
  const s0 = procTicks(serverPid), w0 = reapedChildTicks(), c0 = coreTicks();
  const pg0 = pgPids.map(procTicks);
  const r = await fn();
  const s1 = procTicks(serverPid), w1 = reapedChildTicks(), c1 = coreTicks();
  const pg1 = pgPids.map(procTicks);
  const secs = (performance.now() - t0) / 1000;
  const pct = (ticks: number) => (ticks / CLK_TCK / secs) * 100;
  const cores = c1.map((c, i) => {
    const total = c.total - c0[i]!.total || 1;
    return { busyPct: ((c.busy - c0[i]!.busy) / total) * 100, stealPct: ((c.steal - c0[i]!.steal) / total) * 100 };
  });
  const serverPct = pct(s1 - s0), wrkPct = pct(w1 - w0);
  let pg = 0;
  pgPids.forEach((_, i) => {
    const d = pg1[i]! - pg0[i]!;
    if (Number.isFinite(d)) pg += d;
  });
  return [r, {
    serverPct, wrkPct, pgPct: pct(pg), cores,
    otherOnServerCorePct: Math.max(0, cores[serverCore]!.busyPct - serverPct - (serverCore === wrkCore ? wrkPct : 0)),
    otherOnWrkCorePct: Math.max(0, cores[wrkCore]!.busyPct - wrkPct - (serverCore === wrkCore ? serverPct : 0)),
  }];
}

// ---------------------------------------------------------------------------------------------
// Load

function luaScript(pairs: VerifyPair[]): string {
  const bodies = pairs.map((p) => `[==[${JSON.stringify({ gate_id: p.gate_id, token: p.token })}]==]`);
  // Requests are formatted once at init: request() only rotates, so wrk spends its core on I/O.
  return `-- generated by bench/verify.ts: ${pairs.length} verify bodies, rotated
local bodies = {
${bodies.join(",\n")}
}
local requests = {}
local n = #bodies
local i = 0
init = function(args)
  local headers = { ["Content-Type"] = "application/json", ["Host"] = wrk.headers["Host"] }
  for k = 1, n do
    requests[k] = wrk.format("POST", nil, headers, bodies[k])
  end
end
request = function()
  i = i % n + 1
  return requests[i]
end
`;
}

interface WrkResult {
  rps: number;
  p50Ms: number;
  p75Ms: number;
  p90Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
  raw: string;
}

function toMs(v: string, unit: string): number {
  const n = Number(v);
  switch (unit) {
    case "us": return n / 1000;
    case "ms": return n;
    case "s": return n * 1000;
    case "m": return n * 60_000;
    case "h": return n * 3_600_000;
    default: throw new Error(`unknown wrk time unit ${unit}`);
  }
}

export function parseWrk(raw: string): WrkResult {
  const num = (re: RegExp, what: string) => {
    const m = re.exec(raw);
    if (!m) throw new Error(`wrk output has no ${what}:\n${raw}`);
    return m;
  };
  const pct = (p: number) => {
    const m = num(new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, "m"), `${p}% latency`);
    return toMs(m[1]!, m[2]!);
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw);
  return {
    rps: Number(num(/Requests\/sec:\s+([\d.]+)/, "Requests/sec")[1]),
    p50Ms: pct(50),
    p75Ms: pct(75),
    p90Ms: pct(90),
    p99Ms: pct(99),
    requests: Number(num(/(\d+) requests in/, "request count")[1]),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(raw)?.[1] ?? 0),
    socketErrors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    raw,
  };
}

async function wrk(url: string, lua: string, durationS: number, wrkCore: string): Promise<WrkResult> {
  const cmd = ["taskset", "-c", wrkCore, "wrk", `-t${settings.threads}`, `-c${settings.connections}`, `-d${Math.max(1, Math.round(durationS))}s`, "--latency", "-s", lua, url];
  const r = await run(cmd, (durationS + 60) * 1000);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.code}:\n${r.out}`);
  return parseWrk(r.out);
}

/** Sends every body once (a few at a time) and tallies status codes and reasons. */
async function probeAnswers(base: string, pairs: VerifyPair[]): Promise<{ status: Record<string, number>; reasons: Record<string, number> }> {
  const status: Record<string, number> = {};
  const reasons: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < pairs.length) {
      const p = pairs[next++]!;
      const r = await fetch(base + VERIFY_PATH, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ gate_id: p.gate_id, token: p.token }),
        signal: AbortSignal.timeout(5000),
      });
      status[r.status] = (status[r.status] ?? 0) + 1;
      const body = (await r.json()) as { reason?: string };
      const reason = body.reason ?? "(none)";
      reasons[reason] = (reasons[reason] ?? 0) + 1;
    }
  };
  await within(120_000, "probing answers", Promise.all(Array.from({ length: 16 }, worker)));
  return { status, reasons };
}

// ---------------------------------------------------------------------------------------------
// Portcullis metrics, read between runs

async function metrics(base: string): Promise<Record<string, number>> {
  const text = await (await fetch(base + "/metrics", { signal: AbortSignal.timeout(5000) })).text();
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) ([-\d.e+]+|NaN)$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** Waits until the event writer's buffer is empty, so a run does not inherit the last run's flushing. */
async function waitEventsFlushed(base: string, timeoutMs = 120_000): Promise<number> {
  const until = Date.now() + timeoutMs;
  let depth = NaN;
  while (Date.now() < until) {
    depth = (await metrics(base))["portcullis_events_buffered"] ?? NaN;
    if (depth === 0) return 0;
    await sleep(250);
  }
  say(`  warning: ${depth} access events still buffered after ${timeoutMs / 1000} s; measuring anyway`);
  return depth;
}

// ---------------------------------------------------------------------------------------------
// Report

const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");
const pctf = (n: number) => `${n.toFixed(0)} %`;
const fmtMs = (n: number) => (n < 1 ? `${(n * 1000).toFixed(0)} µs` : `${n.toFixed(2)} ms`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Run extends WrkResult {
  cpu: CpuUse;
  /** Requests per second of server CPU time. */
  rpsPerCpu: number;
}

interface Summary {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  rpsPerCpu: number;
  serverCpuPct: number;
  pgCpuPct: number;
  otherOnServerCorePct: number;
  otherOnWrkCorePct: number;
  non2xx: number;
  socketErrors: number;
}
function summarise(runs: Run[]): Summary {
  const med = (f: (r: Run) => number) => median(runs.map(f));
  return {
    rps: med((r) => r.rps),
    p50Ms: med((r) => r.p50Ms),
    p99Ms: med((r) => r.p99Ms),
    rpsPerCpu: med((r) => r.rpsPerCpu),
    serverCpuPct: med((r) => r.cpu.serverPct),
    pgCpuPct: med((r) => r.cpu.pgPct),
    otherOnServerCorePct: med((r) => r.cpu.otherOnServerCorePct),
    otherOnWrkCorePct: med((r) => r.cpu.otherOnWrkCorePct),
    non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
    socketErrors: runs.reduce((a, r) => a + r.socketErrors, 0),
  };
}

function table(rows: Array<[string, ...string[]]>): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("   "))
    .join("\n");
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = new Date();
  const cores = availableParallelism();
  const [serverCore, wrkCore] = cores >= 2 ? ["0", "1"] : ["0", "0"];
  say(`Portcullis verify benchmark — ${cores} cores (${cpus()[0]?.model ?? "?"}), Bun ${Bun.version}`);
  if (cores < 2) say("warning: fewer than 2 cores; server and wrk share core 0, figures are not comparable to 2-core runs");

  await ensureTools();
  const wrkVersion = (await run(["wrk", "-v"], 10_000)).out.split("\n")[0]!.trim();

  // Scratch database, migrations, graph.
  adminSql = createSql(settings.pgUrl, { max: 1 });
  const dbName = `pcl_bench_${Date.now().toString(36)}_${process.pid}`;
  await within(30_000, "create database", adminSql.unsafe(`create database "${dbName}"`));
  scratchDb = dbName;
  const dbUrl = new URL(settings.pgUrl);
  dbUrl.pathname = "/" + scratchDb;
  const databaseUrl = dbUrl.toString();
  say(`scratch database ${scratchDb}`);

  scratchSql = createSql(databaseUrl, { max: 2, statementTimeoutMs: 0 });
  const applied = await within(60_000, "migrations", migrate(scratchSql));
  say(`migrations applied: ${applied.join(", ")}`);
  say(`generating graph: ${Object.entries(graph).map(([k, v]) => `${k}=${v}`).join(" ")}`);
  const stats: GraphStats = await within(60 * 60_000, "graph generation", generateGraph(scratchSql, graph));
  say(`graph generated in ${(stats.ms / 1000).toFixed(1)} s at revision ${stats.revision}: ${Object.entries(stats.rows).map(([k, v]) => `${k} ${fmtInt(v)}`).join(", ")}`);
  await checkSecretHashes(scratchSql, graph.credentials, hashSecret);
  const pairs = await within(300_000, "sampling verify pairs", sampleVerifyPairs(scratchSql, graph, settings.bodies));
  await scratchSql.end({ timeout: 5 });
  scratchSql = null;

  tmp = mkdtempSync(join(tmpdir(), "pcl-bench-"));
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

  const targets = [
    { name: "bare", base: bareBase, pid: bare.proc.pid },
    { name: "portcullis", base: pcBase, pid: pc.proc.pid },
  ] as const;
  const sCore = Number(serverCore), wCore = Number(wrkCore);
  // The service's own Postgres backends (pool, listener, event writer), to account their CPU.
  const pgPids = async () =>
    (await adminSql!<{ pid: number }[]>`select pid from pg_stat_activity where datname = ${scratchDb}`).map((r) => r.pid);

  for (const t of targets) {
    if (t.name === "portcullis") await waitEventsFlushed(pcBase);
    say(`warm-up ${t.name}: ${settings.warmupS} s`);
    await wrk(t.base + VERIFY_PATH, lua, settings.warmupS, wrkCore);
  }
  const runs: Record<string, Run[]> = { bare: [], portcullis: [] };
  const eventsBefore = await metrics(pcBase);
  for (let round = 1; round <= settings.rounds; round++) {
    for (const t of targets) {
      if (t.name === "portcullis") await waitEventsFlushed(pcBase);
      const [r, cpu] = await withCpu(t.pid, await pgPids(), sCore, wCore, () => wrk(t.base + VERIFY_PATH, lua, settings.durationS, wrkCore));
      const run: Run = { ...r, cpu, rpsPerCpu: r.rps / (cpu.serverPct / 100) };
      runs[t.name]!.push(run);
      say(`round ${round}/${settings.rounds} ${t.name.padEnd(10)} ${fmtInt(r.rps).padStart(7)} req/s, p50 ${fmtMs(r.p50Ms)}, p99 ${fmtMs(r.p99Ms)}; ` +
        `CPU: server ${pctf(cpu.serverPct)}, wrk ${pctf(cpu.wrkPct)}, pg ${pctf(cpu.pgPct)}, other on core ${serverCore} ${pctf(cpu.otherOnServerCorePct)} / core ${wrkCore} ${pctf(cpu.otherOnWrkCorePct)}` +
        `${r.non2xx ? `; ${r.non2xx} non-2xx` : ""}${r.socketErrors ? `; ${r.socketErrors} socket errors` : ""}`);
    }
  }
  const pcMetrics = await metrics(pcBase);
  const flushedDuring = (pcMetrics["portcullis_events_flushed_total"] ?? 0) - (eventsBefore["portcullis_events_flushed_total"] ?? 0);
  await waitEventsFlushed(pcBase);
  const pcMetricsEnd = await metrics(pcBase);

  // Stop the servers before reporting: Portcullis drains its events on SIGTERM.
  await stopChild(pc.proc, 60_000);
  await stopChild(bare.proc);

  const b = summarise(runs.bare!);
  const p = summarise(runs.portcullis!);
  const ratio = p.rps / b.rps;
  const cpuRatio = p.rpsPerCpu / b.rpsPerCpu;
  const met = ratio >= settings.targetRatio;
  const header = `wrk -t${settings.threads} -c${settings.connections}, ${settings.durationS} s per run after a ${settings.warmupS} s warm-up, ` +
    `${pairs.length} bodies rotated; server on core ${serverCore}, wrk on core ${wrkCore}; median of ${settings.rounds} round${settings.rounds > 1 ? "s" : ""}`;
  const err = (x: Summary) => String(x.non2xx + x.socketErrors);
  const notes: string[] = [];
  const all = [...runs.bare!, ...runs.portcullis!];
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
    graph: { params: graph, rows: stats.rows, revision: stats.revision, generateMs: stats.ms },
    decisionMix: pcProbe.reasons,
    portcullis: { ...p, runs: runs.portcullis!.map(({ raw, ...r }) => r), readyMs: pcReadyMs,
      eventsFlushedDuringRuns: flushedDuring, eventsShed: pcMetricsEnd["portcullis_events_shed_total"] ?? 0,
      rssBytes: pcMetricsEnd["process_resident_memory_bytes"] ?? null, indexEntries: Object.fromEntries(Object.entries(pcMetrics).filter(([k]) => k.startsWith("portcullis_index_entries"))) },
    bare: { ...b, runs: runs.bare!.map(({ raw, ...r }) => r) },
    ratio: { throughput: ratio, perServerCpu: cpuRatio, p50: p.p50Ms / b.p50Ms, p99: p.p99Ms / b.p99Ms, target: settings.targetRatio, met },
    wrkOutput: { portcullis: runs.portcullis!.map((r) => r.raw), bare: runs.bare!.map((r) => r.raw) },
  }, null, 2) + "\n");
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
