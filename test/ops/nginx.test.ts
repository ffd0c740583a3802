// A real load balancer: Debian's nginx (.ci/run installs it), run by this test with the very file
// an operator copies, docs/nginx.conf, in front of two Portcullis processes started as an operator
// would. Load balancing, auth_request forward-auth, /readyz as a health signal, and one instance
// stopped (SIGTERM) under load with not one verify failing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { hashSecret, newSecret } from "../../src/tokens";
import { createTestDb, freePort, seedGrantedCard, sleepUntil, type TestDb } from "../setup";
import { TcpProxy } from "../tcp-proxy";

const NGINX_CONF = join(import.meta.dir, "../../docs/nginx.conf");

function nginxBinary(): string {
  const p = Bun.which("nginx") ?? Bun.which("nginx", { PATH: "/usr/sbin:/usr/local/sbin" });
  if (!p) throw new Error("nginx not found: apt-get install -y nginx (.ci/run installs it)");
  return p;
}

interface Instance {
  proc: Subprocess;
  port: number;
  base: string;
}

let db: TestDb;
let proxyA: TcpProxy; // each instance reaches Postgres through its own proxy, so the test can cut it off
let proxyB: TcpProxy;
let a: Instance;
let b: Instance;
let app: ReturnType<typeof Bun.serve>;
let nginx: Subprocess;
let lb: string;
let dir: string;
let card: string;
let denied: string;

async function startInstance(databaseUrl: string, name: string): Promise<Instance> {
  const port = await freePort();
  const proc = Bun.spawn(["bun", "src/main.ts"], {
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), HOST: "127.0.0.1", WORKERS: "1", LOG_LEVEL: "error", DATA_DIR: join(dir, name) },
    stdout: "ignore", stderr: "inherit",
  });
  const base = `http://127.0.0.1:${port}`;
  await sleepUntil(async () => (await fetch(`${base}/readyz`).catch(() => null))?.status === 200, `instance ${name} ready`, 30_000);
  return { proc, port, base };
}

/** The process that answered, from the boot id that prefixes every X-Request-Id it makes. */
const answeredBy = (r: Response) => (r.headers.get("x-request-id") ?? "").split("-")[0]!;

beforeAll(async () => {
  db = await createTestDb();
  dir = mkdtempSync(join(tmpdir(), "pcl-nginx-"));
  chmodSync(dir, 0o755);
  card = await seedGrantedCard(db.sql, "through-nginx", "LB_1");
  const [u] = await db.sql`select id from users where username = 'through-nginx'`;
  await db.sql`insert into gates (id, name) values ('APP_GATE', 'the guarded app')`;
  await db.sql`insert into grants (subject_user_id, target_gate_id) values (${u!.id}, 'APP_GATE')`;
  denied = newSecret();
  const [v] = await db.sql`insert into users (username) values ('no-grant') returning id`;
  await db.sql`insert into credentials (user_id, kind, secret_hash) values (${v!.id}, 'card', ${hashSecret(denied)})`;

  const via = (proxy: TcpProxy) => {
    const u = new URL(db.url);
    u.host = `127.0.0.1:${proxy.port}`;
    return u.toString();
  };
  proxyA = new TcpProxy("127.0.0.1", Number(new URL(db.url).port || 5432)).start();
  proxyB = new TcpProxy("127.0.0.1", Number(new URL(db.url).port || 5432)).start();
  [a, b] = await Promise.all([startInstance(via(proxyA), "a"), startInstance(via(proxyB), "b")]);

  // The guarded application: echoes who Portcullis said the caller is.
  app = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => Response.json({ path: new URL(req.url).pathname, user: req.headers.get("x-portcullis-user") }) });

  const listen = await freePort();
  const conf = readFileSync(NGINX_CONF, "utf8")
    .replaceAll("{{LISTEN}}", `127.0.0.1:${listen}`)
    .replaceAll("{{PORTCULLIS_A}}", `127.0.0.1:${a.port}`)
    .replaceAll("{{PORTCULLIS_B}}", `127.0.0.1:${b.port}`)
    .replaceAll("{{APP}}", `127.0.0.1:${app.port}`);
  expect(conf.split("\n").filter((l) => !l.trimStart().startsWith("#")).join("\n")).not.toContain("{{"); // every placeholder filled
  mkdirSync(join(dir, "logs"));
  mkdirSync(join(dir, "tmp"));
  writeFileSync(join(dir, "nginx.conf"), conf);
  // As root nginx would hand its workers to `nobody`, who cannot enter this test's directory.
  const globals = process.getuid?.() === 0 ? "daemon off; user root;" : "daemon off;";
  nginx = Bun.spawn([nginxBinary(), "-p", dir, "-e", "logs/error.log", "-c", join(dir, "nginx.conf"), "-g", globals], { stdout: "inherit", stderr: "inherit" });
  lb = `http://127.0.0.1:${listen}`;
  await sleepUntil(async () => (await fetch(`${lb}/healthz`).catch(() => null))?.status === 200, "nginx answering", 10_000);
}, 60_000);

afterAll(async () => {
  nginx?.kill("SIGTERM");
  await nginx?.exited;
  for (const i of [a, b]) {
    if (i && i.proc.exitCode === null) {
      i.proc.kill("SIGTERM");
      // Never leave a process behind, even one whose shutdown hangs (the test then fails below).
      if ((await Promise.race([i.proc.exited, Bun.sleep(15_000).then(() => "hung" as const)])) === "hung") i.proc.kill("SIGKILL");
    }
  }
  app?.stop(true);
  proxyA?.stop();
  proxyB?.stop();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

const verify = (token: string, gate = "LB_1") =>
  fetch(`${lb}/api/v1/access/verify`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ gate_id: gate, token }) });

describe("nginx in front of two instances (docs/nginx.conf)", () => {
  test("requests are balanced over both instances", async () => {
    const by = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const r = await verify(card);
      expect(r.status).toBe(200);
      expect(((await r.json()) as any).allow).toBe(true);
      by.set(answeredBy(r), (by.get(answeredBy(r)) ?? 0) + 1);
    }
    expect(by.size).toBe(2);
    for (const n of by.values()) expect(n).toBeGreaterThanOrEqual(10);
    expect((await fetch(`${lb}/metrics`)).status).toBe(403); // scraped per host, never through the balancer
  });

  test("auth_request forward-auth: allowed passes with the user, no token is 401, no grant is 403", async () => {
    const [u] = await db.sql`select id from users where username = 'through-nginx'`;
    const ok = await fetch(`${lb}/app/hello`, { headers: { authorization: `Bearer ${card}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ path: "/hello", user: u!.id });
    expect(ok.headers.get("x-portcullis-reason")).toBe("granted");
    expect((await fetch(`${lb}/app/hello`)).status).toBe(401);
    const no = await fetch(`${lb}/app/hello`, { headers: { authorization: `Bearer ${denied}` } });
    expect(no.status).toBe(403);
    expect(no.headers.get("x-portcullis-reason")).toBe("no_grant");
  });

  test("/readyz as the health signal: a host cut off from Postgres gets no verifies while another is ready; with none ready, verifies still answer", async () => {
    const aId = answeredBy(await fetch(`${a.base}/healthz`));
    const notReady = (i: Instance) => sleepUntil(async () => (await fetch(`${i.base}/readyz`)).status === 503, "not ready", 15_000);
    try {
      proxyB.cut();
      await notReady(b);
      // The probe through nginx finds a ready host, and takes b out of the verify upstream.
      const probe = await fetch(`${lb}/readyz`);
      expect(probe.status).toBe(200);
      expect(answeredBy(probe)).toBe(aId);
      for (let i = 0; i < 20; i++) {
        const r = await verify(card);
        expect(r.status).toBe(200);
        expect(answeredBy(r)).toBe(aId);
      }
      // No host ready (Postgres away from both): /readyz says so, verifies still answer from the backups.
      proxyA.cut();
      await notReady(a);
      expect((await fetch(`${lb}/readyz`)).status).toBe(503);
      for (let i = 0; i < 20; i++) {
        const r = await verify(card);
        expect(r.status).toBe(200);
        expect(((await r.json()) as any).allow).toBe(true);
      }
    } finally {
      proxyA.restore();
      proxyB.restore();
    }
    for (const i of [a, b]) await sleepUntil(async () => (await fetch(`${i.base}/readyz`)).status === 200, "ready again", 20_000);
  }, 60_000);

  test("one instance stopped with SIGTERM under load: 0 verifies fail, and every verify is one access event", async () => {
    await Bun.sleep(2100); // past fail_timeout of the previous test: both instances in the rotation
    const events = async () => (await db.sql<{ n: number }[]>`select count(*)::int as n from access_events where gate_id in ('LB_1', 'APP_GATE')`)[0]!.n;
    const before = await events();
    let stop = false;
    const failures: string[] = [];
    const servedBy = new Set<string>();
    let sent = 0;
    const loop = async (k: number) => {
      while (!stop) {
        sent++;
        try {
          if (k % 4 === 0) {
            const r = await fetch(`${lb}/app/x`, { headers: { authorization: `Bearer ${card}` } });
            if (r.status !== 200) failures.push(`forward-auth ${r.status}`);
            await r.arrayBuffer();
          } else {
            const r = await verify(card);
            const body = (await r.json()) as any;
            if (r.status !== 200 || body.allow !== true) failures.push(`verify ${r.status} ${JSON.stringify(body)}`);
            else servedBy.add(answeredBy(r));
          }
        } catch (e) {
          failures.push(String(e));
        }
      }
    };
    const loops = Array.from({ length: 16 }, (_, k) => loop(k));
    await sleepUntil(() => sent > 500 && servedBy.size === 2, "load on both instances", 20_000);
    a.proc.kill("SIGTERM");
    expect(await a.proc.exited).toBe(0);
    const atExit = sent;
    await sleepUntil(() => sent > atExit + 500, "load after the stop", 20_000);
    stop = true;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    // Every answered verify (forward-auth too) was recorded exactly once: none lost in the stop,
    // none doubled by nginx's retry.
    await sleepUntil(async () => (await events()) - before >= sent, "every event written", 10_000).catch(() => {});
    expect((await events()) - before).toBe(sent);
  }, 60_000);
});
