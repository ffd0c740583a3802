// Chaos: thousands of random admin writes from concurrent writers while the service's change-feed
// listener is killed (pg_terminate_backend) every 200 ms and the service's connections to
// Postgres are cut twice (its DATABASE_URL points at a TCP proxy of the tests' own; during the
// second cut the change log is also pruned, so the way back is a rebuild). Verifies keep being
// answered throughout. Afterwards the consistency checker finds 0 mismatches over ALL pairs.
//
// CI runs a short variant; `bun run test:chaos` runs CHAOS_WRITES=10000 and prints the figures.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { checkConsistency, snapshotSource } from "../../src/admin/consistency";
import { createSql } from "../../src/db/client";
import { startService, type Service } from "../../src/service";
import { hashSecret, newSecret } from "../../src/tokens";
import { createTestDb, sleepUntil, testConfig, type TestDb } from "../setup";
import { TcpProxy } from "../tcp-proxy";
import { GraphWriter, loadPools, seededRand } from "./graph";

const WRITES = Number(process.env.CHAOS_WRITES ?? 1500);
const WRITERS = 4;
const KILL_EVERY_MS = 200;
const CUT_MS = 600;
const MIN_KILLS = 10;

let db: TestDb;
let proxy: TcpProxy;
let service: Service;
const adminToken = newSecret();
const exclude = { users: [] as string[], credentials: [] as string[] };

beforeAll(async () => {
  db = await createTestDb();
  const [u] = await db.sql`insert into users (username) values ('chaos-admin') returning id`;
  const [c] = await db.sql`insert into credentials (user_id, kind, scopes, secret_hash) values (${u!.id}, 'api', ${["admin"]}, ${hashSecret(adminToken)}) returning id`;
  exclude.users.push(u!.id);
  exclude.credentials.push(c!.id);
  proxy = new TcpProxy("127.0.0.1", Number(new URL(db.url).port || 5432)).start();
  const viaProxy = new URL(db.url);
  viaProxy.host = `127.0.0.1:${proxy.port}`;
  service = await startService(testConfig(), { databaseUrl: viaProxy.toString(), maintenance: false });
});
afterAll(async () => {
  // service.stop() ends its pool with a 5 s timeout, which postgres.js can use up waiting for a
  // reconnect it delayed by its backoff (computed when a connection closed during the cut, growing
  // with each connection error in a row; up to 20 s). The database is dropped with force right
  // after, which closes those connections anyway: no need to wait it out.
  await Promise.race([service?.stop(), Bun.sleep(1500)]);
  proxy?.stop();
  await db?.drop();
}, 30_000);

const call = async (method: string, path: string, body?: unknown) => {
  const res = await service.app.handle(new Request(`http://localhost${path}`, {
    method, headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body),
  }));
  return { status: res.status, body: await res.json().catch(() => null) };
};

describe("chaos", () => {
  test(`${WRITES} random admin writes, the listener killed every ${KILL_EVERY_MS} ms, Postgres cut twice: 0 mismatches over all pairs`, async () => {
    const t0 = performance.now();
    const feed = service.deps.feed;
    const pools = await loadPools(db.sql, exclude);
    const scale = Math.sqrt(WRITES / 1500);
    const writers = Array.from({ length: WRITERS }, (_, i) => {
      const w = new GraphWriter(db.sql, seededRand(1000 + i), pools, Date.now(), exclude);
      for (const k of Object.keys(w.caps) as Array<keyof GraphWriter["caps"]>) w.caps[k] = Math.round(w.caps[k] * scale);
      return w;
    });
    await writers[0]!.seed(2);
    const reconnects0 = feed.reconnects, rebuilds0 = feed.rebuilds;

    // The listener's backend, killed every 200 ms.
    let kills = 0, killing = true;
    const killer = (async () => {
      while (killing) {
        const [r] = await db.sql`select count(*) filter (where pg_terminate_backend(pid))::int as n from pg_stat_activity
          where datname = current_database() and application_name = 'portcullis-listener'`;
        kills += r!.n;
        await Bun.sleep(KILL_EVERY_MS);
      }
    })();

    // Verifies all along: answered from the index whatever Postgres is doing.
    let verifies = 0, verifyFailures = 0, verifying = true;
    const verifier = (async () => {
      while (verifying) {
        const res = await service.app.handle(new Request("http://localhost/api/v1/access/verify", {
          method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ gate_id: "ANY", token: "pcl_nobody" }),
        }));
        verifies++;
        if (res.status !== 200) verifyFailures++;
        await Bun.sleep(5);
      }
    })();

    // The writes; at 1/3 and 2/3 the service's connections are cut.
    let done = 0, cuts = 0;
    const cutAt = [Math.floor(WRITES / 3), Math.floor((2 * WRITES) / 3)];
    const cutter = (async () => {
      for (const [i, at] of cutAt.entries()) {
        await sleepUntil(() => done >= at, `write ${at}`, 600_000);
        proxy.cut();
        cuts++;
        await sleepUntil(() => !feed.connected, "the feed to notice the cut");
        if (i === 1) await db.sql`select pcl_prune_change_log('0 seconds')`; // away past the log's retention
        await Bun.sleep(CUT_MS);
        proxy.restore();
      }
    })();
    const writesStarted = Date.now();
    await Promise.all(writers.map(async (w) => {
      // At least MIN_KILLS kills land during the writes, however fast they go (writes go on, for
      // up to 60 s, until they have: after a cut the listener may back off for seconds).
      while (done < WRITES || (kills < MIN_KILLS && Date.now() - writesStarted < 60_000)) {
        done++;
        await w.step();
      }
    }));
    await cutter;
    killing = false;
    await killer;

    // Everything committed reaches the index, through the restored proxy.
    const head = (await db.sql<{ n: number }[]>`select n from pcl_revision`)[0]!.n;
    const tConverge = performance.now();
    await sleepUntil(() => feed.connected && feed.revision >= head, `the feed to reach revision ${head}`, Number(process.env.CHAOS_CONVERGE_MS ?? 30_000)).catch(async (e) => {
      // What a stuck feed looks like, for whoever meets this (see the README's Guarantees).
      const f = feed as any;
      const stuck = await db.sql`select application_name, state, left(query, 70) as query, (now() - state_change)::text as for
        from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`;
      throw new Error(`${e.message}: ${JSON.stringify({ connected: f.connected, revision: f.revision, head, catchUpRunning: !!f.running, proxy: proxy.describe(), backends: stuck })}`);
    });
    const tConverge2 = performance.now();
    verifying = false;
    await verifier;

    const r = await call("GET", "/api/v1/admin/consistency");
    const fresh = await checkConsistency(db.sql, snapshotSource(db.sql));
    const stats = writers.reduce((a, w) => ({ ok: a.ok + w.stats.ok, refused: a.refused + w.stats.refused, unexpected: [...a.unexpected, ...w.stats.unexpected] }),
      { ok: 0, refused: 0, unexpected: [] as unknown[] });
    const figures = {
      writes: stats.ok + stats.refused, random_writes: done, committed: stats.ok, refused: stats.refused, unexpected: stats.unexpected.length, revision: head,
      kills, cuts, reconnects: feed.reconnects - reconnects0, rebuilds: feed.rebuilds - rebuilds0,
      verifies, verify_failures: verifyFailures,
      converge_ms: Math.round(tConverge2 - tConverge), pairs_checked: r.body?.checked, mismatches: r.body?.mismatch_count, seconds: Math.round((performance.now() - t0) / 100) / 10,
    };
    console.log(`chaos figures: ${JSON.stringify(figures)}`);

    expect(stats.unexpected).toEqual([]);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ mode: "all", revision: head, mismatches: [], mismatch_count: 0, consistent: true });
    expect(fresh).toMatchObject({ revision: head, mismatch_count: 0, consistent: true });
    expect(r.body.checked).toBeGreaterThan(200);
    expect(stats.ok).toBeGreaterThan(WRITES * 0.6);
    expect(cuts).toBe(2);
    expect(kills).toBeGreaterThanOrEqual(MIN_KILLS);
    expect(feed.reconnects - reconnects0).toBeGreaterThanOrEqual(kills / 2);
    expect(feed.rebuilds - rebuilds0).toBeGreaterThanOrEqual(1); // the pruned log
    expect({ verifies: verifies > 10, verifyFailures }).toEqual({ verifies: true, verifyFailures: 0 });
  }, 900_000);

  test("a write transaction cut mid-way leaves nothing behind; writes during the cut answer 503, verifies 200", async () => {
    const feed = service.deps.feed;
    const viaProxy = new URL(db.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const sql = createSql(viaProxy.toString(), { max: 1 });
    const before = (await db.sql<{ n: number }[]>`select n from pcl_revision`)[0]!.n;
    await sleepUntil(() => feed.revision >= before, "the feed to settle");
    try {
      const tx = sql.begin(async (t) => {
        await t`insert into zones (name) values ('cut-mid-tx-1')`; // takes the next revision
        proxy.cut(); // the connection drops between two statements of the transaction
        await t`insert into zones (name) values ('cut-mid-tx-2')`;
      });
      expect(await tx.then(() => "committed", (e) => e.code)).toMatch(/^(CONNECTION_|ECONN)/);

      // While Postgres is out of reach: an admin write fails fast with 503, a verify answers.
      const t0 = performance.now();
      const w = await call("POST", "/api/v1/admin/zones", { name: "during-the-cut" });
      expect({ status: w.status, code: w.body?.error?.code }).toEqual({ status: 503, code: "unavailable" });
      expect(performance.now() - t0).toBeLessThan(6000);
      const v = await service.app.handle(new Request("http://localhost/api/v1/access/verify", {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ gate_id: "G", token: "t" }),
      }));
      expect(v.status).toBe(200);

      // Postgres rolled the whole transaction back, revision included, once it saw the client go.
      await sleepUntil(async () => (await db.sql`select count(*)::int as n from pg_stat_activity
        where datname = current_database() and state like 'idle in transaction%'`)[0]!.n === 0, "the cut transaction to end");
      const after = (await db.sql<{ n: number }[]>`select n from pcl_revision`)[0]!.n;
      expect(after).toBe(before);
      expect([...await db.sql`select name from zones where name like 'cut-mid-tx%' or name = 'during-the-cut'`]).toEqual([]);
    } finally {
      proxy.restore();
      await sql.end({ timeout: 1 }).catch(() => {});
    }
    // Back: the index equals SQL.
    const head = (await db.sql<{ n: number }[]>`select n from pcl_revision`)[0]!.n;
    await sleepUntil(() => feed.connected && feed.revision >= head, "the feed to catch up", 30_000);
    expect([...feed.current.zones.values()].some((z) => z.name.startsWith("cut-mid-tx"))).toBe(false);
    expect((await checkConsistency(db.sql, snapshotSource(db.sql))).consistent).toBe(true);
  }, 60_000);

  test("an admin write cut mid-transaction, after its change and its revision, leaves nothing behind: no row, no audit row, no revision", async () => {
    const feed = service.deps.feed;
    const revision = async () => (await db.sql<{ n: number }[]>`select n from pcl_revision`)[0]!.n;
    const before = await revision();
    await sleepUntil(() => feed.connected && feed.revision >= before, "the feed to settle", 30_000);
    // The earlier tests' access events shipped first: a COPY of them caught by this cut is another
    // fault (seen once to surface as an unhandled 'error' of postgres.js's COPY stream).
    await sleepUntil(() => service.deps.events.depth === 0, "the event journal shipped", 30_000);
    // The write held at its audit row — after its zone row, its change_log rows and its revision,
    // inside its transaction — by a trigger waiting on a lock this test holds. Then the cut.
    await db.sql`create function pcl_test_hold() returns trigger language plpgsql as $$
      begin perform pg_advisory_xact_lock(7007); return new; end $$`;
    await db.sql`create trigger pcl_test_hold before insert on audit_log for each row execute function pcl_test_hold()`;
    const holder = await db.sql.reserve();
    try {
      await holder`select pg_advisory_lock(7007)`;
      const w = call("POST", "/api/v1/admin/zones", { name: "cut-at-audit" });
      await sleepUntil(async () => (await db.sql`select 1 from pg_stat_activity where datname = current_database()
        and wait_event = 'advisory' and query ilike 'insert into audit_log%'`).length > 0, "the write waiting at its audit row");
      proxy.cut();
      const r = await w;
      expect({ status: r.status, code: r.body?.error?.code }).toEqual({ status: 503, code: "unavailable" });
    } finally {
      await holder`select pg_advisory_unlock(7007)`.catch(() => {});
      holder.release();
      proxy.restore();
      await db.sql`drop trigger pcl_test_hold on audit_log`; // waits for the held transaction to end
    }
    // Postgres ends the cut transaction once it sees its client gone.
    await sleepUntil(async () => (await db.sql`select count(*)::int as n from pg_stat_activity where datname = current_database()
      and pid <> pg_backend_pid() and (state like 'idle in transaction%' or (state = 'active' and query ilike 'insert into audit_log%'))`)[0]!.n === 0,
      "the cut transaction to end");
    expect(await revision()).toBe(before);
    expect([...await db.sql`select id from zones where name = 'cut-at-audit'`]).toEqual([]);
    expect([...await db.sql`select id from audit_log where after->>'name' = 'cut-at-audit' or before->>'name' = 'cut-at-audit'`]).toEqual([]);
    expect([...await db.sql`select revision from change_log where revision > ${before}`]).toEqual([]);
    // Back: the index never saw it, and equals SQL.
    await sleepUntil(() => feed.connected, "the feed to reconnect", 30_000);
    await feed.catchUp();
    expect([...feed.current.zones.values()].some((z) => z.name === "cut-at-audit")).toBe(false);
    expect((await checkConsistency(db.sql, snapshotSource(db.sql))).consistent).toBe(true);
  }, 60_000);
});
