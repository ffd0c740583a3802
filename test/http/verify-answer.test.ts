import { describe, expect, test } from "bun:test";
import { TypeCompiler } from "elysia/type-system";
import { VerifyBody } from "../../src/http/schemas";
import { verifyAnswer, verifyAnswerText } from "../../src/http/verify";
import { plainBody } from "../../src/http/verify-native";
import type { Outcome } from "../../src/verify/verify";

// The native route checks the common body by hand and writes the verify answer's JSON directly; it must be, byte for byte, what
// JSON.stringify makes of the answer object the Elysia route (and the batch) answers.
const outcome = (decision: Partial<Outcome["decision"]>, gateId: string, revision = 7, state?: Outcome["state"]): Outcome => ({
  decision: { allow: false, reason: "no_grant", userId: undefined, credentialId: undefined, credentialKind: undefined, deviceRevoked: false, unlockMs: 0, ...decision } as Outcome["decision"],
  gateId, revision, refusal: null, index: null as any, state,
});

describe("verify answer text", () => {
  const gates = ["GATE_001", "g \"quoted\" \\ back", "tab\there\nnl", "ünïcödé ✓ 😀", "\u0000\u001f\u007f", "\ud800 lone", "</script>"];
  const cases: Outcome[] = [];
  for (const g of gates) {
    cases.push(outcome({ allow: true, reason: "granted", userId: "u_1", credentialId: "c_1", credentialKind: "card", unlockMs: 1500 }, g));
    cases.push(outcome({ allow: true, reason: "granted", userId: "u_\"x\"", unlockMs: 0 }, g, 1));
    cases.push(outcome({ allow: true, reason: "granted", userId: undefined, unlockMs: undefined as any }, g, Number.MAX_SAFE_INTEGER));
    cases.push(outcome({ allow: false, reason: "unknown_token" }, g));
    cases.push(outcome({ allow: false, reason: "gate_locked", userId: "u_2" }, g));
    cases.push(outcome({ allow: false, reason: "rate_limited" as any, userId: "u_2" }, g));
    cases.push(outcome({ allow: true, reason: "granted", userId: "u_1", unlockMs: 1.5 }, g, 3));
    cases.push(outcome({ allow: true, reason: "granted", userId: "u_1", unlockMs: NaN }, g, 3));
    cases.push(outcome({ allow: true, reason: "granted", userId: "u_3", unlockMs: 900 }, g, 5, {
      id: "x", zoneId: "z", direction: "in", flags: ["anti_passback_soft"], peerEventId: null, peerUserId: "u_4",
    }));
  }
  test("is JSON.stringify(verifyAnswer(o)) for every shape", () => {
    for (const o of cases) expect(verifyAnswerText(o)).toBe(JSON.stringify(verifyAnswer(o)));
  });
});

describe("the native route's hand check of the common body", () => {
  const wellFormed = TypeCompiler.Compile(VerifyBody);
  test("accepts only bodies the route's schema accepts, and the plain {gate_id, token} ones", () => {
    const strings = ["", "G", "x".repeat(64), "x".repeat(65), "t".repeat(1024), "t".repeat(1025), "😀".repeat(32), "😀".repeat(33)];
    const values: unknown[] = [null, 1, "s", true, [], [1, 2], {}, ...strings];
    const bodies: unknown[] = [...values];
    for (const g of [...values, undefined]) {
      for (const t of [...values, undefined]) {
        const b: Record<string, unknown> = {};
        if (g !== undefined) b.gate_id = g;
        if (t !== undefined) b.token = t;
        bodies.push(b, { ...b, pin: "1234" }, { ...b, min_revision: 3 }, { ...b, extra: 1 }, JSON.parse(`{"__proto__": 1, "gate_id": "G", "token": "t"}`));
        bodies.push(Object.assign([], b));
      }
    }
    let plain = 0;
    for (const b of bodies) {
      if (!plainBody(b)) continue;
      plain++;
      expect(wellFormed.Check(b)).toBe(true);
      expect(Object.keys(b as object).sort()).toEqual(["gate_id", "token"]);
    }
    expect(plain).toBeGreaterThan(10);
    expect(plainBody({ gate_id: "GATE_001", token: "pcl_x" })).toBe(true);
  });
});
