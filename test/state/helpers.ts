// Helpers of the rules-with-memory tests: a site (zones, gates, people with cards) made through the
// admin API of a two-instance cluster, verifies through either instance, and a redis-server of
// the test's own (on a free port) that a test may kill and restart — never the shared one.
import Redis from "ioredis";
import { type Cluster, type Instance, deleteKeys, rawRedis, REDIS_URL, startCluster, uniquePrefix } from "../ratelimit/helpers";
import { sleepUntil } from "../setup";

export { REDIS_URL, uniquePrefix };

export interface Person {
  id: string;
  username: string;
  card: string;
  cardId: string;
}

export interface Site {
  cluster: Cluster;
  a: Instance;
  b: Instance;
  prefix: string;
  group: string;
  /** Admin call through instance A that throws unless the status is 2xx; waits for both instances. */
  admin(method: string, path: string, body?: unknown): Promise<any>;
  person(name: string, extra?: Record<string, unknown>): Promise<Person>;
  verify(node: Instance, gateId: string, who: Person | string, pin?: string): Promise<any>;
  /** The access events of a gate, oldest first, once `n` are written. */
  events(gateId: string, n: number): Promise<any[]>;
  stop(): Promise<void>;
}

/** Two instances on one database; every person is in one group granted the whole site. */
export async function startSite(env: Record<string, string> = {}): Promise<Site> {
  const prefix = uniquePrefix();
  const cluster = await startCluster(2, { REDIS_URL, STATE_PREFIX: prefix, ...env });
  const [a, b] = cluster.instances as [Instance, Instance];
  let revision = 0;
  const admin = async (method: string, path: string, body?: unknown) => {
    const r = await a.call(method, path, body === undefined ? {} : { body });
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    if (typeof r.body?.revision === "number" && r.body.revision > revision) revision = r.body.revision;
    for (const i of cluster.instances) await i.service.deps.feed.waitFor(revision, 5000);
    return r.body;
  };
  const group = (await admin("POST", "/api/v1/admin/groups", { name: "everyone" })).id as string;
  const person = async (name: string, extra: Record<string, unknown> = {}): Promise<Person> => {
    const u = await admin("POST", "/api/v1/admin/users", { username: name });
    await admin("POST", `/api/v1/admin/groups/${group}/members`, { user_id: u.id });
    const c = await admin("POST", "/api/v1/admin/credentials", { user_id: u.id, kind: "card", ...extra });
    return { id: u.id, username: name, card: c.secret, cardId: c.id };
  };
  const verify = async (node: Instance, gateId: string, who: Person | string, pin?: string) => {
    const token = typeof who === "string" ? who : who.card;
    const r = await node.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: gateId, token, ...(pin !== undefined ? { pin } : {}) } });
    if (r.status !== 200) throw new Error(`verify: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const events = async (gateId: string, n: number) =>
    sleepUntil(async () => {
      const rows = await cluster.db.sql`select * from access_events where gate_id = ${gateId} order by at, id`;
      return rows.length >= n ? rows : null;
    }, `${n} events at ${gateId}`);
  return {
    cluster, a, b, prefix, group, admin, person, verify, events,
    stop: async () => {
      await cluster.stop();
      const r = rawRedis();
      await deleteKeys(r, prefix).catch(() => {});
      r.disconnect();
    },
  };
}

/** A zone granted to the site's group, with the given settings. */
export async function zone(site: Site, name: string, settings: Record<string, unknown> = {}): Promise<string> {
  const z = await site.admin("POST", "/api/v1/admin/zones", { name, ...settings });
  await site.admin("POST", "/api/v1/admin/grants", { subject: { group_id: site.group }, target: { zone_id: z.id } });
  return z.id;
}

export async function gate(site: Site, id: string, zoneId: string, settings: Record<string, unknown> = {}): Promise<string> {
  await site.admin("POST", "/api/v1/admin/gates", { id, name: id, zone_id: zoneId, ...settings });
  return id;
}

/** A redis-server of this test's own, on a free port, that the test may kill and start again (empty). */
export class OwnRedis {
  private proc: ReturnType<typeof Bun.spawn> | null = null;
  readonly port: number;

  constructor() {
    const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    this.port = probe.port;
    probe.stop(true);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.proc = Bun.spawn(["redis-server", "--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdout: "ignore", stderr: "ignore" });
    const c = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on("error", () => {}); // refused until the server listens
    await sleepUntil(async () => {
      try {
        await c.connect();
        return (await c.ping()) === "PONG";
      } catch {
        return false;
      }
    }, "own redis-server to answer");
    c.disconnect();
  }

  /** SIGKILL: the state is gone with it (no persistence). */
  async kill(): Promise<void> {
    this.proc?.kill(9);
    await this.proc?.exited;
    this.proc = null;
  }
}
