// Honest failure of the rules with memory: Redis killed mid-run (a redis-server of this test's
// own), each zone's state_failure deciding meanwhile, presence rebuilt from the access events when
// Redis comes back empty; and, without REDIS_URL, one state among several instances.
import { afterAll, describe, expect, test } from "bun:test";
import { startCluster, type Instance } from "../ratelimit/helpers";
import { sleepUntil } from "../setup";
import { gate, OwnRedis, type Site, startSite, zone } from "./helpers";

describe("Redis killed mid-run", () => {
  const redis = new OwnRedis();
  let site: Site;
  afterAll(async () => {
    await site?.stop();
    await redis.kill();
  });

  test("open zones decide without the rules (flagged), closed zones answer state_unavailable, plain gates are untouched; restarted empty, presence is rebuilt from the events", async () => {
    await redis.start();
    site = await startSite({ REDIS_URL: redis.url, STATE_REDIS_TIMEOUT_MS: "50" });
    const open = await zone(site, "open-zone", { anti_passback: "hard", state_failure: "open" });
    const closed = await zone(site, "closed-zone", { anti_passback: "hard", state_failure: "closed" });
    const plain = await zone(site, "plain-zone", {});
    await gate(site, "OPEN_IN", open, { direction: "in" });
    await gate(site, "CLOSED_IN", closed, { direction: "in" });
    await gate(site, "PLAIN", plain, {});
    const ann = await site.person("ann"), bob = await site.person("bob");
    expect((await site.verify(site.a, "OPEN_IN", ann)).allow).toBe(true);
    expect((await site.verify(site.a, "CLOSED_IN", ann)).allow).toBe(true);
    expect((await site.verify(site.b, "CLOSED_IN", bob)).allow).toBe(true);
    await site.events("CLOSED_IN", 2); // written before the outage

    await redis.kill();
    for (const node of [site.a, site.b]) {
      const t0 = performance.now();
      // A second entry: anti-passback would refuse it, but the state is unreachable.
      expect(await site.verify(node, "OPEN_IN", ann)).toMatchObject({ allow: true, reason: "granted", flags: ["state_failure_open"] });
      expect(await site.verify(node, "CLOSED_IN", bob)).toMatchObject({ allow: false, reason: "state_unavailable", user_id: bob.id });
      expect((await site.verify(node, "PLAIN", bob)).allow).toBe(true);
      // Bounded by the command timeout and the cool-down after it, never by Redis coming back.
      expect(performance.now() - t0).toBeLessThan(2000);
    }
    const muster = await site.a.call("GET", `/api/v1/admin/zones/${closed}/presence`);
    expect(muster.status).toBe(503);
    expect(muster.body.error.code).toBe("unavailable");
    const flagged = await site.events("OPEN_IN", 3);
    expect(flagged.slice(1).map((e) => [e.flags, e.direction])).toEqual([[["state_failure_open"], null], [["state_failure_open"], null]]);

    // Back, empty: both instances reconnect, one rebuilds presence from the events.
    await redis.start();
    const rebuilt = await sleepUntil(async () => {
      const r = await site.a.call("GET", `/api/v1/admin/zones/${closed}/presence`);
      return r.status === 200 && r.body.count === 2 ? r.body : null;
    }, "presence rebuilt after the restart", 10_000);
    expect(rebuilt.items.map((i: any) => [i.username, i.gate_id])).toEqual([["ann", "CLOSED_IN"], ["bob", "CLOSED_IN"]]);
    // And the rules hold again, on either instance.
    await sleepUntil(async () => (await site.verify(site.b, "CLOSED_IN", ann)).reason === "anti_passback", "anti-passback back on B", 5000);
    expect((await site.verify(site.a, "OPEN_IN", ann)).reason).toBe("anti_passback");
  }, 30_000);
});

describe("without REDIS_URL", () => {
  test("the state lives in the one process holding the lock; a second instance decides by state_failure, and takes over when the first stops", async () => {
    const c = await startCluster(2, {});
    try {
      const [a, b] = c.instances as [Instance, Instance];
      const admin = async (path: string, body: unknown) => {
        const r = await a.call("POST", path, { body });
        if (r.status >= 300) throw new Error(`${path}: ${JSON.stringify(r.body)}`);
        for (const i of c.instances) await i.service.deps.feed.waitFor(r.body.revision, 5000);
        return r.body;
      };
      const closed = await admin("/api/v1/admin/zones", { name: "closed", anti_passback: "hard" });
      const open = await admin("/api/v1/admin/zones", { name: "open", anti_passback: "hard", state_failure: "open" });
      const u = await admin("/api/v1/admin/users", { username: "solo" });
      const card = (await admin("/api/v1/admin/credentials", { user_id: u.id, kind: "card" })).secret;
      for (const z of [closed, open]) await admin("/api/v1/admin/grants", { subject: { user_id: u.id }, target: { zone_id: z.id } });
      await admin("/api/v1/admin/gates", { id: "C_IN", name: "C_IN", zone_id: closed.id, direction: "in" });
      await admin("/api/v1/admin/gates", { id: "O_IN", name: "O_IN", zone_id: open.id, direction: "in" });
      // Exactly one of the two keeps the state (whichever took the lock first).
      await sleepUntil(() => c.instances.some((i) => i.service.deps.state.store.kind === "local"), "one instance to keep the state");
      const holder = c.instances.find((i) => i.service.deps.state.store.kind === "local")!;
      const other = c.instances.find((i) => i !== holder)!;
      expect(other.service.deps.state.store.kind).toBe("none");

      expect((await holder.verify("C_IN", card)).body.reason).toBe("granted");
      expect((await holder.verify("C_IN", card)).body.reason).toBe("anti_passback");
      // The other keeps no state of its own: it refuses (closed) or decides without the rule, flagged (open).
      expect((await other.verify("C_IN", card)).body).toMatchObject({ allow: false, reason: "state_unavailable" });
      expect((await other.verify("O_IN", card)).body).toMatchObject({ allow: true, flags: ["state_failure_open"] });
      expect((await other.call("GET", `/api/v1/admin/zones/${closed.id}/presence`)).status).toBe(503);
      await sleepUntil(async () => (await c.db.sql`select 1 from access_events where gate_id = 'C_IN' and direction = 'in'`).length, "the entry event");

      // The holder goes away: the other claims the lock and rebuilds presence from the events.
      await holder.stop();
      c.instances.splice(c.instances.indexOf(holder), 1);
      await sleepUntil(() => other.service.deps.state.store.kind === "local", "the other to take the state over", 10_000);
      expect((await other.verify("C_IN", card)).body.reason).toBe("anti_passback");
      const m = await other.call("GET", `/api/v1/admin/zones/${closed.id}/presence`);
      expect(m.body.items.map((i: any) => i.user_id)).toEqual([u.id]);
    } finally {
      await c.stop();
    }
  }, 30_000);
});

describe("without REDIS_URL, WORKERS=2", () => {
  test("both processes of a host decide from the primary's one state (over IPC): one entry passes, every other is anti_passback", async () => {
    const { createTestDb, freePort } = await import("../setup");
    const { hashSecret, newSecret } = await import("../../src/tokens");
    const db = await createTestDb();
    const card = newSecret();
    await db.sql.begin(async (tx) => {
      const [u] = await tx`insert into users (username) values ('w2') returning id`;
      const [z] = await tx`insert into zones (name, anti_passback) values ('w2-zone', 'hard') returning id`;
      await tx`insert into gates (id, name, zone_id, direction) values ('W2_IN', 'W2_IN', ${z!.id}, 'in')`;
      await tx`insert into grants (subject_user_id, target_zone_id) values (${u!.id}, ${z!.id})`;
      await tx`insert into credentials (user_id, kind, secret_hash) values (${u!.id}, 'card', ${hashSecret(card)})`;
    });
    const port = await freePort();
    const env: Record<string, string | undefined> = { ...process.env, DATABASE_URL: db.url, PORT: String(port), HOST: "127.0.0.1", WORKERS: "2", LOG_LEVEL: "warn", DATA_DIR: `/tmp/pcl-w2-${process.pid}` };
    delete env.REDIS_URL;
    const proc = Bun.spawn(["bun", "src/main.ts"], { env, stdout: "ignore", stderr: "ignore" });
    try {
      const base = `http://127.0.0.1:${port}`;
      await sleepUntil(async () => (await fetch(`${base}/readyz`).catch(() => null))?.status === 200, "service ready", 20_000);
      await Bun.sleep(1500); // the second worker too
      const verify = () => fetch(`${base}/api/v1/access/verify`, { method: "POST", headers: { "content-type": "application/json" }, keepalive: false, body: JSON.stringify({ gate_id: "W2_IN", token: card }) }).then((r) => r.json() as Promise<any>);
      const answers = [];
      // Sequential, on fresh connections, so reusePort spreads them over both processes.
      for (let i = 0; i < 40; i++) answers.push(await verify());
      const reasons: Record<string, number> = {};
      for (const a of answers) reasons[a.reason] = (reasons[a.reason] ?? 0) + 1;
      expect(reasons).toEqual({ granted: 1, anti_passback: 39 });
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
      await db.drop();
    }
  }, 40_000);
});
