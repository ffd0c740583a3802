// Stateful verify (a gate with a rule with memory: one Redis script call per decision) beside a
// stateless verify, measured in the same run against the same server process.
//
//   bun bench/stateful.ts
//
//   1. a scratch database: BENCH_BODIES users with a card each, granted two zones — "plain" (its
//      gate PLAIN has no rule) and "tracked" (soft anti-passback, an occupancy limit no one
//      reaches, gates T_IN direction in and T_OUT direction out);
//   2. ONE server: `taskset -c 0 bun src/main.ts` (WORKERS=1, REDIS_URL = the local Redis, a
//      STATE_PREFIX of this run's own, removed afterwards);
//   3. the bodies: stateless = every user at PLAIN; stateful = every user at T_IN, then T_OUT
//      (each decision reads and writes presence: anti-passback, occupancy, in/out);
//   4. latency: wrk -c1 (one request at a time: the unloaded per-request latency, p50/p99),
//      throughput: wrk -c BENCH_CONNECTIONS; each BENCH_ROUNDS times, alternating which route
//      goes first; CPU of the server, Postgres and Redis from /proc;
//   5. medians and stateful/stateless ratios; JSON in bench/results/.
//   0. first, in this process (no HTTP): the decision alone, stateless (decide()) and stateful
//      (decide() + the state step: one Lua call to the local Redis), one at a time, p50/p99 of
//      BENCH_INPROC (20000) each, interleaved in blocks — the cost of the rule itself.
//
// Knobs: BENCH_DURATION=10s BENCH_WARMUP=3s BENCH_CONNECTIONS=50 BENCH_BODIES=2000 BENCH_ROUNDS=3
//   BENCH_PG_URL, BENCH_REDIS_URL=redis://127.0.0.1:6379, BENCH_KEEP_DB=0.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { loadConfig } from "../src/config";
import { migrate } from "../src/db/migrate";
import { loadSnapshot } from "../src/db/permissions";
import { PermissionIndex } from "../src/index/permission-index";
import { rulesFor } from "../src/state/rules";
import { StateService } from "../src/state/state-service";
import { hashSecret, newSecret } from "../src/tokens";
import type { VerifyPair } from "./graph";
import {
  createScratchDb, type CpuUse, endSql, ensureTools, fmtInt, fmtMs, freePort, luaScript, median, metrics, pctf, probeAnswers, processTree,
  loadSettings, RESULTS_DIR, ROOT, runMain, say, setPg, spawnChild, table, trackedSql, trackTmp, VERIFY_PATH, waitEventsFlushed,
  waitReady, withCpu, within, wrk, type WrkResult,
} from "./harness";

const settings = loadSettings();
const REDIS_URL = process.env.BENCH_REDIS_URL || "redis://127.0.0.1:6379";
const DEADLINE_MS = (600 + settings.rounds * 4 * (settings.durationS + 60) + 4 * (settings.warmupS + 30)) * 1000;

type Route = "stateless" | "stateful";
interface Run extends WrkResult {
  cpu: CpuUse;
  rpsPerCpu: number;
}

async function redisPid(): Promise<number[]> {
  const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    const info = await r.info("server");
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    return Number.isFinite(pid) ? [pid] : [];
  } finally {
    r.disconnect();
  }
}

/** Decisions so far by reason, from the server's /metrics. */
async function decisions(base: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(await metrics(base))) {
    const m = /^portcullis_decisions_total\{.*reason="([a-z_]+)"/.exec(k);
    if (m) out[m[1]!] = (out[m[1]!] ?? 0) + v;
  }
  return out;
}
const refusedSince = (a: Record<string, number>, b: Record<string, number>) =>
  Object.entries(b).reduce((n, [k, v]) => (k === "granted" ? n : n + v - (a[k] ?? 0)), 0);

/** The decision with and without its state step, in this process, one at a time. */
async function inProcess(sql: Parameters<typeof loadSnapshot>[0], cards: string[]) {
  const ix = PermissionIndex.fromSnapshot(await loadSnapshot(sql));
  const prefix = `pcl:bench:inproc:${process.pid}:`;
  const config = loadConfig({ REDIS_URL, STATE_PREFIX: prefix, LOG_LEVEL: "warn", WORKERS: "1" });
  const state = await StateService.start(config, sql, { current: ix });
  await Bun.sleep(200); // connected and built
  const n = Number(process.env.BENCH_INPROC || 20_000);
  const hashes = cards.map(hashSecret);
  const plain: number[] = [], stateful: number[] = [];
  let refused = 0;
  const block = 1000;
  for (let done = 0; done < n; done += block) {
    for (let i = 0; i < block; i++) {
      const h = hashes[(done + i) % hashes.length]!;
      const t0 = performance.now();
      const d = ix.decide(h, "PLAIN", Date.now());
      if (d.allow) rulesFor(ix, "PLAIN");
      plain.push(performance.now() - t0);
    }
    for (let i = 0; i < block; i++) {
      const k = done + i;
      const h = hashes[Math.floor(k / 2) % hashes.length]!;
      const gate = k % 2 === 0 ? "T_IN" : "T_OUT";
      const t0 = performance.now();
      const now = Date.now();
      const d = ix.decide(h, gate, now);
      const r = await state.decide(ix, d, rulesFor(ix, gate)!, undefined, now);
      stateful.push(performance.now() - t0);
      if (!r.decision.allow) refused++;
    }
  }
  await state.stop();
  const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const keys = await r.keys(`${prefix}*`);
  if (keys.length) await r.del(...keys);
  r.disconnect();
  const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
  const out = { n, refused, plain: { p50Ms: q(plain, 0.5), p99Ms: q(plain, 0.99) }, stateful: { p50Ms: q(stateful, 0.5), p99Ms: q(stateful, 0.99) } };
  say(`in-process, one decision at a time (${n} each): stateless p50 ${fmtMs(out.plain.p50Ms)} p99 ${fmtMs(out.plain.p99Ms)}; ` +
    `stateful (one Lua call to the local Redis) p50 ${fmtMs(out.stateful.p50Ms)} p99 ${fmtMs(out.stateful.p99Ms)}; refused ${refused}`);
  return out;
}

async function main(): Promise<void> {
  const started = new Date();
  const cores = availableParallelism();
  const [serverCore, wrkCore] = cores >= 2 ? [0, 1] : [0, 0];
  say(`Portcullis stateful-vs-stateless verify benchmark — ${cores} cores (${cpus()[0]?.model ?? "?"}), Bun ${Bun.version}`);
  await ensureTools();

  setPg(settings.pgUrl, settings.keepDb);
  const databaseUrl = await createScratchDb(`pcl_bench_state_${Date.now().toString(36)}_${process.pid}`);
  const sql = trackedSql(databaseUrl, { max: 2, statementTimeoutMs: 0 });
  await within(60_000, "migrations", migrate(sql));
  const n = settings.bodies;
  const cards = Array.from({ length: n }, () => newSecret());
  await sql.begin(async (tx) => {
    await tx`select n from pcl_revision for update`;
    const [g] = await tx`insert into groups (name) values ('everyone') returning id`;
    const [plain] = await tx`insert into zones (name) values ('plain') returning id`;
    const [tracked] = await tx`insert into zones (name, anti_passback, max_occupancy) values ('tracked', 'soft', ${n * 10}) returning id`;
    await tx`insert into gates (id, name, zone_id) values ('PLAIN', 'plain gate', ${plain!.id})`;
    await tx`insert into gates (id, name, zone_id, direction) values ('T_IN', 'tracked in', ${tracked!.id}, 'in'), ('T_OUT', 'tracked out', ${tracked!.id}, 'out')`;
    await tx`insert into grants (subject_group_id, target_zone_id) values (${g!.id}, ${plain!.id}), (${g!.id}, ${tracked!.id})`;
    const users = await tx`insert into users (username) select 'u' || i from generate_series(1, ${n}) i returning id`;
    await tx`insert into memberships (group_id, user_id) select ${g!.id}, unnest(${users.map((u) => u.id)}::text[])`;
    await tx`insert into credentials (user_id, kind, secret_hash)
             select unnest(${users.map((u) => u.id)}::text[]), 'card', unnest(${cards.map(hashSecret)}::text[])`;
  });
  const inproc = await inProcess(sql, cards);
  const pgPids = (await sql<{ pid: number }[]>`select pid from pg_stat_activity where datname = current_database()`).map((r) => r.pid);
  await endSql(sql);
  const redisPids = await redisPid();

  const tmp = trackTmp(mkdtempSync(join(tmpdir(), "pcl-bench-state-")));
  const pairs: Record<Route, VerifyPair[]> = {
    stateless: cards.map((token) => ({ gate_id: "PLAIN", token })),
    stateful: cards.flatMap((token) => [{ gate_id: "T_IN", token }, { gate_id: "T_OUT", token }]),
  };
  const lua: Record<Route, string> = { stateless: join(tmp, "stateless.lua"), stateful: join(tmp, "stateful.lua") };
  for (const r of ["stateless", "stateful"] as const) writeFileSync(lua[r], luaScript(pairs[r]));

  const prefix = `pcl:bench:${process.pid}:${Date.now().toString(36)}:`;
  const port = freePort();
  const server = spawnChild("portcullis", ["taskset", "-c", String(serverCore), process.execPath, "src/main.ts"], {
    DATABASE_URL: databaseUrl, WORKERS: "1", PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn", DEMO_DATA: "0",
    DATA_DIR: join(tmp, "data"), REDIS_URL, STATE_PREFIX: prefix,
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitReady("portcullis", server, base + "/readyz", 120_000);
    for (const r of ["stateless", "stateful"] as const) {
      const probe = await probeAnswers(base, pairs[r].slice(0, 200));
      say(`${r} answers: ${Object.entries(probe.reasons).map(([k, v]) => `${k} ${v}`).join(", ")}`);
      if (Object.keys(probe.reasons).some((k) => k !== "granted")) throw new Error(`${r}: every probe must be granted`);
    }
    const url = base + VERIFY_PATH;
    const loaded = { threads: settings.threads, connections: settings.connections, core: String(wrkCore) };
    const single = { threads: 1, connections: 1, core: String(wrkCore) };
    for (const r of ["stateless", "stateful"] as const) {
      say(`warm-up ${r} (${settings.warmupS} s)`);
      await wrk(url, lua[r], settings.warmupS, loaded);
    }
    const tput: Record<Route, Run[]> = { stateless: [], stateful: [] };
    // Every measured decision must be granted: a stateful one refused (state_unavailable after a
    // Redis timeout) would be a cheaper answer, not the one measured.
    const refused: Record<Route, number> = { stateless: 0, stateful: 0 };
    const lat: Record<Route, WrkResult[]> = { stateless: [], stateful: [] };
    for (let round = 1; round <= settings.rounds; round++) {
      for (const r of round % 2 ? (["stateless", "stateful"] as const) : (["stateful", "stateless"] as const)) {
        await waitEventsFlushed(base);
        const before = await decisions(base);
        const l = await wrk(url, lua[r], settings.durationS, single);
        lat[r].push(l);
        await waitEventsFlushed(base);
        const [w, cpu] = await withCpu(processTree(server.proc.pid), [...pgPids, ...redisPids], serverCore, wrkCore, () => wrk(url, lua[r], settings.durationS, loaded));
        const run: Run = { ...w, cpu, rpsPerCpu: cpu.serverPct > 0 ? w.rps / (cpu.serverPct / 100) : NaN };
        refused[r] += refusedSince(before, await decisions(base));
        tput[r].push(run);
        say(`round ${round} ${r.padEnd(9)} c=1: p50 ${fmtMs(l.p50Ms)} p99 ${fmtMs(l.p99Ms)} · c=${settings.connections}: ${fmtInt(run.rps)} req/s ` +
          `p99 ${fmtMs(run.p99Ms)} server CPU ${pctf(cpu.serverPct)} pg+redis ${pctf(cpu.pgPct)} other ${pctf(cpu.otherPct)} errors ${run.non2xx + run.socketErrors + l.non2xx}`);
      }
    }
    const sum = (r: Route) => ({
      p50Ms: median(lat[r].map((x) => x.p50Ms)), p99Ms: median(lat[r].map((x) => x.p99Ms)), rps1: median(lat[r].map((x) => x.rps)),
      rps: median(tput[r].map((x) => x.rps)), loadedP99Ms: median(tput[r].map((x) => x.p99Ms)),
      rpsPerCpu: median(tput[r].map((x) => x.rpsPerCpu)), pgRedisPct: median(tput[r].map((x) => x.cpu.pgPct)),
      otherPct: median(tput[r].map((x) => x.cpu.otherPct)),
      errors: tput[r].reduce((a, x) => a + x.non2xx + x.socketErrors, 0) + lat[r].reduce((a, x) => a + x.non2xx + x.socketErrors, 0) + refused[r],
    });
    const a = sum("stateless"), s = sum("stateful");
    say("");
    say(`POST ${VERIFY_PATH}: latency with wrk -c1 (one request at a time), throughput with wrk -c${settings.connections}; ${settings.durationS} s per run; ` +
      `one server (WORKERS=1) on core ${serverCore}, wrk on core ${wrkCore}, Redis and Postgres local and unpinned; median of ${settings.rounds} rounds`);
    say(table([
      ["verify", "p50 (c=1)", "p99 (c=1)", "req/s (c=1)", `req/s (c=${settings.connections})`, "req/server-CPU-s", "pg+redis CPU", "other load", "errors + refused"],
      ["stateless (gate without a rule)", fmtMs(a.p50Ms), fmtMs(a.p99Ms), fmtInt(a.rps1), fmtInt(a.rps), fmtInt(a.rpsPerCpu), pctf(a.pgRedisPct), pctf(a.otherPct), String(a.errors)],
      ["stateful (presence, anti-passback, occupancy)", fmtMs(s.p50Ms), fmtMs(s.p99Ms), fmtInt(s.rps1), fmtInt(s.rps), fmtInt(s.rpsPerCpu), pctf(s.pgRedisPct), pctf(s.otherPct), String(s.errors)],
      ["stateful ÷ stateless", (s.p50Ms / a.p50Ms).toFixed(2) + "×", (s.p99Ms / a.p99Ms).toFixed(2) + "×", (s.rps1 / a.rps1).toFixed(2), (s.rps / a.rps).toFixed(2), (s.rpsPerCpu / a.rpsPerCpu).toFixed(2), "", "", ""],
    ]));
    say(`stateful p99 (c=1) ${fmtMs(s.p99Ms)}: target ≤ 1 ms with a local Redis ${s.p99Ms <= 1 ? "MET" : "NOT MET"}` +
      ` (in-process decision with its state step: p99 ${fmtMs(inproc.stateful.p99Ms)} ${inproc.stateful.p99Ms <= 1 ? "MET" : "NOT MET"})`);
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `stateful-${started.toISOString().replace(/[:.]/g, "-")}.json`);
    const strip = <T extends { raw: string }>(rs: T[]) => rs.map(({ raw, ...x }) => x);
    writeFileSync(file, JSON.stringify({
      bench: "stateful", started: started.toISOString(), machine: { cores, cpu: cpus()[0]?.model ?? null, bun: Bun.version, serverCore, wrkCore },
      settings: { ...settings, pgUrl: undefined }, inProcess: inproc, stateless: { ...a, latency: strip(lat.stateless), throughput: strip(tput.stateless) },
      stateful: { ...s, latency: strip(lat.stateful), throughput: strip(tput.stateful) },
      ratio: { p50: s.p50Ms / a.p50Ms, p99: s.p99Ms / a.p99Ms, throughput: s.rps / a.rps, perServerCpu: s.rpsPerCpu / a.rpsPerCpu },
    }, null, 2) + "\n");
    say(`results: ${file.slice(ROOT.length + 1)}`);
  } finally {
    const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== "0");
    r.disconnect();
  }
}

await runMain(main, DEADLINE_MS);
