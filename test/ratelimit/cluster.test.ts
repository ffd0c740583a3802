// Two service instances on one database and one Redis, as in a cluster: the exact mode holds the
// limit across both; the synced mode stays within its stated bound; Redis cut mid-run (through a
// TCP proxy in front of one instance's Redis) and restored; failed logins counted across both.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type Redis from "ioredis";
import { sleepUntil } from "../setup";
import { TcpProxy } from "../tcp-proxy";
import { deleteKeys, rawRedis, REDIS_URL, roomInWindow, seed, startCluster, tally, uniquePrefix, type Cluster, type Instance, type Seed } from "./helpers";

const prefix = uniquePrefix();
let raw: Redis;
const proxies: TcpProxy[] = [];
beforeAll(() => {
  raw = rawRedis();
});
afterAll(async () => {
  for (const p of proxies) p.stop();
  await deleteKeys(raw, prefix);
  raw.disconnect();
});

describe("exact mode, two instances, RATE_LIMIT_GATE=20/1s", () => {
  let c: Cluster;
  let s: Seed;
  beforeAll(async () => {
    c = await startCluster(2, { REDIS_URL, RATE_LIMIT_MODE: "exact", RATE_LIMIT_REDIS_TIMEOUT_MS: "1000", RATE_LIMIT_GATE: "20/1s", RATE_LIMIT_PREFIX: `${prefix}x:` });
    s = await seed(c, ["E1"], 2);
  });
  afterAll(() => c.stop());

  test("100 verifies spread over both: together exactly 20 admitted", async () => {
    await roomInWindow(1000, 600);
    const [a, b] = c.instances as [Instance, Instance];
    const rs = await Promise.all(Array.from({ length: 100 }, (_, k) => (k % 2 ? a : b).verify("E1", s.cards[k % 2]!)));
    expect(tally(rs)).toEqual({ 200: 20, 429: 80 });
  });
});

describe("synced mode, two instances, RATE_LIMIT_GATE=40/2s, RATE_LIMIT_SYNC_MS=100", () => {
  const L = 40, W = 2000, S = 100;
  let c: Cluster;
  let s: Seed;
  beforeAll(async () => {
    c = await startCluster(2, { REDIS_URL, RATE_LIMIT_MODE: "synced", RATE_LIMIT_REDIS_TIMEOUT_MS: "1000", RATE_LIMIT_GATE: `${L}/2s`, RATE_LIMIT_SYNC_MS: String(S), RATE_LIMIT_PREFIX: `${prefix}s:` });
    s = await seed(c, ["S1"], 2);
  });
  afterAll(() => c.stop());

  test("each instance at 100 verifies/s for one window: admitted within limit + (n−1) × A, and the Redis count agrees", async () => {
    // Start at a window's beginning; stop sending 100 ms before its end (all in one window).
    await Bun.sleep(W - (Date.now() % W) + 5);
    const windowStart = Date.now() - (Date.now() % W);
    const admits: number[][] = [[], []];
    let sent = 0;
    const drive = async (k: number) => {
      const inst = c.instances[k]!;
      for (let t = windowStart + 10 + k * 5; t < windowStart + W - 100; t += 10) {
        const wait = t - Date.now();
        if (wait > 0) await Bun.sleep(wait);
        const at = Date.now();
        const r = await inst.verify("S1", s.cards[k]!);
        sent++;
        expect([200, 429]).toContain(r.status);
        if (r.status === 200) admits[k]!.push(at);
      }
    };
    await Promise.all([drive(0), drive(1)]);
    const total = admits[0]!.length + admits[1]!.length;
    // A: the most one instance admitted within 2 sync intervals (plus 50 ms for the round trip
    // and timer lateness in this shared test process).
    const span = 2 * S + 50;
    const A = Math.max(...admits.map((ts) => ts.reduce((best, t0, i) => Math.max(best, ts.filter((t) => t >= t0 && t < t0 + span).length), 0)));
    console.log(`synced: ${sent} sent, ${total} admitted (limit ${L}; bound ${L} + 1 × ${A} = ${L + A})`);
    expect(total).toBeGreaterThanOrEqual(L);
    expect(total).toBeLessThanOrEqual(L + 1 * A);
    expect(total).toBeLessThanOrEqual(2 * L);
    // After the last syncs, the window's key in Redis holds the cluster-wide admitted count.
    const key = `${prefix}s:gate:S1:${windowStart / W}`;
    await sleepUntil(async () => Number(await raw.get(key)) === total, `Redis count ${total}`, 3000);
  });
});

describe("Redis cut mid-run and restored (instance A reaches Redis through a TCP proxy, B directly)", () => {
  for (const mode of ["exact", "synced"] as const) {
    test(`${mode}: verifies keep answering 200/429 from local limits; the fallback state flips and recovers; shared limits resume`, async () => {
      const proxy = new TcpProxy("127.0.0.1", 6379).start();
      proxies.push(proxy);
      const env = { RATE_LIMIT_MODE: mode, RATE_LIMIT_GATE: "10/1m", RATE_LIMIT_SYNC_MS: "20", RATE_LIMIT_PREFIX: `${prefix}cut-${mode}:` };
      const c = await startCluster(2, env, [{ REDIS_URL: `redis://127.0.0.1:${proxy.port}` }, { REDIS_URL }]);
      try {
        const s = await seed(c, ["C1", "C2"], 1);
        await roomInWindow(60_000, 10_000);
        const [a, b] = c.instances as [Instance, Instance];
        const la = a.service.deps.limits;
        expect(la.fallbackActive).toBe(false);
        for (let k = 0; k < 4; k++) expect((await a.verify("C1", s.cards[0]!)).status).toBe(200);

        proxy.cut();
        const during = [];
        for (let k = 0; k < 30; k++) during.push(await a.verify("C1", s.cards[0]!));
        await sleepUntil(() => la.fallbackActive, "fallback state");
        const t = tally(during);
        expect(Object.keys(t).sort()).toEqual(["200", "429"]);
        // Each instance holds the limit on its own meanwhile: A's earlier 4 still count.
        expect(t[200]).toBeGreaterThanOrEqual(5);
        expect(t[200]).toBeLessThanOrEqual(7);
        expect((await a.verify("C1", s.cards[0]!)).status).toBe(429);
        expect(la.fallbackDecisions).toBeGreaterThan(0);

        proxy.restore();
        await sleepUntil(() => !la.fallbackActive && la.link!.connected, "recovery", 10_000);
        // Shared again: B uses up the rest of C2's budget, then A is refused — only Redis can tell
        // A that. (synced: A learns it at its next sync after touching the key again.)
        expect((await a.verify("C2", s.cards[0]!)).status).toBe(200);
        if (mode === "synced") await la.sync();
        for (let k = 0; k < 9; k++) expect((await b.verify("C2", s.cards[0]!)).status).toBe(200);
        if (mode === "synced") {
          // sync() shares a round already in progress (the 100 ms timer's), which may have collected
          // its keys before the last verify: the second call is a round of its own.
          await b.service.deps.limits.sync();
          await b.service.deps.limits.sync();
          await a.verify("C2", s.cards[0]!); // decided on A's last view; touches the key
          await la.sync();
          await la.sync();
        }
        const fallbackBefore = la.fallbackDecisions;
        const r = await a.verify("C2", s.cards[0]!);
        expect(r.status).toBe(429);
        expect(r.body.error.details.limit).toBe("gate");
        expect(la.fallbackDecisions).toBe(fallbackBefore);
        const metrics = await (await a.service.app.handle(new Request("http://localhost/metrics"))).text();
        expect(metrics).toContain("portcullis_ratelimit_fallback 0");
      } finally {
        await c.stop();
        proxy.stop();
      }
    }, 60_000);
  }
});

describe("failed logins counted across two instances (synced mode: login limits take the exact path)", () => {
  let c: Cluster;
  let a: Instance, b: Instance;
  beforeAll(async () => {
    c = await startCluster(2, { REDIS_URL, RATE_LIMIT_MODE: "synced", RATE_LIMIT_REDIS_TIMEOUT_MS: "1000", RATE_LIMIT_LOGIN: "3/5m", TRUST_PROXY: "1", RATE_LIMIT_PREFIX: `${prefix}login:` });
    [a, b] = c.instances as [Instance, Instance];
    for (const u of ["carol", "dave", "erin"]) {
      expect((await a.call("POST", "/api/v1/admin/users", { body: { username: u, password: `${u}-password-1` } })).status).toBe(201);
    }
    await roomInWindow(300_000, 10_000); // the tests below run within one 5-minute window
  }, 60_000);
  afterAll(() => c.stop());

  let n = 0;
  const login = (i: Instance, username: string, password: string, from = `10.1.0.${++n}`) =>
    i.call("POST", "/api/v1/auth/token", { token: null, body: { username, password }, headers: { "x-forwarded-for": from } });

  test("three failures for one username, on either instance, lock it on both", async () => {
    expect((await login(a, "carol", "wrong-1")).status).toBe(401);
    expect((await login(b, "Carol", "wrong-2")).status).toBe(401);
    expect((await login(a, "CAROL", "wrong-3")).status).toBe(401);
    const r = await login(b, "carol", "carol-password-1");
    expect(r.status).toBe(429);
    expect(r.body.error.code).toBe("rate_limited");
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  test("three failures from one address, across usernames and instances, lock the address", async () => {
    const from = "192.0.2.99";
    expect((await login(a, "nobody-1", "x-guess-1", from)).status).toBe(401);
    expect((await login(b, "nobody-2", "x-guess-2", from)).status).toBe(401);
    expect((await login(a, "nobody-3", "x-guess-3", from)).status).toBe(401);
    expect((await login(b, "dave", "dave-password-1", from)).status).toBe(429);
    expect((await login(b, "dave", "dave-password-1")).status).toBe(201);
  });

  test("concurrent guesses on both instances: exactly 3 are checked, the rest are 429", async () => {
    const rs = await Promise.all(Array.from({ length: 12 }, (_, k) => login(k % 2 ? a : b, "erin", `guess-${k}-xxxx`)));
    expect(tally(rs)).toEqual({ 401: 3, 429: 9 });
  });
});
