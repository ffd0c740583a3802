// 2. In-process decision vs casbin, before any server runs.
import type { DecideResult } from "../decide";
import { fmtInt, run, say } from "../harness";
import { BUN, LOAD_CORE, type Row, type Step } from "./context";

export const step: Step = {
  name: "decide",
  async run(ctx) {
    const { results } = ctx;
    const rows: Row[] = [];
    say("\nin-process decision vs node-casbin (mitata), pinned to core " + LOAD_CORE);
    const dec = await run(["taskset", "-c", LOAD_CORE, BUN, "bench/decide.ts"], 600_000);
    if (dec.code !== 0) throw new Error(`bench/decide.ts failed:\n${dec.out}`);
    const decide = JSON.parse(dec.stdout.trim().split("\n").pop()!) as DecideResult;
    say(`  portcullis ${decide.portcullisNs.toFixed(0)} ns (decide ${decide.decideOnlyNs.toFixed(0)} ns + sha256 ${decide.hashOnlyNs.toFixed(0)} ns), casbin ${(decide.casbinNs / 1000).toFixed(1)} µs: ${decide.speedup.toFixed(0)}× faster`);
    results.decide = decide;
    rows.push({
      key: "decide",
      figure: "in-process decision (SHA-256 + index lookup) vs node-casbin RBAC enforceSync, 1,100 rules (mitata)",
      value: `${decide.portcullisNs.toFixed(0)} ns`, baseline: `${fmtInt(decide.casbinNs)} ns`, ratio: `${fmtInt(decide.speedup)}× faster`, target: "≥ 100×",
      verdict: decide.speedup >= 100 ? "MET" : "NOT MET",
    });
    return rows;
  },
};
