import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestService, type TestService } from "../setup";

let s: TestService;
beforeAll(async () => {
  s = await startTestService();
});
afterAll(() => s.stop());

const post = (path: string, body: unknown) => s.call("POST", `/api/v1/admin${path}`, { body });
const patch = (path: string, body: unknown) => s.call("PATCH", `/api/v1/admin${path}`, { body });
const get = (path: string) => s.call("GET", `/api/v1/admin${path}`);
const del = (path: string) => s.call("DELETE", `/api/v1/admin${path}`);

describe("admin collections", () => {
  test("create answers 201 with the object, its id and the revision (body and X-Revision)", async () => {
    const r = await post("/users", { username: "u-create", email: "c@example.com", password: "correct horse battery" });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({
      id: expect.stringMatching(/^u_/), username: "u-create", email: "c@example.com", display_name: null, active: true,
      valid_from: null, valid_until: null, created_at: expect.any(String), updated_at: expect.any(String), revision: expect.any(Number),
      propagation: { nodes: 1, applied: 1, pending: [] },
    });
    expect(r.headers.get("x-revision")).toBe(String(r.body.revision));
    expect(r.headers.get("x-propagation")).toBe("complete");
    expect(JSON.stringify(r.body)).not.toContain("password");
    const [row] = await s.db.sql`select password_hash from users where id = ${r.body.id}`;
    expect(row!.password_hash).toStartWith("$argon2id$");
  });

  test("get, patch and delete; revisions only grow", async () => {
    const z = await post("/zones", { name: "z-1" });
    const got = await get(`/zones/${z.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body.name).toBe("z-1");
    const p = await patch(`/zones/${z.body.id}`, { name: "z-1b" });
    expect(p.status).toBe(200);
    expect(p.body.name).toBe("z-1b");
    expect(p.body.revision).toBeGreaterThan(z.body.revision);
    const d = await del(`/zones/${z.body.id}`);
    expect(d.status).toBe(200);
    expect(d.body).toEqual({ id: z.body.id, revision: p.body.revision + 1, propagation: { nodes: 1, applied: 1, pending: [] } });
    expect((await get(`/zones/${z.body.id}`)).status).toBe(404);
  });

  test("unknown id is 404 not_found for get, patch and delete", async () => {
    for (const r of [await get("/gates/NOPE"), await patch("/gates/NOPE", { name: "x" }), await del("/gates/NOPE")]) {
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe("not_found");
    }
  });

  test("a duplicate unique key is 409 conflict naming the field", async () => {
    await post("/groups", { name: "dup" });
    const r = await post("/groups", { name: "dup" });
    expect(r.status).toBe(409);
    expect(r.body.error).toEqual({ code: "conflict", message: expect.any(String), details: { field: "name" } });
    await post("/gates", { id: "DUP_GATE", name: "a" });
    const g = await post("/gates", { id: "DUP_GATE", name: "b" });
    expect(g.status).toBe(409);
    expect(g.body.error.details.field).toBe("id");
  });

  test("a reference to a missing row is 400 naming the field", async () => {
    const r = await post("/grants", { subject: { group_id: "g_missing" }, target: { gate_id: "DUP_GATE" } });
    expect(r.status).toBe(400);
    expect(r.body.error.details.field).toBe("subject.group_id");
    const c = await post("/credentials", { user_id: "u_missing", kind: "card" });
    expect(c.status).toBe(400);
    expect(c.body.error.details.field).toBe("user_id");
  });

  test("validation errors name the field", async () => {
    const cases: Array<[string, unknown, string]> = [
      ["/users", {}, "username"],
      ["/users", { username: "x", active: "yes" }, "active"],
      ["/users", { username: "x", password: "short" }, "password"],
      ["/users", { username: "x", valid_from: "yesterday" }, "valid_from"],
      ["/users", { username: "x", valid_from: "2026-02-01T00:00:00Z", valid_until: "2026-01-01T00:00:00Z" }, "valid_until"],
      ["/gates", { id: "bad id!", name: "x" }, "id"],
      ["/gates", { id: "OK_1", name: "x", mode: "open" }, "mode"],
      ["/schedules", { name: "s", timezone: "Mars/Olympus", windows: [] }, "timezone"],
      ["/schedules", { name: "s", timezone: "UTC", windows: [{ days: [8], start: "08:00", end: "09:00" }] }, "windows.0.days.0"],
      ["/schedules", { name: "s", timezone: "UTC", windows: [{ days: [1], start: "8am", end: "09:00" }] }, "windows[0].start"],
      ["/credentials", { user_id: "u_x", kind: "badge" }, "kind"],
      ["/zones", { name: "z", extra: true }, "extra"],
    ];
    for (const [path, body, field] of cases) {
      const r = await post(path, body);
      expect({ path, status: r.status, code: r.body.error?.code }).toEqual({ path, status: 400, code: "invalid_request" });
      expect(r.body.error.details.field).toBe(field);
    }
  });

  test("bodies must be JSON: a form or multipart body is 400, and nothing is created", async () => {
    const form = await s.call("POST", "/api/v1/admin/users", { raw: "username=formuser", headers: { "content-type": "application/x-www-form-urlencoded" } });
    expect(form.status).toBe(400);
    expect(form.body.error).toMatchObject({ code: "invalid_request", details: { field: "body" } });
    const fd = new FormData();
    fd.set("username", "multipartuser");
    const res = await s.service.app.handle(new Request("http://localhost/api/v1/admin/users", { method: "POST", body: fd, headers: { authorization: `Bearer ${s.adminToken}` } }));
    expect(res.status).toBe(400);
    expect((await s.db.sql`select count(*)::int as n from users where username in ('formuser', 'multipartuser')`)[0]!.n).toBe(0);
  });

  test("lists are cursor-paginated in creation order; limit outside 1..500 is 400", async () => {
    for (let i = 0; i < 7; i++) await post("/zones", { name: `page-${i}` });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await get(`/zones?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      expect(r.status).toBe(200);
      expect(r.body.items.length).toBeLessThanOrEqual(3);
      seen.push(...r.body.items.map((z: any) => z.name));
      cursor = r.body.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seen.filter((n) => n.startsWith("page-"))).toEqual(["page-0", "page-1", "page-2", "page-3", "page-4", "page-5", "page-6"]);
    for (const limit of ["0", "501", "abc"]) {
      const r = await get(`/zones?limit=${limit}`);
      expect(r.status).toBe(400);
      expect(r.body.error.details.field).toBe("limit");
    }
    const bad = await get("/zones?cursor=!!!");
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.field).toBe("cursor");
  });

  test("lists filter by their documented keys", async () => {
    const u = await post("/users", { username: "filter-me" });
    await post("/credentials", { user_id: u.body.id, kind: "pin", secret: "123456" });
    await post("/credentials", { user_id: u.body.id, kind: "card" });
    const r = await get(`/credentials?user_id=${u.body.id}`);
    expect(r.body.items.map((c: any) => c.kind).sort()).toEqual(["card", "pin"]);
    expect(JSON.stringify(r.body)).not.toContain("secret");
    expect((await get("/users?username=filter-me")).body.items).toHaveLength(1);
  });

  test("grants: subject and target objects, schedule, effect", async () => {
    const g = await post("/groups", { name: "grant-group" });
    const sched = await post("/schedules", { name: "nights", timezone: "Europe/Berlin", windows: [{ days: [1, 2, 3], start: "22:00", end: "06:00" }] });
    expect(sched.status).toBe(201);
    await post("/gates", { id: "GR_1", name: "gr" });
    const r = await post("/grants", { subject: { group_id: g.body.id }, target: { gate_id: "GR_1" }, effect: "deny", schedule_id: sched.body.id });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ subject: { group_id: g.body.id }, target: { gate_id: "GR_1" }, effect: "deny", schedule_id: sched.body.id });
    const both = await post("/grants", { subject: { group_id: g.body.id, user_id: "u_x" }, target: { gate_id: "GR_1" } });
    expect(both.status).toBe(400);
    // A schedule in use cannot be deleted.
    const d = await del(`/schedules/${sched.body.id}`);
    expect(d.status).toBe(409);
  });

  test("groups: members add/list/remove; a parent cycle is refused", async () => {
    const a = await post("/groups", { name: "cyc-a" });
    const b = await post("/groups", { name: "cyc-b", parent_id: a.body.id });
    const c = await post("/groups", { name: "cyc-c", parent_id: b.body.id });
    const r = await patch(`/groups/${a.body.id}`, { parent_id: c.body.id });
    expect(r.status).toBe(400);
    expect(r.body.error.details.field).toBe("parent_id");
    const self = await patch(`/groups/${a.body.id}`, { parent_id: a.body.id });
    expect(self.status).toBe(400);

    const u = await post("/users", { username: "member-1" });
    const add = await post(`/groups/${b.body.id}/members`, { user_id: u.body.id });
    expect(add.status).toBe(201);
    expect(add.body.revision).toEqual(expect.any(Number));
    expect((await post(`/groups/${b.body.id}/members`, { user_id: u.body.id })).status).toBe(409);
    const list = await get(`/groups/${b.body.id}/members`);
    expect(list.body).toEqual({ items: [{ user_id: u.body.id, username: "member-1", created_at: expect.any(String) }], next_cursor: null });
    expect((await del(`/groups/${b.body.id}/members/${u.body.id}`)).status).toBe(200);
    expect((await del(`/groups/${b.body.id}/members/${u.body.id}`)).status).toBe(404);
    expect((await get(`/groups/g_missing/members`)).status).toBe(404);
  });

  test("credentials: the secret is returned once, stored only as a hash; revoke is idempotent", async () => {
    const u = await post("/users", { username: "cred-owner" });
    const c = await post("/credentials", { user_id: u.body.id, kind: "api", scopes: ["admin"], label: "ci" });
    expect(c.status).toBe(201);
    expect(c.body.secret).toMatch(/^pcl_[A-Za-z0-9_-]{43}$/);
    const rows = await s.db.sql`select * from credentials where id = ${c.body.id}`;
    expect(JSON.stringify(rows)).not.toContain(c.body.secret);
    expect((await get(`/credentials/${c.body.id}`)).body.secret).toBeUndefined();
    const r1 = await s.call("POST", `/api/v1/admin/credentials/${c.body.id}/revoke`);
    expect(r1.body.revoked_at).toEqual(expect.any(String));
    const r2 = await s.call("POST", `/api/v1/admin/credentials/${c.body.id}/revoke`);
    expect(r2.status).toBe(200);
    expect(r2.body.revoked_at).toBe(r1.body.revoked_at);
    expect((await s.call("POST", "/api/v1/admin/credentials/c_missing/revoke")).status).toBe(404);
    // The revoked admin token no longer opens admin routes.
    expect((await s.call("GET", "/api/v1/admin/users", { token: c.body.secret })).status).toBe(401);
  });

  test("every write leaves an audit row in the same transaction, without secrets", async () => {
    const u = await post("/users", { username: "audited", password: "a secret password" });
    const [row] = await s.db.sql`select * from audit_log where entity = 'user' and entity_id = ${u.body.id}`;
    expect(row).toMatchObject({ action: "create", revision: u.body.revision, actor: expect.stringMatching(/^c_/) });
    expect(JSON.stringify(row)).not.toContain("a secret password");
    expect(JSON.stringify(row)).not.toContain("argon2");
    // A failed write leaves neither change nor audit row.
    const before = (await s.db.sql`select count(*)::int as n from audit_log`)[0]!.n;
    expect((await post("/users", { username: "audited" })).status).toBe(409);
    expect((await s.db.sql`select count(*)::int as n from audit_log`)[0]!.n).toBe(before);
  });
});
