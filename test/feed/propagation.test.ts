// Acknowledged writes against real processes: `bun src/main.ts` with WORKERS=2 plus a second
// instance on another port, all on one database. Every process is addressed on its own: a
// keep-alive connection stays with the worker that accepted it, and /readyz names that worker's
// node, so each round reaches every process for certain rather than by chance.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { hashSecret, newSecret } from "../../src/tokens";
import { createTestDb, sleepUntil, type TestDb } from "../setup";
import { TcpProxy } from "../tcp-proxy";
import { connectionPerNode, type HttpConn } from "./http-conn";

const NODE_TIMEOUT_MS = 3000;

async function freePort(): Promise<number> {
  const s = Bun.serve({ port: 0, fetch: () => new Response() });
  const p = s.port!;
  s.stop(true);
  return p;
}

interface Instance {
  port: number;
  proc: ReturnType<typeof Bun.spawn>;
  logs: string[];
}

let db: TestDb;
let admin: string;
const instances: Instance[] = [];

async function spawnInstance(workers: number, databaseUrl = db.url): Promise<Instance> {
  const port = await freePort();
  const proc = Bun.spawn(["bun", "src/main.ts"], {
    env: {
      ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), HOST: "127.0.0.1", WORKERS: String(workers),
      LOG_LEVEL: "warn", NODE_TIMEOUT: `${NODE_TIMEOUT_MS / 1000}s`, PROPAGATION_TIMEOUT_MS: "2000", EVENT_FLUSH_MS: "20",
      DATA_DIR: `/tmp/pcl-prop-${process.pid}-${port}`,
    },
    stdout: "pipe", stderr: "pipe",
  });
  const logs: string[] = [];
  // Drain both pipes (a full pipe would block the child) and keep the lines for assertions.
  for (const stream of [proc.stdout, proc.stderr] as ReadableStream<Uint8Array>[]) {
    void (async () => {
      const dec = new TextDecoder();
      for await (const chunk of stream) logs.push(dec.decode(chunk));
    })();
  }
  const inst = { port, proc, logs };
  instances.push(inst);
  await sleepUntil(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200, `instance on ${port} ready`, 20_000);
  return inst;
}

async function api(port: number, method: string, path: string, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/admin${path}`, {
    method, headers: { authorization: `Bearer ${admin}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, propagation: res.headers.get("x-propagation") };
}

const liveNodes = async (port: number) => (await api(port, "GET", "/nodes")).body.items.filter((n: any) => n.state === "live");

let a: Instance; // WORKERS=2
let b: Instance; // a second instance, another port
let conns: Map<string, HttpConn>; // one connection per process

beforeAll(async () => {
  db = await createTestDb();
  admin = newSecret();
  const [u] = await db.sql`insert into users (username) values ('prop-admin') returning id`;
  await db.sql`insert into credentials (user_id, kind, scopes, secret_hash) values (${u!.id}, 'api', ${["admin"]}, ${hashSecret(admin)})`;
  await db.sql`insert into gates (id, name) values ('PR_1', 'door'), ('PR_FREE', 'free door')`;
  await db.sql`insert into gates (id, name, max_staleness_ms) values ('PR_FRESH', 'fresh door', 2000)`;
  [a, b] = await Promise.all([spawnInstance(2), spawnInstance(1)]);
  await sleepUntil(async () => (await liveNodes(a.port)).length === 3, "three live nodes", 20_000);
  conns = new Map([...(await connectionPerNode(a.port, 2)), ...(await connectionPerNode(b.port, 1))]);
}, 60_000);

afterAll(async () => {
  for (const c of conns?.values() ?? []) c.close();
  // SIGTERM: a primary stops its workers. One that has not exited after 15 s (a statement the
  // driver never settled after the backends were killed) is SIGKILLed with its workers.
  for (const i of instances) i.proc.kill("SIGTERM");
  await Promise.all(instances.map(async (i) => {
    const exited = await Promise.race([i.proc.exited.then(() => true), Bun.sleep(15_000).then(() => false)]);
    if (exited) return;
    console.warn(`instance on ${i.port} did not stop within 15 s; its last log lines:\n${i.logs.join("").slice(-2000)}`);
    const children = Bun.spawnSync(["pgrep", "-P", String(i.proc.pid)]).stdout.toString().split("\n").filter(Boolean).map(Number);
    for (const pid of [i.proc.pid, ...children]) try { process.kill(pid, "SIGKILL"); } catch {}
    await i.proc.exited;
  }));
  await db.drop();
}, 40_000);

const verifyOn = (c: HttpConn, gate: string, token: string) => c.request("POST", "/api/v1/access/verify", { gate_id: gate, token });

describe("acknowledged writes", () => {
  test("WORKERS=2 plus a second instance: 200 rounds of issue, grant, pass everywhere, revoke, then at once on every process: 0 allowed", async () => {
    expect(conns.size).toBe(3);
    let allowedAfterRevoke = 0;
    let refusedBeforeRevoke = 0;
    const partial: string[] = [];
    for (let round = 0; round < 200; round++) {
      const port = round % 2 ? a.port : b.port; // writes alternate between the instances
      const user = await api(port, "POST", "/users", { username: `prop-${round}` });
      const card = await api(port, "POST", "/credentials", { user_id: user.body.id, kind: "card" });
      const grant = await api(port, "POST", "/grants", { subject: { user_id: user.body.id }, target: { gate_id: "PR_1" } });
      for (const w of [user, card, grant]) if (w.propagation !== "complete") partial.push(JSON.stringify(w.body.propagation));
      // No min_revision anywhere: the answer of the write is the promise.
      for (const c of conns.values()) if (!(await verifyOn(c, "PR_1", card.body.secret)).body.allow) refusedBeforeRevoke++;
      const revoke = await api(port, "POST", `/credentials/${card.body.id}/revoke`);
      expect(revoke.status).toBe(200);
      expect(revoke.body.propagation).toEqual({ nodes: 3, applied: 3, pending: [] });
      const after = await Promise.all([...conns.values()].map((c) => verifyOn(c, "PR_1", card.body.secret)));
      for (const v of after) {
        if (v.body.allow) allowedAfterRevoke++;
        else expect(v.body.reason).toBe("revoked_token");
      }
    }
    expect({ allowedAfterRevoke, refusedBeforeRevoke, partial }).toEqual({ allowedAfterRevoke: 0, refusedBeforeRevoke: 0, partial: [] });
  }, 120_000);

  test("every backend of the database killed: the next 20 writes all answer 2xx, none 503", async () => {
    // Warm every pool, then terminate every backend of this database (only this one).
    await Promise.all(Array.from({ length: 10 }, (_, i) => api(i % 2 ? a.port : b.port, "GET", "/zones")));
    const killed = await db.sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${db.name} and pid <> pg_backend_pid()`;
    expect(killed.length).toBeGreaterThan(6);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => api(i % 2 ? a.port : b.port, "POST", "/zones", { name: `after-kill-${i}` })));
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(201));
    const [{ n }] = (await db.sql`select count(*)::int as n from zones where name like 'after-kill-%'`) as any;
    expect(n).toBe(20);
  }, 30_000);

  test("a node SIGKILLed: writes answer partial naming it until it drops out after NODE_TIMEOUT; it shows as gone", async () => {
    const bNode = [...conns.keys()][2]!; // the map holds a's two workers first, then b
    conns.get(bNode!)!.close();
    conns.delete(bNode!);
    b.proc.kill("SIGKILL");
    await b.proc.exited;
    const first = await api(a.port, "POST", "/zones", { name: "after-sigkill" });
    expect(first.status).toBe(201);
    expect(first.propagation).toBe("partial");
    expect(first.body.propagation).toEqual({ nodes: 3, applied: 2, pending: [bNode] });
    // Once NODE_TIMEOUT has passed the node is gone, and writes are complete again over the other two.
    const complete = await sleepUntil(async () => {
      const w = await api(a.port, "POST", "/zones", { name: `after-gone-${Date.now()}` });
      if (w.propagation === "partial") expect(w.body.propagation.pending).toEqual([bNode]);
      return w.propagation === "complete" ? w : null;
    }, "a complete write", 15_000);
    expect(complete.body.propagation).toEqual({ nodes: 2, applied: 2, pending: [] });
    const nodes = (await api(a.port, "GET", "/nodes")).body.items;
    expect(nodes.find((n: any) => n.id === bNode)).toMatchObject({ state: "gone" });
    await sleepUntil(() => a.logs.join("").includes(`"node gone"`) && a.logs.join("").includes(bNode!), "a 'node gone' log line", 5000);
    await sleepUntil(async () => (await (await fetch(`http://127.0.0.1:${a.port}/metrics`)).text()).includes('portcullis_nodes{state="gone"} 1'), "the gone node in the metrics", 5000);
  }, 40_000);

  test("a node cut off from Postgres: writes say partial, a max_staleness_ms gate there refuses with stale_index once the bound passed, and recovers", async () => {
    const proxy = new TcpProxy("127.0.0.1", Number(new URL(db.url).port || 5432)).start();
    const u = new URL(db.url);
    u.host = `127.0.0.1:${proxy.port}`;
    const c = await spawnInstance(1, u.toString());
    try {
      const cNode = (await (await fetch(`http://127.0.0.1:${c.port}/readyz`)).json() as any).node as string;
      const user = await api(a.port, "POST", "/users", { username: "prop-fresh" });
      const card = await api(a.port, "POST", "/credentials", { user_id: user.body.id, kind: "card" });
      for (const gate of ["PR_FRESH", "PR_FREE"]) await api(a.port, "POST", "/grants", { subject: { user_id: user.body.id }, target: { gate_id: gate } });
      const verifyC = async (gate: string) => (await fetch(`http://127.0.0.1:${c.port}/api/v1/access/verify`, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ gate_id: gate, token: card.body.secret }),
      }).then((r) => r.json())) as any;
      expect((await verifyC("PR_FRESH")).allow).toBe(true);

      proxy.cut();
      const t0 = Date.now();
      const w = await api(a.port, "POST", "/zones", { name: "during-cut" });
      expect(w.status).toBe(201);
      expect(w.propagation).toBe("partial");
      expect(w.body.propagation.pending).toEqual([cNode]);
      const stale = await sleepUntil(async () => {
        const v = await verifyC("PR_FRESH");
        return v.reason === "stale_index" ? v : null;
      }, "stale_index", 10_000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1000); // not before the data could be 2 s old
      expect(stale).toMatchObject({ allow: false, reason: "stale_index", gate_id: "PR_FRESH" });
      // A gate without a bound keeps deciding from the last index.
      expect(await verifyC("PR_FREE")).toMatchObject({ allow: true, reason: "granted" });

      proxy.restore();
      await sleepUntil(async () => (await verifyC("PR_FRESH")).allow === true, "PR_FRESH allowed again", 15_000);
      await sleepUntil(async () => {
        const x = await api(a.port, "POST", "/zones", { name: `after-cut-${Date.now()}` });
        return x.propagation === "complete" && x.body.propagation.nodes === 3;
      }, "writes complete with the node back", 15_000);
      // The access events record the decisions made on stale data.
      await sleepUntil(async () => ((await db.sql`select count(*)::int as n from access_events where gate_id = 'PR_FRESH' and reason = 'stale_index'`)[0] as any).n >= 1, "stale_index events", 10_000);
    } finally {
      c.proc.kill("SIGTERM"); // while it can still reach Postgres to flush and deregister
      await c.proc.exited;
      proxy.stop();
    }
  }, 60_000);
});
