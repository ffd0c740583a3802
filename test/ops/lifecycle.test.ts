// The real process: started as an operator would, stopped with SIGTERM.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestDb, freePort, seedGrantedCard, sleepUntil, startTestService, type TestDb } from "../setup";
import { TcpProxy } from "../tcp-proxy";

let db: TestDb;
beforeAll(async () => {
  db = await createTestDb();
});
afterAll(() => db.drop());

describe("process lifecycle", () => {
  test("SIGTERM with two workers: stop accepting, flush every buffered event, exit 0", async () => {
    const card = await seedGrantedCard(db.sql, 'lifecycle', 'LC_1');
    const port = await freePort();
    const proc = Bun.spawn(["bun", "src/main.ts"], {
      env: { ...process.env, DATABASE_URL: db.url, PORT: String(port), HOST: "127.0.0.1", WORKERS: "2", LOG_LEVEL: "warn", EVENT_FLUSH_MS: "10000", DATA_DIR: `/tmp/pcl-lc-${process.pid}` },
      stdout: "pipe", stderr: "pipe",
    });
    const base = `http://127.0.0.1:${port}`;
    await sleepUntil(async () => (await fetch(`${base}/readyz`).catch(() => null))?.status === 200, "service ready", 20_000);
    // Give the second worker time to come up too, then send enough requests to reach both.
    await Bun.sleep(1500);
    const N = 400;
    const answers = await Promise.all(Array.from({ length: N }, () =>
      fetch(`${base}/api/v1/access/verify`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ gate_id: "LC_1", token: card }) })
        .then((r) => r.json() as Promise<any>)));
    expect(answers.every((a) => a.allow === true)).toBe(true);
    // The flush interval is 10 s: these events are still in memory when the signal comes.
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    const { n } = (await db.sql`select count(*)::int as n from access_events where gate_id = 'LC_1'`)[0]!;
    expect(n).toBe(N);
  }, 40_000);

  test("/readyz is 503 while the feed is cut off from Postgres and 200 once it is back", async () => {
    const proxy = new TcpProxy("127.0.0.1", Number(new URL(db.url).port || 5432)).start();
    const s = await startTestService();
    await s.service.stop();
    // A service whose every connection goes through the proxy.
    const { startService } = await import("../../src/service");
    const { testConfig } = await import("../setup");
    const u = new URL(s.db.url);
    u.host = `127.0.0.1:${proxy.port}`;
    const svc = await startService(testConfig(), { databaseUrl: u.toString() });
    try {
      const ready = async () => {
        const r = await svc.app.handle(new Request("http://localhost/readyz"));
        return { status: r.status, body: (await r.json()) as any, retry: r.headers.get("retry-after") };
      };
      expect((await ready()).status).toBe(200);
      proxy.cut();
      const down = await sleepUntil(async () => {
        const r = await ready();
        return r.status === 503 && r.body.db.reachable === false ? r : null;
      }, "503 from /readyz", 10_000);
      expect(down.body).toMatchObject({ status: "not_ready", feed: { connected: false }, db: { reachable: false } });
      expect(down.retry).toBe("1");
      // Verifies keep answering from the last index.
      const v = await svc.app.handle(new Request("http://localhost/api/v1/access/verify", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ gate_id: "G", token: "t" }) }));
      expect(v.status).toBe(200);
      // Admin writes fail fast with 503 rather than hanging.
      const t0 = Date.now();
      const w = await svc.app.handle(new Request("http://localhost/api/v1/admin/zones", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${s.adminToken}` }, body: JSON.stringify({ name: "z" }) }));
      expect(w.status).toBe(503);
      expect(((await w.json()) as any).error.code).toBe("unavailable");
      expect(Date.now() - t0).toBeLessThan(6000);
      proxy.restore();
      await sleepUntil(async () => (await ready()).status === 200, "ready again", 15_000);
    } finally {
      await svc.stop();
      await s.db.drop();
      proxy.stop();
    }
  }, 40_000);
});
