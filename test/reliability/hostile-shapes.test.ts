// Request shapes the generated hostile run does not aim at, over real HTTP: a query parameter given
// twice, a NUL in a query parameter or a path id, HEAD on every GET route (the event stream
// included), misspelt parameter names, and validation errors that must say what a field takes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { problem, rawHttp } from "./hostile-helpers";
import { seedGrantedCard, sleepUntil, startTestService, type TestService } from "../setup";

let s: TestService;
let port: number;
let card: string;

beforeAll(async () => {
  s = await startTestService({}, { http: true });
  port = s.service.app.server!.port!;
  card = await seedGrantedCard(s.db.sql, "shapes-user", "SHAPE_A");
  await s.db.sql`insert into gates (id, name) values ('SHAPE_B', 'b')`;
  await s.db.sql`insert into groups (id, name) values ('g_shape', 'shape')`;
  await s.service.deps.feed.catchUp();
}, 30_000);
afterAll(() => s?.stop(), 30_000);

const admin = () => ({ authorization: `Bearer ${s.adminToken}` });

/** A request on a raw socket: the path exactly as written (fetch would normalise it). */
async function raw(method: string, path: string, headers: Record<string, string> = admin()) {
  const a = await rawHttp(port, `${method} ${path} HTTP/1.1`, [["Host", "127.0.0.1"], ...Object.entries(headers)]);
  expect(a).not.toBeNull(); // an answer came, the connection did not just hang until the timeout
  let body: any = null;
  try {
    body = JSON.parse(a!.text);
  } catch {}
  return { ...a!, body };
}

/** GET routes of the route table, their parameters filled in. */
function getRoutes(): string[] {
  return s.service.app.routes
    .filter((r) => r.method === "GET")
    .map((r) => r.path.replace(":file", "index.html").replace(/:(\w+)/g, "x1"));
}

describe("hostile request shapes", () => {
  test("a query parameter given twice is 400 naming it on every GET route; forward-auth never decides at either gate", async () => {
    const before = await s.db.sql`select count(*)::int as n from access_events`;
    const fwd = await raw("GET", "/api/v1/access/verify?gate_id=SHAPE_B&gate_id=SHAPE_A", { authorization: `Bearer ${card}` });
    expect(fwd.status).toBe(400);
    expect(fwd.body.error).toMatchObject({ code: "invalid_request", details: { field: "gate_id", in: "query" } });
    // Once is fine, and is the gate it names.
    expect((await raw("GET", "/api/v1/access/verify?gate_id=SHAPE_A", { authorization: `Bearer ${card}` })).status).toBe(204);
    expect((await raw("GET", "/api/v1/access/verify?gate_id=SHAPE_B", { authorization: `Bearer ${card}` })).status).toBe(403);

    for (const path of getRoutes()) {
      for (const q of ["?limit=1&limit=2", "?a=1&b=2&a=3"]) {
        const a = await raw("GET", path + q);
        expect(`${path}${q} ${a.status}`).toBe(`${path}${q} 400`);
        expect(problem("GET", path, undefined, a)).toBeNull();
        expect(a.body.error.details.field).toBe(q.includes("limit") ? "limit" : "a");
      }
    }
    // POST routes read no query, but a repeated one is still refused rather than ignored.
    const batch = await raw("POST", "/api/v1/admin/explain?x=1&x=2");
    expect(batch.status).toBe(400);
    // Events ship in the order they were journaled, and the refused check came first: once the two
    // single-gate checks are in Postgres, an event of the refused one would be too.
    const count = async () => (await s.db.sql`select count(*)::int as n from access_events`)[0]!.n - before[0]!.n;
    await sleepUntil(async () => (await count()) >= 2, "the two events");
    expect(await count()).toBe(2);
  }, 60_000);

  test("a NUL in a query parameter or a path id is 400 naming it, never Postgres' own message", async () => {
    const cases: Array<[string, string, "query" | "params"]> = [
      ["/api/v1/admin/users?username=a%00b", "username", "query"],
      ["/api/v1/admin/users?q=%00", "q", "query"],
      ["/api/v1/admin/gates?mode=%00", "mode", "query"],
      ["/api/v1/admin/grants?user_id=%00", "user_id", "query"],
      ["/api/v1/admin/credentials?kind=%00", "kind", "query"],
      ["/api/v1/admin/group-tree?parent_id=%00", "parent_id", "query"],
      ["/api/v1/admin/audit?actor=%00", "actor", "query"],
      ["/api/v1/admin/audit?entity=%00", "entity", "query"],
      ["/api/v1/admin/actors?ids=c_1,%00", "ids", "query"],
      ["/api/v1/admin/events?gate_id=%00", "gate_id", "query"],
      ["/api/v1/access/verify?gate_id=SHAPE_A%00", "gate_id", "query"],
      ["/api/v1/admin/users/u%00/groups", "id", "params"],
      ["/api/v1/admin/gates/SHAPE_A%00", "id", "params"],
      ["/api/v1/admin/zones/%00/presence", "id", "params"],
    ];
    for (const [path, field, where] of cases) {
      const a = await raw("GET", path, path.includes("access/verify") ? { authorization: `Bearer ${card}` } : admin());
      expect(`${path} ${a.status}`).toBe(`${path} 400`);
      expect(a.body.error).toEqual({ code: "invalid_request", message: `${field}: must not contain NUL characters`, details: { field, in: where } });
    }
  });

  test("a NUL in a JSON body's string or key is 400 naming the field, never Postgres' own message; nothing stored", async () => {
    const cases: Array<[string, string, string, string]> = [
      ["POST", "/api/v1/admin/users", `{"username":"a\\u0000b"}`, "username"],
      ["POST", "/api/v1/admin/users", `{"username":"nul-ok","display_name":"x\\u0000"}`, "display_name"],
      ["POST", "/api/v1/admin/gates", `{"id":"NULG","name":"\\u0000"}`, "name"],
      ["POST", "/api/v1/admin/schedules", `{"name":"s","timezone":"UTC","windows":[{"days":[1],"start":"08:00\\u0000","end":"09:00"}]}`, "windows[0].start"],
      ["PATCH", "/api/v1/admin/gates/SHAPE_A", `{"name":"a\\u0000"}`, "name"],
      ["POST", "/api/v1/admin/users", `{"username":"k","\\u0000":1}`, "\u0000"],
      ["POST", "/api/v1/auth/token", `{"username":"a\\u0000","password":"xxxxxxxxx"}`, "username"],
    ];
    for (const [method, path, raw, field] of cases) {
      const r = await s.call(method, path, { raw, headers: { "content-type": "application/json" } });
      expect(`${path} ${raw} ${r.status}`).toBe(`${path} ${raw} 400`);
      expect(r.body.error).toEqual({ code: "invalid_request", message: `${field}: must not contain NUL characters`, details: { field } });
    }
    expect(await s.db.sql`select 1 from users where username in ('a' || chr(65533) || 'b', 'nul-ok', 'k')`).toHaveLength(0);
    expect((await s.db.sql`select name from gates where id = 'SHAPE_A'`)[0]!.name).toBe("shape_a");
  });

  test("a JSON object naming a field twice is 400 naming it (JSON.parse kept the last); nothing written", async () => {
    const cases: Array<[string, string, string, string]> = [
      ["PATCH", "/api/v1/admin/gates/SHAPE_A", `{"mode":"locked","name":"x","mode":"normal"}`, "mode"],
      ["PATCH", "/api/v1/admin/gates/SHAPE_A", `{"mode":"locked","mo\\u0064e":"normal"}`, "mode"], // the same key, escaped
      ["POST", "/api/v1/admin/grants", `{"subject":{"user_id":"u1","user_id":"u2"},"target":{"gate_id":"SHAPE_A"}}`, "user_id"],
      ["POST", "/api/v1/admin/import", `{"gates":[{"id":"DUPK","name":"a","name":"b"}]}`, "name"],
      ["POST", "/api/v1/auth/token", `{"username":"a","password":"xxxxxxxxx","username":"b"}`, "username"],
    ];
    for (const [method, path, raw, field] of cases) {
      const r = await s.call(method, path, { raw, headers: { "content-type": "application/json" } });
      expect(`${raw} ${r.status}`).toBe(`${raw} 400`);
      expect(r.body.error).toEqual({ code: "invalid_request", message: `${field}: given more than once in one JSON object`, details: { field } });
    }
    expect((await s.db.sql`select mode from gates where id = 'SHAPE_A'`)[0]!.mode).toBe("normal");
    expect(await s.db.sql`select 1 from gates where id = 'DUPK'`).toHaveLength(0);
    // The same key in different objects, in arrays, or inside a string value, is not a repeat.
    const ok = await s.call("POST", "/api/v1/admin/import", {
      raw: `{"gates":[{"id":"DUPK","name":"has \\"name\\": inside"},{"id":"DUPL","name":"b"}]}`, headers: { "content-type": "application/json" },
    });
    expect(ok.status).toBe(200);
    expect((await s.db.sql`select name from gates where id = 'DUPK'`)[0]!.name).toBe('has "name": inside');
  });

  test("HEAD on every GET route answers with the GET's status and no body; the event stream's included", async () => {
    for (const path of getRoutes()) {
      const [head, get] = [await raw("HEAD", path), path.endsWith("/stream") ? null : await raw("GET", path)];
      expect(head.status).toBeLessThan(500);
      expect(head.text).toBe("");
      if (get) expect(`${path} ${head.status}`).toBe(`${path} ${get.status}`);
    }
    const stream = await raw("HEAD", "/api/v1/admin/events/stream");
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toStartWith("text/event-stream");
    // The refusals a GET would get, too.
    expect((await raw("HEAD", "/api/v1/admin/events/stream", {})).status).toBe(401);
    expect((await raw("HEAD", "/api/v1/admin/events/stream?allow=maybe")).status).toBe(400);
  });

  test("an unknown query parameter is 400 on every list, naming the ones the route takes", async () => {
    const typo = await raw("GET", "/api/v1/admin/users?usrename=shapes-user");
    expect(typo.status).toBe(400);
    expect(typo.body.error).toEqual({
      code: "invalid_request",
      message: "usrename: unknown parameter; expected one of limit, cursor, username, q",
      details: { field: "usrename", in: "query" },
    });
    const ok = await raw("GET", "/api/v1/admin/users?username=shapes-user");
    expect(ok.status).toBe(200);
    expect(ok.body.items.map((u: any) => u.username)).toEqual(["shapes-user"]);
    for (const c of ["users", "groups", "zones", "gates", "schedules", "grants", "credentials", "groups/g_shape/members"]) {
      const a = await raw("GET", `/api/v1/admin/${c}?nope=1`);
      expect(`${c} ${a.status} ${a.body.error?.details?.field}`).toBe(`${c} 400 nope`);
    }
    // `q` only where the collection has a search.
    expect((await raw("GET", "/api/v1/admin/credentials?q=x")).status).toBe(400);
    expect((await raw("GET", "/api/v1/admin/gates?q=SHAPE")).body.items.map((g: any) => g.id)).toEqual(["SHAPE_A", "SHAPE_B"]);
  });

  test("a refused field says what it takes, not which check failed", async () => {
    const cases: Array<[string, string, unknown, string]> = [
      ["POST", "/api/v1/admin/gates", { id: "S1", name: "n", mode: "lock" }, `mode: expected one of "normal", "locked", "disabled"`],
      ["POST", "/api/v1/admin/gates", { id: "S1", name: "n", two_person_window_ms: 0 }, "two_person_window_ms: expected an integer from 1000 to 600000 or null"],
      ["POST", "/api/v1/admin/gates", { id: "S1", name: "n", max_staleness_ms: 1.5 }, "max_staleness_ms: expected an integer from 1000 to 86400000 or null"],
      ["POST", "/api/v1/admin/gates", { id: "S1", name: "n", requires_pin: "yes" }, "requires_pin: expected true or false"],
      ["POST", "/api/v1/admin/gates", { id: "S1", name: "n", zone_id: 5 }, "zone_id: expected a string of 1 to 64 characters or null"],
      ["POST", "/api/v1/admin/zones", { name: "z", anti_passback: "strict" }, `anti_passback: expected one of "off", "soft", "hard"`],
      ["POST", "/api/v1/admin/credentials", { user_id: "u", kind: "card", scopes: ["root"] }, `scopes.0: expected one of "admin", "user"`],
      ["POST", "/api/v1/admin/grants", { subject: { grp: "g" }, target: { zone_id: "z" } }, `subject: expected an object with "user_id" or an object with "group_id"`],
      ["POST", "/api/v1/admin/users", { username: "v", valid_from: 5 }, "valid_from: expected an RFC 3339 date-time (e.g. 2026-01-01T00:00:00Z) or null"],
      ["POST", "/api/v1/admin/gates", { id: "S1", name: "n", gateid: 1 }, "gateid: unknown field; expected one of id, name, zone_id, mode, unlock_ms, direction, two_person_window_ms, requires_pin, requires_escort, escort_window_s, max_staleness_ms"],
    ];
    for (const [method, path, body, message] of cases) {
      const r = await s.call(method, path, { body });
      expect(r.status).toBe(400);
      expect(r.body.error.message).toBe(message);
    }
    // Numbers JSON cannot hold as a finite double (1e400 parses as Infinity) are out of range, said so.
    const huge = await s.call("POST", "/api/v1/admin/gates", { raw: `{"id":"S1","name":"n","unlock_ms":1e400}`, headers: { "content-type": "application/json" } });
    expect(huge.body.error.message).toBe("unlock_ms: expected an integer from 0 to 600000");
    const rev = await s.call("POST", "/api/v1/access/verify", { raw: `{"gate_id":"SHAPE_A","token":"${card}","min_revision":1e400}`, headers: { "content-type": "application/json" } });
    expect(rev.body.error.message).toBe("min_revision: expected an integer from 1 to 9007199254740991");
    // A path id that does not percent-decode says so.
    const bad = await raw("GET", "/api/v1/admin/gates/%FF");
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toBe("id: not valid percent-encoded UTF-8");
  });
});
