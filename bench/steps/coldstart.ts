// 3. Cold starts and heaps; the servers the later steps measure.
import type { ColdStartBreakdown } from "../coldstart";
import { createScratchDb, dropScratchDb, fmtInt, metrics, probeAnswers, run, say, stopChild } from "../harness";
import { BUN, SERVER_CORE, S, graph, want, r1s, startBare, startPortcullis, heapOf, type Step } from "./context";

export const step: Step = {
  name: "coldstart",
  always: true,
  async run(ctx) {
    const { results } = ctx;
    const { smallUrl, bigUrl, smallPairs, bigPairs } = ctx.fx!;
    say("\ncold starts");
    // Where the time goes: the service's own snapshot load and index build, in-process (coldstart.ts).
    const csRun = await run(["taskset", "-c", SERVER_CORE, BUN, "bench/coldstart.ts"], S.readyTimeoutS * 1000, { env: { DATABASE_URL: bigUrl } });
    if (csRun.code !== 0) throw new Error(`bench/coldstart.ts failed:\n${csRun.out}`);
    const breakdown = JSON.parse(csRun.stdout.trim().split("\n").pop()!) as ColdStartBreakdown;
    say(`  in-process: loadIndex (the worker's path) ${r1s(breakdown.loadIndexMs)}; loadSnapshot ${r1s(breakdown.loadSnapshotMs)}, PermissionIndex.fromSnapshot ${r1s(breakdown.fromSnapshotMs)} (synchronous), index heap ${(breakdown.indexHeapBytes / 2 ** 20).toFixed(0)} MiB`);
    const big = await startPortcullis("portcullis-1M", bigUrl);
    const bigHeap = await heapOf(big, true);
    const small = await startPortcullis("portcullis-1k", smallUrl);
    const smallHeap = await heapOf(small, true);
    const bare = await startBare(graph.credentials);
    const bareHeap = await heapOf(bare, false);
    // The same service holding no data: what a full collection costs for its code alone (Elysia,
    // prom-client, postgres.js), the floor the 1M server's figure is read against.
    const emptyDb = `pcl_bench_empty_${Date.now().toString(36)}_${process.pid}`;
    const empty = await startPortcullis("portcullis-empty", await createScratchDb(emptyDb));
    const emptyHeap = await heapOf(empty, true);
    await stopChild(empty.s.proc, 20_000);
    await dropScratchDb(emptyDb);
    say(`  empty service: full GC ${emptyHeap.gcMs.toFixed(1)} ms, ${fmtInt(emptyHeap.objectCount)} heap objects; 1M: ${bigHeap.gcMs.toFixed(1)} ms, ${fmtInt(bigHeap.objectCount)}`);
    const bigIndex = await metrics(big.base);
    const perCred = bigHeap.heapSize / graph.credentials;
    const marginal = (bigHeap.heapSize - smallHeap.heapSize) / (graph.credentials - S.smallCredentials);
    const barePerCred = bareHeap.heapSize / graph.credentials;
    say(`  1M: ready ${r1s(big.readyMs)}, heap ${(bigHeap.heapSize / 2 ** 20).toFixed(0)} MiB after GC (${(bigHeap.metricsHeapBytes! / 2 ** 20).toFixed(0)} MiB before), RSS ${(bigHeap.rss / 2 ** 20).toFixed(0)} MiB; ` +
      `${fmtInt(perCred)} B per credential, marginal ${fmtInt(marginal)} B; bare Map ${fmtInt(barePerCred)} B per credential, ready ${r1s(bare.readyMs)}`);
    results.coldStart = {
      big: { readyMs: big.readyMs, heap: bigHeap, index: Object.fromEntries(Object.entries(bigIndex).filter(([k]) => k.startsWith("portcullis_index_entries"))) },
      small: { readyMs: small.readyMs, heap: smallHeap }, empty: { readyMs: empty.readyMs, heap: emptyHeap }, bare: { readyMs: bare.readyMs, heap: bareHeap },
      bytesPerCredential: perCred, marginalBytesPerCredential: marginal, bareBytesPerCredential: barePerCred, breakdown,
    };
    const noMetrics = want("tput") ? await startPortcullis("portcullis-1M-nometrics", bigUrl, { env: { HTTP_METRICS: "0" } }) : null;

    // Every body through each server once: all 200, and the tokens are known (else hashes differ).
    const mix = await probeAnswers(big.base, bigPairs);
    const smallMix = await probeAnswers(small.base, smallPairs);
    for (const [name, m] of [["1M", mix], ["1k", smallMix]] as const) {
      if (Object.keys(m.status).some((s) => s !== "200")) throw new Error(`portcullis-${name} answered non-200 to load bodies: ${JSON.stringify(m.status)}`);
      if ((m.reasons["unknown_token"] ?? 0) > 0.05 * S.bodies) throw new Error(`portcullis-${name} does not know the generated tokens: ${JSON.stringify(m.reasons)}`);
    }
    say(`  decision mix, 1M: ${JSON.stringify(mix.reasons)}; 1k: ${JSON.stringify(smallMix.reasons)}`);
    results.decisionMix = { big: mix.reasons, small: smallMix.reasons };
    ctx.sv = { big, small, bare, noMetrics, bigHeap, smallHeap, bareHeap, emptyHeap, breakdown, perCred, marginal, barePerCred };
    return [];
  },
};
