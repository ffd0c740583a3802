// explain() must agree with decide() for every input: same decision, and a derivation whose
// grants account for it.
import { describe, expect, test } from "bun:test";
import { explain } from "../../src/index/explain";
import { PermissionIndex } from "../../src/index/permission-index";
import { prng } from "./helpers";
import { Model } from "./model";

describe("explain agrees with decide", () => {
  test("on random graphs, for every credential, gate and a few instants", () => {
    let compared = 0;
    const reasons = new Set<string>();
    for (let seed = 1; seed <= 12; seed++) {
      const r = prng(seed * 104729);
      const m = new Model(r);
      m.seed();
      for (let i = 0; i < 20; i++) m.randomOp();
      const ix = PermissionIndex.fromSnapshot(m.snapshot(1));
      const gates = [...m.gates.keys(), "NO_SUCH_GATE"];
      for (let k = 0; k < 4; k++) {
        const at = m.instant();
        for (const cred of ix.credentialsById.values()) {
          for (const g of gates) {
            const d = ix.decide(cred.secretHash, g, at);
            const e = explain(ix, { credential: cred }, g, at);
            compared++;
            reasons.add(d.reason);
            expect({ seed, cred: cred.id, g, at, allow: e.allow, reason: e.reason }).toEqual({ seed, cred: cred.id, g, at, allow: d.allow, reason: d.reason });
            // The derivation accounts for the outcome.
            if (d.reason === "granted") expect(e.grants.some((x) => x.outcome === "allows")).toBe(true);
            if (d.reason === "denied") expect(e.grants.some((x) => x.outcome === "denies")).toBe(true);
            if (d.reason === "no_grant" || d.reason === "outside_schedule") expect(e.grants.every((x) => x.outcome === "ruled_out")).toBe(true);
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(2000);
    for (const r of ["granted", "denied", "no_grant", "outside_schedule", "gate_locked", "inactive_user"]) expect(reasons.has(r)).toBe(true);
  });

  test("an unknown token explains as unknown_token without a user", () => {
    const ix = PermissionIndex.fromSnapshot({ revision: 1, users: [], groups: [], memberships: [], zones: [], gates: [], schedules: [], grants: [], credentials: [] });
    expect(explain(ix, {}, "G", Date.now())).toMatchObject({ allow: false, reason: "unknown_token", groups: [], grants: [] });
  });
});
