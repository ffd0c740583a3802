// Property: for random graphs and random sequences of admin writes, committed to a real database
// while a ChangeFeed follows, the index the feed updated incrementally decides exactly like an
// index built fresh from a snapshot, and both equal the SQL truth (the consistency checker), for
// every (credential, gate) pair, at several instants.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { checkConsistency, feedSource, snapshotSource } from "../../src/admin/consistency";
import { loadSnapshot } from "../../src/db/permissions";
import { ChangeFeed } from "../../src/feed/change-feed";
import { PermissionIndex } from "../../src/index/permission-index";
import { createTestDb, sleepUntil, type TestDb } from "../setup";
import { GraphWriter, listRand, loadPools } from "./graph";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 8);
const H = 3_600_000;

let db: TestDb;
let feed: ChangeFeed;

const head = async () => (await db.sql<{ n: number }[]>`select n from pcl_revision`)[0]!.n;
async function converged(): Promise<number> {
  const n = await head();
  await sleepUntil(() => feed.revision >= n, `feed to reach ${n}`, 10_000);
  return n;
}

/** Everything deleted in one transaction (DELETE, not TRUNCATE: the change log must see it). */
async function reset(): Promise<void> {
  await db.sql.begin(async (tx) => {
    await tx`select n from pcl_revision for update`;
    for (const t of ["grants", "credentials", "devices", "memberships", "gates", "zones", "schedules", "groups", "users"]) await tx.unsafe(`delete from ${t}`);
  });
}

/** Decisions of two indexes for every secret either knows (plus an unknown one) at every gate either knows (plus an unknown one). */
function diff(a: PermissionIndex, b: PermissionIndex, now: number): string[] {
  const hashes = new Set([...a.credentialsByHash.keys(), ...b.credentialsByHash.keys(), "no-such-secret"]);
  const gates = new Set([...a.gates.keys(), ...b.gates.keys(), "NO_SUCH_GATE"]);
  const out: string[] = [];
  for (const h of hashes) {
    for (const g of gates) {
      const x = a.decide(h, g, now), y = b.decide(h, g, now);
      if (x.reason !== y.reason || x.credentialId !== y.credentialId || x.userId !== y.userId || x.unlockMs !== y.unlockMs) {
        out.push(`${h.slice(0, 8)}@${g} at ${new Date(now).toISOString()}: incremental ${x.reason}/${x.credentialId}, fresh ${y.reason}/${y.credentialId}`);
      }
    }
  }
  return out;
}

beforeAll(async () => {
  db = await createTestDb();
  feed = new ChangeFeed(db.url, db.sql, { heartbeatMs: 200 });
  await feed.start();
});
afterAll(async () => {
  await feed.stop();
  await db.drop();
});

describe("property: incremental index = fresh index = SQL", () => {
  test(`random graphs and random write sequences (${RUNS} runs)`, async () => {
    let pairs = 0, writes = 0;
    const reasons = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat({ max: 9999 }), { minLength: 32, maxLength: 400 }),
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (choices, steps, settleOften) => {
          const r = listRand(choices);
          const base = Date.now();
          await reset();
          const w = new GraphWriter(db.sql, r, await loadPools(db.sql), base);
          await w.seed(0.5 + r.int(3) / 2);
          await converged();
          for (let i = 0; i < steps; i++) {
            await w.step();
            // Sometimes the feed applies each revision alone, sometimes many coalesced.
            if (r.chance(settleOften)) await converged();
          }
          expect(w.stats.unexpected).toEqual([]);
          writes += w.stats.ok;
          const revision = await converged();

          const fresh = PermissionIndex.fromSnapshot(await loadSnapshot(db.sql));
          expect(fresh.revision).toBe(revision);
          expect(feed.current.revision).toBe(revision);
          const instants = [base, base + (r.int(145) - 72) * H + r.int(60) * 60_000, Date.parse("2026-03-29T01:00:00Z"), Date.parse("2026-04-04T15:00:00Z")];
          for (const now of instants) {
            // incremental = fresh
            expect(diff(feed.current, fresh, now)).toEqual([]);
            // incremental = SQL (the feed's index), fresh = SQL (an index built for the check)
            const a = await checkConsistency(db.sql, feedSource(feed), { now });
            const b = await checkConsistency(db.sql, snapshotSource(db.sql), { now });
            expect({ now, mismatches: a.mismatches, consistent: a.consistent, revision: a.revision })
              .toEqual({ now, mismatches: [], consistent: true, revision });
            expect({ now, mismatches: b.mismatches, consistent: b.consistent }).toEqual({ now, mismatches: [], consistent: true });
            pairs += a.checked;
            for (const [k, v] of Object.entries(a.by_reason)) reasons.set(k, (reasons.get(k) ?? 0) + v!);
          }
        },
      ),
      { numRuns: RUNS, endOnFailure: false, interruptAfterTimeLimit: 120_000 },
    );
    // Not degenerate: many pairs, and the interesting reasons among them.
    expect(writes).toBeGreaterThan(RUNS * 20);
    expect(pairs).toBeGreaterThan(RUNS * 100);
    // (Which rarer reasons show up depends on the random runs; a few always do.)
    expect(reasons.get("granted") ?? 0).toBeGreaterThan(0);
    expect(reasons.size).toBeGreaterThanOrEqual(5);
  }, 180_000);
});
