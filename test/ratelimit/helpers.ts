// Helpers of the rate-limit tests: a Redis key prefix per test run (removed afterwards), services
// started on one shared database (two "instances" of a cluster), a seeded gate and credentials,
// and a wait for the start of a fixed window, so a burst never straddles two windows.
import type { Socket, TCPSocketListener } from "bun";
import Redis from "ioredis";
import { caller, createTestDb, testConfig, type Res, type TestDb } from "../setup";
import { startService, type Service } from "../../src/service";
import { hashSecret, newSecret } from "../../src/tokens";

export const REDIS_URL = process.env.TEST_REDIS_URL || "redis://127.0.0.1:6379";

/** A key prefix no other test run uses. */
export function uniquePrefix(): string {
  return `pcl:test:${process.pid}:${Math.random().toString(36).slice(2, 8)}:`;
}

/** A plain client (no prefix) for looking at and removing a run's keys. */
export function rawRedis(): Redis {
  return new Redis(REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 1 });
}

export async function keysWithPrefix(redis: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== "0");
  return out;
}

export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  const keys = await keysWithPrefix(redis, prefix);
  if (keys.length) await redis.del(...keys);
}

export interface Instance {
  service: Service;
  call(method: string, path: string, init?: { body?: unknown; token?: string | null; headers?: Record<string, string> }): Promise<Res>;
  verify(gateId: string, token: string): Promise<Res>;
  stop(): Promise<void>;
}

export interface Cluster {
  db: TestDb;
  adminToken: string;
  instances: Instance[];
  /** Start one more instance on the same database (e.g. with another REDIS_URL). */
  add(env: Record<string, string>): Promise<Instance>;
  stop(): Promise<void>;
}

function instance(service: Service, adminToken: string): Instance {
  const call = caller(service, adminToken, null);
  return {
    service,
    call,
    verify: (gateId, token) => call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: gateId, token } }),
    stop: () => service.stop(),
  };
}

/** `n` instances of the service on one fresh database, each with `env` (plus its own overrides). */
export async function startCluster(n: number, env: Record<string, string>, each: Array<Record<string, string>> = []): Promise<Cluster> {
  const db = await createTestDb();
  const adminToken = newSecret();
  await db.sql.begin(async (tx) => {
    const [admin] = await tx`insert into users (username) values ('test-admin') returning id`;
    await tx`insert into credentials (user_id, kind, scopes, secret_hash) values (${admin!.id}, 'api', ${["admin"]}, ${hashSecret(adminToken)})`;
  });
  const instances: Instance[] = [];
  const add = async (own: Record<string, string>) => {
    const service = await startService(testConfig({ ...env, ...own }), { databaseUrl: db.url, maintenance: false });
    const i = instance(service, adminToken);
    instances.push(i);
    return i;
  };
  for (let k = 0; k < n; k++) await add(each[k] ?? {});
  return {
    db, adminToken, instances, add,
    stop: async () => {
      await Promise.all(instances.map((i) => i.stop()));
      await db.drop();
    },
  };
}

export interface Seed {
  userId: string;
  /** Card secrets of the user, each its own credential. */
  cards: string[];
  cardIds: string[];
  revision: number;
}

/** Gates `gates` (all granted to one user) and `cards` credentials; waits until every instance has them. */
export async function seed(c: Cluster, gates: string[], cards = 1): Promise<Seed> {
  const a = c.instances[0]!;
  for (const id of gates) {
    const g = await a.call("POST", "/api/v1/admin/gates", { body: { id, name: id } });
    if (g.status !== 201) throw new Error(`gate ${id}: ${g.status} ${JSON.stringify(g.body)}`);
  }
  const user = await a.call("POST", "/api/v1/admin/users", { body: { username: `holder-${Math.random().toString(36).slice(2, 8)}`, password: "holder-password-1" } });
  const userId = user.body.id as string;
  for (const id of gates) await a.call("POST", "/api/v1/admin/grants", { body: { subject: { user_id: userId }, target: { gate_id: id } } });
  const secrets: string[] = [], ids: string[] = [];
  let revision = 0;
  for (let k = 0; k < cards; k++) {
    const cred = await a.call("POST", "/api/v1/admin/credentials", { body: { user_id: userId, kind: "card" } });
    secrets.push(cred.body.secret);
    ids.push(cred.body.id);
    revision = cred.body.revision;
  }
  for (const i of c.instances) {
    if (!(await i.service.deps.feed.waitFor(revision, 5000))) throw new Error("an instance did not reach the seeded revision");
  }
  return { userId, cards: secrets, cardIds: ids, revision };
}

/** Resolves at the start of a fixed window when less than `needMs` of the current one is left. */
export async function roomInWindow(windowMs: number, needMs: number): Promise<void> {
  const left = windowMs - (Date.now() % windowMs);
  if (left < needMs) await Bun.sleep(left + 5);
}

/**
 * A TCP proxy that can stall: while stalled it holds the replies from upstream (the connection
 * stays open), as a Redis that is slow rather than gone.
 */
export class StallProxy {
  private server: TCPSocketListener<{ up: Socket<undefined> | null; pending: Uint8Array[] }> | null = null;
  private stalled = false;
  private held: Array<() => void> = [];
  port = 0;

  constructor(private readonly targetPort: number) {}

  start(): this {
    const self = this;
    const server = Bun.listen<{ up: Socket<undefined> | null; pending: Uint8Array[] }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(client) {
          client.data = { up: null, pending: [] };
          void Bun.connect({
            hostname: "127.0.0.1",
            port: self.targetPort,
            socket: {
              open(up) {
                client.data.up = up;
                for (const c of client.data.pending) up.write(c);
                client.data.pending = [];
              },
              data(_up, chunk) {
                const copy = new Uint8Array(chunk);
                if (self.stalled) self.held.push(() => client.write(copy));
                else client.write(copy);
              },
              close() {
                client.end();
              },
              error() {
                client.end();
              },
            },
          });
        },
        data(client, chunk) {
          if (client.data.up) client.data.up.write(chunk);
          else client.data.pending.push(new Uint8Array(chunk));
        },
        close(client) {
          client.data.up?.end();
        },
        error() {},
      },
    });
    this.server = server;
    this.port = server.port;
    return this;
  }

  stall(): void {
    this.stalled = true;
  }

  resume(): void {
    this.stalled = false;
    for (const f of this.held.splice(0)) f();
  }

  stop(): void {
    this.server?.stop(true);
  }
}

/** Status codes tallied. */
export function tally(rs: Res[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const r of rs) out[r.status] = (out[r.status] ?? 0) + 1;
  return out;
}
