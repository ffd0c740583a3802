// The operator CLI, run as an operator would: a separate process against the database.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashSecret } from "../../src/tokens";
import { startService } from "../../src/service";
import { createTestDb, freePort, sleepUntil, testConfig, type TestDb } from "../setup";

let db: TestDb;
beforeAll(async () => {
  db = await createTestDb();
}, 30_000);
afterAll(() => db.drop(), 30_000);

async function cli(...args: string[]) {
  return cliWith({}, ...args);
}

/** `env`: the whole environment (default: the test database's DATABASE_URL). */
async function cliWith(opts: { stdin?: string; env?: Record<string, string | undefined> }, ...args: string[]) {
  const p = Bun.spawn(["bun", "src/cli/main.ts", ...args], {
    env: opts.env ?? { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: "error" },
    stdin: opts.stdin === undefined ? "ignore" : new Blob([opts.stdin]), stdout: "pipe", stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code };
}

/**
 * The CLI on a pseudo-terminal (util-linux `script`), as an operator at a shell runs it: `steps`
 * wait for a text on the screen, then type a line.
 */
async function cliInTerminal(args: string[], steps: Array<{ await: string; type: string }> = []) {
  const p = Bun.spawn(["script", "-qec", ["bun", "src/cli/main.ts", ...args].join(" "), "/dev/null"], {
    env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: "error" }, stdin: "pipe", stdout: "pipe", stderr: "pipe",
  });
  let screen = "";
  const reading = (async () => {
    for await (const chunk of p.stdout) screen += new TextDecoder().decode(chunk);
  })();
  for (const step of steps) {
    await sleepUntil(() => screen.includes(step.await), `"${step.await}" on the terminal`, 10_000);
    const seen = screen.length;
    p.stdin.write(step.type + "\r");
    p.stdin.flush();
    await sleepUntil(() => screen.length > seen, "the terminal to react", 10_000);
  }
  const code = await p.exited;
  await reading;
  p.stdin.end();
  return { screen, code };
}

describe("bun run cli", () => {
  test("create-admin prints a secret once; only its hash is stored; it opens admin routes", async () => {
    const r = await cli("create-admin", "--username", "ops");
    expect(r.code).toBe(0);
    const secret = /secret \(shown once\): (pcl_\S+)/.exec(r.out)![1]!;
    const [row] = await db.sql`select c.scopes, c.secret_hash from credentials c join users u on u.id = c.user_id where u.username = 'ops'`;
    expect(row).toEqual({ scopes: ["admin"], secret_hash: hashSecret(secret) });
    const [audit] = await db.sql`select action, entity from audit_log where entity = 'credential' order by id desc limit 1`;
    expect(audit).toEqual({ action: "create", entity: "credential" });
  });

  test("import a CSV collection, then revoke a credential", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pcl-cli-"));
    writeFileSync(join(dir, "users.csv"), 'username,display_name,active\nkim,"Kim, K.",true\nlee,Lee,false\n');
    const r = await cli("import", "--collection", "users", join(dir, "users.csv"));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^  collection\s+rows\s+inserted\s+updated\s+unchanged$/m);
    expect(r.out).toMatch(/^  users\s+2\s+2\s+0\s+0$/m);
    expect(r.out).toMatch(/^  total\s+2\s+2\s+0\s+0$/m);
    expect(r.out).toMatch(/^  2 rows in \d+\.\d\d s \([\d,]+ rows\/s\)$/m);
    expect(r.err).toBe(""); // no progress line when stderr is not a terminal
    const users = await db.sql`select username, display_name, active from users where username in ('kim', 'lee') order by username`;
    expect([...users]).toEqual([{ username: "kim", display_name: "Kim, K.", active: true }, { username: "lee", display_name: "Lee", active: false }]);

    writeFileSync(join(dir, "bad.csv"), "username,active\nmo,perhaps\n");
    const bad = await cli("import", "--collection", "users", join(dir, "bad.csv"));
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("row 2");

    const [c] = await db.sql`select c.id from credentials c join users u on u.id = c.user_id where u.username = 'ops'`;
    const rv = await cli("revoke", c!.id);
    expect(rv.code).toBe(0);
    const [after] = await db.sql`select revoked_at from credentials where id = ${c!.id}`;
    expect(after!.revoked_at).not.toBeNull();
    expect((await cli("revoke", c!.id)).code).toBe(1);
  });

  test("import refuses a file that is not UTF-8 (Excel's Windows-1252 CSV), naming it; nothing stored", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pcl-cli-"));
    writeFileSync(join(dir, "latin1.csv"), Buffer.from("username,display_name\nmueller,M\u00fcller\n", "latin1"));
    const r = await cli("import", "--collection", "users", join(dir, "latin1.csv"));
    expect(r.code).toBe(1);
    expect(r.err).toContain("not valid UTF-8");
    expect(await db.sql`select 1 from users where username = 'mueller'`).toHaveLength(0);
    rmSync(dir, { recursive: true, force: true });
  });

  test("create-admin --password takes the password from stdin; the user signs in to the console with it", async () => {
    const r = await cliWith({ stdin: "correct horse battery\n" }, "create-admin", "--username", "piped", "--password");
    expect(r.code).toBe(0);
    expect(r.out).toContain("password set: piped can sign in to the console (/console)");
    expect(r.out + r.err).not.toContain("correct horse battery");
    const svc = await startService(testConfig(), { databaseUrl: db.url });
    try {
      const login = (password: string) => svc.app.handle(new Request("http://localhost/api/v1/auth/token", {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "piped", password, scope: "admin" }),
      }));
      const ok = await login("correct horse battery");
      expect(ok.status).toBe(201);
      expect(((await ok.json()) as any).scopes).toEqual(["admin", "user"]);
      expect((await login("wrong horse battery")).status).toBe(401);
    } finally {
      await svc.stop();
    }
    const [u] = await db.sql`select password_hash from users where username = 'piped'`;
    expect(u!.password_hash).toStartWith("$argon2id$");
    const [audit] = await db.sql`select after from audit_log where entity = 'user' order by id desc limit 1`;
    expect(JSON.stringify(audit!.after)).not.toContain("horse");
  });

  test("create-admin --password never takes the password from the command line, nor an empty or short one", async () => {
    const argv = await cliWith({ stdin: "" }, "create-admin", "--username", "argv", "--password", "hunter2hunter2");
    expect(argv.code).toBe(2);
    expect(argv.err).toContain("--password takes no value");
    expect((await cliWith({ stdin: "" }, "create-admin", "--username", "argv", "--password")).err).toContain("no password on stdin");
    expect((await cliWith({ stdin: "short\n" }, "create-admin", "--username", "argv", "--password")).err).toContain("at least 8 characters");
    expect((await db.sql`select 1 from users where username = 'argv'`).length).toBe(0);
  });

  test("create-admin --password on a terminal: asked twice, never echoed", async () => {
    const t = await cliInTerminal(["create-admin", "--username", "typed", "--password"], [
      { await: "New password for typed: ", type: "typed-password-1" },
      { await: "Repeat it: ", type: "typed-password-1" },
    ]);
    expect(t.code).toBe(0);
    expect(t.screen).not.toContain("typed-password-1");
    expect(t.screen).toContain("password set: typed can sign in to the console");
    const [u] = await db.sql`select password_hash from users where username = 'typed'`;
    expect(await Bun.password.verify("typed-password-1", u!.password_hash)).toBe(true);

    const differ = await cliInTerminal(["create-admin", "--username", "typo", "--password"], [
      { await: "New password for typo: ", type: "first-password" },
      { await: "Repeat it: ", type: "other-password" },
    ]);
    expect(differ.code).toBe(2);
    expect(differ.screen).toContain("the two passwords differ");
    expect((await db.sql`select 1 from users where username = 'typo'`).length).toBe(0);
  });

  test("import on a terminal redraws a progress line (rows, rows/s), then prints the summary table", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pcl-cli-"));
    const users = Array.from({ length: 3000 }, (_, i) => `bulk${i},Bulk ${i},true`).join("\n");
    writeFileSync(join(dir, "bulk.csv"), `username,display_name,active\n${users}\n`);
    const t = await cliInTerminal(["import", "--collection", "users", join(dir, "bulk.csv")]);
    expect(t.code).toBe(0);
    expect(t.screen).toMatch(/\r\x1b\[2Kimporting \S+bulk\.csv: /);
    expect(t.screen).toMatch(/importing \S+bulk\.csv: 3,000\/3,000 rows \(users done\) · [\d,]+ rows\/s · \d+\.\d s/);
    expect(t.screen).toMatch(/^  users\s+3,000\s+3,000\s+0\s+0\s*$/m);
    expect(t.screen).toMatch(/^  3,000 rows in \d+\.\d\d s \([\d,]+ rows\/s\)\s*$/m);
  }, 30_000);

  test("beside a running service: a revoke says it reached every node; a revoke that changed nothing waits for nothing", async () => {
    const service = await startService(testConfig(), { databaseUrl: db.url, maintenance: false });
    try {
      const [u] = await db.sql`insert into users (username) values ('cli-revoke') returning id`;
      const [c] = await db.sql`insert into credentials (user_id, kind, secret_hash) values (${u!.id}, 'card', ${hashSecret("cli-revoke-card")}) returning id`;
      const first = await cli("revoke", c!.id);
      expect(first.code).toBe(0);
      expect(first.out).toMatch(/revoked \(revision (\d+)\)\npropagation: complete \(1 of 1 live nodes applied revision \1\)\n$/);
      const again = await cli("revoke", c!.id);
      expect(again.code).toBe(1);
      expect(again.out).toBe(`${c!.id}: no such active credential\n`); // no propagation of somebody else's revision
    } finally {
      await service.stop();
    }
  }, 30_000);

  test("a mistyped command or a missing file: one line saying so, exit 2 or 1", async () => {
    const unknown = await cli("frobnicate");
    expect(unknown.code).toBe(2);
    expect(unknown.err).toStartWith("unknown command: frobnicate\nusage: bun run cli");
    const missing = await cli("import", "/nonexistent/data.json");
    expect(missing.code).toBe(1);
    expect(missing.err).toBe("/nonexistent/data.json: no such file; nothing was imported\n");
  });

  test("no command prints usage and exits 2", async () => {
    const r = await cli();
    expect(r.code).toBe(2);
    expect(r.out).toContain("usage: bun run cli");
  });
});

describe("bun run cli beside a running `bun run start` on its embedded Postgres", () => {
  test("the CLI finds the service's Postgres by itself; the banner shows the console and, until an admin exists, how to make one", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "pcl-embedded-"));
    chmodSync(dataDir, 0o755); // the embedded Postgres runs as its own OS user when we are root
    const pgPort = await freePort();
    const env: Record<string, string | undefined> = { ...process.env, DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(pgPort), HOST: "127.0.0.1", WORKERS: "1", LOG_LEVEL: "warn" };
    delete env.DATABASE_URL;
    const pgUrl = `postgres://postgres:postgres@127.0.0.1:${pgPort}/portcullis`;
    const start = async () => {
      const port = await freePort();
      const p = Bun.spawn(["bun", "src/main.ts"], { env: { ...env, PORT: String(port) }, stdout: "pipe", stderr: "pipe" });
      let out = "";
      void (async () => {
        for await (const chunk of p.stdout) out += new TextDecoder().decode(chunk);
      })();
      await sleepUntil(() => out.includes("Portcullis is ready at"), "the start banner", 60_000);
      await Bun.sleep(50); // the rest of the banner
      return { p, port, out: () => out };
    };
    const first = await start();
    try {
      const banner = first.out();
      expect(banner).toContain(`Portcullis is ready at http://127.0.0.1:${first.port}\n  console:  http://127.0.0.1:${first.port}/console\n`);
      expect(banner).toContain(`  Postgres: ${pgUrl} (embedded`);
      expect(banner).toContain("No admin can sign in to the console yet. Make one (it asks for the password):\n  bun run cli create-admin --username <you> --password");

      // A second service on the same DATA_DIR: one sentence, not a second Postgres.
      const second = Bun.spawn(["bun", "src/main.ts"], { env: { ...env, PORT: String(await freePort()) }, stdout: "ignore", stderr: "pipe" });
      const [secondErr, secondCode] = await Promise.all([new Response(second.stderr).text(), second.exited]);
      expect(secondCode).toBe(1);
      expect(JSON.parse(secondErr.trim()).msg).toMatch(/^cannot start: DATA_DIR \S+ is in use: its embedded Postgres already runs \(pid \d+, port \d+\); stop the Portcullis using it/);

      const check = await cliWith({ env }, "consistency", "--sample", "50");
      expect(check.err).toContain(`using the running service's embedded Postgres: ${pgUrl}`);
      expect(check.code).toBe(0);
      expect(JSON.parse(check.out).consistent).toBe(true);
      const admin = await cliWith({ env, stdin: "embedded-admin-pw\n" }, "create-admin", "--username", "ops", "--password");
      expect(admin.code).toBe(0);
    } finally {
      first.p.kill("SIGTERM");
      expect(await first.p.exited).toBe(0);
    }
    // With the service stopped, the CLI starts the embedded Postgres itself — and says so, since a
    // service started with DATABASE_URL would be on another database.
    const alone = await cliWith({ env }, "consistency", "--sample", "1");
    expect(alone.code).toBe(0);
    expect(alone.err).toContain(`DATABASE_URL is unset and no service runs on DATA_DIR ${dataDir}: using its embedded Postgres, started for this command (${pgUrl})`);
    // The second start: the admin exists now, so no hint; the console URL again.
    const again = await start();
    try {
      expect(again.out()).toContain(`  console:  http://127.0.0.1:${again.port}/console`);
      expect(again.out()).not.toContain("No admin can sign in");
    } finally {
      again.p.kill("SIGTERM");
      expect(await again.p.exited).toBe(0);
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});
