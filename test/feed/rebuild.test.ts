// Full rebuilds run in a worker thread and are swapped in with every change applied meanwhile;
// compaction is such a rebuild, started by the garbage incremental updates leave behind.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { checkConsistency, feedSource } from "../../src/admin/consistency";
import type { Sql } from "../../src/db/client";
import { ChangeFeed } from "../../src/feed/change-feed";
import { hashSecret } from "../../src/tokens";
import { createTestDb, sleepUntil, type TestDb } from "../setup";

let db: TestDb;
const feeds: ChangeFeed[] = [];

const head = async (sql: Sql) => (await sql<{ n: number }[]>`select n from pcl_revision`)[0]!.n;
async function userWithCard(name: string, secret: string): Promise<string> {
  const [u] = await db.sql`insert into users (username) values (${name}) returning id`;
  await db.sql`insert into credentials (user_id, kind, secret_hash) values (${u!.id}, 'card', ${hashSecret(secret)})`;
  return u!.id;
}
async function startFeed(opts: ConstructorParameters<typeof ChangeFeed>[2] = {}): Promise<ChangeFeed> {
  const f = new ChangeFeed(db.url, db.sql, { heartbeatMs: 200, ...opts });
  feeds.push(f);
  await f.start();
  return f;
}

beforeAll(async () => {
  db = await createTestDb();
  await db.sql`insert into gates (id, name) values ('R1', 'gate one'), ('R2', 'gate two')`;
});
afterAll(async () => {
  for (const f of feeds) await f.stop();
  await db.drop();
});

describe("rebuilds in a worker", () => {
  test("writes committed while a rebuild runs are in the index swapped in, which equals SQL", async () => {
    const feed = await startFeed();
    const u = await userWithCard("rex", "secret-rex-000001");
    await sleepUntil(async () => feed.revision >= (await head(db.sql)), "feed to converge");
    const rebuilds = feed.rebuilds;
    const rebuilt = feed.rebuild();
    // While the worker loads and builds, the feed goes on applying changes to the index in force.
    await db.sql`insert into grants (subject_user_id, target_gate_id) values (${u}, 'R1')`;
    await db.sql`insert into zones (name) values ('built-meanwhile')`;
    const n = await head(db.sql);
    await sleepUntil(() => feed.revision >= n, "feed to apply the writes");
    await rebuilt;
    expect(feed.rebuilds).toBe(rebuilds + 1);
    expect(feed.revision).toBeGreaterThanOrEqual(n);
    expect(feed.current.decide(hashSecret("secret-rex-000001"), "R1", Date.now()).reason).toBe("granted");
    expect([...feed.current.zones.values()].some((z) => z.name === "built-meanwhile")).toBe(true);
    const r = await checkConsistency(db.sql, feedSource(feed), {});
    expect({ consistent: r.consistent, mismatches: r.mismatches }).toEqual({ consistent: true, mismatches: [] });
  });

  test("garbage past the threshold compacts in the background; decisions stay equal to SQL", async () => {
    const feed = await startFeed({ compactAtGarbage: 0 });
    const u = await userWithCard("sue", "secret-sue-000001");
    // The second grant replaces the user's grant list: the first list is garbage.
    await db.sql`insert into grants (subject_user_id, target_gate_id) values (${u}, 'R2')`;
    await db.sql`insert into grants (subject_user_id, target_gate_id) values (${u}, 'R1')`;
    await sleepUntil(() => feed.compactions >= 1, "a compaction", 20_000);
    await db.sql`update credentials set revoked_at = now() where user_id = ${u}`;
    const n = await head(db.sql);
    await sleepUntil(() => feed.revision >= n, "feed to apply the revoke");
    expect(feed.current.decide(hashSecret("secret-sue-000001"), "R2", Date.now()).reason).toBe("revoked_token");
    const r = await checkConsistency(db.sql, feedSource(feed), {});
    expect({ consistent: r.consistent, mismatches: r.mismatches }).toEqual({ consistent: true, mismatches: [] });
  });

  test("a build that cannot reach Postgres fails the rebuild and leaves the index in force", async () => {
    const feed = new ChangeFeed("postgres://postgres@127.0.0.1:1/nowhere", db.sql, { snapshotTimeoutMs: 20_000 });
    const before = feed.current;
    await expect(feed.rebuild()).rejects.toThrow();
    expect(feed.current).toBe(before);
  });
});
