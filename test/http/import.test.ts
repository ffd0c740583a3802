// POST /api/v1/admin/import against the real Postgres: cross references by natural key, one
// revision, what Postgres holds, decisions through verify, idempotency, CSV, row/field errors with
// nothing written, audit, security.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parseCsv } from "../../src/admin/csv";
import { csvToImport } from "../../src/admin/import-csv";
import { importDbError } from "../../src/admin/import-fields";
import { ApiError } from "../../src/errors";
import { hashSecret } from "../../src/tokens";
import { startTestService, type TestService } from "../setup";

let s: TestService;
beforeAll(async () => {
  s = await startTestService();
});
afterAll(() => s.stop());

const PATH = "/api/v1/admin/import";
const imp = (body: unknown, token?: string | null) => s.call("POST", PATH, { body, token });
const csv = (collection: string, text: string, token?: string | null) =>
  s.call("POST", `${PATH}?collection=${collection}`, { raw: text, headers: { "content-type": "text/csv" }, token });
const verify = (gate_id: string, token: string, min_revision: number) =>
  s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id, token, min_revision } });

const TABLES = ["users", "groups", "memberships", "zones", "gates", "schedules", "grants", "credentials", "audit_log", "change_log"] as const;
/** Row counts of every table the import touches, plus the revision counter. */
async function snapshot(): Promise<Record<(typeof TABLES)[number] | "revision", number>> {
  const out = {} as Record<(typeof TABLES)[number] | "revision", number>;
  for (const t of TABLES) {
    const [r] = await s.db.sql`select count(*)::int as n from ${s.db.sql(t)}`;
    out[t] = r!.n;
  }
  const [r] = await s.db.sql`select n from pcl_revision`;
  out.revision = Number(r!.n);
  return out;
}

const ALICE = "ALICE-CARD-0001";
const BOB = "BOB-CARD-0002";
const CAROL = "CAROL-CARD-0003";
const ALICE_API = "pcl_alice_api_token_for_import_tests";

const FULL = {
  users: [
    { username: "alice", email: "alice@example.com", display_name: "Alice", password: "correct horse battery" },
    { username: "bob", valid_from: "2020-01-01T00:00:00Z", valid_until: "2100-01-01T00:00:00+02:00" },
    { username: "carol", active: false },
  ],
  // "backend" names its parent before the parent appears; "engineering" likewise.
  groups: [{ name: "backend", parent: "engineering" }, { name: "engineering", parent: "company" }, { name: "company" }],
  memberships: [
    { group: "backend", username: "alice" },
    { group: "company", username: "bob" },
    { group: "engineering", username: "carol" },
    { group: "company", username: "test-user" }, // a user that is only in the database
  ],
  zones: [{ name: "hq" }, { name: "lab" }],
  gates: [
    { id: "HQ_MAIN", name: "HQ main door", zone: "hq" },
    { id: "HQ_SIDE", name: "HQ side door", zone: "hq", mode: "locked" },
    { id: "LAB_1", name: "Lab", zone: "lab", unlock_ms: 1500 },
    { id: "LOOSE", name: "No zone" },
  ],
  schedules: [{ name: "always", timezone: "Europe/Berlin", windows: [{ days: [7, 1, 2, 3, 4, 5, 6], start: "00:00", end: "24:00" }] }],
  grants: [
    { group: "company", zone: "hq" },
    { username: "bob", gate: "HQ_MAIN", effect: "deny" },
    { group: "engineering", gate: "LAB_1", schedule: "always", valid_from: "2020-01-01T00:00:00Z" },
    { username: "carol", zone: "lab" },
  ],
  credentials: [
    { username: "alice", kind: "card", secret: ALICE, label: "badge" },
    { username: "bob", kind: "card", secret: BOB },
    { username: "carol", kind: "card", secret: CAROL },
    { username: "alice", kind: "api", secret: ALICE_API, scopes: ["user"], expires_at: "2100-01-01T00:00:00Z" },
  ],
};
const FULL_COUNTS = { users: 3, groups: 3, memberships: 4, zones: 2, gates: 4, schedules: 1, grants: 4, credentials: 4 };

describe("JSON import", () => {
  let revision = 0;

  test("every collection with cross references: counts, one revision, X-Revision", async () => {
    const before = await snapshot();
    const r = await imp(FULL);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      counts: FULL_COUNTS,
      inserted: FULL_COUNTS,
      updated: { users: 0, groups: 0, memberships: 0, zones: 0, gates: 0, schedules: 0, grants: 0, credentials: 0 },
      revision: before.revision + 1,
      propagation: { nodes: 1, applied: 1, pending: [] },
    });
    expect(r.headers.get("x-revision")).toBe(String(r.body.revision));
    expect(r.headers.get("x-propagation")).toBe("complete");
    revision = r.body.revision;
    const [log] = await s.db.sql`select array_agg(distinct revision) as revs from change_log where revision > ${before.revision}`;
    expect(log!.revs.map(Number)).toEqual([revision]);
  });

  test("what Postgres holds afterwards", async () => {
    const sql = s.db.sql;
    const users = await sql`select username, email, display_name, password_hash, active, valid_from, valid_until from users where username in ('alice','bob','carol') order by username`;
    expect(users.map((u) => [u.username, u.email, u.display_name, u.active])).toEqual([
      ["alice", "alice@example.com", "Alice", true], ["bob", null, null, true], ["carol", null, null, false],
    ]);
    expect(users[0]!.password_hash).toStartWith("$argon2id$");
    expect(await Bun.password.verify("correct horse battery", users[0]!.password_hash)).toBe(true);
    expect(users[1]!.password_hash).toBeNull();
    expect(users[1]!.valid_until.toISOString()).toBe("2099-12-31T22:00:00.000Z");

    const groups = await sql`select g.name, p.name as parent from groups g left join groups p on p.id = g.parent_id order by g.name`;
    expect(groups.map((g) => [g.name, g.parent])).toEqual([["backend", "engineering"], ["company", null], ["engineering", "company"]]);

    const members = await sql`select g.name as g, u.username as u from memberships m join groups g on g.id = m.group_id join users u on u.id = m.user_id order by 1, 2`;
    expect(members.map((m) => `${m.g}/${m.u}`)).toEqual(["backend/alice", "company/bob", "company/test-user", "engineering/carol"]);

    const gates = await sql`select g.id, g.name, z.name as zone, g.mode, g.unlock_ms from gates g left join zones z on z.id = g.zone_id order by g.id`;
    expect(gates.map((g) => [g.id, g.zone, g.mode, g.unlock_ms])).toEqual([
      ["HQ_MAIN", "hq", "normal", 800], ["HQ_SIDE", "hq", "locked", 800], ["LAB_1", "lab", "normal", 1500], ["LOOSE", null, "normal", 800],
    ]);

    const [sched] = await sql`select timezone, windows from schedules where name = 'always'`;
    expect(sched).toEqual({ timezone: "Europe/Berlin", windows: [{ days: [1, 2, 3, 4, 5, 6, 7], start: "00:00", end: "24:00" }] });

    const grants = await sql`
      select coalesce(u.username, g.name) as subject, coalesce(gr.target_gate_id, z.name) as target, gr.effect, sc.name as schedule, gr.valid_from
      from grants gr left join users u on u.id = gr.subject_user_id left join groups g on g.id = gr.subject_group_id
      left join zones z on z.id = gr.target_zone_id left join schedules sc on sc.id = gr.schedule_id order by 1, 2`;
    expect(grants.map((g) => [g.subject, g.target, g.effect, g.schedule])).toEqual([
      ["bob", "HQ_MAIN", "deny", null], ["carol", "lab", "allow", null], ["company", "hq", "allow", null], ["engineering", "LAB_1", "allow", "always"],
    ]);

    const creds = await sql`select u.username, c.kind, c.label, c.scopes, c.secret_hash, c.expires_at from credentials c join users u on u.id = c.user_id
                            where u.username in ('alice','bob','carol') order by c.secret_hash`;
    expect(creds).toHaveLength(4);
    const byHash = new Map(creds.map((c) => [c.secret_hash, c]));
    expect(byHash.get(hashSecret(ALICE))).toMatchObject({ username: "alice", kind: "card", label: "badge", scopes: [] });
    expect(byHash.get(hashSecret(ALICE_API))).toMatchObject({ username: "alice", kind: "api", scopes: ["user"] });
    // Only hashes: no plain secret anywhere in the credential rows or the audit log.
    const dump = JSON.stringify(await sql`select * from credentials`) + JSON.stringify(await sql`select * from audit_log`);
    for (const secret of [ALICE, BOB, CAROL, ALICE_API, "correct horse battery"]) expect(dump).not.toContain(secret);
  });

  test("the imported credentials verify at the import's revision", async () => {
    const cases: Array<[string, string, boolean, string]> = [
      ["HQ_MAIN", ALICE, true, "granted"], // backend → engineering → company → zone hq
      ["LAB_1", ALICE, true, "granted"], // engineering, schedule "always"
      ["HQ_MAIN", BOB, false, "denied"], // an explicit deny beats the company's allow
      ["LAB_1", BOB, false, "no_grant"],
      ["LAB_1", CAROL, false, "inactive_user"],
      ["HQ_SIDE", ALICE, false, "gate_locked"],
      ["LOOSE", ALICE, false, "no_grant"],
      ["HQ_MAIN", "NOT-A-CARD", false, "unknown_token"],
    ];
    for (const [gate, token, allow, reason] of cases) {
      const v = await verify(gate, token, revision);
      expect({ gate, token, status: v.status, allow: v.body.allow, reason: v.body.reason }).toEqual({ gate, token, status: 200, allow, reason });
      expect(v.body.revision).toBeGreaterThanOrEqual(revision);
    }
    const v = await verify("LAB_1", ALICE, revision);
    expect(v.body.unlock_ms).toBe(1500);
  });

  test("the import is one audit row: action and entity 'import', after = the counts, the caller as actor", async () => {
    const rows = await s.db.sql`select a.*, c.secret_hash from audit_log a left join credentials c on c.id = a.actor where a.action = 'import' and a.revision = ${revision}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ action: "import", entity: "import", entity_id: null, before: null, after: FULL_COUNTS, secret_hash: hashSecret(s.adminToken) });
  });

  test("importing the same file again changes nothing: same rows, no duplicate grants, same revision", async () => {
    const before = await snapshot();
    const r = await imp(FULL);
    expect(r.status).toBe(200);
    expect(r.body.counts).toEqual(FULL_COUNTS);
    expect(Object.values(r.body.inserted)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Object.values(r.body.updated)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(r.body.revision).toBe(revision);
    const after = await snapshot();
    expect(after).toEqual({ ...before, audit_log: before.audit_log + 1 }); // only the audit row is new
  });

  test("absent keys leave columns alone, null clears, changes are updated in place", async () => {
    const r = await imp({
      users: [{ username: "carol", display_name: "Carol" }, { username: "alice", email: null }],
      gates: [{ id: "LAB_1", name: "Lab (renamed)" }],
      grants: [{ group: "engineering", gate: "LAB_1", schedule: "always", valid_until: "2099-01-01T00:00:00Z" }],
      credentials: [{ username: "alice", kind: "card", secret: ALICE, label: null }],
    });
    expect(r.status).toBe(200);
    expect(r.body.inserted).toEqual({ users: 0, gates: 0, grants: 0, credentials: 0 });
    expect(r.body.updated).toEqual({ users: 2, gates: 1, grants: 1, credentials: 1 });
    expect(r.body.revision).toBeGreaterThan(revision);
    const [carol] = await s.db.sql`select active, display_name from users where username = 'carol'`;
    expect(carol).toEqual({ active: false, display_name: "Carol" }); // still inactive: `active` was absent
    const [alice] = await s.db.sql`select email, password_hash from users where username = 'alice'`;
    expect(alice!.email).toBeNull();
    expect(alice!.password_hash).toStartWith("$argon2id$"); // no password in the row: kept
    const [gate] = await s.db.sql`select name, unlock_ms, mode from gates where id = 'LAB_1'`;
    expect(gate).toEqual({ name: "Lab (renamed)", unlock_ms: 1500, mode: "normal" });
    // The grant's identity matched: updated, not duplicated; its window is replaced as a whole.
    const g = await s.db.sql`select valid_from, valid_until from grants where target_gate_id = 'LAB_1'`;
    expect(g).toHaveLength(1);
    expect(g[0]!.valid_from).toBeNull();
    expect(g[0]!.valid_until.toISOString()).toBe("2099-01-01T00:00:00.000Z");
    const [cred] = await s.db.sql`select label from credentials where secret_hash = ${hashSecret(ALICE)}`;
    expect(cred!.label).toBeNull();
    expect((await verify("HQ_MAIN", ALICE, r.body.revision)).body.reason).toBe("granted");
  });

  test("a revoked credential stays revoked when its secret is imported again", async () => {
    const [cred] = await s.db.sql`select id from credentials where secret_hash = ${hashSecret(ALICE_API)}`;
    const revoked = await s.call("POST", `/api/v1/admin/credentials/${cred!.id}/revoke`);
    expect(revoked.status).toBe(200);
    const r = await imp({ credentials: [{ username: "alice", kind: "api", secret: ALICE_API, label: "re-imported" }] });
    expect(r.status).toBe(200);
    expect(r.body.updated).toEqual({ credentials: 1 });
    const [row] = await s.db.sql`select label, revoked_at from credentials where id = ${cred!.id}`;
    expect(row!.label).toBe("re-imported");
    expect(row!.revoked_at).not.toBeNull();
    expect((await verify("HQ_MAIN", ALICE_API, r.body.revision)).body.reason).toBe("revoked_token");
  });

  test("a changed password is re-hashed; an unchanged one keeps its hash", async () => {
    const [old] = await s.db.sql`select password_hash from users where username = 'alice'`;
    const same = await imp({ users: [{ username: "alice", password: "correct horse battery" }] });
    expect(same.body.updated).toEqual({ users: 0 });
    const changed = await imp({ users: [{ username: "alice", password: "another long password" }] });
    expect(changed.body.updated).toEqual({ users: 1 });
    const [now] = await s.db.sql`select password_hash from users where username = 'alice'`;
    expect(now!.password_hash).not.toBe(old!.password_hash);
    expect(await Bun.password.verify("another long password", now!.password_hash)).toBe(true);
  });
});

describe("CSV import", () => {
  test("the parser: quotes, doubled quotes, commas and newlines in quotes, CRLF, blank lines, line numbers", () => {
    const text = '\ufeffa,b,c\r\n1,"x, y","say ""hi"""\r\n\r\n2,"multi\nline",\n3,,""\n';
    expect(parseCsv(text)).toEqual([
      { line: 1, cells: ["a", "b", "c"] },
      { line: 2, cells: ["1", "x, y", 'say "hi"'] },
      { line: 4, cells: ["2", "multi\nline", ""] },
      { line: 6, cells: ["3", "", ""] },
    ]);
    expect(() => parseCsv('a\n"open')).toThrow("line 2: a quoted field is not closed");
    expect(() => parseCsv('a\n"x"y')).toThrow("line 2");
    expect(() => parseCsv('a\nx"y')).toThrow("line 2");
  });

  test("typed cells: booleans, integers, JSON windows, scopes separated by spaces or commas", () => {
    const { data, rowNumbers } = csvToImport("credentials", 'username,kind,secret,scopes\na,card,S-1,"admin, user"\nb,card,S-2,user admin\nc,card,S-3,\n');
    expect(data.credentials).toEqual([
      { username: "a", kind: "card", secret: "S-1", scopes: ["admin", "user"] },
      { username: "b", kind: "card", secret: "S-2", scopes: ["user", "admin"] },
      { username: "c", kind: "card", secret: "S-3" },
    ]);
    expect(rowNumbers.credentials).toEqual([2, 3, 4]);
    expect(csvToImport("gates", "id,name,unlock_ms,mode\nG,g,1500,locked\n").data.gates).toEqual([{ id: "G", name: "g", unlock_ms: 1500, mode: "locked" }]);
    expect(csvToImport("users", "username,active\nx,FALSE\ny,1\n").data.users).toEqual([{ username: "x", active: false }, { username: "y", active: true }]);
  });

  test("users with quoted fields containing commas, quotes and newlines", async () => {
    const text = [
      "username,email,display_name,active,valid_until",
      'csv-ann,ann@example.com,"Ann, the ""first""",true,2100-01-01T00:00:00Z',
      'csv-ben,,"Ben\non two lines",false,',
      "csv-cid,cid@example.com,,,",
      "",
    ].join("\r\n");
    const r = await csv("users", text);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ counts: { users: 3 }, inserted: { users: 3 }, revision: expect.any(Number) });
    const rows = await s.db.sql`select username, email, display_name, active, valid_until from users where username like 'csv-%' order by username`;
    expect(rows.map((u) => [u.username, u.email, u.display_name, u.active, u.valid_until?.toISOString() ?? null])).toEqual([
      ["csv-ann", "ann@example.com", 'Ann, the "first"', true, "2100-01-01T00:00:00.000Z"],
      ["csv-ben", null, "Ben\non two lines", false, null],
      ["csv-cid", "cid@example.com", null, true, null],
    ]);
  });

  test("every other collection as CSV: windows as a JSON cell, scopes space-separated", async () => {
    const steps: Array<[string, string, number]> = [
      ["groups", "name,parent\ncsv-child,csv-root\ncsv-root,\n", 2],
      ["memberships", "group,username\ncsv-child,csv-ann\n", 1],
      ["zones", "name\ncsv-zone\n", 1],
      ["gates", "id,name,zone,mode,unlock_ms\nCSV_1,\"Gate, one\",csv-zone,normal,2000\n", 1],
      ["schedules", 'name,timezone,windows\ncsv-weekdays,Europe/Berlin,"[{""days"":[1,2,3,4,5],""start"":""00:00"",""end"":""24:00""}]"\n', 1],
      ["grants", "group,username,gate,zone,effect,schedule\ncsv-root,,,csv-zone,allow,\n", 1],
      ["credentials", "username,kind,secret,label,scopes\ncsv-ann,card,CSV-ANN-CARD,\"badge, blue\",\ncsv-ann,api,CSV-ANN-API,,user\n", 2],
    ];
    let revision = 0;
    for (const [c, text, n] of steps) {
      const r = await csv(c, text);
      expect({ c, status: r.status, counts: r.body.counts }).toEqual({ c, status: 200, counts: { [c]: n } });
      revision = r.body.revision;
    }
    const [g] = await s.db.sql`select p.name as parent from groups g join groups p on p.id = g.parent_id where g.name = 'csv-child'`;
    expect(g!.parent).toBe("csv-root");
    const [sched] = await s.db.sql`select windows from schedules where name = 'csv-weekdays'`;
    expect(sched!.windows).toEqual([{ days: [1, 2, 3, 4, 5], start: "00:00", end: "24:00" }]);
    const [api] = await s.db.sql`select scopes, label from credentials where secret_hash = ${hashSecret("CSV-ANN-API")}`;
    expect(api).toEqual({ scopes: ["user"], label: null });
    const [card] = await s.db.sql`select label from credentials where secret_hash = ${hashSecret("CSV-ANN-CARD")}`;
    expect(card!.label).toBe("badge, blue");
    const v = await verify("CSV_1", "CSV-ANN-CARD", revision); // csv-ann ∈ csv-child ⊂ csv-root → zone
    expect(v.body).toMatchObject({ allow: true, reason: "granted", unlock_ms: 2000 });
  });

  test("unknown collection, unknown or missing column, malformed rows: 400 naming them, line numbers count the header as 1", async () => {
    const before = await snapshot();
    const cases: Array<[string, string, Record<string, unknown>]> = [
      ["people", "username\nx\n", { field: "collection" }],
      ["users", "username,shoe_size\nx,42\n", { collection: "users", row: 1, field: "shoe_size" }],
      ["users", "email\nx@example.com\n", { collection: "users", row: 1, field: "username" }],
      ["users", "username,username\nx,y\n", { collection: "users", row: 1, field: "username" }],
      // The quoted newline makes the bad row start on line 4 of the file.
      ["users", 'username,display_name,active\nok-1,"two\nlines",true\nok-2,,maybe\n', { collection: "users", row: 4, field: "active" }],
      ["users", "username,email\nok-1,a@example.com,extra\n", { collection: "users", row: 2, field: "row" }],
      ["users", 'username\n"unclosed\n', { collection: "users", row: 2, field: "body" }],
      ["gates", "id,name,unlock_ms\nG_1,g,fast\n", { collection: "gates", row: 2, field: "unlock_ms" }],
      ["schedules", "name,timezone,windows\ns,UTC,[oops\n", { collection: "schedules", row: 2, field: "windows" }],
      ["credentials", "username,kind,secret,scopes\ncsv-ann,card,SECRET-1,admin root\n", { collection: "credentials", row: 2, field: "scopes[1]" }],
    ];
    for (const [c, text, details] of cases) {
      const r = await csv(c, text);
      expect({ text, status: r.status, code: r.body.error?.code }).toEqual({ text, status: 400, code: "invalid_request" });
      expect(r.body.error.details).toEqual(details);
    }
    const missing = await s.call("POST", PATH, { raw: "username\nx\n", headers: { "content-type": "text/csv" } });
    expect(missing.status).toBe(400);
    expect(missing.body.error.details.field).toBe("collection");
    expect(await snapshot()).toEqual(before);
  });
});

describe("bad rows reject the whole import, and nothing is written", () => {
  // Valid rows first, so a partial write would show up in the counts.
  const good = { users: [{ username: "bad-case-user" }], zones: [{ name: "bad-case-zone" }] };
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>, string?]> = [
    ["missing field", { users: [{ username: "x1" }, { username: "x2" }, { email: "a@example.com" }] }, { collection: "users", row: 3, field: "username" }, "users row 3: username: required"],
    ["bad enum", { ...good, gates: [{ id: "G_OK", name: "ok" }, { id: "G_BAD", name: "bad", mode: "open" }] }, { collection: "gates", row: 2, field: "mode" }],
    ["bad credential kind", { ...good, credentials: [{ username: "bad-case-user", kind: "badge", secret: "123456" }] }, { collection: "credentials", row: 1, field: "kind" }],
    ["unknown reference", { ...good, memberships: [{ group: "nope", username: "bad-case-user" }] }, { collection: "memberships", row: 1, field: "group" }],
    ["unknown user in credentials", { ...good, credentials: [{ username: "ghost", kind: "card", secret: "GHOST-1" }] }, { collection: "credentials", row: 1, field: "username" }],
    ["unknown schedule in grants", { ...good, grants: [{ username: "bad-case-user", zone: "bad-case-zone", schedule: "never-defined" }] }, { collection: "grants", row: 1, field: "schedule" }],
    ["unknown zone in gates", { ...good, gates: [{ id: "G_Z", name: "z", zone: "atlantis" }] }, { collection: "gates", row: 1, field: "zone" }],
    ["bad timezone", { ...good, schedules: [{ name: "mars", timezone: "Mars/Olympus", windows: [] }] }, { collection: "schedules", row: 1, field: "timezone" }],
    ["bad window", { ...good, schedules: [{ name: "w", timezone: "UTC", windows: [{ days: [1], start: "8am", end: "09:00" }] }] }, { collection: "schedules", row: 1, field: "windows[0].start" }],
    ["bad time", { ...good, users: [{ username: "t1", valid_from: "yesterday" }] }, { collection: "users", row: 1, field: "valid_from" }],
    ["impossible date", { ...good, users: [{ username: "t1", valid_until: "2026-02-30T00:00:00Z" }] }, { collection: "users", row: 1, field: "valid_until" }],
    ["window backwards", { ...good, grants: [{ username: "bad-case-user", zone: "bad-case-zone", valid_from: "2026-02-01T00:00:00Z", valid_until: "2026-01-01T00:00:00Z" }] }, { collection: "grants", row: 1, field: "valid_until" }],
    ["wrong type", { ...good, users: [{ username: "t1", active: "yes" }] }, { collection: "users", row: 1, field: "active" }],
    ["unknown field", { ...good, zones: [{ name: "z", colour: "red" }] }, { collection: "zones", row: 1, field: "colour" }],
    ["two subjects", { ...good, grants: [{ group: "company", username: "bob", gate: "HQ_MAIN" }] }, { collection: "grants", row: 1, field: "username" }],
    ["no target", { ...good, grants: [{ group: "company" }] }, { collection: "grants", row: 1, field: "gate" }],
    ["duplicate key", { users: [{ username: "d1" }, { username: "d2" }, { username: "d1" }] }, { collection: "users", row: 3, field: "username" }],
    ["bad gate id", { gates: [{ id: "bad id!", name: "x" }] }, { collection: "gates", row: 1, field: "id" }],
    ["row not an object", { zones: ["hq"] }, { collection: "zones", row: 1, field: "row" }],
    ["unknown collection", { ...good, doors: [] }, { collection: "doors", field: "doors" }],
    ["collection not a list", { users: { username: "x" } }, { collection: "users", field: "users" }],
    ["self parent", { groups: [{ name: "loop", parent: "loop" }] }, { collection: "groups", row: 1, field: "parent" }],
    // Found only in the database, after the groups were written: the rollback undoes them.
    ["parent cycle", { ...good, groups: [{ name: "cyc-a", parent: "cyc-b" }, { name: "cyc-b", parent: "cyc-a" }] }, { collection: "groups", row: 1, field: "parent" }],
    ["cycle through stored groups", { groups: [{ name: "company", parent: "backend" }] }, { collection: "groups", row: 1, field: "parent" }],
    // Merged with the stored row: bob's stored valid_from is 2020-01-01.
    ["merged window", { users: [{ username: "bob", valid_until: "2019-01-01T00:00:00Z" }] }, { collection: "users", row: 1, field: "valid_until" }],
  ];
  for (const [name, body, details, message] of cases) {
    test(name, async () => {
      const before = await snapshot();
      const r = await imp(body);
      expect({ status: r.status, code: r.body.error?.code }).toEqual({ status: 400, code: "invalid_request" });
      expect(r.body.error.details).toEqual(details);
      if (message) expect(r.body.error.message).toBe(message);
      expect(await snapshot()).toEqual(before);
    });
  }

  test("the exact error body of the contract", async () => {
    const r = await imp({ users: [{ username: "a" }, { username: "b" }, { display_name: "no name" }] });
    expect(r.body).toEqual({ error: { code: "invalid_request", message: "users row 3: username: required", details: { collection: "users", row: 3, field: "username" } } });
  });

  test("a secret that belongs to another user's credential is 409, nothing written", async () => {
    const before = await snapshot();
    const r = await imp({ users: [{ username: "thief" }], credentials: [{ username: "thief", kind: "card", secret: ALICE }] });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ code: "conflict", details: { collection: "credentials", row: 1, field: "secret" } });
    expect(await snapshot()).toEqual(before);
  });

  test("malformed bodies", async () => {
    const notJson = await s.call("POST", PATH, { raw: "{nope", headers: { "content-type": "application/json" } });
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.details.field).toBe("body");
    const array = await imp([]);
    expect(array.status).toBe(400);
    const type = await s.call("POST", PATH, { raw: "username\nx", headers: { "content-type": "text/plain" } });
    expect(type.status).toBe(400);
    expect(type.body.error.details.field).toBe("content-type");
    const both = await s.call("POST", `${PATH}?collection=users`, { body: { users: [] } });
    expect(both.status).toBe(400);
    expect(both.body.error.details.field).toBe("collection");
  });
});

describe("Postgres errors map to 400/409/503, never 500", () => {
  // Validation catches what it can before SQL; these are what a race or an unforeseen value
  // would raise inside the transaction.
  const pg = (code: string, extra: Record<string, unknown> = {}) => Object.assign(new Error("pg"), { code, ...extra });
  test.each([
    ["23505", { constraint_name: "users_username_key" }, 409, "username"],
    ["23503", { constraint_name: "memberships_user_id_fkey" }, 400, "user_id"],
    ["23514", { constraint_name: "users_check" }, 400, "valid_until"],
    ["22008", {}, 400, "body"],
    ["22021", { column_name: "name" }, 400, "name"],
    ["23P01", {}, 400, "body"],
    ["40P01", {}, 503, undefined],
  ] as const)("%s", (code, extra, status, field) => {
    const e = importDbError(pg(code, extra), "users");
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).status).toBe(status);
    expect((e as ApiError).details).toMatchObject({ collection: "users", ...(field ? { field } : {}) });
  });
});

describe("security", () => {
  test("no token is 401, a user-scope token is 403, before the body is looked at", async () => {
    for (const token of [null, "pcl_not_a_real_token"]) {
      expect((await imp(FULL, token)).status).toBe(401);
      expect((await imp({ nonsense: true }, token)).status).toBe(401);
      expect((await csv("people", "x\n1\n", token)).status).toBe(401);
      expect((await s.call("POST", PATH, { raw: "{nope", headers: { "content-type": "application/json" }, token })).status).toBe(401);
    }
    const user = await imp({ zones: [{ name: "user-made" }] }, s.userToken);
    expect(user.status).toBe(403);
    expect(user.body.error.code).toBe("forbidden");
    expect((await csv("zones", "name\nuser-made\n", s.userToken)).status).toBe(403);
    const [z] = await s.db.sql`select count(*)::int as n from zones where name = 'user-made'`;
    expect(z!.n).toBe(0);
  });

  test("a declared body over 64 MiB is 413 without being read", async () => {
    const r = await s.call("POST", PATH, { raw: "{}", headers: { "content-type": "application/json", "content-length": String(65 * 1024 * 1024) } });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe("payload_too_large");
  });

  test("the route is in the OpenAPI document with both body types", async () => {
    const r = await s.call("GET", "/swagger/json", { token: null });
    const op = r.body.paths["/api/v1/admin/import"].post;
    expect(op.tags).toEqual(["admin"]);
    expect(Object.keys(op.requestBody.content).sort()).toEqual(["application/json", "text/csv"]);
  });
});
