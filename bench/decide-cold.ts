// Why a decision costs ~0.6 µs in bench/decide.ts and 4–6 µs in a server's profile: the same
// decide() on a graph of the bench's shape (bench/graph.ts's small default: 10k users, 20k
// credentials, 50k grants, 1,000 gates), its pairs in random order, with the caches warm (a tight
// loop) and cold (between two decisions the loop sweeps a buffer the size of a last-level cache,
// as a server's HTTP stack, JSON, event writing and other processes do between two verifies; the
// clock's own cost is subtracted; medians of 5 passes). Each path:
//   hex:    decide(hashSecret(token))                — SHA-256 as hex, looked up by decoding it
//   digest: decideDigest(secretDigest(token))        — SHA-256 into a kept buffer, looked up as bytes
//   +ids:   the decision's user and credential id strings read once (the answer and event do)
//
//   bun bench/decide-cold.ts            (BENCH_SWEEP_KB=4096 by default)
import { PermissionIndex } from "../src/index/permission-index";
import type { Decision, Snapshot } from "../src/index/types";
import { hashSecret, secretDigest } from "../src/tokens";
import { credentialId, gateId, groupId, secretFor, userId } from "./ids";

const USERS = 10_000, CREDS = 20_000, GATES = 1_000, ZONES = 50, GROUPS = 100, GRANTS = 50_000, PAIRS = 20_000;
const SWEEP = Number(process.env.BENCH_SWEEP_KB ?? 4096) * 1024;

let seed = 12345;
const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);

function snapshot(): Snapshot {
  const zoneOf = (g: number) => `zone_${(g % ZONES) + 1}`;
  return {
    revision: 1,
    users: Array.from({ length: USERS }, (_, i) => ({ id: userId(i + 1), username: `u${i + 1}`, active: true, validFrom: -Infinity, validUntil: Infinity })),
    groups: Array.from({ length: GROUPS }, (_, i) => ({ id: groupId(i + 1), name: `g${i + 1}`, parentId: i < 10 ? null : groupId((i % 10) + 1) })),
    memberships: Array.from({ length: USERS * 2 }, (_, i) => [groupId(rnd(GROUPS) + 1), userId((i % USERS) + 1)] as [string, string]),
    zones: Array.from({ length: ZONES }, (_, i) => ({ id: `zone_${i + 1}`, name: `z${i + 1}`, parentId: null })),
    gates: Array.from({ length: GATES }, (_, i) => ({ id: gateId(i + 1), name: `gate ${i + 1}`, zoneId: zoneOf(i), mode: "normal" as const, unlockMs: 800, maxStalenessMs: null })),
    schedules: [],
    grants: Array.from({ length: GRANTS }, (_, i) => {
      const toUser = i % 4 !== 0, toZone = i % 5 === 0;
      return {
        id: `gr_${i}`, subjectUserId: toUser ? userId(rnd(USERS) + 1) : null, subjectGroupId: toUser ? null : groupId(rnd(GROUPS) + 1),
        targetGateId: toZone ? null : gateId(rnd(GATES) + 1), targetZoneId: toZone ? `zone_${rnd(ZONES) + 1}` : null,
        effect: i % 50 === 0 ? ("deny" as const) : ("allow" as const), scheduleId: null, validFrom: -Infinity, validUntil: Infinity,
      };
    }),
    credentials: Array.from({ length: CREDS }, (_, i) => ({
      id: credentialId(i + 1), userId: userId((i % USERS) + 1), kind: "card" as const, scopes: [], secretHash: hashSecret(secretFor(i + 1)),
      expiresAt: Infinity, validFrom: -Infinity, revoked: false,
    })),
  };
}

const index = PermissionIndex.fromSnapshot(snapshot());
const pairs = Array.from({ length: PAIRS }, () => ({ token: secretFor(rnd(CREDS) + 1), gate: gateId(rnd(GATES) + 1) }));
const now = Date.now();
const sweepBuf = new Uint8Array(SWEEP);
let sink = 0;
const sweep = () => {
  for (let i = 0; i < SWEEP; i += 64) sink = (sink + sweepBuf[i]!) | 0;
};
const paths: Record<string, (t: string, g: string) => Decision> = {
  hex: (t, g) => index.decide(hashSecret(t), g, now),
  digest: (t, g) => index.decideDigest(secretDigest(t), g, now),
  "digest+ids": (t, g) => {
    const d = index.decideDigest(secretDigest(t), g, now);
    sink = (sink + (d.userId?.charCodeAt(d.userId.length - 1) ?? 0) + (d.credentialId?.charCodeAt(d.credentialId.length - 1) ?? 0)) | 0;
    return d;
  },
};

/** Mean ns of one decision; cold: each timed alone right after a sweep (the clock's own cost, timed around nothing, subtracted). */
function pass(f: ((t: string, g: string) => Decision) | null, cold: boolean, n: number): number {
  if (!cold) {
    const t0 = Bun.nanoseconds();
    for (let i = 0; i < n; i++) {
      const x = pairs[i % PAIRS]!;
      sink = (sink + (f!(x.token, x.gate).allow ? 1 : 0)) | 0;
    }
    return (Bun.nanoseconds() - t0) / n;
  }
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const x = pairs[i % PAIRS]!;
    sweep();
    const t0 = Bun.nanoseconds();
    if (f !== null) sink = (sink + (f(x.token, x.gate).allow ? 1 : 0)) | 0;
    sum += Bun.nanoseconds() - t0;
  }
  return sum / n;
}
const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
const best = (f: Parameters<typeof pass>[0], cold: boolean, n: number) => median(Array.from({ length: 5 }, () => pass(f, cold, n)));

for (const f of Object.values(paths)) pass(f, false, PAIRS * 5); // warm the JIT
const clockNs = best(null, true, 5_000);
const granted = pairs.filter((x) => index.decide(hashSecret(x.token), x.gate, now).allow).length;
console.log(`graph: ${USERS} users, ${CREDS} credentials, ${GRANTS} grants, ${GATES} gates; ${PAIRS} pairs in random order (${granted} granted); sweep ${SWEEP >> 10} KiB between cold decisions; clock ${clockNs.toFixed(0)} ns (subtracted)`);
console.log("path          warm (µs)   cold (µs)   (medians of 5 passes)");
for (const [name, f] of Object.entries(paths)) {
  const warm = best(f, false, PAIRS * 2) / 1000, cold = (best(f, true, 5_000) - clockNs) / 1000;
  console.log(`${name.padEnd(12)} ${warm.toFixed(2).padStart(9)}   ${cold.toFixed(2).padStart(9)}`);
}
if (sink === 42) console.log("");
