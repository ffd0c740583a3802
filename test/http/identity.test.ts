import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestService, sleepUntil, type TestService } from "../setup";

let s: TestService;
let aliceId: string;

beforeAll(async () => {
  s = await startTestService({ RATE_LIMIT_LOGIN: "3/5m", TRUST_PROXY: "1" });
  aliceId = (await s.call("POST", "/api/v1/admin/users", { body: { username: "alice", password: "alice-password-1" } })).body.id;
  await s.call("POST", "/api/v1/admin/users", { body: { username: "ivan", password: "ivan-password-1", active: false } });
  await s.call("POST", "/api/v1/admin/users", { body: { username: "old", password: "old-password-1", valid_until: "2020-01-01T00:00:00Z" } });
  await s.call("POST", "/api/v1/admin/gates", { body: { id: "DOOR", name: "door" } });
  const g = await s.call("POST", "/api/v1/admin/grants", { body: { subject: { user_id: aliceId }, target: { gate_id: "DOOR" } } });
  expect(g.status).toBe(201);
});
afterAll(() => s.stop());

let addr = 0;
/** Each login from its own address unless one is given, so only the per-username limit is shared. */
const login = (username: string, password: string, headers: Record<string, string> = { "x-forwarded-for": `10.0.0.${++addr}` }) =>
  s.call("POST", "/api/v1/auth/token", { token: null, body: { username, password }, headers });

describe("login", () => {
  test("a correct password answers 201 with a user-scoped session token that expires", async () => {
    const r = await login("alice", "alice-password-1");
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ token: expect.stringMatching(/^pcl_/), token_id: expect.stringMatching(/^c_/), expires_at: expect.any(String), scopes: ["user"] });
    const ttl = Date.parse(r.body.expires_at) - Date.now();
    expect(ttl).toBeGreaterThan(11 * 3600_000);
    expect(ttl).toBeLessThanOrEqual(12 * 3600_000);
    expect((await s.call("GET", "/api/v1/devices/me", { token: r.body.token })).status).toBe(200);
  });

  test("unknown user, wrong password, inactive and out-of-validity users get the same 401", async () => {
    const bodies = [];
    for (const [u, p] of [["nobody", "whatever-pass"], ["alice", "wrong-password"], ["ivan", "ivan-password-1"], ["old", "old-password-1"]]) {
      const r = await login(u!, p!);
      expect(r.status).toBe(401);
      bodies.push(r.body);
    }
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    expect(bodies[0]).toEqual({ error: { code: "unauthorized", message: "invalid username or password" } });
  });

  test("an expired session token is refused", async () => {
    const r = await login("alice", "alice-password-1");
    expect(r.status).toBe(201);
    await s.db.sql`update credentials set expires_at = now() - interval '1 second' where id = ${r.body.token_id}`;
    const me = await s.call("GET", "/api/v1/devices/me", { token: r.body.token });
    expect(me.status).toBe(401);
    expect(me.body.error.message).toBe("token expired");
  });

  test("logout revokes the caller's token everywhere", async () => {
    const r = await login("alice", "alice-password-1");
    const out = await s.call("DELETE", "/api/v1/auth/token", { token: r.body.token });
    expect(out.status).toBe(204);
    expect((await s.call("GET", "/api/v1/devices/me", { token: r.body.token })).status).toBe(401);
    const v = await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "DOOR", token: r.body.token, min_revision: Number(out.headers.get("x-revision")) } });
    expect(v.body.reason).toBe("revoked_token");
    expect((await s.call("DELETE", "/api/v1/auth/token", { token: null })).status).toBe(401);
  });

  test("missing fields are 400 naming the field", async () => {
    const r = await s.call("POST", "/api/v1/auth/token", { token: null, body: { username: "alice" } });
    expect(r.status).toBe(400);
    expect(r.body.error.details.field).toBe("password");
  });

  test("repeated failures from one address are throttled across usernames", async () => {
    const from = { "x-forwarded-for": "192.0.2.77" };
    for (let i = 0; i < 3; i++) expect((await login(`someone-${i}`, "guess-xxxx", from)).status).toBe(401);
    expect((await login("alice", "alice-password-1", from)).status).toBe(429);
    expect((await login("alice", "alice-password-1")).status).toBe(201);
  });

  test("repeated failures for one username are throttled with 429 and Retry-After; the right password does not get through", async () => {
    await s.call("POST", "/api/v1/admin/users", { body: { username: "target", password: "target-password-1" } });
    for (let i = 0; i < 3; i++) expect((await login("target", `guess-${i}-xxxx`)).status).toBe(401);
    const r = await login("target", "target-password-1");
    expect(r.status).toBe(429);
    expect(r.body.error.code).toBe("rate_limited");
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });
});

describe("devices", () => {
  let session: string;
  beforeAll(async () => {
    session = (await login("alice", "alice-password-1")).body.token;
  });

  test("register answers 201 with a device token that verifies as its user", async () => {
    const r = await s.call("POST", "/api/v1/devices/register", { token: session, body: { name: "Pixel", platform: "android" } });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ device_id: expect.stringMatching(/^d_/), token: expect.stringMatching(/^pcl_/), token_id: expect.stringMatching(/^c_/), revision: expect.any(Number), propagation: { nodes: 1, applied: 1, pending: [] } });
    const v = await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "DOOR", token: r.body.token, min_revision: r.body.revision } });
    expect(v.body).toMatchObject({ allow: true, reason: "granted", user_id: aliceId });
  });

  test("list mine shows devices newest first, with last_seen_at advanced by verifies (in batches)", async () => {
    const d = await s.call("POST", "/api/v1/devices/register", { token: session, body: { name: "Watch", platform: "wearos" } });
    const before = await s.call("GET", "/api/v1/devices/me", { token: session });
    expect(before.body.items[0]).toEqual({ device_id: d.body.device_id, name: "Watch", platform: "wearos", created_at: expect.any(String), last_seen_at: null });
    await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "DOOR", token: d.body.token, min_revision: d.body.revision } });
    const seen = await sleepUntil(async () => {
      const r = await s.call("GET", "/api/v1/devices/me", { token: session });
      return r.body.items.find((x: any) => x.device_id === d.body.device_id && x.last_seen_at);
    }, "last_seen_at");
    expect(Date.parse(seen.last_seen_at)).toBeGreaterThan(Date.now() - 60_000);
  });

  test("deleting a device revokes its credential at once; someone else's device is 404", async () => {
    const d = await s.call("POST", "/api/v1/devices/register", { token: session, body: { name: "Old phone", platform: "ios" } });
    const other = await s.call("POST", "/api/v1/devices/register", { token: s.userToken, body: { name: "Not yours", platform: "ios" } });
    expect((await s.call("DELETE", `/api/v1/devices/${other.body.device_id}`, { token: session })).status).toBe(404);
    const del = await s.call("DELETE", `/api/v1/devices/${d.body.device_id}`, { token: session });
    expect(del.status).toBe(204);
    const v = await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "DOOR", token: d.body.token, min_revision: Number(del.headers.get("x-revision")) } });
    expect(v.body.reason).toBe("revoked_token");
    expect((await s.call("DELETE", `/api/v1/devices/${d.body.device_id}`, { token: session })).status).toBe(404);
    const mine = await s.call("GET", "/api/v1/devices/me", { token: session });
    expect(mine.body.items.map((x: any) => x.device_id)).not.toContain(d.body.device_id);
  });

  test("register needs the user scope and a valid body", async () => {
    expect((await s.call("POST", "/api/v1/devices/register", { token: s.adminToken, body: { name: "x", platform: "y" } })).status).toBe(403);
    expect((await s.call("POST", "/api/v1/devices/register", { token: null, body: { name: "x", platform: "y" } })).status).toBe(401);
    const bad = await s.call("POST", "/api/v1/devices/register", { token: session, body: { name: "" } });
    expect(bad.status).toBe(400);
  });
});

describe("audit and explain", () => {
  test("audit lists writes newest first, filtered and paginated", async () => {
    const z = await s.call("POST", "/api/v1/admin/zones", { body: { name: "audit-zone" } });
    await s.call("PATCH", `/api/v1/admin/zones/${z.body.id}`, { body: { name: "audit-zone-2" } });
    const r = await s.call("GET", `/api/v1/admin/audit?entity=zone&id=${z.body.id}&limit=1`);
    expect(r.status).toBe(200);
    expect(r.body.items).toEqual([expect.objectContaining({ action: "update", entity: "zone", entity_id: z.body.id, before: expect.objectContaining({ name: "audit-zone" }), after: expect.objectContaining({ name: "audit-zone-2" }) })]);
    const next = await s.call("GET", `/api/v1/admin/audit?entity=zone&id=${z.body.id}&limit=1&cursor=${r.body.next_cursor}`);
    expect(next.body.items.map((x: any) => x.action)).toEqual(["create"]);
    expect(next.body.next_cursor).toBeNull();
    const actor = r.body.items[0].actor;
    const byActor = await s.call("GET", `/api/v1/admin/audit?actor=${actor}&from=2000-01-01T00:00:00Z&limit=500`);
    expect(byActor.body.items.every((x: any) => x.actor === actor)).toBe(true);
    expect((await s.call("GET", "/api/v1/admin/audit?from=yesterday")).status).toBe(400);
  });

  test("explain shows the decision and the grants behind it", async () => {
    const parent = await s.call("POST", "/api/v1/admin/groups", { body: { name: "building" } });
    const child = await s.call("POST", "/api/v1/admin/groups", { body: { name: "floor-3", parent_id: parent.body.id } });
    const bob = await s.call("POST", "/api/v1/admin/users", { body: { username: "bob" } });
    await s.call("POST", `/api/v1/admin/groups/${child.body.id}/members`, { body: { user_id: bob.body.id } });
    await s.call("POST", "/api/v1/admin/grants", { body: { subject: { user_id: bob.body.id }, target: { gate_id: "DOOR" } } });
    const deny = await s.call("POST", "/api/v1/admin/grants", { body: { subject: { group_id: parent.body.id }, target: { gate_id: "DOOR" }, effect: "deny" } });
    await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "DOOR", token: "x", min_revision: deny.body.revision } });
    const r = await s.call("POST", "/api/v1/admin/explain", { body: { gate_id: "DOOR", user_id: bob.body.id } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ allow: false, reason: "denied", gate_id: "DOOR", user_id: bob.body.id });
    expect(r.body.groups).toEqual(expect.arrayContaining([{ id: parent.body.id, name: "building", path: ["floor-3", "building"] }]));
    const denyLine = r.body.grants.find((g: any) => g.id === deny.body.id);
    expect(denyLine).toMatchObject({ effect: "deny", outcome: "denies", subject: { group_id: parent.body.id, group_path: ["floor-3", "building"] } });
    expect(r.body.grants.find((g: any) => g.effect === "allow")).toMatchObject({ outcome: "allows", subject: { user_id: bob.body.id } });

    const unknown = await s.call("POST", "/api/v1/admin/explain", { body: { gate_id: "DOOR", token: "not-a-token" } });
    expect(unknown.body).toMatchObject({ allow: false, reason: "unknown_token" });
    expect((await s.call("POST", "/api/v1/admin/explain", { body: { gate_id: "DOOR" } })).status).toBe(400);
    expect((await s.call("POST", "/api/v1/admin/explain", { body: { gate_id: "DOOR", user_id: "u_none" } })).status).toBe(400);
  });
});
