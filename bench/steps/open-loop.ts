// 5. Open-loop latency at 50 % of Portcullis's maximum; scrapes.
import type { LoadOptions, LoadResult } from "../loadgen";
import { fmtInt, fmtMs, median, metrics, pctf, processTree, run, say, sleep, stopChild, VERIFY_PATH, waitEventsFlushed, withCpu, type CpuUse } from "../harness";
import { LOAD_CORE, SERVER_CORE, S, loadgen, pcts, r2, rps, wrkQuick, type LagStats, type Row, type Step } from "./context";

export const step: Step = {
  name: "open",
  async run(ctx) {
    const { results, allCpu, notes } = ctx;
    const rows: Row[] = [];
    const { bigLua, bigBodies, pgPids } = ctx.fx!;
    const { big, bare } = ctx.sv!;
    if (!Number.isFinite(ctx.maxRps)) {
      ctx.maxRps = await wrkQuick(big.base, bigLua);
    }
    const rate = Math.max(100, Math.round(ctx.maxRps * 0.5));
    const openRounds = Math.max(1, Math.min(S.rounds, 2));
    say(`\nopen loop at ${fmtInt(rate)} req/s (50 % of Portcullis's ${fmtInt(ctx.maxRps)}), ${S.durationS} s × ${openRounds}, loadgen on core ${LOAD_CORE}`);
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
    return rows;
  },
  async release(ctx) {
    await stopChild(ctx.sv!.bare.s.proc);
  },
};
