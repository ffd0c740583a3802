// Cold start, memory and GC rows: last in the table but measured first (coldstart.ts); stops the 1M server.
import { fmtInt, fmtMs, run, stopChild } from "../harness";
import { graph, r1s, r2, type Row, type Step } from "./context";

export const step: Step = {
  name: "memory",
  always: true,
  async run(ctx) {
    const rows: Row[] = [];
    const { big, bare, bigHeap, bareHeap, emptyHeap, breakdown, perCred, marginal, barePerCred } = ctx.sv!;
    rows.push({
      key: "cold",
      figure: `cold start, ${fmtInt(graph.credentials)} credentials, ${fmtInt(graph.users)} users, ${fmtInt(graph.gates)} gates, ${fmtInt(graph.grants)} grants: spawn → ready`,
      value: r1s(big.readyMs), baseline: `bare Map ${r1s(bare.readyMs)}`,
      ratio: `in-process: the worker's loadIndex ${r1s(breakdown.loadIndexMs)} (rows straight into the index; loadSnapshot + fromSnapshot ${r1s(breakdown.loadSnapshotMs)} + ${r1s(breakdown.fromSnapshotMs)})`,
      target: "≤ 4 s", verdict: big.readyMs <= 4_000 ? "MET" : "NOT MET",
    });
    rows.push({
      key: "heap",
      figure: "memory per credential, all in: JSC heap incl. array buffers after a full GC ÷ credentials (marginal: Δ 1M−1k ÷ Δcredentials)",
      value: `${fmtInt(perCred)} B (marginal ${fmtInt(marginal)} B)`, baseline: `bare Map ${fmtInt(barePerCred)} B`,
      ratio: `${r2(perCred / barePerCred)} (of it in typed arrays: ${fmtInt(bigHeap.extraMemorySize / graph.credentials)} B; ${fmtInt(bigHeap.objectCount)} heap objects)`, target: "≤ 150 B",
      verdict: perCred <= 150 ? "MET" : "NOT MET",
    });
    rows.push({
      key: "gc",
      figure: "forced full garbage collection (Bun.gc(true)) of the 1M server, idle",
      value: fmtMs(bigHeap.gcMs), baseline: `same service, no data ${fmtMs(emptyHeap.gcMs)}; bare Map ${fmtMs(bareHeap.gcMs)}`,
      ratio: `${r2(bigHeap.gcMs / emptyHeap.gcMs)} of the empty service (${fmtInt(bigHeap.objectCount)} vs ${fmtInt(emptyHeap.objectCount)} heap objects); ${r2(bigHeap.gcMs / bareHeap.gcMs)} of the bare Map`, target: "≤ 10 ms",
      verdict: bigHeap.gcMs <= 10 ? "MET" : "NOT MET",
    });
    await stopChild(big.s.proc, 60_000);
    return rows;
  },
};
