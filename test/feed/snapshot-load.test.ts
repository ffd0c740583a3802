// The worker's loader (src/db/snapshot-load.ts: columns as text chunks, two connections on one
// exported snapshot) builds the index loadSnapshot + fromSnapshot builds: same decisions, same rows.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadSnapshot } from "../../src/db/permissions";
import { loadIndex } from "../../src/db/snapshot-load";
import { PermissionIndex } from "../../src/index/permission-index";
import { createTestDb, type TestDb } from "../setup";

let db: TestDb;
const H = 3_600_000;

beforeAll(async () => {
  db = await createTestDb();
  await db.sql.begin(async (tx) => {
    await tx.unsafe(`
      insert into zones (id, name) values ('z_1', 'one'), ('z_2', 'two');
      insert into gates (id, name, zone_id, mode, unlock_ms) values ('GATE_1', 'a', 'z_1', 'normal', 700), ('GATE_2', 'b', 'z_2', 'normal', 500), ('GATE_3', 'c', null, 'locked', 500);
      insert into schedules (id, name, timezone, windows) values ('s_1', 'office', 'Europe/Berlin', '[{"days":[1,2,3,4,5],"start":"07:00","end":"19:00"}]');
      insert into groups (id, name, parent_id) values ('g_1', 'root', null);
      insert into groups (id, name, parent_id) values ('g_2', 'child', 'g_1');
      insert into users (id, username, display_name, active, valid_from, valid_until)
        select 'u_' || lpad(i::text, 6, '0'), 'user ' || i, 'U' || i, i % 17 <> 0,
               case when i % 13 = 0 then now() + interval '1 hour' end, case when i % 11 = 0 and i % 13 <> 0 then now() - interval '1 hour' when i % 19 = 0 then 'infinity' end
        from generate_series(1, 400) i;
      -- Ids and names with the loader's separators, quotes and non-ASCII: their chunks are read again as rows.
      insert into users (id, username, display_name, active) values
        (E'u_new\\nline', E'two\\nlines', 'x', true), (E'u_tab\\tbed', E'tab\\tname', 'x', true), ('ü_ser', 'ünïcode', 'x', true), ('"quoted"', '"q"', 'x', true);
      insert into memberships (group_id, user_id) select case when i % 2 = 0 then 'g_1' else 'g_2' end, 'u_' || lpad(i::text, 6, '0') from generate_series(1, 400, 3) i;
      insert into memberships (group_id, user_id) values ('g_2', E'u_new\\nline');
      insert into grants (id, subject_user_id, subject_group_id, target_gate_id, target_zone_id, effect, schedule_id, valid_from, valid_until)
        select 'gr_' || lpad(j::text, 6, '0'),
               case when j % 5 <> 0 then 'u_' || lpad((j % 400 + 1)::text, 6, '0') end, case when j % 5 = 0 then case when j % 10 = 0 then 'g_1' else 'g_2' end end,
               case when j % 3 <> 0 then 'GATE_' || (j % 3) end, case when j % 3 = 0 then 'z_' || (j % 2 + 1) end,
               case when j % 23 = 0 then 'deny' else 'allow' end, case when j % 7 = 0 then 's_1' end,
               case when j % 29 = 0 then now() + interval '2 hours' end, case when j % 31 = 0 then now() + interval '3 hours' end
        from generate_series(1, 3000) j;
      insert into grants (id, subject_user_id, target_gate_id) values (E'gr_new\\nline', E'u_new\\nline', 'GATE_1'), ('gr_ü', 'ü_ser', 'GATE_2'), ('gr_q', '"quoted"', 'GATE_1');
      insert into credentials (id, user_id, kind, scopes, secret_hash, expires_at, valid_from, revoked_at)
        select 'c_' || lpad(i::text, 6, '0'), 'u_' || lpad((i % 400 + 1)::text, 6, '0'), (array['card', 'pin', 'api', 'device', 'session'])[i % 5 + 1],
               (case i % 4 when 0 then '{}' when 1 then '{admin}' when 2 then '{user}' else '{admin,user}' end)::text[],
               encode(sha256(convert_to('secret ' || i, 'UTF8')), 'hex'),
               case when i % 9 = 0 then now() - interval '1 hour' when i % 10 = 0 then now() + interval '5 hours' end,
               case when i % 14 = 0 then now() + interval '1 hour' end, case when i % 16 = 0 then now() end
        from generate_series(1, 2500) i;
      insert into credentials (id, user_id, kind, secret_hash) values
        (E'c_new\\nline', E'u_new\\nline', 'card', encode(sha256('nl'), 'hex')), ('c_ü', 'ü_ser', 'card', encode(sha256('u'), 'hex'));
      insert into credentials (id, user_id, kind, secret_hash, pin_hash, host_user_id, expires_at) values
        ('c_pin', 'u_000001', 'card', encode(sha256('pin'), 'hex'), 'hs256$' || repeat('a', 32) || '$' || repeat('b', 64), 'u_000002', now() + interval '1 day');
      insert into devices (id, user_id, credential_id, name, revoked_at) values ('d_1', 'u_000004', 'c_000003', 'phone', now()), ('d_2', 'u_000005', 'c_000004', 'phone', null);
    `);
  });
});
afterAll(async () => {
  await db.drop();
});

function same(a: PermissionIndex, b: PermissionIndex): void {
  expect(a.revision).toBe(b.revision);
  expect(a.counts()).toEqual(b.counts());
  const rows = <V>(m: Iterable<[string, V]>) => JSON.stringify([...m].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  expect(rows(a.users)).toBe(rows(b.users));
  expect(rows(a.grants)).toBe(rows(b.grants));
  expect(rows(a.credentialsById)).toBe(rows(b.credentialsById));
  expect(rows(a.credentialsByHash)).toBe(rows(b.credentialsByHash));
  expect(rows(a.groupsOfUser)).toBe(rows(b.groupsOfUser));
  const now = Date.now();
  const hashes = [...b.credentialsByHash.keys(), "no-such-secret"];
  for (const at of [now, now + 1.5 * H, now + 2.5 * H, now + 6 * H, now - 2 * H]) {
    for (const h of hashes) for (const g of ["GATE_1", "GATE_2", "GATE_3", "NO_SUCH_GATE"]) expect(a.decide(h, g, at)).toEqual(b.decide(h, g, at));
  }
}

describe("loadIndex", () => {
  test("in chunks of one block on two connections, or on one, it builds what loadSnapshot + fromSnapshot builds", async () => {
    const ref = PermissionIndex.fromSnapshot(await loadSnapshot(db.sql));
    expect(ref.counts().credentials).toBe(2503);
    const two = await loadIndex(db.sql, { blocks: 1 });
    expect(two.chunks).toBeGreaterThan(20);
    expect(two.fallbacks).toBeGreaterThanOrEqual(1); // the chunks holding a newline
    same(two.index, ref);
    const one = await loadIndex(db.sql, { connections: 1 });
    same(one.index, ref);
    expect(two.index.credentialsById.get("c_pin")).toMatchObject({ pinHash: `hs256$${"a".repeat(32)}$${"b".repeat(64)}`, hostUserId: "u_000002" });
    expect(two.index.credentialsById.get("c_000003")!.deviceRevoked).toBe(true);
  });

  test("the loaded index takes incremental changes like a rebuilt one", async () => {
    const { index } = await loadIndex(db.sql, { blocks: 2 });
    await db.sql.unsafe(`
      update credentials set revoked_at = now() where id = 'c_000001';
      update credentials set secret_hash = encode(sha256('moved'), 'hex') where id = 'c_000002';
      insert into credentials (id, user_id, kind, secret_hash) values ('c_added', 'u_000007', 'card', encode(sha256('added'), 'hex'));
      delete from grants where id = 'gr_000001';
      insert into grants (id, subject_user_id, target_gate_id) values ('gr_added', 'u_000007', 'GATE_2');
      update users set active = false where id = 'u_000008';`);
    const { loadChangesAfter } = await import("../../src/db/permissions");
    const r = await loadChangesAfter(db.sql, index.revision);
    expect(r.kind).toBe("changes");
    if (r.kind === "changes") index.apply(r.changes);
    same(index, PermissionIndex.fromSnapshot(await loadSnapshot(db.sql)));
  });
});
