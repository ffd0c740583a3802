// Host headers and request lines of every shape, on a raw socket, against both listeners: the
// path a request names is the path that answers — never a shorter one cut out of the URL at a
// fixed offset (Elysia's `indexOf("/", 11)`, see src/listen.ts) — and nothing answers 5xx.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startService, type Service } from "../../src/service";
import { hashSecret, newSecret } from "../../src/tokens";
import { freePort, TEST_TOKEN_KEY } from "../compat/helpers";
import { createTestDb, testConfig, type TestDb } from "../setup";
import { problem, rawHttp, type RawAnswer } from "./hostile-helpers";

let db: TestDb;
let service: Service;
let port: number;
let compatPort: number;
const admin = newSecret();
const CARD = "host-test-card-0001";

beforeAll(async () => {
  db = await createTestDb();
  await db.sql.begin(async (tx) => {
    await tx`insert into users (id, username) values ('u_h_admin', 'h-admin'), ('u_h_card', 'h-card')`;
    await tx`insert into credentials (user_id, kind, scopes, secret_hash) values
      ('u_h_admin', 'api', ${["admin"]}, ${hashSecret(admin)}), ('u_h_card', 'card', ${[]}, ${hashSecret(CARD)})`;
    await tx`insert into zones (id, name) values ('z_h', 'host-zone')`;
    await tx`insert into gates (id, name, zone_id) values ('G_H', 'host gate', 'z_h')`;
    await tx`insert into grants (subject_user_id, target_gate_id) values ('u_h_card', 'G_H')`;
  });
  for (let attempt = 0; ; attempt++) {
    try {
      compatPort = freePort();
      service = await startService(testConfig({ HOST: "127.0.0.1", PORT: "0", OPENWAY_COMPAT_PORT: String(compatPort), COMPAT_TOKEN_KEY: TEST_TOKEN_KEY }),
        { databaseUrl: db.url, listen: true, maintenance: false });
      break;
    } catch (e) {
      if (attempt === 4) throw e;
    }
  }
  port = service.app.server!.port!;
}, 30_000);
afterAll(async () => {
  await service?.stop();
  await db?.drop();
}, 30_000);

/** Host values: empty, 1–3 characters, ports, IPv6 literals, and ones Bun cannot parse (it then gives a relative URL). */
const HOSTS = ["", "x", "ab", "pcl", "x:1", "ab:8", "x:", ":80", "[::1]", "[::1]:80", "[::]", "[2001:db8::1]:3000", "[::1",
  "a b", "a/b", "x/zzz", "a?b", "é", "%2F", "..", "localhost", "127.0.0.1:1", "x".repeat(300)];
const auth: [string, string] = ["Authorization", `Bearer ${admin}`];

async function send(p: number, line: string, host: string | null, headers: Array<[string, string]> = [], body = ""): Promise<RawAnswer> {
  const a = await rawHttp(p, line, [...(host === null ? [] : [["Host", host] as [string, string]]), ...headers], body);
  if (!a) throw new Error(`no HTTP answer to ${line} (Host: ${host})`);
  return a;
}
const json = (a: RawAnswer) => JSON.parse(a.text);
const verifyBody = JSON.stringify({ gate_id: "G_H", token: CARD });
const chunked = (s: string) => `${s.length.toString(16)}\r\n${s}\r\n0\r\n\r\n`;

describe("Host headers and request lines", () => {
  test("every Host shape: a prefixed path is 404, never the route behind it; the real path answers", async () => {
    const seen: unknown[] = [];
    for (const host of HOSTS) {
      for (const path of ["/zzz/api/v1/admin/zones", `/${"x".repeat(10)}/api/v1/admin/zones`, "/zz/metrics", "/a/healthz", "/zzzzzzzzz/readyz"]) {
        const a = await send(port, `GET ${path} HTTP/1.1`, host, [auth]);
        seen.push([host, path, a.status, json(a).error?.code]);
      }
      const zones = await send(port, "GET /api/v1/admin/zones?limit=5 HTTP/1.1", host, [auth]);
      const metrics = await send(port, "GET /metrics?x=/y HTTP/1.1", host);
      const health = await send(port, "GET /healthz?x=/y/z HTTP/1.1", host);
      seen.push([host, "zones", zones.status, json(zones).items?.map((z: any) => z.id)], [host, "metrics", metrics.status, metrics.text.includes("portcullis_")],
        [host, "healthz", health.status, health.text]);
    }
    const want: unknown[] = [];
    for (const host of HOSTS) {
      for (const path of ["/zzz/api/v1/admin/zones", `/${"x".repeat(10)}/api/v1/admin/zones`, "/zz/metrics", "/a/healthz", "/zzzzzzzzz/readyz"]) want.push([host, path, 404, "not_found"]);
      want.push([host, "zones", 200, ["z_h"]], [host, "metrics", 200, true], [host, "healthz", 200, '{"status":"ok"}']);
    }
    expect(seen).toEqual(want);
  });

  test("every Host shape: a verify that falls back to the Elysia route (chunked body, bad field, min_revision) is still verify", async () => {
    const rev = service.deps.feed.revision;
    for (const host of HOSTS) {
      const a = await send(port, "POST /api/v1/access/verify HTTP/1.1", host, [["Content-Type", "application/json"], ["Transfer-Encoding", "chunked"]], chunked(verifyBody));
      expect([host, a.status, json(a).allow, json(a).reason]).toEqual([host, 200, true, "granted"]);
      const bad = await send(port, "POST /api/v1/access/verify HTTP/1.1", host, [["Content-Type", "application/json"]], JSON.stringify({ gate_id: "G_H", token: CARD, extra: 1 }));
      expect([host, bad.status, json(bad).error?.code]).toEqual([host, 400, "invalid_request"]);
      // min_revision ahead of the index: the Elysia route waits 250 ms, then 503 (a few Host shapes).
      if (["", "pcl", "a b", "[::1", "x:1"].includes(host)) {
        const ahead = JSON.stringify({ gate_id: "G_H", token: CARD, min_revision: rev + 1000 });
        const waited = await send(port, "POST /api/v1/access/verify HTTP/1.1", host, [["Content-Type", "application/json"], ["Transfer-Encoding", "chunked"]], chunked(ahead));
        expect([host, waited.status, json(waited).error?.code]).toEqual([host, 503, "unavailable"]);
      }
      const native = await send(port, "POST /api/v1/access/verify HTTP/1.1", host, [["Content-Type", "application/json"]], verifyBody);
      expect([host, native.status, json(native).allow]).toEqual([host, 200, true]);
      const prefixed = await send(port, "POST /zzz/api/v1/access/verify HTTP/1.1", host, [["Content-Type", "application/json"], ["Transfer-Encoding", "chunked"]], chunked(verifyBody));
      expect([host, prefixed.status, json(prefixed).error?.code]).toEqual([host, 404, "not_found"]);
    }
  }, 20_000);

  test("absolute-form request lines: the path of the request line answers, whatever authority it names", async () => {
    const cases: Array<[string, string, number]> = [
      ["GET http://evil.example/zzz/api/v1/admin/zones HTTP/1.1", "pcl", 404],
      ["GET http://x/zzz/api/v1/admin/zones HTTP/1.1", "x", 404],
      ["GET https://x/zz/api/v1/admin/zones HTTP/1.1", "", 404],
      ["GET http://x/api/v1/admin/zones HTTP/1.1", "pcl", 200],
      ["GET https://[::1]:8443/api/v1/admin/zones HTTP/1.1", "x", 200],
      ["GET http://x HTTP/1.1", "x", 404],
      ["GET //zzz/api/v1/admin/zones HTTP/1.1", "x", 404],
      ["GET /zzz/../api/v1/admin/zones HTTP/1.1", "x", 200], // Bun resolves dot segments, as a proxy would
    ];
    for (const [line, host, status] of cases) {
      const a = await send(port, line, host, [auth]);
      expect([line, host, a.status, problem("GET", "/", undefined, a)]).toEqual([line, host, status, null]);
    }
  });

  test("generated from the route table: every route behind a prefix is 404 with each short or unparsable Host", async () => {
    const routes = service.app.routes.map((r) => ({ method: r.method, path: r.path.replace(/:(\w+)/g, "x") }));
    expect(routes.length).toBeGreaterThan(50);
    const wrong: string[] = [];
    for (const host of ["x", "pcl", "", "a b", "[::1]"]) {
      for (const r of routes) {
        for (const prefix of ["/zzz", `/${"y".repeat(10)}`]) {
          const hasBody = r.method !== "GET" && r.method !== "HEAD";
          const a = await send(port, `${r.method} ${prefix}${r.path} HTTP/1.1`, host, [auth, ["Content-Type", "application/json"]], hasBody ? "{}" : "");
          const p = problem(r.method, r.path, undefined, a);
          if (a.status !== 404 || (r.method !== "HEAD" && (p !== null || json(a).error.code !== "not_found"))) {
            wrong.push(`${r.method} ${prefix}${r.path} (Host: ${host}) → ${a.status} ${a.text.slice(0, 80)}`);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  test("the openway compat listener: same Host shapes, its own paths only, Django's 404 for the rest", async () => {
    for (const host of HOSTS) {
      const health = await send(compatPort, "GET /health HTTP/1.1", host);
      expect([host, health.status, health.text]).toEqual([host, 200, '{"status":"ok"}']);
      for (const path of ["/zzz/health", `/${"x".repeat(10)}/health`, "/zzz/api/v1/devices/me"]) {
        const a = await send(compatPort, `GET ${path} HTTP/1.1`, host);
        expect([host, path, a.status, a.headers.get("content-type")]).toEqual([host, path, 404, "text/html; charset=utf-8"]);
      }
      const v = await send(compatPort, "POST /api/v1/access/verify HTTP/1.1", host, [["Content-Type", "application/json"], ["Transfer-Encoding", "chunked"]],
        chunked(JSON.stringify({ gate_id: "G_H", token: CARD })));
      expect([host, v.status, json(v).decision]).toEqual([host, 200, "ALLOW"]);
      const prefixed = await send(compatPort, "POST /zzz/api/v1/access/verify HTTP/1.1", host, [["Content-Type", "application/json"]], verifyBody);
      expect([host, prefixed.status]).toEqual([host, 404]);
    }
  });
});
