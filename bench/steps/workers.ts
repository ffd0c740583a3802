// 6. WORKERS=2 against WORKERS=1; 7. propagation to every process of the WORKERS=2 group.
import { compareThroughput } from "../verify";
import { waitBothReady } from "./http1";
import { measurePropagation } from "./propagation";
import { fmtMs, pctf, run, say, stopChild } from "../harness";
import { LOAD_CORE, SERVER_CORE, S, r2, rps, startPortcullis, type Row, type Step } from "./context";

export const step: Step = {
  name: "workers",
  async run(ctx) {
    const { results, allCpu } = ctx;
    const rows: Row[] = [];
    const { bigUrl, bigPairs, bigLua, pgPids } = ctx.fx!;
    const { big } = ctx.sv!;
    say(`\nWORKERS=2 (not pinned) against WORKERS=1 (core ${SERVER_CORE}); wrk on core ${LOAD_CORE} in both`);
    const w2 = await startPortcullis("portcullis-1M-workers2", bigUrl, { workers: 2, core: null });
    // Both processes must be ready: the second one loads its own index after the first listens.
    await waitBothReady(w2);
    const nproc = await compareThroughput([
      { name: "workers=1", base: big.base, pid: big.s.proc.pid, portcullis: true },
      { name: "workers=2", base: w2.base, pid: w2.s.proc.pid, portcullis: true },
    ], {
      lua: bigLua, durationS: S.durationS, warmupS: S.warmupS, rounds: Math.max(1, Math.min(S.rounds, 2)),
      wrk: { threads: S.threads, connections: S.connections, core: LOAD_CORE }, serverCore: null, wrkCore: null, pgPids,
    });
    for (const [k, v] of Object.entries(nproc)) for (const r of v.runs) allCpu.push({ what: `wrk ${k}`, cpu: r.cpu });
    results.workers = nproc;
    rows.push({
      key: "workers",
      figure: "verify throughput, WORKERS=2 ÷ WORKERS=1 (2 cores: wrk competes with the second worker)",
      value: rps(nproc["workers=2"]!.rps), baseline: rps(nproc["workers=1"]!.rps),
      ratio: `${r2(nproc["workers=2"]!.rps / nproc["workers=1"]!.rps)} (server CPU ${pctf(nproc["workers=2"]!.serverCpuPct)} vs ${pctf(nproc["workers=1"]!.serverCpuPct)}, wrk ${pctf(nproc["workers=2"]!.wrkCpuPct)} vs ${pctf(nproc["workers=1"]!.wrkCpuPct)})`,
      target: "report", verdict: "report",
    });

    // ------------------------------------------------------------------------------------------
    // 7. Propagation to every process of the WORKERS=2 group, against a raw NOTIFY round trip.
    say(`\npropagation: ${S.propagationSamples} committed writes, each until the answer of both processes changed`);
    const prop = await measurePropagation(w2, bigUrl, bigPairs);
    results.propagation = prop;
    rows.push({
      key: "prop50",
      figure: "propagation p50: SQL write sent → verify answer changed at every process (WORKERS=2) ÷ raw NOTIFY round trip p50",
      value: fmtMs(prop.allMs.p50), baseline: fmtMs(prop.notifyMs.p50), ratio: r2(prop.allMs.p50 / prop.notifyMs.p50), target: "report", verdict: "report",
    });
    rows.push({
      key: "prop99",
      figure: "propagation p99 (write sent → changed at every process), beside a raw NOTIFY round trip p99",
      value: fmtMs(prop.allMs.p99), baseline: fmtMs(prop.notifyMs.p99),
      ratio: `${r2(prop.allMs.p99 / prop.notifyMs.p99)} (from the commit ack: p50 ${fmtMs(prop.fromAckMs.p50)}, p99 ${fmtMs(prop.fromAckMs.p99)})`, target: "≤ 10 ms",
      verdict: prop.allMs.p99 <= 10 ? "MET" : "NOT MET",
    });
    rows.push({
      key: "propw",
      figure: "propagation p99 ÷ a committed one-row write + NOTIFY round trip p99 (the floor for any write, WAL flush included)",
      value: fmtMs(prop.allMs.p99), baseline: fmtMs(prop.writeNotifyMs.p99), ratio: `${r2(prop.allMs.p99 / prop.writeNotifyMs.p99)} (p50 ${r2(prop.allMs.p50 / prop.writeNotifyMs.p50)})`, target: "report", verdict: "report",
    });
    await stopChild(w2.s.proc, 60_000);
    return rows;
  },
};
