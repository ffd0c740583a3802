import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSql, type Sql } from "../../src/db/client";
import { type AccessEvent, EventWriter } from "../../src/events/event-writer";
import { createTestDb, sleepUntil, type TestDb } from "../setup";
import { TcpProxy } from "../tcp-proxy";

let db: TestDb;
let proxy: TcpProxy;
let viaProxy: Sql;

beforeAll(async () => {
  db = await createTestDb();
  proxy = new TcpProxy("127.0.0.1", Number(new URL(db.url).port || 5432)).start();
  const u = new URL(db.url);
  u.host = `127.0.0.1:${proxy.port}`;
  viaProxy = createSql(u.toString(), { max: 2 });
});
afterAll(async () => {
  await viaProxy.end({ timeout: 1 });
  proxy.stop();
  await db.drop();
});

let n = 0;
const event = (gate: string): AccessEvent => ({
  id: Bun.randomUUIDv7(), at: Date.now(), gateId: gate, userId: "u_x", credentialId: null, isDevice: false,
  allow: n % 2 === 0, reason: n++ % 2 === 0 ? "granted" : "no_grant", revision: 1,
});
const count = async (gate: string) => (await db.sql`select count(*)::int as n, count(distinct id)::int as d from access_events where gate_id = ${gate}`)[0]!;
const writer = (sql: Sql, dir: string, bufferMax = 100_000) =>
  new EventWriter(sql, { flushMs: 5, batchMax: 500, bufferMax, spillDir: dir, spillMaxBytes: 50 * 1024 * 1024 });
const spillDir = () => mkdtempSync(join(tmpdir(), "pcl-spill-"));

describe("event writer", () => {
  test("buffered events are written in batches, each exactly once", async () => {
    const w = writer(db.sql, spillDir());
    for (let i = 0; i < 2345; i++) w.push(event("W1"));
    await sleepUntil(async () => (await count("W1")).n === 2345, "2345 events");
    expect(w.flushed).toBe(2345);
    expect(await w.stop()).toBe(true);
  });

  test("client-supplied gate ids with tabs, newlines, backslashes or NUL are stored and block nothing", async () => {
    const w = writer(db.sql, spillDir());
    const odd = ["W6\tTAB", "W6\nNL", "W6\\BS", "W6\rCR", "W6\u0000NUL", "W6 ✓ ünïcödé"];
    for (const g of odd) w.push(event(g));
    for (let i = 0; i < 10; i++) w.push(event("W6"));
    await sleepUntil(async () => (await count("W6")).n === 10, "the ordinary events");
    const rows = await db.sql`select gate_id from access_events where gate_id like 'W6%' and gate_id <> 'W6' order by gate_id`;
    expect(rows.map((r) => r.gate_id).sort()).toEqual(["W6\tTAB", "W6\nNL", "W6\\BS", "W6\rCR", "W6\uFFFDNUL", "W6 ✓ ünïcödé"].sort());
    expect(w.rejected).toBe(0);
    await w.stop();
  });

  test("a retried batch writes nothing twice", async () => {
    const w = writer(db.sql, spillDir());
    const e = event("W2");
    w.push(e);
    w.push({ ...e });
    await w.stop();
    expect(await count("W2")).toEqual({ n: 1, d: 1 });
    // And a whole batch written again (its first commit's acknowledgement lost) adds nothing.
    const batch = Array.from({ length: 50 }, () => event("W2b"));
    const w2 = writer(db.sql, spillDir());
    for (const x of batch) w2.push(x);
    await w2.stop();
    const w3 = writer(db.sql, spillDir());
    for (const x of batch) w3.push({ ...x });
    await w3.stop();
    expect(await count("W2b")).toEqual({ n: 50, d: 50 });
  });

  test("while Postgres is unreachable events are kept and retried; after it returns all are written once", async () => {
    const w = writer(viaProxy, spillDir());
    proxy.cut();
    for (let i = 0; i < 300; i++) w.push(event("W3"));
    await sleepUntil(() => w.failed >= 2, "failed flushes");
    expect(w.depth).toBe(300);
    proxy.restore();
    await sleepUntil(async () => (await count("W3")).n === 300, "300 events after recovery", 15_000);
    expect(await count("W3")).toEqual({ n: 300, d: 300 });
    expect(await w.stop()).toBe(true);
  });

  test("past the buffer bound events spill to disk and are replayed on recovery", async () => {
    const dir = spillDir();
    const w = writer(viaProxy, dir, 1000);
    proxy.cut();
    for (let i = 0; i < 3500; i++) w.push(event("W4"));
    await sleepUntil(() => w.spilled > 0 && w.failed > 0, "spill");
    expect(readdirSync(dir).length).toBeGreaterThan(0);
    proxy.restore();
    await sleepUntil(async () => (await count("W4")).n === 3500, "3500 events after replay", 20_000);
    expect(await count("W4")).toEqual({ n: 3500, d: 3500 });
    expect(w.shed).toBe(0);
    await sleepUntil(() => readdirSync(dir).length === 0, "spill files removed");
    await w.stop();
  });

  test("a shutdown while Postgres is away spills what is left; the next start replays it", async () => {
    const dir = spillDir();
    const w = writer(viaProxy, dir);
    proxy.cut();
    for (let i = 0; i < 250; i++) w.push(event("W5"));
    expect(await w.stop(300)).toBe(false);
    expect(w.spilled).toBe(250);
    expect(readdirSync(dir).length).toBe(1);
    proxy.restore();
    const next = writer(db.sql, dir);
    next.start();
    await sleepUntil(async () => (await count("W5")).n === 250, "replay at start", 10_000);
    await sleepUntil(() => readdirSync(dir).length === 0, "spill file removed");
    expect(next.replayed).toBe(250);
    await next.stop();
    expect(existsSync(dir)).toBe(true);
  });
});
