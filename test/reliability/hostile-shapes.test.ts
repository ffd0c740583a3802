// Request shapes the generated hostile run does not aim at, over real HTTP: a query parameter given
// twice, a NUL in a query parameter or a path id, HEAD on every GET route (the event stream
// included).
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
});
