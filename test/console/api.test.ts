// The service side of the console, through the HTTP stack (no browser): admin-scope login, zone
// lock/unlock in one revision, prefix search, live statistics, the group tree, names and actors,
// and the page itself.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { hashSecret, newSecret } from "../../src/tokens";
import { startTestService, type TestService } from "../setup";

let s: TestService;
const ids = {} as Record<"op" | "clerk" | "hq" | "lab" | "staff" | "eng" | "backend" | "card", string>;

beforeAll(async () => {
  s = await startTestService();
  const post = async (path: string, body: unknown) => {
    const r = await s.call("POST", path, { body });
    expect(r.status).toBe(201);
    return r.body;
  };
  ids.op = (await post("/api/v1/admin/users", { username: "operator", password: "operator-pass-1", display_name: "Olga Operator" })).id;
  ids.clerk = (await post("/api/v1/admin/users", { username: "clerk", password: "clerk-pass-1", email: "Clerk@example.com" })).id;
  await post("/api/v1/admin/credentials", { user_id: ids.op, kind: "api", scopes: ["admin"], label: "ops" });
  ids.hq = (await post("/api/v1/admin/zones", { name: "hq" })).id;
  ids.lab = (await post("/api/v1/admin/zones", { name: "lab" })).id;
  await post("/api/v1/admin/gates", { id: "HQ_1", name: "Main", zone_id: ids.hq });
  await post("/api/v1/admin/gates", { id: "HQ_2", name: "Side", zone_id: ids.hq });
  await post("/api/v1/admin/gates", { id: "HQ_3", name: "Old", zone_id: ids.hq, mode: "disabled" });
  await post("/api/v1/admin/gates", { id: "LAB_1", name: "Lab", zone_id: ids.lab });
  ids.staff = (await post("/api/v1/admin/groups", { name: "staff" })).id;
  ids.eng = (await post("/api/v1/admin/groups", { name: "engineering", parent_id: ids.staff })).id;
  ids.backend = (await post("/api/v1/admin/groups", { name: "backend", parent_id: ids.eng })).id;
  await post(`/api/v1/admin/groups/${ids.backend}/members`, { user_id: ids.clerk });
  await post("/api/v1/admin/grants", { subject: { group_id: ids.staff }, target: { zone_id: ids.hq } });
  ids.card = "CLERK-CARD-1";
  await post("/api/v1/admin/credentials", { user_id: ids.clerk, kind: "card", secret: ids.card });
}, 30_000); // argon2id hashing of the users above: slow on a busy machine
afterAll(() => s.stop());

const login = (username: string, password: string, scope?: string) =>
  s.call("POST", "/api/v1/auth/token", { token: null, body: { username, password, ...(scope ? { scope } : {}) } });

describe("admin-scope login", () => {
  test("a user holding an admin credential gets an admin session; it works on admin routes", async () => {
    const r = await login("operator", "operator-pass-1", "admin");
    expect(r.status).toBe(201);
    expect(r.body.scopes).toEqual(["admin", "user"]);
    expect((await s.call("GET", "/api/v1/admin/zones", { token: r.body.token })).status).toBe(200);
    const [row] = await s.db.sql`select kind, label, scopes from credentials where id = ${r.body.token_id}`;
    expect(row).toEqual({ kind: "session", label: "admin login", scopes: ["admin", "user"] });
  });

  test("without the field a login stays user-scoped; a non-admin asking for admin gets 403 naming scope", async () => {
    const plain = await login("operator", "operator-pass-1");
    expect(plain.body.scopes).toEqual(["user"]);
    expect((await s.call("GET", "/api/v1/admin/zones", { token: plain.body.token })).status).toBe(403);
    const r = await login("clerk", "clerk-pass-1", "admin");
    expect(r.status).toBe(403);
    expect(r.body.error).toMatchObject({ code: "forbidden", details: { field: "scope" } });
    expect(await s.db.sql`select 1 from credentials where user_id = ${ids.clerk} and kind = 'session'`).toHaveLength(0);
    expect((await login("clerk", "wrong-password", "admin")).status).toBe(401);
    expect((await login("clerk", "clerk-pass-1", "root")).status).toBe(400);
  });

  test("an admin session does not count as the admin credential: revoke the real one and admin logins stop", async () => {
    const r = await login("operator", "operator-pass-1", "admin");
    expect(r.status).toBe(201);
    await s.db.sql`update credentials set revoked_at = now() where user_id = ${ids.op} and kind = 'api'`;
    try {
      expect((await login("operator", "operator-pass-1", "admin")).status).toBe(403);
    } finally {
      await s.db.sql`update credentials set revoked_at = null where user_id = ${ids.op} and kind = 'api'`;
    }
  });
});

describe("zone lock and unlock", () => {
  test("lock: every normal gate of the zone, one revision, audited; verifies answer gate_locked", async () => {
    const r = await s.call("POST", `/api/v1/admin/zones/${ids.hq}/lock`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: ids.hq, name: "hq", mode: "locked", changed: ["HQ_1", "HQ_2"], gates_in_zone: 3 });
    expect(r.headers.get("x-revision")).toBe(String(r.body.revision));
    const modes = await s.db.sql`select id, mode from gates order by id`;
    expect(modes.map((g) => `${g.id}:${g.mode}`)).toEqual(["HQ_1:locked", "HQ_2:locked", "HQ_3:disabled", "LAB_1:normal"]);
    const audit = await s.db.sql`select action, entity, entity_id from audit_log where revision = ${r.body.revision} order by id`;
    expect(audit.map((a) => `${a.action} ${a.entity} ${a.entity_id}`)).toEqual(["update gate HQ_1", "update gate HQ_2", `lock_zone zone ${ids.hq}`]);
    const log = await s.db.sql`select distinct revision from change_log where entity = 'gate' and op = 'update' and key in ('HQ_1', 'HQ_2')`;
    expect(log.map((x) => Number(x.revision))).toEqual([r.body.revision]);
    const v = await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "HQ_1", token: ids.card, min_revision: r.body.revision } });
    expect(v.body).toMatchObject({ allow: false, reason: "gate_locked" });
  });

  test("locking again changes nothing; unlock reopens the locked gates only", async () => {
    const again = await s.call("POST", `/api/v1/admin/zones/${ids.hq}/lock`);
    expect(again.body.changed).toEqual([]);
    const r = await s.call("POST", `/api/v1/admin/zones/${ids.hq}/unlock`);
    expect(r.body).toMatchObject({ mode: "normal", changed: ["HQ_1", "HQ_2"] });
    const v = await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "HQ_1", token: ids.card, min_revision: r.body.revision } });
    expect(v.body).toMatchObject({ allow: true, reason: "granted" });
    expect((await s.db.sql`select mode from gates where id = 'HQ_3'`)[0]!.mode).toBe("disabled");
  });

  test("unlock reopens only what the zone lock locked: a gate locked on its own stays locked", async () => {
    const gate = (id: string, mode?: string) => s.call("POST", "/api/v1/admin/gates", { body: { id, name: id, zone_id: ids.lab, ...(mode ? { mode } : {}) } });
    await gate("ZL_INCIDENT", "locked"); // an operator's incident lock, before the zone lock
    await gate("ZL_LATER");
    const lock = await s.call("POST", `/api/v1/admin/zones/${ids.lab}/lock`);
    expect(lock.body.changed).toEqual(["LAB_1", "ZL_LATER"]);
    // During the zone lock an operator locks ZL_LATER on its own (a PATCH makes its mode its own).
    expect((await s.call("PATCH", "/api/v1/admin/gates/ZL_LATER", { body: { mode: "locked" } })).status).toBe(200);
    const unlock = await s.call("POST", `/api/v1/admin/zones/${ids.lab}/unlock`);
    expect(unlock.body).toMatchObject({ mode: "normal", changed: ["LAB_1"] });
    const modes = await s.db.sql`select id, mode from gates where zone_id = ${ids.lab} order by id`;
    expect(modes.map((g) => `${g.id}:${g.mode}`)).toEqual(["LAB_1:normal", "ZL_INCIDENT:locked", "ZL_LATER:locked"]);
    const v = await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "ZL_INCIDENT", token: ids.card, min_revision: unlock.body.revision } });
    expect(v.body).toMatchObject({ allow: false, reason: "gate_locked" });
    // A second lock and unlock cycle still leaves them alone.
    await s.call("POST", `/api/v1/admin/zones/${ids.lab}/lock`);
    expect((await s.call("POST", `/api/v1/admin/zones/${ids.lab}/unlock`)).body.changed).toEqual(["LAB_1"]);
    for (const id of ["ZL_INCIDENT", "ZL_LATER"]) await s.call("DELETE", `/api/v1/admin/gates/${id}`);
  });

  test("unknown zone 404; admin scope required", async () => {
    expect((await s.call("POST", "/api/v1/admin/zones/z_nope/lock")).status).toBe(404);
    expect((await s.call("POST", `/api/v1/admin/zones/${ids.hq}/lock`, { token: s.userToken })).status).toBe(403);
    expect((await s.call("POST", `/api/v1/admin/zones/${ids.hq}/lock`, { token: null })).status).toBe(401);
  });
});

describe("prefix search (?q=)", () => {
  test("users by username, display name or email, case-insensitive, paginated", async () => {
    const names = async (q: string) => (await s.call("GET", `/api/v1/admin/users?q=${encodeURIComponent(q)}`)).body.items.map((u: any) => u.username).sort();
    expect(await names("oper")).toEqual(["operator"]);
    expect(await names("OLGA")).toEqual(["operator"]);
    expect(await names("clerk@")).toEqual(["clerk"]);
    expect(await names("%")).toEqual([]); // no LIKE wildcards
    expect(await names("test-")).toEqual(["test-admin", "test-user"]);
    const p1 = await s.call("GET", "/api/v1/admin/users?q=test-&limit=1");
    expect(p1.body.items).toHaveLength(1);
    const p2 = await s.call("GET", `/api/v1/admin/users?q=test-&limit=1&cursor=${p1.body.next_cursor}`);
    expect(p2.body.items).toHaveLength(1);
    expect(p2.body.items[0].id).not.toBe(p1.body.items[0].id);
    expect((await s.call("GET", `/api/v1/admin/users?q=${"x".repeat(151)}`)).body.error.details.field).toBe("q");
  });

  test("groups, gates (id or name), zones", async () => {
    expect((await s.call("GET", "/api/v1/admin/groups?q=eng")).body.items.map((g: any) => g.name)).toEqual(["engineering"]);
    expect((await s.call("GET", "/api/v1/admin/gates?q=hq_")).body.items.map((g: any) => g.id)).toEqual(["HQ_1", "HQ_2", "HQ_3"]);
    expect((await s.call("GET", "/api/v1/admin/gates?q=lab")).body.items.map((g: any) => g.id)).toEqual(["LAB_1"]);
    expect((await s.call("GET", "/api/v1/admin/zones?q=L")).body.items.map((z: any) => z.name)).toEqual(["lab"]);
  });
});

describe("console read routes", () => {
  test("stats: per-second series, allow/deny, deny reasons, busiest gates, index and feed", async () => {
    const verify = (gate: string, token: string) => s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: gate, token } });
    await verify("HQ_1", ids.card);
    await verify("HQ_2", ids.card);
    await verify("LAB_1", ids.card);
    await verify("LAB_1", "nobody");
    // Events are flushed in batches and counted in whole seconds: wait for the next second.
    let st: any;
    for (let i = 0; i < 60; i++) {
      await Bun.sleep(100);
      st = (await s.call("GET", "/api/v1/admin/stats?window=10")).body;
      if (st.total >= 4) break;
    }
    expect(st.window_s).toBe(10);
    expect(st.per_second).toHaveLength(10);
    expect(st.total).toBeGreaterThanOrEqual(4);
    expect(st.allow + st.deny).toBe(st.total);
    expect(st.per_second.reduce((a: number, p: any) => a + p.allow + p.deny, 0)).toBe(st.total);
    expect(st.deny_reasons.map((r: any) => r.reason)).toEqual(expect.arrayContaining(["no_grant", "unknown_token"]));
    expect(st.gates.find((g: any) => g.gate_id === "LAB_1")).toMatchObject({ name: "Lab", mode: "normal", deny: 2 });
    expect(st.index).toMatchObject({ feed_connected: true, ready: true, lag_ms: 0 });
    expect(st.index.revision).toBeGreaterThan(0);
    expect(st.gate_modes).toMatchObject({ disabled: 1 });
    expect((await s.call("GET", "/api/v1/admin/stats?window=5")).body.error.details.field).toBe("window");
    expect((await s.call("GET", "/api/v1/admin/stats", { token: s.userToken })).status).toBe(403);
  });

  test("group tree: one level at a time, with child and member counts", async () => {
    const roots = (await s.call("GET", "/api/v1/admin/group-tree")).body;
    expect(roots.items).toEqual([{ id: ids.staff, name: "staff", parent_id: null, children: 1, members: 0 }]);
    const eng = (await s.call("GET", `/api/v1/admin/group-tree?parent_id=${ids.eng}`)).body;
    expect(eng.items).toEqual([{ id: ids.backend, name: "backend", parent_id: ids.eng, children: 0, members: 1 }]);
    expect((await s.call("GET", "/api/v1/admin/group-tree?parent_id=g_nope")).body.error.details.field).toBe("parent_id");
  });

  test("a user's groups: direct, and through nesting with the path", async () => {
    const g = (await s.call("GET", `/api/v1/admin/users/${ids.clerk}/groups`)).body;
    expect(g.direct.map((x: any) => x.name)).toEqual(["backend"]);
    expect(g.effective).toEqual(expect.arrayContaining([
      { id: ids.staff, name: "staff", path: ["backend", "engineering", "staff"] },
    ]));
    expect((await s.call("GET", "/api/v1/admin/users/u_nope/groups")).status).toBe(404);
  });

  test("names and actors", async () => {
    const n = (await s.call("GET", `/api/v1/admin/names?ids=${ids.clerk},${ids.eng},${ids.hq},LAB_1,nope`)).body.names;
    expect(n).toEqual({
      [ids.clerk]: { kind: "user", name: "clerk" }, [ids.eng]: { kind: "group", name: "engineering" },
      [ids.hq]: { kind: "zone", name: "hq" }, LAB_1: { kind: "gate", name: "Lab" },
    });
    const [cred] = await s.db.sql`select id from credentials where secret_hash = ${hashSecret(s.adminToken)}`;
    const a = (await s.call("GET", `/api/v1/admin/actors?ids=${cred!.id}`)).body.items;
    expect(a).toEqual([{ credential_id: cred!.id, kind: "api", label: null, user_id: expect.any(String), username: "test-admin", display_name: null }]);
    expect((await s.call("GET", `/api/v1/admin/names?ids=${Array.from({ length: 101 }, () => newSecret()).join(",")}`)).status).toBe(400);
  });

  test("/console: the page and its bundled assets, from this service only", async () => {
    const res = await s.service.app.handle(new Request("http://localhost/console"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    const assets = [...html.matchAll(/<(?:script|link)[^>]*?(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith(".js"))).toBe(true);
    expect(assets.some((a) => a.endsWith(".css"))).toBe(true);
    for (const a of assets) expect((await s.service.app.handle(new Request("http://localhost" + a))).status).toBe(200);
  });
});
