// import-openway against a real openway_access schema: Django's tables and rows in a scratch
// database, imported (twice: idempotent; then again after changes in Django), and every
// (token, gate) pair decided through the compatibility listener exactly as the original's rules
// decide it. Users keep their Django pbkdf2 passwords, upgraded to argon2id at the first login.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { importOpenway, type OpenwayImportResult } from "../../src/compat/import-openway";
import { type CompatService, startCompatService } from "./helpers";
import { createDjangoDb, deviceToken, djangoPbkdf2, drfKey, type DjangoDb } from "./django";

// ---------------------------------------------------------------------------------------------
// The Django side: fixture rows, and the original service's decision rules over them

interface DUser { id: number; username: string; password: string; hash: string; active: boolean; first: string; last: string; email: string }
interface DPerm { id: number; ap: number; user: number | null; group: number | null; allow: boolean }
interface DDevice { id: number; user: number; name: string; android: string | null; token: string; active: boolean; created: string }

const PASSWORDS: Array<[number, string, string, number, boolean]> = [
  // id, username, password, Django iterations (the defaults of 5.1, 4.2, 5.0, 5.2, 3.2 …), active
  [1, "alice", "alice-Secret-1", 870_000, true],
  [2, "bob", "bob-Secret-2", 600_000, true],
  [3, "carol", "carol-Secret-3", 720_000, false],
  [4, "dave", "dave-Secret-4", 1_000_000, true],
  [6, "frank", "frank-Secret-6", 260_000, true],
  [7, "grace", "grace-Secret-7", 390_000, true],
  [8, "heidi", "heidi-Django-8", 870_000, true],
];

const users: DUser[] = PASSWORDS.map(([id, username, password, iterations, active]) => ({
  id, username, password, hash: djangoPbkdf2(password, iterations), active,
  first: username[0]!.toUpperCase() + username.slice(1), last: id % 2 ? "Smith" : "", email: `${username}@example.org`,
}));
// erin: an unusable password (set_unusable_password), no tokens.
users.push({ id: 5, username: "erin", password: "", hash: "!Zq3wUnusablePasswordMarker0123456789", active: true, first: "", last: "", email: "" });

const groups = [{ id: 1, name: "staff" }, { id: 2, name: "night" }, { id: 3, name: "empty" }];
let memberships: Array<[user: number, group: number]> = [[1, 1], [4, 1], [4, 2], [7, 2], [3, 1]];
const points = [
  { id: 1, code: "gate-a", name: "Main entrance" },
  { id: 2, code: "gate-b", name: "" },
  { id: 3, code: "gate-c", name: "Car park" },
  { id: 4, code: "GATE_D", name: "Server room" },
];
let perms: DPerm[] = [
  { id: 1, ap: 1, user: null, group: 1, allow: true }, // staff → gate-a
  { id: 2, ap: 2, user: 2, group: null, allow: true }, // bob → gate-b
  { id: 3, ap: 1, user: 2, group: null, allow: false }, // bob ✗ gate-a: grants nothing
  { id: 4, ap: 1, user: 3, group: null, allow: true }, // carol (inactive) → gate-a
  { id: 5, ap: 1, user: 4, group: null, allow: false }, // dave ✗ gate-a, but staff allows: ALLOW
  { id: 6, ap: 3, user: null, group: 2, allow: false }, // night ✗ gate-c: grants nothing
  { id: 7, ap: 2, user: 7, group: 2, allow: true }, // grace AND night → gate-b (both subjects)
  { id: 8, ap: 4, user: 1, group: null, allow: true }, // alice → GATE_D
  { id: 9, ap: 4, user: null, group: 1, allow: false }, // staff ✗ GATE_D: alice still allowed
  { id: 10, ap: 3, user: 6, group: null, allow: true }, // frank → gate-c
];
let tokens = new Map<number, string>([1, 2, 3, 4, 7, 8].map((u) => [u, drfKey()]));
// Device 1 collides with a device made natively in Portcullis before the import: it is renumbered.
const devices: DDevice[] = [
  { id: 10, user: 1, name: "Pixel 8", android: "and-alice", token: deviceToken(), active: true, created: "2025-01-01T10:00:00Z" },
  { id: 11, user: 1, name: "", android: null, token: deviceToken(), active: false, created: "2025-02-01T10:00:00Z" },
  { id: 12, user: 3, name: "Mobile device", android: "and-carol", token: deviceToken(), active: true, created: "2025-01-05T10:00:00Z" },
  { id: 13, user: 6, name: "Mobile device", android: "and-frank", token: deviceToken(), active: true, created: "2025-01-06T10:00:00Z" },
  // From devices migration 0002 (secrets.token_urlsafe(32)): not hex, 43 characters.
  { id: 14, user: 4, name: "Old phone", android: null, token: "Zx9-_QwErTyUiOpAsDfGhJkLzXcVbNm1234567890ab", active: true, created: "2025-01-07T10:00:00Z" },
  { id: 1, user: 2, name: "Mobile device", android: "and-bob", token: deviceToken(), active: false, created: "2024-12-01T10:00:00Z" },
];

/** The original's AccessVerifyView + COMPAT-openway.md: gate first, then token, device, user, permission. */
function original(token: string, gate: string): string {
  const ap = points.find((p) => p.code === gate);
  if (!ap) return "UNKNOWN_GATE";
  let userId: number;
  const drf = [...tokens].find(([, key]) => key === token);
  if (drf) userId = drf[0];
  else {
    const dev = devices.find((d) => d.token === token);
    if (!dev) return "TOKEN_INVALID";
    if (!dev.active) return "DEVICE_INACTIVE";
    userId = dev.user;
  }
  const user = users.find((u) => u.id === userId)!;
  if (!user.active) return "TOKEN_INVALID";
  const inGroup = (g: number | null) => g !== null && memberships.some(([u, gg]) => u === userId && gg === g);
  const allowed = perms.some((p) => p.allow && p.ap === ap.id && (p.user === userId || inGroup(p.group)));
  return allowed ? "OK" : "NO_PERMISSION";
}

async function fillDjango(d: DjangoDb): Promise<void> {
  await d.sql.begin(async (tx) => {
    for (const u of users) {
      await tx`insert into auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
               values (${u.id}, ${u.hash}, false, ${u.username}, ${u.first}, ${u.last}, ${u.email}, false, ${u.active}, now())`;
    }
    for (const g of groups) await tx`insert into auth_group (id, name) values (${g.id}, ${g.name})`;
    for (const [u, g] of memberships) await tx`insert into auth_user_groups (user_id, group_id) values (${u}, ${g})`;
    for (const [u, key] of tokens) await tx`insert into authtoken_token (key, created, user_id) values (${key}, now(), ${u})`;
    for (const p of points) await tx`insert into access_accesspoint (id, code, name, location) values (${p.id}, ${p.code}, ${p.name}, '')`;
    for (const p of perms) {
      await tx`insert into access_accesspermission (id, allow, access_point_id, group_id, user_id) values (${p.id}, ${p.allow}, ${p.ap}, ${p.group}, ${p.user})`;
    }
    for (const v of devices) {
      await tx`insert into devices_device (id, name, android_device_id, totp_secret, auth_token, is_active, created_at, user_id)
               values (${v.id}, ${v.name}, ${v.android}, '', ${v.token}, ${v.active}, ${v.created}, ${v.user})`;
    }
    await tx`insert into access_accessevent (device_id, decision, reason, raw, created_at, access_point_id, user_id) values
      (10, 'ALLOW', 'OK', '{"gate_id": "gate-a"}', now() - interval '2 days', 1, 1),
      (null, 'DENY', 'TOKEN_INVALID', '{"gate_id": "gate-a"}', now() - interval '1 day', 1, null),
      (null, 'DENY', 'UNKNOWN_GATE', '{"gate_id": "gate-zz"}', now() - interval '3 hours', null, null),
      (11, 'DENY', 'DEVICE_INACTIVE', '{"gate_id": "gate-a"}', now() - interval '200 days', 1, 1)`;
  });
}

// ---------------------------------------------------------------------------------------------

let s: CompatService;
let dj: DjangoDb;
let first: OpenwayImportResult;
let nativeDeviceNumber: number;

const countRows = async () => {
  const [c] = await s.db.sql`select
    (select count(*) from users)::int as users, (select count(*) from groups)::int as groups,
    (select count(*) from memberships)::int as memberships, (select count(*) from gates)::int as gates,
    (select count(*) from grants)::int as grants, (select count(*) from credentials)::int as credentials,
    (select count(*) from credentials where revoked_at is not null)::int as revoked,
    (select count(*) from devices)::int as devices, (select count(*) from access_events where revision = 0)::int as imported_events`;
  return c;
};

beforeAll(async () => {
  [s, dj] = await Promise.all([startCompatService(), createDjangoDb()]);
  await fillDjango(dj);
  // Before the import, Portcullis already has heidi (native password) and a device numbered 1.
  await s.call("POST", "/api/v1/admin/users", { body: { username: "heidi", password: "heidi-native-pass" } });
  nativeDeviceNumber = Number((await s.db.sql`
    with c as (insert into credentials (user_id, kind, secret_hash) select id, 'device', repeat('a', 64) from users where username = 'test-user' returning id, user_id)
    insert into devices (user_id, credential_id, name) select user_id, id, 'native reader' from c returning number`)[0]!.number);
  first = await importOpenway(s.db.sql, dj.url, { events: true, retentionDays: 90 });
  await s.caughtUp();
});
afterAll(async () => {
  await s?.stop();
  await dj?.drop();
});

const verify = (gate_id: string, token: string) => s.compat("POST", "/api/v1/access/verify", { json: { gate_id, token } });
const GATES = [...points.map((p) => p.code), "gate-zz", "GATE_A"];

async function checkEveryPair(): Promise<number> {
  const all = [...tokens.values(), ...devices.map((d) => d.token), "0".repeat(40), "f".repeat(64)];
  let n = 0;
  for (const token of all) {
    for (const gate of GATES) {
      const want = original(token, gate);
      const r = await verify(gate, token);
      const expected = want === "OK" ? { decision: "ALLOW", reason: "OK", duration_ms: 800 } : { decision: "DENY", reason: want };
      expect([gate, token, r.status, r.body]).toEqual([gate, token, 200, expected]);
      // The native API agrees on allow/deny.
      const native = await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: gate, token } });
      expect([gate, token, native.body.allow]).toEqual([gate, token, want === "OK"]);
      n++;
    }
  }
  return n;
}

describe("import-openway", () => {
  test("imports every table and prints what it did", () => {
    const c = first.counts;
    expect(c.users).toEqual({ source: 8, inserted: 7, updated: 1, removed: 0 }); // heidi adopted by username
    expect(c.groups).toEqual({ source: 3, inserted: 3, updated: 0, removed: 0 });
    expect(c.memberships).toEqual({ source: 5, inserted: 5, updated: 0, removed: 0 });
    expect(c.gates).toEqual({ source: 4, inserted: 4, updated: 0, removed: 0 });
    // allow rows 1, 2, 4, 7 (user and group), 8, 10; allow=false rows grant nothing.
    expect(c.grants).toEqual({ source: 7, inserted: 7, updated: 0, removed: 0 });
    expect(c.login_tokens).toEqual({ source: 6, inserted: 6, updated: 0, removed: 0 });
    expect(c.devices).toEqual({ source: 6, inserted: 6, updated: 0, removed: 0 });
    expect(c.device_tokens).toEqual({ source: 6, inserted: 6, updated: 0, removed: 0 });
    expect(c.events).toEqual({ source: 3, inserted: 3, updated: 0, removed: 0 });
    expect(first.skippedEventsOlderThanRetention).toBe(1);
    expect(first.renumberedDevices).toBe(1);
  });

  test("stores secrets only as hashes, keeps Django's password hashes and integer device ids", async () => {
    const creds = await s.db.sql`select secret_hash from credentials`;
    const all = [...tokens.values(), ...devices.map((d) => d.token)];
    for (const c of creds) expect(all).not.toContain(c.secret_hash);
    const [alice] = await s.db.sql`select password_hash, display_name, email, active, openway_id from users where username = 'alice'`;
    expect(alice).toEqual({ password_hash: users[0]!.hash, display_name: "Alice Smith", email: "alice@example.org", active: true, openway_id: 1 });
    const [erin] = await s.db.sql`select password_hash from users where username = 'erin'`;
    expect(erin!.password_hash).toBeNull();
    const [heidi] = await s.db.sql`select password_hash, openway_id from users where username = 'heidi'`;
    expect(heidi!.password_hash).toStartWith("$argon2id$"); // her Portcullis password stays
    expect(heidi!.openway_id).toBe(8);
    const nums = await s.db.sql`select openway_id, number from devices where openway_id is not null order by openway_id`;
    for (const d of nums) {
      if (d.openway_id === 1) expect(d.number).toBeGreaterThan(14); // 1 was taken by the native device
      else expect(d.number).toBe(d.openway_id);
    }
    expect(nativeDeviceNumber).toBe(1);
    const gateB = await s.db.sql`select name, mode, unlock_ms from gates where id = 'gate-b'`;
    expect(gateB[0]).toEqual({ name: "gate-b", mode: "normal", unlock_ms: 800 });
  });

  test("every (token, gate) pair decides as the original did", async () => {
    expect(await checkEveryPair()).toBe((tokens.size + devices.length + 2) * GATES.length);
  });

  test("events come along in Portcullis' words, within retention", async () => {
    const rows = await s.db.sql`select gate_id, allow, reason, revision, user_id is not null as has_user, credential_id is not null as has_cred
                                from access_events where revision = 0 order by at`;
    expect([...rows]).toEqual([
      { gate_id: "gate-a", allow: true, reason: "granted", revision: 0, has_user: true, has_cred: true },
      { gate_id: "gate-a", allow: false, reason: "unknown_token", revision: 0, has_user: false, has_cred: false },
      { gate_id: "gate-zz", allow: false, reason: "unknown_gate", revision: 0, has_user: false, has_cred: false },
    ]);
  });

  test("a second run changes nothing: same counts in the database, same revision", async () => {
    const before = await countRows();
    // Through the CLI, as an operator runs it.
    const proc = Bun.spawn([process.execPath, "src/cli/main.ts", "import-openway", dj.url, "--events"], {
      env: { ...process.env, DATABASE_URL: s.db.url, LOG_LEVEL: "error" }, stdout: "pipe", stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(out).toContain(`revision ${first.revision})`);
    expect(out).toMatch(/users\s+8\s+0\s+0\s+0/);
    expect(out).toMatch(/grants\s+7\s+0\s+0\s+0/);
    expect(out).toMatch(/events\s+3\s+0\s+0\s+0/);
    const again = await importOpenway(s.db.sql, dj.url, { events: true });
    expect(again.revision).toBe(first.revision);
    for (const t of Object.values(again.counts)) expect([t.inserted, t.updated, t.removed]).toEqual([0, 0, 0]);
    expect(await countRows()).toEqual(before);
  });

  test("refuses an access point code that is not a gate id, naming it, and imports nothing", async () => {
    const bad = await createDjangoDb();
    try {
      await bad.sql`insert into access_accesspoint (code, name, location) values ('Gate 7 (north)', 'x', ''), ('ok-gate', 'y', '')`;
      await expect(importOpenway(s.db.sql, bad.url)).rejects.toThrow(/"Gate 7 \(north\)"/);
      expect((await s.db.sql`select count(*)::int as n from gates where id = 'ok-gate'`)[0]!.n).toBe(0);
      const empty = await createDjangoDb();
      await empty.sql`drop table devices_device`;
      await expect(importOpenway(s.db.sql, empty.url)).rejects.toThrow(/missing table devices_device/);
      await empty.drop();
    } finally {
      await bad.drop();
    }
  });

  test("refuses a token whose secret is another user's credential here, or one of another kind, and imports nothing", async () => {
    const other = await createDjangoDb();
    try {
      const before = await countRows();
      const user = (id: number, username: string) => other.sql`
        insert into auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
        values (${id}, '', false, ${username}, '', '', '', false, true, now())`;
      await user(1, "alice");
      await user(99, "mallory");
      // alice's imported DRF key, now Django's token of another user.
      await other.sql`insert into authtoken_token (key, created, user_id) values (${tokens.get(1)!}, now(), 99)`;
      await expect(importOpenway(s.db.sql, other.url)).rejects.toThrow(/^1 × a login token whose secret already belongs to another user's credential/);
      // The same key as a device token of alice's: her credential, but a session one.
      await other.sql`delete from authtoken_token`;
      await other.sql`insert into devices_device (id, name, android_device_id, totp_secret, auth_token, is_active, created_at, user_id)
                      values (50, 'phone', null, '', ${tokens.get(1)!}, true, now(), 1)`;
      await expect(importOpenway(s.db.sql, other.url)).rejects.toThrow(/^1 × a device token whose secret already belongs .*of another kind/);
      expect((await s.db.sql`select count(*)::int as n from users where username = 'mallory'`)[0]!.n).toBe(0);
      expect(await countRows()).toEqual(before);
    } finally {
      await other.drop();
    }
  });
});

describe("after the import", () => {
  test("a pbkdf2 user logs in (compat: JSON, form, multipart) and is re-hashed to argon2id; the token stays the same", async () => {
    const a = await s.compat("POST", "/api/v1/auth/token", { json: { username: "alice", password: "alice-Secret-1" } });
    expect(a.status).toBe(200);
    expect(a.body.token).toMatch(/^[0-9a-f]{40}$/);
    expect(a.body.token).not.toBe(tokens.get(1)); // the imported key's plaintext is not kept
    const [row] = await s.db.sql`select password_hash from users where username = 'alice'`;
    expect(row!.password_hash).toStartWith("$argon2id$");
    const b = await s.compat("POST", "/api/v1/auth/token", { form: { username: "alice", password: "alice-Secret-1" } });
    const c = await s.compat("POST", "/api/v1/auth/token", { multipart: { username: "alice", password: "alice-Secret-1" } });
    expect([b.body, c.body]).toEqual([a.body, a.body]);
    expect((await s.compat("POST", "/api/v1/auth/token", { json: { username: "alice", password: "alice-Secret-X" } })).status).toBe(400);
    // Both the imported DRF key and the new token authenticate and verify.
    await s.caughtUp();
    for (const t of [tokens.get(1)!, a.body.token]) {
      expect((await s.compat("GET", "/api/v1/devices/me", { token: t })).status).toBe(200);
      expect((await verify("gate-a", t)).body.reason).toBe("OK");
    }
  });

  test("a pbkdf2 user logs in through the native API too, and is re-hashed", async () => {
    const r = await s.call("POST", "/api/v1/auth/token", { token: null, body: { username: "bob", password: "bob-Secret-2" } });
    expect(r.status).toBe(201);
    const [row] = await s.db.sql`select password_hash from users where username = 'bob'`;
    expect(row!.password_hash).toStartWith("$argon2id$");
    expect(await Bun.password.verify("bob-Secret-2", row!.password_hash)).toBe(true);
  });

  test("unusable, inactive and adopted users log in as the original (and Portcullis) would", async () => {
    const bad = { non_field_errors: ["Unable to log in with provided credentials."] };
    for (const [username, password] of [["erin", ""], ["erin", "anything"], ["carol", "carol-Secret-3"], ["heidi", "heidi-Django-8"]]) {
      const r = await s.compat("POST", "/api/v1/auth/token", { json: { username, password } });
      expect(r.status).toBe(400);
      if (password) expect(r.body).toEqual(bad);
    }
    expect((await s.compat("POST", "/api/v1/auth/token", { json: { username: "heidi", password: "heidi-native-pass" } })).status).toBe(200);
  });

  test("devices keep their Django ids, android ids, state and previews", async () => {
    const me = await s.compat("GET", "/api/v1/devices/me", { token: tokens.get(1) });
    const preview = (t: string) => `${t.slice(0, 4)}…${t.slice(-4)}`;
    expect(me.body).toEqual([
      { id: 11, android_device_id: "", is_active: false, token_preview: preview(devices[1]!.token) },
      { id: 10, android_device_id: "and-alice", is_active: true, token_preview: preview(devices[0]!.token) },
    ]);
    const bob = await s.compat("GET", "/api/v1/devices/me", { token: tokens.get(2) });
    expect(bob.body).toEqual([{ id: expect.any(Number), android_device_id: "and-bob", is_active: false, token_preview: preview(devices[5]!.token) }]);
    expect(bob.body[0].id).not.toBe(1);
  });

  test("register with rotate=false on an imported device issues a derived token once; a re-import keeps it", async () => {
    const r = await s.compat("POST", "/api/v1/devices/register", { token: tokens.get(1), json: { rotate: false } });
    expect(r.status).toBe(200);
    expect(r.body.device_id).toBe(10);
    expect(r.body.android_device_id).toBe("and-alice");
    expect(r.body.token).toMatch(/^[0-9a-f]{64}$/);
    const again = await s.compat("POST", "/api/v1/devices/register", { token: tokens.get(1), json: { rotate: false } });
    expect(again.body).toEqual(r.body);
    await importOpenway(s.db.sql, dj.url);
    await s.caughtUp();
    expect((await verify("gate-a", r.body.token)).body.reason).toBe("OK");
    expect((await verify("gate-a", devices[0]!.token)).body.reason).toBe("TOKEN_INVALID");
    // Revoking it by its Django id through the compat API.
    const rev = await s.compat("POST", "/api/v1/devices/revoke", { token: tokens.get(1), json: { device_id: 10 } });
    expect(rev.body).toEqual({ device_id: 10, is_active: false });
    await s.caughtUp();
    expect((await verify("gate-a", r.body.token)).body.reason).toBe("DEVICE_INACTIVE");
    // The original would now see alice's device 10 as inactive too; the model follows.
    devices[0]!.token = r.body.token;
    devices[0]!.active = false;
  });

  test("changes made in Django since are carried over by a re-import, and every pair decides as the original again", async () => {
    // Django: a permission deleted, one turned into allow=false, a token rotated, a device
    // deactivated, a membership removed, a DRF token regenerated, a user deactivated.
    await dj.sql`delete from access_accesspermission where id = 10`;
    await dj.sql`update access_accesspermission set allow = false where id = 2`;
    await dj.sql`update devices_device set is_active = false where id = 13`;
    await dj.sql`delete from auth_user_groups where user_id = 4 and group_id = 2`;
    const newBobKey = drfKey();
    await dj.sql`update authtoken_token set key = ${newBobKey} where user_id = 2`;
    await dj.sql`update auth_user set is_active = false where id = 7`;
    const oldBobKey = tokens.get(2)!;
    const rotated = deviceToken();
    await dj.sql`update devices_device set auth_token = ${rotated} where id = 14`;
    perms = perms.filter((p) => p.id !== 10).map((p) => (p.id === 2 ? { ...p, allow: false } : p));
    devices.find((d) => d.id === 13)!.active = false;
    memberships = memberships.filter(([u, g]) => !(u === 4 && g === 2));
    tokens.set(2, newBobKey);
    users.find((u) => u.id === 7)!.active = false;
    const oldDaveDevice = devices.find((d) => d.id === 14)!.token;
    devices.find((d) => d.id === 14)!.token = rotated;

    const r = await importOpenway(s.db.sql, dj.url, { events: true });
    expect(r.counts.grants).toEqual({ source: 5, inserted: 0, updated: 0, removed: 2 });
    expect(r.counts.memberships).toEqual({ source: 4, inserted: 0, updated: 0, removed: 1 });
    expect(r.counts.login_tokens).toEqual({ source: 6, inserted: 1, updated: 0, removed: 1 });
    expect(r.counts.devices).toEqual({ source: 6, inserted: 0, updated: 2, removed: 0 });
    expect(r.counts.device_tokens).toEqual({ source: 6, inserted: 1, updated: 0, removed: 2 });
    expect(r.counts.users).toEqual({ source: 8, inserted: 0, updated: 1, removed: 0 }); // grace; alice's argon2id hash is not reverted
    const [alice] = await s.db.sql`select password_hash from users where username = 'alice'`;
    expect(alice!.password_hash).toStartWith("$argon2id$");
    await s.caughtUp();
    await checkEveryPair();
    expect((await verify("gate-b", oldBobKey)).body.reason).toBe("TOKEN_INVALID");
    expect((await verify("gate-a", oldDaveDevice)).body.reason).toBe("TOKEN_INVALID");
    expect((await verify("gate-c", devices.find((d) => d.id === 13)!.token)).body.reason).toBe("DEVICE_INACTIVE");
  });
});
