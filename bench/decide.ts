// In-process decision cost, no HTTP: Portcullis (SHA-256 of the token + PermissionIndex.decide)
// against node-casbin's RBAC enforce on the same policy, in the same process, measured with mitata.
//
//   bun bench/decide.ts            (bench/run.ts runs it pinned to one core; prints one JSON line last)
//
// The policy, 1,100 rules: 100 roles, each allowed through 10 of 1,000 gates (1,000 `p` rules, one
// per role and gate), and 100 users, each holding one role (100 `g` rules). Portcullis gets the
// same graph as its index: 100 groups with 10 gate grants each, 100 users each a member of one
// group, one credential per user. The requests are 1,024 (user, gate) pairs, half of them granted;
// both answer all of them first and must agree on every one. Casbin is given the user id directly
// (it has no token to hash); Portcullis pays the SHA-256 of a 47-character token on every call.
// Casbin's enforceSync is used (no Promise per call) to give it its best case.
import { do_not_optimize, bench, run } from "mitata";
import { newEnforcer, newModelFromString, StringAdapter } from "casbin";
import { PermissionIndex } from "../src/index/permission-index";
import type { Snapshot } from "../src/index/types";
import { hashSecret } from "../src/tokens";
import { credentialId, gateId, groupId, secretFor, userId } from "./ids";

const ROLES = 100, GATES_PER_ROLE = 10, GATES = 1000, USERS = 100, PAIRS = 1024;

const gateOf = (role: number, k: number) => ((role * 37 + k * 101) % GATES) + 1;

export function buildPolicy() {
  const p: string[][] = [];
  const g: string[][] = [];
  for (let r = 1; r <= ROLES; r++) for (let k = 0; k < GATES_PER_ROLE; k++) p.push([groupId(r), gateId(gateOf(r, k)), "pass"]);
  for (let u = 1; u <= USERS; u++) g.push([userId(u), groupId(u)]);
  return { p, g };
}

const MODEL = `
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
`;

export function buildSnapshot(): Snapshot {
  const { p } = buildPolicy();
  return {
    revision: 1,
    users: Array.from({ length: USERS }, (_, i) => ({ id: userId(i + 1), username: `u${i + 1}`, active: true, validFrom: -Infinity, validUntil: Infinity })),
    groups: Array.from({ length: ROLES }, (_, i) => ({ id: groupId(i + 1), name: `role ${i + 1}`, parentId: null })),
    memberships: Array.from({ length: USERS }, (_, i) => [groupId(i + 1), userId(i + 1)] as [string, string]),
    zones: [],
    gates: Array.from({ length: GATES }, (_, i) => ({ id: gateId(i + 1), name: `gate ${i + 1}`, zoneId: null, mode: "normal" as const, unlockMs: 800, maxStalenessMs: null })),
    schedules: [],
    grants: p.map(([sub, obj], i) => ({
      id: `gr_${i}`, subjectUserId: null, subjectGroupId: sub!, targetGateId: obj!, targetZoneId: null, effect: "allow" as const,
      scheduleId: null, validFrom: -Infinity, validUntil: Infinity,
    })),
    credentials: Array.from({ length: USERS }, (_, i) => ({
      id: credentialId(i + 1), userId: userId(i + 1), kind: "card" as const, scopes: [], secretHash: hashSecret(secretFor(i + 1)),
      expiresAt: Infinity, validFrom: -Infinity, revoked: false,
    })),
  };
}

export interface DecideResult {
  rules: number;
  pairs: number;
  granted: number;
  /** Mean nanoseconds per call (mitata avg), and p99 of its samples. */
  portcullisNs: number;
  portcullisP99Ns: number;
  /** decide() alone, the hash precomputed. */
  decideOnlyNs: number;
  hashOnlyNs: number;
  casbinNs: number;
  casbinP99Ns: number;
  /** casbin ÷ portcullis: how many times faster Portcullis decides. */
  speedup: number;
  casbinVersion: string;
}

export async function measureDecide(): Promise<DecideResult> {
  const { p, g } = buildPolicy();
  const adapter = new StringAdapter([...p.map((r) => `p, ${r.join(", ")}`), ...g.map((r) => `g, ${r.join(", ")}`)].join("\n"));
  const enforcer = await newEnforcer(newModelFromString(MODEL), adapter);
  const index = PermissionIndex.fromSnapshot(buildSnapshot());

  // Half granted (one of the user's role gates), half a gate of another role.
  const pairs = Array.from({ length: PAIRS }, (_, i) => {
    const u = (i * 7919) % USERS + 1;
    const gate = i % 2 === 0 ? gateOf(u, i % GATES_PER_ROLE) : gateOf(((u + 50) % ROLES) + 1, i % GATES_PER_ROLE);
    return { user: userId(u), token: secretFor(u), hash: hashSecret(secretFor(u)), gate: gateId(gate) };
  });
  const now = Date.now();
  let granted = 0;
  for (const x of pairs) {
    const a = index.decide(hashSecret(x.token), x.gate, now).allow;
    const b = enforcer.enforceSync(x.user, x.gate, "pass");
    if (a !== b) throw new Error(`portcullis and casbin disagree on ${x.user} at ${x.gate}: ${a} vs ${b}`);
    if (a) granted++;
  }

  let i = 0, j = 0, k = 0, l = 0;
  bench("portcullis: sha256 + decide", () => {
    const x = pairs[(i = (i + 1) & (PAIRS - 1))]!;
    do_not_optimize(index.decide(hashSecret(x.token), x.gate, now));
  });
  bench("portcullis: decide only", () => {
    const x = pairs[(j = (j + 1) & (PAIRS - 1))]!;
    do_not_optimize(index.decide(x.hash, x.gate, now));
  });
  bench("sha256 only", () => {
    const x = pairs[(k = (k + 1) & (PAIRS - 1))]!;
    do_not_optimize(hashSecret(x.token));
  });
  bench("casbin enforceSync (RBAC, 1,100 rules)", () => {
    const x = pairs[(l = (l + 1) & (PAIRS - 1))]!;
    do_not_optimize(enforcer.enforceSync(x.user, x.gate, "pass"));
  });
  const res = await run({ format: "mitata", colors: false, print: (s: string) => console.error(s) });
  const stat = (name: string) => {
    const b = res.benchmarks.find((t) => t.alias === name)?.runs[0]?.stats;
    if (!b) throw new Error(`mitata: no result for ${name}`);
    return b;
  };
  const pc = stat("portcullis: sha256 + decide"), cb = stat("casbin enforceSync (RBAC, 1,100 rules)");
  const version = (await import("casbin/package.json", { with: { type: "json" } }).catch(() => ({ default: { version: "?" } }))).default.version as string;
  return {
    rules: p.length + g.length, pairs: PAIRS, granted,
    portcullisNs: pc.avg, portcullisP99Ns: pc.p99, decideOnlyNs: stat("portcullis: decide only").avg, hashOnlyNs: stat("sha256 only").avg,
    casbinNs: cb.avg, casbinP99Ns: cb.p99, speedup: cb.avg / pc.avg, casbinVersion: version,
  };
}

if (import.meta.main) {
  const r = await measureDecide();
  console.log(JSON.stringify(r));
}
