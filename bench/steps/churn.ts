// 8. Throughput during a burst of changes, and during a full rebuild.
import { burstWrite } from "../graph";
import type { LoadOptions } from "../loadgen";
import { endSql, fmtInt, metrics, pctf, processTree, run, say, sleep, trackedSql, VERIFY_PATH, waitEventsFlushed, withCpu, type CpuUse } from "../harness";
import { LOAD_CORE, SERVER_CORE, S, graph, loadgen, r1s, r2, rps, windowRps, type Row, type Server, type Step } from "./context";

export interface Churn {
  baselineRps: number;
  baselineRpsPerCpu: number;
  burst: { windowMs: number; rps: number; rpsPerCpu: number; transactions: number; writeMs: number; catchUpMs: number };
  rebuild: { windowMs: number; rps: number; zeroBucketsMs: number; rebuilds: number };
  cpu: Array<{ what: string; cpu: CpuUse }>;
}

async function measureChurn(sv: Server, url: string, bodiesFile: string, pgPids: () => Promise<number[]>): Promise<Churn> {
  const cpuOut: Array<{ what: string; cpu: CpuUse }> = [];
  const opts = (durationS: number): LoadOptions => ({ port: sv.port, path: VERIFY_PATH, bodiesFile, mode: "closed", connections: S.connections, durationS });
  const pids = () => processTree(sv.s.proc.pid);
  // Baseline: the same load, nothing else.
  await waitEventsFlushed(sv.base);
  const [base, baseCpu] = await withCpu(pids(), pgPids, Number(SERVER_CORE), Number(LOAD_CORE), () => loadgen(opts(S.durationS)).result);
  cpuOut.push({ what: "closed baseline", cpu: baseCpu });
  const baselineRps = windowRps(base, base.startedAtMs + 1000, base.startedAtMs + S.durationS * 1000).rps;
  const baselineRpsPerCpu = base.rps / (baseCpu.serverPct / 100);
  say(`  baseline ${fmtInt(baselineRps)} req/s (CPU server ${pctf(baseCpu.serverPct)}, pg ${pctf(baseCpu.pgPct)})`);

  // Burst: S.burst transactions, 4 connections, each one UPDATE (a credential's label or a user
  // grant's validity: the index recompiles that user) through the same triggers as an admin write.
  const w = trackedSql(url, { max: 4 });
  const grants = (await w<{ id: string }[]>`select id from grants where subject_user_id is not null order by id limit 2000`).map((r) => r.id);
  const headOf = async () => Number((await w<{ n: number }[]>`select n from pcl_revision`)[0]!.n);
  await waitEventsFlushed(sv.base);
  const lg = loadgen(opts(S.durationS + 120));
  await sleep(1000);
  const [burst, burstCpu] = await withCpu(pids(), pgPids, Number(SERVER_CORE), Number(LOAD_CORE), async () => {
    const t0 = Date.now();
    let next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next < S.burst) {
        const i = next++;
        await burstWrite(w, i, graph.credentials, grants);
      }
    }));
    const tWritten = Date.now();
    const head = await headOf();
    for (;;) {
      const r = (await (await fetch(sv.base + "/readyz")).json()) as { revision: number };
      if (r.revision >= head) break;
      await sleep(20);
    }
    return { t0, tWritten, tCaught: Date.now() };
  });
  lg.stop();
  const burstLoad = await lg.result;
  cpuOut.push({ what: "closed burst", cpu: burstCpu });
  const bw = windowRps(burstLoad, burst.t0, burst.tCaught);
  const burstRes = {
    windowMs: burst.tCaught - burst.t0, rps: bw.rps, rpsPerCpu: (bw.rps / (burstCpu.serverPct / 100)), transactions: S.burst,
    writeMs: burst.tWritten - burst.t0, catchUpMs: burst.tCaught - burst.tWritten,
  };
  say(`  burst: ${fmtInt(S.burst)} transactions written in ${r1s(burstRes.writeMs)}, index caught up ${fmtInt(burstRes.catchUpMs)} ms later; ${fmtInt(bw.rps)} req/s meanwhile ` +
    `(CPU server ${pctf(burstCpu.serverPct)}, pg ${pctf(burstCpu.pgPct)}, other ${pctf(burstCpu.otherPct)})`);

  // Rebuild: the node falls behind a pruned log. SIGSTOP it, commit a change, prune the log
  // through it, SIGCONT: its notification (or 2 s heartbeat) finds the log pruned past what it
  // applied, and it rebuilds from a snapshot while answering verifies from the old index.
  await waitEventsFlushed(sv.base);
  const lg2 = loadgen(opts(S.durationS + 300));
  await sleep(2000);
  const pidsNow = pids();
  for (const p of pidsNow) process.kill(p, "SIGSTOP");
  await w`update credentials set label = 'rebuild' where id = 'c_bench_000000001'`;
  await w`select pcl_prune_change_log('0 seconds')`;
  const head = await headOf();
  await sleep(50);
  const tCont = Date.now();
  for (const p of pidsNow) process.kill(p, "SIGCONT");
  // Rebuilt when /readyz reports the head revision: the log cannot bring it there, only a snapshot.
  // (Not /metrics: its scrape would block the service meanwhile.)
  for (;;) {
    const r = (await (await fetch(sv.base + "/readyz", { signal: AbortSignal.timeout(S.readyTimeoutS * 1000) })).json()) as { revision: number };
    if (r.revision >= head) break;
    if (Date.now() - tCont > S.readyTimeoutS * 1000) throw new Error("rebuild: the node did not reach the head revision");
    await sleep(50);
  }
  const tRebuilt = Date.now();
  const rebuilds = (await metrics(sv.base))["portcullis_feed_rebuilds_total"] ?? 0;
  await sleep(1000);
  lg2.stop();
  const rb = await lg2.result;
  const rw = windowRps(rb, tCont, tRebuilt);
  const b0 = Math.max(0, Math.floor((tCont - rb.startedAtMs) / rb.bucketMs)), b1 = Math.min(rb.buckets.length, Math.ceil((tRebuilt - rb.startedAtMs) / rb.bucketMs));
  let zeroRun = 0, longest = 0;
  for (let i = b0; i < b1; i++) {
    zeroRun = rb.buckets[i] === 0 ? zeroRun + 1 : 0;
    longest = Math.max(longest, zeroRun);
  }
  const rebuildRes = { windowMs: tRebuilt - tCont, rps: rw.rps, zeroBucketsMs: longest * rb.bucketMs, rebuilds };
  say(`  rebuild: ${r1s(rebuildRes.windowMs)} from SIGCONT to rebuilt, ${fmtInt(rw.rps)} req/s meanwhile; longest stretch without an answer ${fmtInt(rebuildRes.zeroBucketsMs)} ms`);
  await endSql(w);
  return { baselineRps, baselineRpsPerCpu, burst: burstRes, rebuild: rebuildRes, cpu: cpuOut };
}

export const step: Step = {
  name: "churn",
  async run(ctx) {
    say(`\nthroughput during a burst of ${fmtInt(S.burst)} changes and during a full rebuild (loadgen closed loop, ${S.connections} connections, core ${LOAD_CORE})`);
    const { bigUrl, bigBodies, pgPids } = ctx.fx!;
    const churn = await measureChurn(ctx.sv!.big, bigUrl, bigBodies, pgPids);
    const rows: Row[] = [];
    ctx.results.churn = churn;
    for (const c of churn.cpu) ctx.allCpu.push(c);
    rows.push({
      key: "burst",
      figure: `verify throughput during a burst of ${fmtInt(S.burst)} changes (${fmtInt(S.burst)} transactions, ${r1s(churn.burst.windowMs)}) ÷ without`,
      value: rps(churn.burst.rps), baseline: rps(churn.baselineRps), ratio: `${r2(churn.burst.rps / churn.baselineRps)} (per server CPU-s ${r2(churn.burst.rpsPerCpu / churn.baselineRpsPerCpu)})`, target: "≥ 0.90",
      verdict: churn.burst.rps / churn.baselineRps >= 0.9 ? "MET" : "NOT MET",
    });
    rows.push({
      key: "rebuild",
      figure: `verify throughput during a full rebuild (${r1s(churn.rebuild.windowMs)}, node behind a pruned log) ÷ without`,
      value: rps(churn.rebuild.rps), baseline: rps(churn.baselineRps), ratio: `${r2(churn.rebuild.rps / churn.baselineRps)} (longest 100 ms with no answer: ${fmtInt(churn.rebuild.zeroBucketsMs)} ms)`, target: "≥ 0.90",
      verdict: churn.rebuild.rps / churn.baselineRps >= 0.9 ? "MET" : "NOT MET",
    });
    return rows;
  },
};
