// Randomized: an index kept up to date through apply() must decide exactly like an index built
// from scratch from the same data.
import { describe, expect, test } from "bun:test";
import { PermissionIndex } from "../../src/index/permission-index";
import { REASONS } from "../../src/index/types";
import { prng } from "./helpers";
import { Model } from "./model";

interface Mismatch {
  step: number; hash: string; gate: string; at: string; incremental: unknown; rebuilt: unknown;
}

function compare(
  step: number, inc: PermissionIndex, ref: PermissionIndex, m: Model, out: Mismatch[], reasons: Map<string, number>,
): number {
  const instants = Array.from({ length: 4 }, () => m.instant()).sort((x, y) => x - y);
  const hashes = [...m.everHashes, "never-issued"];
  const gates = [...m.everGates, "NO_SUCH_GATE"];
  let n = 0;
  // Instants outermost and ascending, as a running service sees them.
  for (const at of instants) {
    // A data age past some gates' max_staleness_ms (5 s in the model) at one instant in four.
    const age = at === instants[3] ? 6000 : 1000;
    for (const h of hashes) {
      for (const g of gates) {
        const a = inc.decide(h, g, at, age), b = ref.decide(h, g, at, age);
        n++;
        reasons.set(a.reason, (reasons.get(a.reason) ?? 0) + 1);
        if (JSON.stringify(a) !== JSON.stringify(b) && out.length < 10) {
          out.push({ step, hash: h, gate: g, at: new Date(at).toISOString(), incremental: a, rebuilt: b });
        }
      }
    }
  }
  return n;
}

describe("incremental updates are equivalent to a rebuild", () => {
  test("random graphs and random change sets: apply() decides like fromSnapshot()", () => {
    const SEEDS = 14, STEPS = 30;
    let decisions = 0;
    const reasons = new Map<string, number>();
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = prng(seed * 7919);
      const m = new Model(r);
      m.seed();
      let revision = 1;
      const inc = PermissionIndex.fromSnapshot(m.snapshot(revision));
      const mismatches: Mismatch[] = [];
      for (let step = 1; step <= STEPS; step++) {
        const ops = 1 + r.int(6);
        for (let i = 0; i < ops; i++) m.randomOp();
        if (r.chance(0.3)) m.touchNoop();
        revision += 1 + r.int(3);
        inc.apply(m.changeSet(revision));
        const ref = PermissionIndex.fromSnapshot(m.snapshot(revision));
        expect(inc.revision).toBe(revision);
        decisions += compare(step, inc, ref, m, mismatches, reasons);
        if (mismatches.length) break;
      }
      expect({ seed, mismatches }).toEqual({ seed, mismatches: [] });
    }
    expect(decisions).toBeGreaterThan(10_000);
    // The generator is not degenerate: every reason shows up, the interesting ones often.
    expect([...reasons.keys()].sort()).toEqual([...REASONS].sort());
    for (const r of ["granted", "denied", "outside_schedule", "no_grant"]) expect(reasons.get(r)!).toBeGreaterThan(200);
  });

  test("compiled grants after apply() match a rebuild for every user", () => {
    for (let seed = 100; seed < 110; seed++) {
      const r = prng(seed);
      const m = new Model(r);
      m.seed();
      const inc = PermissionIndex.fromSnapshot(m.snapshot(1));
      for (let step = 2; step < 25; step++) {
        for (let i = 0, n = 1 + r.int(5); i < n; i++) m.randomOp();
        inc.apply(m.changeSet(step));
      }
      const ref = PermissionIndex.fromSnapshot(m.snapshot(25));
      const norm = (ix: PermissionIndex) => Object.fromEntries([...m.users.keys()].sort().map((u) => [u, ix.grantIdsFor(u)]));
      expect({ seed, compiled: norm(inc) }).toEqual({ seed, compiled: norm(ref) });
      const groupsOf = (ix: PermissionIndex) =>
        Object.fromEntries([...m.users.keys()].sort().map((u) => [u, [...ix.effectiveGroups(u).keys()].sort()]));
      expect({ seed, groups: groupsOf(inc) }).toEqual({ seed, groups: groupsOf(ref) });
    }
  });
});

describe("the yielding build", () => {
  test("PermissionIndex.build() decides exactly like fromSnapshot(), and lets the event loop run", async () => {
    const r = prng(4242);
    const m = new Model(r);
    m.seed();
    for (let i = 0; i < 40; i++) m.randomOp();
    const snap = m.snapshot(7);
    let ticks = 0;
    let done = false;
    const tick = () => {
      ticks++;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    const built = await PermissionIndex.build(m.snapshot(7), 0);
    done = true;
    const ref = PermissionIndex.fromSnapshot(snap);
    expect(built.revision).toBe(7);
    expect(ticks).toBeGreaterThan(0);
    for (const u of m.users.keys()) expect(built.grantIdsFor(u)).toEqual(ref.grantIdsFor(u));
    const at = m.instant();
    for (const h of m.everHashes) for (const g of m.everGates) expect(built.decide(h, g, at)).toEqual(ref.decide(h, g, at));
  });
});
