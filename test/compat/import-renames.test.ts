// Names as Django has them. A re-import after renames in Django: usernames and group names are unique here as there, but a
// rename can hand a name from one row to another (a swap; a user renamed and a new one given the
// old name). The import renames in one statement, so a name moving between rows must not collide
// with itself on the way.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { importOpenway } from "../../src/compat/import-openway";
import { createTestDb, type TestDb } from "../setup";
import { createDjangoDb, type DjangoDb } from "./django";

let db: TestDb;
let dj: DjangoDb;
beforeAll(async () => {
  [db, dj] = await Promise.all([createTestDb(), createDjangoDb()]);
  await dj.sql.begin(async (tx) => {
    for (const [id, username] of [[1, "alice"], [2, "bob"], [3, "carol"]] as const) {
      await tx`insert into auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
               values (${id}, '!', false, ${username}, '', '', '', false, true, now())`;
    }
    for (const [id, name] of [[1, "ops"], [2, "dev"], [3, "qa"]] as const) await tx`insert into auth_group (id, name) values (${id}, ${name})`;
    // 128 characters (Django's bound), 255 UTF-16 units: cut to the API's 150 units, here between an emoji's two halves.
    await tx`insert into access_accesspoint (id, code, name, location) values (1, 'EMOJI', ${"a" + "\u{1F6AA}".repeat(127)}, '')`;
  });
  await importOpenway(db.sql, dj.url);
});
afterAll(async () => {
  await db?.drop();
  await dj?.drop();
});

const byOid = async (table: "users" | "groups", key: "username" | "name") =>
  Object.fromEntries((await db.sql`select openway_id, ${db.sql(key)} as k from ${db.sql(table)} where openway_id is not null order by openway_id`).map((r) => [Number(r.openway_id), r.k]));

describe("import-openway: names", () => {
  test("a long name is cut to 150 UTF-16 units without splitting a surrogate pair (no U+FFFD stored)", async () => {
    const [g] = await db.sql`select name from gates where id = 'EMOJI'`;
    expect(g!.name).toBe("a" + "\u{1F6AA}".repeat(74));
  });

  test("swapped usernames and group names, a freed name taken by a new row: imported as Django has them", async () => {
    await dj.sql.begin(async (tx) => {
      // (Django's own unique index needs the swap in steps; the import gets only the result.)
      await tx`update auth_user set username = 'x-' || username`;
      await tx`update auth_user set username = case id when 1 then 'bob' when 2 then 'alice' else 'carol.old' end`;
      await tx`insert into auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
               values (4, '!', false, 'carol', '', '', '', false, true, now())`;
      await tx`update auth_group set name = 'x-' || name`;
      await tx`update auth_group set name = case id when 1 then 'dev' when 2 then 'ops' else 'qa.old' end`;
      await tx`insert into auth_group (id, name) values (4, 'qa')`;
    });
    const r = await importOpenway(db.sql, dj.url);
    expect(r.counts.users).toMatchObject({ source: 4, inserted: 1, updated: 3 });
    expect(r.counts.groups).toMatchObject({ source: 4, inserted: 1, updated: 3 });
    expect(await byOid("users", "username")).toEqual({ 1: "bob", 2: "alice", 3: "carol.old", 4: "carol" });
    expect(await byOid("groups", "name")).toEqual({ 1: "dev", 2: "ops", 3: "qa.old", 4: "qa" });
    // Again: nothing left to change.
    const again = await importOpenway(db.sql, dj.url);
    expect(again.counts.users).toMatchObject({ inserted: 0, updated: 0 });
    expect(again.counts.groups).toMatchObject({ inserted: 0, updated: 0 });
  });
});
