import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createSql, type Sql } from "../../src/db/client";
import { ChangeFeed } from "../../src/feed/change-feed";
import { hashSecret } from "../../src/tokens";
import { createTestDb, sleepUntil, type TestDb } from "../setup";
import { TcpProxy } from "../tcp-proxy";

let db: TestDb;
let feed: ChangeFeed;

const head = async (sql: Sql) => (await sql<{ n: number }[]>`select n from pcl_revision`)[0]!.n;
const decide = (secret: string, gate: string) => feed.current.decide(hashSecret(secret), gate, Date.now()).reason;
/** Waits until the index has applied everything committed so far. */
const converged = async (f = feed, sql = db.sql) => {
  const n = await head(sql);
  await sleepUntil(() => f.revision >= n, `feed to reach revision ${n}`);
};

async function userWithCard(sql: Sql, name: string, secret: string): Promise<string> {
  const [u] = await sql`insert into users (username) values (${name}) returning id`;
  await sql`insert into credentials (user_id, kind, secret_hash) values (${u!.id}, 'card', ${hashSecret(secret)})`;
  return u!.id;
}

beforeAll(async () => {
  db = await createTestDb();
  await db.sql`insert into gates (id, name) values ('G1', 'gate one'), ('G2', 'gate two')`;
  feed = new ChangeFeed(db.url, db.sql, { heartbeatMs: 200 });
  await feed.start();
});

afterAll(async () => {
  await feed.stop();
  await db.drop();
});

describe("change feed", () => {
  test("a committed write changes the decision", async () => {
    const u = await userWithCard(db.sql, "ann", "secret-ann-000001");
    await converged();
    expect(decide("secret-ann-000001", "G1")).toBe("no_grant");
    await db.sql`insert into grants (subject_user_id, target_gate_id) values (${u}, 'G1')`;
    await converged();
    expect(decide("secret-ann-000001", "G1")).toBe("granted");
    await db.sql`update credentials set revoked_at = now() where user_id = ${u}`;
    await converged();
    expect(decide("secret-ann-000001", "G1")).toBe("revoked_token");
  });

  test("each write transaction is one revision, and the index reports it", async () => {
    const before = await head(db.sql);
    await db.sql.begin(async (tx) => {
      await tx`insert into zones (name) values ('z-a')`;
      await tx`insert into zones (name) values ('z-b')`;
      await tx`insert into gates (id, name) values ('G3', 'three')`;
    });
    expect(await head(db.sql)).toBe(before + 1);
    await converged();
    expect(feed.revision).toBe(before + 1);
    expect(feed.current.gates.has("G3")).toBe(true);
  });

  test("killing the listener's backend loses nothing written during the gap", async () => {
    // A feed of its own, through a proxy that refuses new connections during the gap (so the write
    // surely commits while nothing listens, rather than after a quick re-LISTEN) and with no
    // heartbeat (whose probe would also see the head move): only the reconnect's replay of the log
    // can bring the write in.
    const proxy = new TcpProxy("127.0.0.1", Number(new URL(db.url).port || 5432)).start();
    const viaProxy = new URL(db.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const f = new ChangeFeed(viaProxy.toString(), db.sql, { heartbeatMs: 3_600_000, backoffMaxMs: 200 });
    const decideOn = (secret: string, gate: string) => f.current.decide(hashSecret(secret), gate, Date.now()).reason;
    try {
      await f.start();
      const u = await userWithCard(db.sql, "bea", "secret-bea-000001");
      await converged(f);
      const reconnects = f.reconnects;
      proxy.refuseNew();
      const [killed] = await db.sql`
        select count(*) filter (where pg_terminate_backend(pid))::int as n from pg_stat_activity
        where datname = current_database() and application_name = 'portcullis-listener'`;
      expect(killed!.n).toBeGreaterThanOrEqual(1);
      await sleepUntil(() => !f.connected, "the feed to notice its listener is gone");
      // Committed while the listener is down: its NOTIFY goes nowhere.
      await db.sql`insert into grants (subject_user_id, target_gate_id) values (${u}, 'G2')`;
      expect(decideOn("secret-bea-000001", "G2")).toBe("no_grant");
      proxy.restore();
      await sleepUntil(() => f.reconnects > reconnects, "listener to reconnect");
      await converged(f);
      expect(decideOn("secret-bea-000001", "G2")).toBe("granted");
      expect(f.connected).toBe(true);
    } finally {
      await f.stop();
      proxy.stop();
    }
  });

  test("two transactions committing in the opposite order of their start both apply", async () => {
    const u1 = await userWithCard(db.sql, "cat", "secret-cat-000001");
    const u2 = await userWithCard(db.sql, "dan", "secret-dan-000001");
    await converged();
    // A starts first and reads; B starts later, writes and commits; then A writes and commits.
    const a = await db.sql.reserve();
    try {
      await a`begin`;
      await a`select count(*) from grants`;
      await db.sql`insert into grants (subject_user_id, target_gate_id) values (${u2}, 'G1')`;
      await a`insert into grants (subject_user_id, target_gate_id) values (${u1}, 'G1')`;
      await a`commit`;
    } finally {
      a.release();
    }
    await converged();
    expect(decide("secret-cat-000001", "G1")).toBe("granted");
    expect(decide("secret-dan-000001", "G1")).toBe("granted");
  });

  test("a writer blocked behind an open writer gets the next revision and both apply", async () => {
    const u1 = await userWithCard(db.sql, "eve", "secret-eve-000001");
    const u2 = await userWithCard(db.sql, "fay", "secret-fay-000001");
    await converged();
    const a = await db.sql.reserve();
    try {
      await a`begin`;
      const { r: ra } = (await a`insert into grants (subject_user_id, target_gate_id) values (${u1}, 'G2') returning pcl_tx_revision() as r`)[0]!;
      const b = db.sql`insert into grants (subject_user_id, target_gate_id) values (${u2}, 'G2') returning pcl_tx_revision() as r`;
      await Bun.sleep(50); // b is now waiting on the revision row
      await a`commit`;
      const { r: rb } = (await b)[0]!;
      expect(rb).toBe(ra + 1);
    } finally {
      a.release();
    }
    await converged();
    expect(decide("secret-eve-000001", "G2")).toBe("granted");
    expect(decide("secret-fay-000001", "G2")).toBe("granted");
  });

  test("a burst of writes converges with the changes coalesced", async () => {
    const u = await userWithCard(db.sql, "gus", "secret-gus-000001");
    const before = feed.appliedChanges;
    await Promise.all(Array.from({ length: 50 }, (_, i) => db.sql`insert into zones (name) values (${"burst-" + i})`));
    await db.sql`insert into grants (subject_user_id, target_gate_id) values (${u}, 'G1')`;
    await converged();
    expect(feed.current.zones.size).toBeGreaterThanOrEqual(52);
    expect(decide("secret-gus-000001", "G1")).toBe("granted");
    expect(feed.appliedChanges - before).toBeGreaterThanOrEqual(51);
  });

  test("min_revision waiters resolve once the index reaches the revision", async () => {
    const { r } = (await db.sql`insert into zones (name) values ('waited') returning pcl_tx_revision() as r`)[0]!;
    expect(await feed.waitFor(r, 2000)).toBe(true);
    expect(feed.revision).toBeGreaterThanOrEqual(r);
    expect(await feed.waitFor(r + 1000, 50)).toBe(false);
  });
});

describe("change feed through a cut connection", () => {
  test("Postgres unreachable: decisions keep coming from the last index; after return it catches up, rebuilding when the log was pruned", async () => {
    const proxy = new TcpProxy("127.0.0.1", Number(new URL(db.url).port || 5432)).start();
    const u = new URL(db.url);
    u.host = `127.0.0.1:${proxy.port}`;
    const viaProxy = u.toString();
    const sql = createSql(viaProxy, { max: 2 });
    const f = new ChangeFeed(viaProxy, sql, { heartbeatMs: 100, backoffMaxMs: 200 });
    try {
      await f.start();
      const userId = await userWithCard(db.sql, "hal", "secret-hal-000001");
      await converged(f, db.sql);
      expect(f.current.decide(hashSecret("secret-hal-000001"), "G1", Date.now()).reason).toBe("no_grant");

      proxy.cut();
      await sleepUntil(() => !f.connected, "feed to notice the cut");
      expect(f.live).toBe(false);
      // While it is away: a grant, then the log pruned past what it applied.
      await db.sql`insert into grants (subject_user_id, target_gate_id) values (${userId}, 'G1')`;
      await db.sql`select pcl_prune_change_log('0 seconds')`;
      // Still answering from the last index it had.
      expect(f.current.decide(hashSecret("secret-hal-000001"), "G1", Date.now()).reason).toBe("no_grant");

      const rebuilds = f.rebuilds;
      proxy.restore();
      await converged(f, db.sql);
      expect(f.connected).toBe(true);
      expect(f.rebuilds).toBeGreaterThan(rebuilds);
      expect(f.current.decide(hashSecret("secret-hal-000001"), "G1", Date.now()).reason).toBe("granted");
    } finally {
      await f.stop();
      await sql.end({ timeout: 1 });
      proxy.stop();
    }
  });
});

describe("change feed: devices", () => {
  test("revoking a device reaches the index even when its credential row is untouched", async () => {
    const [u] = await db.sql`insert into users (username) values ('dev-owner') returning id`;
    const [c] = await db.sql`insert into credentials (user_id, kind, secret_hash) values (${u!.id}, 'device', ${hashSecret("secret-device-0001")}) returning id`;
    await db.sql`insert into devices (user_id, credential_id, name) values (${u!.id}, ${c!.id}, 'phone')`;
    await converged();
    expect(feed.current.credentialsById.get(c!.id)!.deviceRevoked).toBe(false);
    await db.sql`update devices set revoked_at = now() where credential_id = ${c!.id}`;
    await converged();
    expect(feed.current.credentialsById.get(c!.id)!.deviceRevoked).toBe(true);
    // last_seen_at updates are not permission changes: no new revision.
    const before = await head(db.sql);
    await db.sql`update devices set last_seen_at = now() where credential_id = ${c!.id}`;
    expect(await head(db.sql)).toBe(before);
  });
});

describe("change feed: readiness", () => {
  test("a node stuck behind an existing revision for longer than maxLagMs is not live", async () => {
    const f = new ChangeFeed(db.url, db.sql, { heartbeatMs: 100, maxLagMs: 50 });
    await f.start();
    try {
      expect(f.live).toBe(true);
      // Pretend a revision far ahead exists and cannot be reached (the feed cannot catch up to it).
      (f as any).noteHead(f.revision + 1_000_000);
      await sleepUntil(() => !f.live, "not live", 2000);
      expect(f.lagMs).toBeGreaterThanOrEqual(50);
    } finally {
      await f.stop();
    }
  });
});

test("a client's made-up min_revision does not make the node report lag", async () => {
  expect(await feed.waitFor(feed.revision + 1_000_000, 20)).toBe(false);
  expect(feed.lagMs).toBe(0);
  expect(feed.live).toBe(true);
});
