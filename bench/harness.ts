// What every benchmark here needs, shared by verify.ts (standalone) and run.ts (the whole suite):
// bounded child processes that never outlive the run, scratch databases that are always dropped,
// tools installed from apt when missing, wrk runs and their parsing, CPU accounting from /proc
// (who used which core during a measurement, so a run starved by other load shows), the service's
// /metrics, and plain-text tables.
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { createSql, type Sql } from "../src/db/client";
import type { VerifyPair } from "./graph";

export const ROOT = join(import.meta.dir, "..");
export const RESULTS_DIR = join(import.meta.dir, "results");
export const VERIFY_PATH = "/api/v1/access/verify";

// ---------------------------------------------------------------------------------------------
// Settings

export function seconds(name: string, def: string): number {
  const raw = process.env[name] || def;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw.trim());
  if (!m) throw new Error(`${name}=${JSON.stringify(raw)}: expected a duration like 10s, 500ms, 2m`);
  const n = +m[1]!;
  return m[2] === "ms" ? n / 1000 : m[2] === "m" ? n * 60 : n;
}
export function int(name: string, def: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw.replace(/_/g, ""));
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${JSON.stringify(raw)}: expected an integer ≥ ${min}`);
  return n;
}

/** The load settings every verify-style benchmark reads from the environment. */
export function loadSettings() {
  return {
    durationS: seconds("BENCH_DURATION", "10s"),
    warmupS: seconds("BENCH_WARMUP", "3s"),
    connections: int("BENCH_CONNECTIONS", 50),
    threads: int("BENCH_THREADS", 1),
    bodies: int("BENCH_BODIES", 2000),
    rounds: int("BENCH_ROUNDS", 3),
    targetRatio: Number(process.env.BENCH_TARGET_RATIO || 0.9),
    keepDb: process.env.BENCH_KEEP_DB === "1",
    pgUrl: process.env.BENCH_PG_URL || "postgres://postgres@127.0.0.1:5432/test",
  };
}

export const say = (s: string) => console.log(s);
export const sleep = (ms: number) => Bun.sleep(ms);

/** Rejects after `ms` with a message naming what timed out. */
export function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: timed out after ${Math.round(ms / 1000)} s`)), ms);
    }),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Processes, scratch databases and cleanup

const children = new Set<Subprocess>();
const scratchDbs = new Set<string>();
const tmpDirs = new Set<string>();
const openSql = new Set<Sql>();
let adminSql: Sql | null = null;
let adminUrl = "";
let keepDbs = false;
let cleaning: Promise<void> | null = null;

/** A postgres.js client that cleanup() ends. */
export function trackedSql(url: string, opts: Parameters<typeof createSql>[1] = {}): Sql {
  const s = createSql(url, opts);
  openSql.add(s);
  return s;
}
export async function endSql(s: Sql | null): Promise<void> {
  if (!s) return;
  openSql.delete(s);
  await s.end({ timeout: 2 }).catch(() => {});
}

export function setPg(url: string, keep: boolean): Sql {
  adminUrl = url;
  keepDbs = keep;
  adminSql ??= trackedSql(url, { max: 1 });
  return adminSql;
}

export function dbUrl(name: string): string {
  const u = new URL(adminUrl);
  u.pathname = "/" + name;
  return u.toString();
}

/** Creates a scratch database (optionally as a copy of another), dropped by cleanup(). */
export async function createScratchDb(name: string, template?: string): Promise<string> {
  if (!adminSql) throw new Error("setPg first");
  await within(300_000, `create database ${name}`, adminSql.unsafe(`create database "${name}"${template ? ` template "${template}"` : ""}`));
  scratchDbs.add(name);
  return dbUrl(name);
}

export async function dropScratchDb(name: string): Promise<void> {
  if (!scratchDbs.has(name)) return;
  if (keepDbs) {
    say(`keeping scratch database ${name} (BENCH_KEEP_DB=1)`);
    scratchDbs.delete(name);
    return;
  }
  adminSql ??= trackedSql(adminUrl, { max: 1 });
  await within(60_000, `drop database ${name}`, adminSql.unsafe(`drop database if exists "${name}" with (force)`));
  scratchDbs.delete(name);
  say(`dropped scratch database ${name}`);
}

export function trackTmp(dir: string): string {
  tmpDirs.add(dir);
  return dir;
}

/** SIGTERM, wait up to `graceMs` for the clean shutdown, then SIGKILL. */
export async function stopChild(c: Subprocess, graceMs = 20_000): Promise<void> {
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

export function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    await Promise.all([...children].map((c) => stopChild(c).catch((e) => say(`  stopping pid ${c.pid}: ${e}`))));
    for (const s of [...openSql]) if (s !== adminSql) await endSql(s);
    for (const name of [...scratchDbs]) {
      try {
        await dropScratchDb(name);
      } catch (e) {
        say(`could not drop scratch database ${name}: ${e}`);
      }
    }
    await endSql(adminSql);
    adminSql = null;
    for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
    tmpDirs.clear();
  })());
}

let interrupted: string | null = null;
export const wasInterrupted = () => interrupted;

/**
 * Runs `main` under a whole-run deadline, with cleanup on success, error, Ctrl-C or SIGTERM (no
 * child outlives the run; scratch databases are dropped, as a last resort synchronously through
 * psql), then exits with 0 or 1.
 */
export async function runMain(main: () => Promise<void>, deadlineMs: number): Promise<never> {
  process.on("exit", () => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    if (!keepDbs) {
      for (const name of scratchDbs) {
        Bun.spawnSync(["psql", adminUrl, "-c", `drop database if exists "${name}" with (force)`], {
          stdio: ["ignore", "ignore", "ignore"], timeout: 20_000, env: { ...process.env, PGCONNECT_TIMEOUT: "5" },
        });
      }
    }
  });
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      interrupted = sig;
      say(`\n${sig}: cleaning up`);
      void within(90_000, "cleanup", cleanup()).finally(() => process.exit(130));
    });
  }
  const watchdog = setTimeout(() => {
    say(`benchmark exceeded its ${Math.round(deadlineMs / 1000)} s deadline: aborting`);
    void within(90_000, "cleanup", cleanup()).finally(() => process.exit(1));
  }, deadlineMs);
  let code = 0;
  try {
    await main();
  } catch (e) {
    if (interrupted) console.error(`benchmark interrupted (${interrupted})`);
    else console.error(`\nbenchmark failed: ${(e as Error)?.stack ?? e}`);
    code = 1;
  } finally {
    await within(120_000, "cleanup", cleanup()).catch((e) => {
      console.error(String(e));
      code = 1;
    });
    clearTimeout(watchdog);
  }
  process.exit(code);
}

export interface Spawned {
  proc: Subprocess;
  out: string[];
  /** Lines that satisfy a waiter (see waitLine). */
  listeners: Array<(line: string) => void>;
}

/** Spawns a long-lived child (in ROOT unless `cwd`); its output is echoed with a prefix (unless quiet) and kept (the last lines) for errors. */
export function spawnChild(name: string, cmd: string[], env: Record<string, string>, opts: { quiet?: boolean; cwd?: string } = {}): Spawned {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  children.add(proc);
  const out: string[] = [];
  const listeners: Array<(line: string) => void> = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    let rest = "";
    const line = (l: string) => {
      out.push(l);
      if (out.length > 50) out.shift();
      if (!opts.quiet) console.log(`  [${name}] ${l}`);
      for (const f of listeners) f(l);
    };
    for await (const chunk of stream) {
      const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n");
      rest = lines.pop()!;
      for (const l of lines) line(l);
    }
    if (rest) line(rest);
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>);
  void pump(proc.stderr as ReadableStream<Uint8Array>);
  return { proc, out, listeners };
}

/** Runs a command to completion (bounded), echoing its output when asked; answers the exit code and output. */
export async function run(cmd: string[], timeoutMs: number, opts: { echo?: boolean; env?: Record<string, string> } = {}): Promise<{ code: number; out: string; stdout: string }> {
  const proc = Bun.spawn(cmd, { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive", ...opts.env } });
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
    return { code, out: out + err, stdout: out };
  } finally {
    clearTimeout(timer);
    children.delete(proc);
  }
}

// ---------------------------------------------------------------------------------------------
// Tools

let aptUpdated = false;
/** Makes sure `bin` exists, installing Debian package `pkg` when it is missing (apt-get update first if the install fails). */
export async function ensureApt(bin: string, pkg: string): Promise<string> {
  const found = Bun.which(bin);
  if (found) return found;
  say(`${bin} is missing: installing Debian package ${pkg}`);
  say(`$ apt-get install -y ${pkg}`);
  let r = await run(["apt-get", "install", "-y", pkg], 300_000, { echo: true });
  if (r.code !== 0 && !aptUpdated) {
    say("apt-get install failed; refreshing the package lists");
    say("$ apt-get update");
    await run(["apt-get", "update"], 300_000, { echo: true });
    aptUpdated = true;
    say(`$ apt-get install -y ${pkg}`);
    r = await run(["apt-get", "install", "-y", pkg], 300_000, { echo: true });
  }
  const path = Bun.which(bin);
  if (r.code !== 0 || !path) throw new Error(`could not install ${bin} (apt-get install -y ${pkg} failed)`);
  say(`${bin} installed: ${path}`);
  return path;
}

export async function ensureTools(): Promise<void> {
  if (!Bun.which("taskset")) await ensureApt("taskset", "util-linux");
  await ensureApt("wrk", "wrk");
  if (!Bun.which("psql")) await ensureApt("psql", "postgresql-client");
}

export function freePort(): number {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = s.port!;
  s.stop(true);
  return port;
}

export async function waitReady(name: string, s: Spawned, url: string, timeoutMs: number, pollMs = 200): Promise<void> {
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
    await sleep(pollMs);
  }
  throw new Error(`${name}: ${url} not 200 within ${timeoutMs / 1000} s (last: ${last.slice(0, 300)})`);
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc (Linux): who used which core during a run

const CLK_TCK = 100; // USER_HZ: 100 on every Linux architecture Bun supports

/** utime + stime of a process, in ticks; NaN when it is gone. */
export function procTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // f[0] is field 3 (state)
    return Number(f[11]) + Number(f[12]);
  } catch {
    return NaN;
  }
}

/** A process and all its descendants (a WORKERS=N service is a process with N - 1 children). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const t of readdirSync(`/proc/${out[i]}/task`)) {
        const kids = readFileSync(`/proc/${out[i]}/task/${t}/children`, "utf8").trim();
        if (kids) for (const k of kids.split(/\s+/)) out.push(Number(k));
      }
    } catch {
      // gone
    }
  }
  return out;
}

/** cutime + cstime of this process: CPU of children already waited for (wrk, a load generator, once it exits). */
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
  /** Percent of one core, over the run (all server processes together). */
  serverPct: number;
  /** The load generator (wrk or bench/loadgen.ts), reaped at the end of the run. */
  wrkPct: number;
  /** The Postgres backends connected to the scratch database (the service's own queries and inserts). */
  pgPct: number;
  /** Per core: percent busy (all processes, kernel included) and stolen by the hypervisor. */
  cores: Array<{ busyPct: number; stealPct: number }>;
  /** Busy time on the server's and the load generator's cores that neither accounts for. */
  otherOnServerCorePct: number;
  otherOnWrkCorePct: number;
  /** Busy time on the whole machine that is neither server, load generator nor the scratch database's backends, in % of one core. */
  otherPct: number;
}

/**
 * Runs `fn` and accounts the CPU used meanwhile. serverCore/wrkCore: the cores they are pinned to
 * (null: not pinned, and "other on core" is then not computed).
 */
export async function withCpu<T>(serverPids: number[], pgPidsOf: number[] | (() => Promise<number[]>), serverCore: number | null, wrkCore: number | null, fn: () => Promise<T>): Promise<[T, CpuUse]> {
  const pgPids = typeof pgPidsOf === "function" ? await pgPidsOf() : pgPidsOf;
  const t0 = performance.now();
  const s0 = serverPids.map(procTicks), w0 = reapedChildTicks(), c0 = coreTicks();
  const pg0 = pgPids.map(procTicks);
  const r = await fn();
  const s1 = serverPids.map(procTicks), w1 = reapedChildTicks(), c1 = coreTicks();
  const pg1 = pgPids.map(procTicks);
  // Backends that connected during the run (a pool reopening an idle-closed connection): all their CPU is the run's.
  if (typeof pgPidsOf === "function") {
    for (const pid of await pgPidsOf()) {
      if (!pgPids.includes(pid)) {
        pg0.push(0);
        pg1.push(procTicks(pid));
      }
    }
  }
  const secs = (performance.now() - t0) / 1000;
  const pct = (ticks: number) => (ticks / CLK_TCK / secs) * 100;
  const cores = c1.map((c, i) => {
    const total = c.total - c0[i]!.total || 1;
    return { busyPct: ((c.busy - c0[i]!.busy) / total) * 100, stealPct: ((c.steal - c0[i]!.steal) / total) * 100 };
  });
  const sum = (a: number[], b: number[]) => a.reduce((acc, x, i) => (Number.isFinite(b[i]! - x) ? acc + b[i]! - x : acc), 0);
  const serverPct = pct(sum(s0, s1)), wrkPct = pct(w1 - w0), pgPct = pct(sum(pg0, pg1));
  const allBusy = cores.reduce((a, c) => a + c.busyPct, 0);
  return [r, {
    serverPct, wrkPct, pgPct, cores,
    otherOnServerCorePct: serverCore === null ? NaN : Math.max(0, cores[serverCore]!.busyPct - serverPct - (serverCore === wrkCore ? wrkPct : 0)),
    otherOnWrkCorePct: wrkCore === null ? NaN : Math.max(0, cores[wrkCore]!.busyPct - wrkPct - (serverCore === wrkCore ? serverPct : 0)),
    otherPct: Math.max(0, allBusy - serverPct - wrkPct - pgPct),
  }];
}

// ---------------------------------------------------------------------------------------------
// wrk

export function luaScript(pairs: VerifyPair[]): string {
  const bodies = pairs.map((p) => `[==[${JSON.stringify({ gate_id: p.gate_id, token: p.token })}]==]`);
  // Requests are formatted once at init: request() only rotates, so wrk spends its core on I/O.
  return `-- generated by bench/: ${pairs.length} verify bodies, rotated
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
  i = math.random(n) - 1
end
request = function()
  i = i % n + 1
  return requests[i]
end
`;
}

export interface WrkResult {
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

export interface WrkOptions {
  threads: number;
  connections: number;
  /** Core list for taskset, e.g. "1"; null: not pinned. */
  core: string | null;
}

export async function wrk(url: string, lua: string, durationS: number, o: WrkOptions): Promise<WrkResult> {
  const cmd = [...(o.core === null ? [] : ["taskset", "-c", o.core]), "wrk", `-t${o.threads}`, `-c${o.connections}`, `-d${Math.max(1, Math.round(durationS))}s`, "--latency", "-s", lua, url];
  const r = await run(cmd, (durationS + 60) * 1000);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.code}:\n${r.out}`);
  return parseWrk(r.out);
}

/** Sends every body once (a few at a time) and tallies status codes and reasons. */
export async function probeAnswers(base: string, pairs: VerifyPair[]): Promise<{ status: Record<string, number>; reasons: Record<string, number> }> {
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
  await within(300_000, "probing answers", Promise.all(Array.from({ length: 16 }, worker)));
  return { status, reasons };
}

// ---------------------------------------------------------------------------------------------
// Portcullis metrics

export async function metrics(base: string): Promise<Record<string, number>> {
  const text = await (await fetch(base + "/metrics", { signal: AbortSignal.timeout(30_000) })).text();
  return parseMetrics(text);
}
export function parseMetrics(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) ([-\d.e+]+|NaN)$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/**
 * Waits until the event writer's buffer is empty, so a run does not inherit the last run's flushing.
 * Polls /metrics sparingly: a scrape blocks the service for as long as bun:jsc heapStats() walks
 * the heap (see BENCHMARKS.md), which grows with the index.
 */
export async function waitEventsFlushed(base: string, timeoutMs = 120_000): Promise<number> {
  const until = Date.now() + timeoutMs;
  let depth = NaN;
  await sleep(300);
  while (Date.now() < until) {
    depth = (await metrics(base))["portcullis_events_buffered"] ?? NaN;
    if (depth === 0) return 0;
    await sleep(1000);
  }
  say(`  warning: ${depth} access events still buffered after ${timeoutMs / 1000} s; measuring anyway`);
  return depth;
}

// ---------------------------------------------------------------------------------------------
// Report helpers

export const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–");
export const pctf = (n: number) => (Number.isFinite(n) ? `${n.toFixed(0)} %` : "–");
export const fmtMs = (n: number) => (!Number.isFinite(n) ? "–" : n < 1 ? `${(n * 1000).toFixed(0)} µs` : `${n.toFixed(2)} ms`);
export const median = (xs: number[]) => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export function table(rows: string[][], align: Array<"l" | "r"> = []): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows
    .map((r) => r.map((c, i) => ((align[i] ?? (i === 0 ? "l" : "r")) === "l" ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("   ").trimEnd())
    .join("\n");
}
