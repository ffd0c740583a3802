import { describe, expect, test } from "bun:test";
import { verifyAnswer, verifyAnswerText } from "../../src/http/verify";
import type { Outcome } from "../../src/verify/verify";

// The native route writes the verify answer's JSON directly; it must be, byte for byte, what
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
