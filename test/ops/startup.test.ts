// Starting against a Postgres that is missing, misconfigured or not up yet, as an operator meets it:
// the real process, spawned with a bad DATABASE_URL. Each failure is one sentence naming the fix,
// never a stack; an unreachable server is waited for (STARTUP_DB_WAIT), one line per attempt.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { type Embedded, startEmbedded } from "../../src/db/embedded";
import { createTestDb, freePort, sleepUntil, type TestDb } from "../setup";
import { TcpProxy } from "../tcp-proxy";

interface Started {
  code: number;
  lines: Array<{ level: string; msg: string }>;
  stderr: string;
}

async function start(databaseUrl: string, env: Record<string, string> = {}): Promise<Started> {
  const p = Bun.spawn(["bun", "src/main.ts"], {
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(await freePort()), HOST: "127.0.0.1", WORKERS: "1", LOG_LEVEL: "info", STARTUP_DB_WAIT: "0", ...env },
    stdout: "ignore", stderr: "pipe",
  });
  const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  const lines = stderr.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  return { code, lines, stderr };
}

/** One error line, one sentence (no stack frame, no driver dump). */
function onlyError(r: Started): string {
  expect(r.code).toBe(1);
  const errors = r.lines.filter((l) => l.level === "error");
  expect(errors.length).toBe(1);
  expect(r.stderr).not.toMatch(/\n\s+at |node_modules|PostgresError/);
  return errors[0]!.msg;
}

describe("startup errors against the tests' Postgres", () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb();
  }, 30_000);
  afterAll(() => db.drop(), 30_000);

  test("a missing database: one sentence with the createdb command", async () => {
    const u = new URL(db.url);
    u.pathname = "/pcl_no_such_db";
    const msg = onlyError(await start(u.toString()));
    expect(msg).toBe(`cannot start: database "pcl_no_such_db" does not exist on ${u.hostname}:${u.port || 5432}: create it (createdb -h ${u.hostname} -p ${u.port || 5432} -U postgres pcl_no_such_db) or fix the database name in DATABASE_URL.`);
  }, 20_000);

  test("Postgres unreachable: retried with backoff for STARTUP_DB_WAIT, one line per attempt, then one sentence", async () => {
    const port = await freePort(); // nothing listens there
    const t0 = Date.now();
    const r = await start(`postgres://postgres@127.0.0.1:${port}/test`, { STARTUP_DB_WAIT: "2s" });
    const msg = onlyError(r);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
    expect(msg).toBe(`cannot start: Postgres is not reachable at 127.0.0.1:${port} (ECONNREFUSED): start it, or fix the host and port in DATABASE_URL (gave up after 2 s, STARTUP_DB_WAIT).`);
    const attempts = r.lines.filter((l) => l.level === "warn");
    expect(attempts.length).toBeGreaterThanOrEqual(3); // 0.25 + 0.5 + 1 s, then what is left
    expect(attempts[0]!.msg).toMatch(/^Postgres is not reachable at 127\.0\.0\.1:\d+ \(ECONNREFUSED\): start it, or fix the host and port in DATABASE_URL\. Retrying in 0\.25 s \(attempt 1; \d\.\d s left of STARTUP_DB_WAIT\)\.$/);
    expect(attempts[1]!.msg).toContain("Retrying in 0.50 s (attempt 2;");
  }, 20_000);

  // What a person meets at their first start: the port taken (an earlier run), the compat port
  // taken, a HOST that is not this machine's — each its own sentence naming the setting.
  test("a port in use, for PORT or OPENWAY_COMPAT_PORT: one sentence naming the setting, never blamed on Postgres", async () => {
    const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const main = onlyError(await start(db.url, { PORT: String(taken.port) }));
      expect(main).toBe(`cannot start: PORT ${taken.port} is in use on 127.0.0.1: another process listens on it (an earlier Portcullis still running?); stop it, or set PORT to a free port.`);
      const compat = onlyError(await start(db.url, { OPENWAY_COMPAT_PORT: String(taken.port) }));
      expect(compat).toBe(`cannot start: OPENWAY_COMPAT_PORT ${taken.port} is in use on 127.0.0.1: another process listens on it (an earlier Portcullis still running?); stop it, or set OPENWAY_COMPAT_PORT to a free port.`);
    } finally {
      taken.stop(true);
    }
  }, 30_000);

  test("a HOST that is not an address of this machine: one sentence saying what HOST takes", async () => {
    for (const host of ["10.255.255.1", "no-such-host.invalid"]) {
      const msg = onlyError(await start(db.url, { HOST: host }));
      expect(msg).toBe(`cannot start: cannot listen on HOST=${host}: it is not an address of this machine; set HOST to one of its addresses (0.0.0.0: all of them, 127.0.0.1: this machine only).`);
    }
  }, 30_000);

  test("Postgres that comes up during the wait: the start goes on and the service is ready", async () => {
    const proxy = new TcpProxy("127.0.0.1", Number(new URL(db.url).port || 5432)).start();
    proxy.cut(); // "Postgres is down": connections are refused until restore()
    const u = new URL(db.url);
    u.host = `127.0.0.1:${proxy.port}`;
    const port = await freePort();
    const p = Bun.spawn(["bun", "src/main.ts"], {
      env: { ...process.env, DATABASE_URL: u.toString(), PORT: String(port), HOST: "127.0.0.1", WORKERS: "1", LOG_LEVEL: "info", STARTUP_DB_WAIT: "30s" },
      stdout: "ignore", stderr: "pipe",
    });
    let stderr = "";
    const reader = (async () => {
      for await (const chunk of p.stderr) stderr += new TextDecoder().decode(chunk);
    })();
    try {
      await sleepUntil(() => (stderr.match(/Retrying in/g) ?? []).length >= 2, "two attempts logged", 10_000);
      proxy.restore();
      await sleepUntil(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200, "ready after Postgres came up", 20_000);
      expect(stderr).not.toContain('"level":"error"');
    } finally {
      p.kill("SIGTERM");
      expect(await p.exited).toBe(0);
      await reader;
      proxy.stop();
    }
  }, 40_000);
});

describe("startup errors against a Postgres with password authentication", () => {
  // Our own Postgres (the embedded binaries): password authentication everywhere, except a trust
  // line for one database so that a missing role can be told apart from a wrong password.
  let pg: Embedded;
  let port: number;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "pcl-auth-"));
    chmodSync(dir, 0o755); // the embedded Postgres runs as its own OS user when we are root
    port = await freePort();
    pg = await startEmbedded(dir, port, "portcullis");
    const hba = join(dir, "pg", "pg_hba.conf");
    writeFileSync(hba, `host trustdb all 127.0.0.1/32 trust\n${readFileSync(hba, "utf8")}`);
    const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
    await sql`select pg_reload_conf()`;
    await sql.end();
  }, 30_000);
  afterAll(async () => {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a wrong password: one sentence saying to fix it in DATABASE_URL", async () => {
    const msg = onlyError(await start(`postgres://postgres:wrong@127.0.0.1:${port}/portcullis`));
    expect(msg).toBe(`cannot start: password authentication failed for user "postgres" on 127.0.0.1:${port}: fix the password (or the user) in DATABASE_URL.`);
  }, 20_000);

  test("a missing role: one sentence with the createuser command", async () => {
    const msg = onlyError(await start(`postgres://ghost@127.0.0.1:${port}/trustdb`));
    expect(msg).toBe(`cannot start: role "ghost" does not exist on 127.0.0.1:${port}: create it (createuser -h 127.0.0.1 -p ${port} -U postgres --pwprompt ghost) or fix the user in DATABASE_URL.`);
  }, 20_000);
});
