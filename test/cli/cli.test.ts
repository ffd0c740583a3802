// The operator CLI, run as an operator would: a separate process against the database.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashSecret } from "../../src/tokens";
import { createTestDb, type TestDb } from "../setup";

let db: TestDb;
beforeAll(async () => {
  db = await createTestDb();
});
afterAll(() => db.drop());

async function cli(...args: string[]) {
  const p = Bun.spawn(["bun", "src/cli/main.ts", ...args], { env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: "error" }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code };
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
    expect(r.out).toContain("users: 2");
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

  test("no command prints usage and exits 2", async () => {
    const r = await cli();
    expect(r.code).toBe(2);
    expect(r.out).toContain("usage: bun run cli");
  });
});
