// Hostile input over real HTTP to a listening service: thousands of generated malformed, oversized,
// wrongly typed, wrongly encoded and out-of-range requests across EVERY route of the app's own
// route table — 0 answers of 5xx, 0 crashes, every error in the API.md shape with its documented
// status. Then JSON bombs, huge headers, malformed HTTP on a raw socket, and slow clients.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { startService, type Service } from "../../src/service";
import { hashSecret, newSecret } from "../../src/tokens";
import { createTestDb, testConfig, type TestDb } from "../setup";
import { problem, rawSocket, type Seen } from "./hostile-helpers";

const REQUESTS = Number(process.env.HOSTILE_REQUESTS ?? 10_000);
const CONCURRENCY = Number(process.env.HOSTILE_CONCURRENCY ?? 16);

let db: TestDb;
let service: Service;
let base: string;
let port: number;
const tokens = { admin: newSecret(), user: newSecret(), revoked: newSecret() };
/** Ids of rows the fuzzer may hit (never the test's own admin and user). */
const real: Record<string, string[]> = {};
const unhandled: string[] = [];
const onRejection = (e: unknown) => unhandled.push(String(e));

beforeAll(async () => {
  db = await createTestDb();
  const [a] = await db.sql`insert into users (username) values ('hostile-admin') returning id`;
  const [u] = await db.sql`insert into users (username) values ('hostile-user') returning id`;
  await db.sql`insert into credentials (user_id, kind, scopes, secret_hash, revoked_at) values
    (${a!.id}, 'api', ${["admin"]}, ${hashSecret(tokens.admin)}, null),
    (${u!.id}, 'session', ${["user"]}, ${hashSecret(tokens.user)}, null),
    (${a!.id}, 'api', ${["admin"]}, ${hashSecret(tokens.revoked)}, now())`;
  // Rows for the routes' :id parameters.
  await db.sql.begin(async (tx) => {
    await tx`insert into users (id, username) values ('u_victim1', 'victim1'), ('u_victim2', 'victim2')`;
    await tx`insert into groups (id, name, parent_id) values ('g_v1', 'v1', null), ('g_v2', 'v2', 'g_v1')`;
    await tx`insert into memberships (group_id, user_id) values ('g_v1', 'u_victim1')`;
    await tx`insert into zones (id, name) values ('z_v1', 'zv1')`;
    await tx`insert into gates (id, name, zone_id) values ('GV1', 'gv1', 'z_v1')`;
    await tx`insert into schedules (id, name, timezone, windows) values ('s_v1', 'sv1', 'UTC', ${tx.json([{ days: [1], start: "08:00", end: "09:00" }])})`;
    await tx`insert into grants (id, subject_group_id, target_zone_id, schedule_id) values ('gr_v1', 'g_v1', 'z_v1', 's_v1')`;
    await tx`insert into credentials (id, user_id, kind, secret_hash) values ('c_v1', 'u_victim1', 'card', ${hashSecret("victim-card")})`;
    await tx`insert into devices (id, user_id, name) values ('d_v1', 'u_victim1', 'phone')`;
  });
  Object.assign(real, {
    users: ["u_victim1", "u_victim2"], groups: ["g_v1", "g_v2"], zones: ["z_v1"], gates: ["GV1"], schedules: ["s_v1"],
    grants: ["gr_v1"], credentials: ["c_v1"], user_id: ["u_victim1", "u_victim2"], device_id: ["d_v1"], file: ["index.html", "favicon.svg"],
  });
  process.on("unhandledRejection", onRejection);
  service = await startService(testConfig({ HOST: "127.0.0.1", PORT: "0" }), { databaseUrl: db.url, listen: true, maintenance: false });
  port = service.app.server!.port!;
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  process.off("unhandledRejection", onRejection);
  await service?.stop();
  await db?.drop();
}, 30_000);

// ---------------------------------------------------------------------------------------------
// Checking an answer against the contract

// ---------------------------------------------------------------------------------------------
// The generator

const NASTY_STRINGS = [
  "", " ", "%00", "%ff%fe", "%zz", "%", "..", "%2e%2e", "%2e%2e%2f%2e%2e%2fpackage.json", "a%2fb", "%c0%af", "%ed%a0%80",
  "%e2%80%ae", "x".repeat(5000), "' or 1=1 --", "${jndi:ldap://x}", "<script>alert(1)</script>", "null", "undefined",
  "-1", "0", "1e309", "NaN", "Infinity", "9".repeat(40), "true", "[]", "{}", "%0d%0aSet-Cookie:%20x=1", "\\", "%5c",
];
const NASTY_JSON: unknown[] = [
  null, true, false, 0, -1, -0, 1.5, 1e308, -1e308, 2 ** 53, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, 2 ** 31, 86_400_000_000_000,
  "", "x".repeat(200), "x".repeat(70_000), "a\u0000b", "\ud800", "\u202e", "2026-02-30T00:00:00Z", "99999-01-01T00:00:00Z",
  "0000-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "not a date", "24:00", "25:00", "08:60", "-01:00", "Europe/Nowhere",
  "+05:00", [], [null], [1, 2, 3, 4, 5, 6, 7, 8], ["1"], [{}], {}, { user_id: "u_victim1" }, { group_id: "g_v1" },
  { gate_id: "GV1" }, { zone_id: "z_v1" }, { user_id: "u_victim1", group_id: "g_v1" }, { a: { b: { c: [1] } } },
  "u_victim1", "GV1", "z_v1", "s_v1", "g_v1", "allow", "deny", "card", "normal", "locked", "admin", "user",
  [{ days: [1], start: "08:00", end: "09:00" }], [{ days: [0, 8], start: "9", end: "x" }], [{ days: "1", start: 8 }],
  { __proto__: { admin: true } }, ["admin", "admin", "user"],
];
const FIELDS = [
  "gate_id", "token", "min_revision", "checks", "username", "password", "email", "display_name", "active", "valid_from",
  "valid_until", "name", "parent_id", "id", "zone_id", "mode", "unlock_ms", "timezone", "windows", "subject", "target",
  "effect", "schedule_id", "user_id", "kind", "label", "scopes", "expires_at", "secret", "platform", "at", "users",
  "groups", "memberships", "zones", "gates", "schedules", "grants", "credentials", "__proto__", "constructor", "",
];
const QUERY_KEYS = ["limit", "cursor", "sample", "from", "to", "gate_id", "user_id", "allow", "entity", "id", "actor", "q",
  "collection", "kind", "mode", "zone_id", "name", "username", "parent_id", "root", "ids", "group_id"];
const CONTENT_TYPES = [
  "application/json", "application/json", "application/json", "application/json; charset=utf-8", "text/plain",
  "application/x-www-form-urlencoded", "multipart/form-data; boundary=XyZ", "text/csv", "application/xml", "",
  "a/b/c", "application/json; charset=latin1", "application/json;;;", "APPLICATION/JSON",
];
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"];

type Req = { method: string; route: string; path: string; headers: Record<string, string>; body?: string | Uint8Array };

const json = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_JSON) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme-composite", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double()) },
);

/** Routes without input (health, metrics, docs, the console's files) are hit less often than the rest. */
const INPUTLESS = /^\/(healthz|readyz|metrics|swagger|console)/;

function requests(all: Array<{ method: string; path: string }>, n: number): Req[] {
  const routes = all.flatMap((r) => (INPUTLESS.test(r.path) ? [r] : [r, r, r, r, r]));
  // A parameter is a real row of the right kind (so requests get past the lookup), or garbage.
  const pathValue = fc.oneof(
    { weight: 4, arbitrary: fc.nat().map((k) => ({ real: k })) },
    { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS).map((x) => ({ text: x })) },
    { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 30 }).map((x) => ({ text: encodeURIComponent(x) })) },
  );
  const resolve = (route: string, name: string, v: { real?: number; text?: string }) => {
    if (v.text !== undefined) return v.text || "x";
    const pool = real[name] ?? real[/\/admin\/(\w+)\/:id/.exec(route)?.[1] ?? ""] ?? real.users!;
    return pool[v.real! % pool.length]!;
  };
  const query = fc.array(fc.tuple(
    fc.oneof(fc.constantFrom(...QUERY_KEYS), fc.string({ maxLength: 8 }).map(encodeURIComponent)),
    fc.oneof(fc.constantFrom(...NASTY_STRINGS), fc.string({ maxLength: 20 }).map(encodeURIComponent), fc.integer().map(String)),
  ), { maxLength: 4 }).map((kv) => (kv.length ? "?" + kv.map(([k, v]) => `${k}=${v}`).join("&") : ""));
  const shaped = fc.dictionary(fc.constantFrom(...FIELDS), json, { maxKeys: 6 });
  const body = fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 8, arbitrary: shaped.map((o) => JSON.stringify(o)) },
    { weight: 2, arbitrary: json.map((v) => JSON.stringify(v) ?? "null") },
    { weight: 2, arbitrary: fc.tuple(shaped, fc.nat()).map(([o, k]) => { const t = JSON.stringify(o); return t.slice(0, k % (t.length + 1)); }) },
    { weight: 1, arbitrary: fc.constantFrom("{", "}", "{'a':1}", "NaN", "[1,]", "{\"a\":1,}", "/* c */{}", "\u0000", "{\"a\"::1}", "\"\\ud800\"", "1 2") },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    { weight: 1, arbitrary: shaped.map((o) => { const b = new TextEncoder().encode(JSON.stringify(o)); const x = new Uint8Array(b.length + 2); x.set(b); x[b.length] = 0xff; x[b.length + 1] = 0xc0; return x; }) },
    { weight: 1, arbitrary: fc.constantFrom("username=x&active=true", "gate_id=G&token=t", "a=%ff&b", "checks[0][gate_id]=x") },
    { weight: 1, arbitrary: fc.constant("--XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nform-user\r\n--XyZ--\r\n") },
    { weight: 1, arbitrary: fc.nat({ max: 5000 }).map((k) => "[".repeat(k + 33) + "]".repeat(k + 33)) },
  );
  const auth = fc.constantFrom<Record<string, string>>(
    { authorization: `Bearer ${tokens.admin}` }, { authorization: `Bearer ${tokens.admin}` }, { authorization: `Bearer ${tokens.admin}` },
    { authorization: `Bearer ${tokens.user}` }, {}, { authorization: `Bearer ${tokens.revoked}` }, { authorization: "Bearer x" },
    { authorization: `bearer ${tokens.admin}` }, { authorization: `Bearer ${"A".repeat(3000)}` }, { authorization: "Basic YTpi" },
    { authorization: `Bearer ${tokens.admin} extra` },
  );
  const req = fc.record({
    r: fc.nat(routes.length - 1),
    otherMethod: fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
    paramValues: fc.tuple(pathValue, pathValue),
    query,
    body,
    contentType: fc.constantFrom(...CONTENT_TYPES),
    auth,
    requestId: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom("x".repeat(200), "ok-id", "\t") }),
  }).map((g): Req => {
    const route = routes[g.r]!;
    const method = g.otherMethod ?? route.method;
    const path = route.path.replace(/:(\w+)/g, (_, name: string) => resolve(route.path, name, name === "user_id" ? g.paramValues[1] : g.paramValues[0]));
    const headers: Record<string, string> = { ...g.auth };
    // Never log ourselves out: DELETE /auth/token revokes the caller's token.
    if (route.path === "/api/v1/auth/token" && method === "DELETE" && (headers.authorization ?? "").includes(tokens.admin.slice(8))) headers.authorization = "Bearer junk";
    if (route.path === "/api/v1/auth/token" && method === "DELETE" && (headers.authorization ?? "").includes(tokens.user.slice(8))) headers.authorization = "Bearer junk";
    if (g.contentType) headers["content-type"] = g.contentType;
    if (g.requestId) headers["x-request-id"] = g.requestId;
    const hasBody = !["GET", "HEAD"].includes(method) && g.body !== undefined;
    return { method, route: route.path, path: path + g.query, headers, body: hasBody ? g.body : undefined };
  });
  return fc.sample(req, { numRuns: n, seed: 20261122 });
}

async function send(q: Req): Promise<Seen | { error: string }> {
  try {
    const res = await fetch(base + q.path, { method: q.method, headers: q.headers, body: q.body as BodyInit | undefined, signal: AbortSignal.timeout(10_000), redirect: "manual" });
    const streaming = (res.headers.get("content-type") ?? "").includes("event-stream");
    if (streaming) await res.body?.cancel();
    return { status: res.status, headers: res.headers, text: streaming ? "" : await res.text() };
  } catch (e) {
    return { error: String(e) };
  }
}

// ---------------------------------------------------------------------------------------------

describe("hostile input", () => {
  test(`${REQUESTS} generated hostile requests across every route: 0 5xx, 0 crashes, every error in the API.md shape`, async () => {
    const routes = service.app.routes.map((r) => ({ method: r.method, path: r.path }));
    expect(routes.length).toBeGreaterThan(50);
    const stderr: string[] = [];
    const err = process.stderr.write.bind(process.stderr);
    (process.stderr as any).write = (chunk: any) => {
      stderr.push(String(chunk));
      return true;
    };
    const t0 = performance.now();
    const reqs = requests(routes, REQUESTS);
    const problems: string[] = [];
    const statuses = new Map<number, number>();
    const hitRoutes = new Set<string>();
    let next = 0, failed = 0;
    try {
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (next < reqs.length) {
          const q = reqs[next++]!;
          const a = await send(q);
          if ("error" in a) {
            failed++;
            if (problems.length < 20) problems.push(`${q.method} ${q.path.slice(0, 120)}: no answer (${a.error})`);
            continue;
          }
          statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
          hitRoutes.add(`${q.method} ${q.route}`);
          const p = problem(q.method, q.route, q.body, a);
          if (p && problems.length < 20) {
            const b = q.body === undefined ? "" : typeof q.body === "string" ? q.body.slice(0, 100) : `<${q.body.length} bytes>`;
            problems.push(`${q.method} ${q.path.slice(0, 120)} [${q.headers["content-type"] ?? ""}] ${b} → ${p}`);
          }
        }
      }));
    } finally {
      (process.stderr as any).write = err;
    }
    const seconds = (performance.now() - t0) / 1000;
    console.log(`hostile: ${reqs.length} requests in ${seconds.toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
    expect(problems).toEqual([]);
    expect(failed).toBe(0);
    expect(stderr.filter((l) => l.includes("unhandled"))).toEqual([]);
    expect(unhandled).toEqual([]);
    // Every route was reached with its own method.
    expect(routes.filter((r) => !hitRoutes.has(`${r.method} ${r.path}`)).map((r) => `${r.method} ${r.path}`)).toEqual([]);
    // Not all refused at the door: plenty got past authentication to validation and beyond.
    expect((statuses.get(400) ?? 0) + (statuses.get(404) ?? 0)).toBeGreaterThan(REQUESTS / 4);
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: "ok" });
  }, 300_000);

  test("JSON bombs: deep nesting and huge strings are 400/413 at once, on every body route", async () => {
    const bodyRoutes = service.app.routes.filter((r) => r.method === "POST" || r.method === "PATCH");
    const bombs: Array<[string, string]> = [
      ["deep array", "[".repeat(200_000) + "]".repeat(200_000)],
      ["deep object", '{"a":'.repeat(100_000) + "1" + "}".repeat(100_000)],
      ["deep inside a field", '{"gate_id":"G","token":"t","username":' + "[".repeat(100_000) + "]".repeat(100_000) + "}"],
      ["huge string", JSON.stringify({ username: "x".repeat(20_000_000), gate_id: "x".repeat(1000) })],
      ["wide array", "[" + "0,".repeat(2_000_000) + "0]"],
    ];
    const slow: string[] = [];
    for (const r of bodyRoutes) {
      for (const [name, body] of bombs) {
        const t0 = performance.now();
        const res = await fetch(base + r.path.replace(/:(\w+)/g, "x"), { method: r.method, body, headers: { authorization: `Bearer ${tokens.admin}`, "content-type": "application/json" } });
        const text = await res.text();
        const ms = performance.now() - t0;
        expect({ route: `${r.method} ${r.path}`, name, status: [400, 401, 403, 404, 413].includes(res.status), shape: problem(r.method, r.path, body, { status: res.status, headers: res.headers, text }) })
          .toEqual({ route: `${r.method} ${r.path}`, name, status: true, shape: null });
        if (ms > 1500) slow.push(`${r.method} ${r.path} ${name}: ${Math.round(ms)} ms`);
      }
    }
    expect(slow).toEqual([]);
  }, 120_000);

  test("huge headers are refused by the server itself, which keeps answering", async () => {
    for (const headers of [
      { "x-big": "a".repeat(100_000) },
      Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`x-h${i}`, "v".repeat(100)])),
      { authorization: `Bearer ${"A".repeat(70_000)}` },
    ]) {
      const res = await fetch(`${base}/api/v1/admin/users`, { headers }).catch((e) => ({ status: 0, error: String(e) }) as any);
      expect([0, 400, 413, 431]).toContain(res.status);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    }
  });

  test("malformed HTTP on a raw socket: a 4xx or a closed connection, never a 5xx; the server keeps answering", async () => {
    const raw = (bytes: string | Uint8Array) => rawSocket(port, bytes);
    // HTTP/9.9 is answered 505 (HTTP Version Not Supported) by Bun's HTTP layer itself: the one
    // protocol-level 5xx, and the right answer.
    const version = "GET / HTTP/9.9\r\nHost: x\r\n\r\n";
    const v = /^HTTP\/1\.[01] (\d{3})/.exec(await raw(version))?.[1];
    expect(v === undefined || v === "505" || v.startsWith("4")).toBe(true);
    const cases: Array<string | Uint8Array> = [
      "GET\r\n\r\n", "FOO / HTTP/1.1\r\nHost: x\r\n\r\n", "GET /healthz HTTP/1.0\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX:\u0000y\r\n\r\n", "GET /healthz HTTP/1.1\r\nno-colon-here\r\n\r\n",
      "POST /api/v1/access/verify HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}",
      "POST /api/v1/access/verify HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
      "POST /api/v1/access/verify HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST /api/v1/access/verify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
      "POST /api/v1/access/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{\"a\":1}",
      new Uint8Array([...new TextEncoder().encode("GET /api/v1/admin/users/"), 0xff, 0xfe, 0x80, ...new TextEncoder().encode(" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")]),
      new Uint8Array([...new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: "), 0xff, 0x00, 0x80, ...new TextEncoder().encode("\r\nConnection: close\r\n\r\n")]),
      "GET http://evil.example/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      "GET /" + "a".repeat(100_000) + " HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /healthz HTTP/1.1\r\n" + "Host: x\r\n".repeat(2) + "Connection: close\r\n\r\n",
    ];
    for (const c of cases) {
      const answer = await raw(c);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1];
      expect({ request: (typeof c === "string" ? c : new TextDecoder().decode(c)).slice(0, 60), fiveHundred: status !== undefined && status.startsWith("5") })
        .toEqual({ request: (typeof c === "string" ? c : new TextDecoder().decode(c)).slice(0, 60), fiveHundred: false });
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    }
  });

  test("slow clients cannot exhaust the server: 600 stalled sockets, normal requests still answered at once", async () => {
    const partial = [
      "", // connected, nothing sent
      "GET /api/v1/admin/users HTTP/1.1\r\nHost: x\r\n", // headers never finished
      "POST /api/v1/access/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"gate_id\":", // body never finished
      "POST /api/v1/admin/import HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000000\r\n\r\n{", // a huge body trickling
    ];
    const sockets = await Promise.all(Array.from({ length: 600 }, (_, i) => Bun.connect({
      hostname: "127.0.0.1", port, socket: { data() {}, error() {} },
    }).then((s) => {
      const p = partial[i % partial.length]!;
      if (p) s.write(p);
      return s;
    })));
    try {
      await Bun.sleep(100);
      const latencies: number[] = [];
      for (let i = 0; i < 40; i++) {
        const t0 = performance.now();
        const res = await fetch(`${base}/api/v1/access/verify`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ gate_id: "GV1", token: "victim-card" }) });
        expect(res.status).toBe(200);
        await res.json();
        latencies.push(performance.now() - t0);
      }
      const admin = await fetch(`${base}/api/v1/admin/users?limit=1`, { headers: { authorization: `Bearer ${tokens.admin}` } });
      expect(admin.status).toBe(200);
      latencies.sort((a, b) => a - b);
      expect(latencies[latencies.length - 1]!).toBeLessThan(500);
    } finally {
      for (const s of sockets) s.end();
    }
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});
