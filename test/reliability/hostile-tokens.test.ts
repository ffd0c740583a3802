// Every kind of token × every route of the app's own route table, over real HTTP: a route added
// later is covered without touching this file. Cards, PINs and device secrets (no scopes) open
// gates and nothing else; a session whose source credential was revoked opens nothing; every
// refusal is a JSON error with its documented code, and nothing answers 5xx.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { hashSecret, newSecret } from "../../src/tokens";
import { startTestService, type TestService } from "../setup";
import { problem } from "./hostile-helpers";

let s: TestService;
let userId: string;
beforeAll(async () => {
  s = await startTestService({}, { http: true });
  const [u] = await s.db.sql`insert into users (username) values ('tokens-user') returning id`;
  userId = u!.id;
}, 30_000);
afterAll(() => s.stop(), 30_000);

const KINDS = ["card", "pin", "device", "api without scopes", "api with user scope", "api with admin scope", "user session", "admin session",
  "admin session whose source was revoked", "unknown"] as const;
type Kind = (typeof KINDS)[number];

/** A fresh secret of `kind` (fresh for each request: logout revokes the caller's own token). */
async function token(kind: Kind): Promise<string> {
  const secret = newSecret();
  const insert = (k: string, scopes: string[], extra: Record<string, unknown> = {}) =>
    s.db.sql`insert into credentials ${s.db.sql({ user_id: userId, kind: k, scopes, secret_hash: hashSecret(secret), ...extra })} returning id`;
  switch (kind) {
    case "card": await insert("card", []); break;
    case "pin": await insert("pin", []); break;
    case "device": await insert("device", []); break;
    case "api without scopes": await insert("api", []); break;
    case "api with user scope": await insert("api", ["user"]); break;
    case "api with admin scope": await insert("api", ["admin"]); break;
    case "user session": await insert("session", ["user"]); break;
    case "admin session":
    case "admin session whose source was revoked": {
      const [src] = await s.db.sql`insert into credentials (user_id, kind, scopes, secret_hash) values (${userId}, 'api', ${["admin"]}, ${hashSecret(newSecret())}) returning id`;
      await insert("session", ["admin", "user"], { source_credential_id: src!.id });
      if (kind !== "admin session") await s.db.sql`update credentials set revoked_at = now() where id = ${src!.id}`;
      break;
    }
    case "unknown": break;
  }
  return secret;
}

type Route = { method: string; path: string };
const isAdmin = (r: Route) => r.path.startsWith("/api/v1/admin/");
const isLogout = (r: Route) => r.method === "DELETE" && r.path === "/api/v1/auth/token";
const isUser = (r: Route) => r.path.startsWith("/api/v1/devices/") || isLogout(r);

/** What each kind gets: "through" (authentication passed), or the refusal. */
function expected(r: Route, k: Kind): "through" | 401 | 403 {
  if (k === "unknown" || k === "admin session whose source was revoked") return 401;
  if (isAdmin(r)) return k === "api with admin scope" || k === "admin session" ? "through" : 403;
  if (isLogout(r)) return ["api with user scope", "api with admin scope", "user session", "admin session"].includes(k) ? "through" : 403;
  return ["api with user scope", "user session", "admin session"].includes(k) ? "through" : 403;
}

/** `r` over HTTP with a fresh token of kind `k` (parameters "x_<name>", a `{}` body where one goes). */
async function hit(r: Route, k: Kind): Promise<Response> {
  const hasBody = ["POST", "PATCH", "PUT"].includes(r.method);
  return fetch(`http://127.0.0.1:${s.service.app.server!.port}${r.path.replace(/:(\w+)/g, "x_$1")}`, {
    method: r.method, body: hasBody ? "{}" : undefined,
    headers: { authorization: `Bearer ${await token(k)}`, ...(hasBody ? { "content-type": "application/json" } : {}) },
  });
}

describe("every token kind × every route", () => {
  test("admin and user routes: only the right scopes get through; cards, PINs, devices and orphaned sessions never do", async () => {
    const routes = s.service.app.routes.map((r) => ({ method: r.method, path: r.path })).filter((r) => isAdmin(r) || isUser(r));
    expect(routes.length).toBeGreaterThanOrEqual(40);
    const got: string[] = [], want: string[] = [];
    for (const r of routes) {
      for (const k of KINDS) {
        const res = await hit(r, k);
        const streaming = (res.headers.get("content-type") ?? "").includes("event-stream");
        const text = streaming ? "" : await res.text();
        if (streaming) await res.body?.cancel();
        const e = expected(r, k);
        const status = res.status === 401 || res.status === 403 ? res.status : "through";
        const shape = streaming || r.method === "HEAD" ? null : problem(r.method, r.path, undefined, { status: res.status, headers: res.headers, text });
        const code = e === 401 ? "unauthorized" : e === 403 ? "forbidden" : undefined;
        want.push(`${r.method} ${r.path} × ${k} → ${e}${code ? ` ${code}` : ""} ok`);
        got.push(`${r.method} ${r.path} × ${k} → ${status}${status !== "through" ? ` ${JSON.parse(text).error.code}` : ""} ${shape === null && res.status < 500 ? "ok" : `BROKEN (${res.status} ${shape})`}`);
      }
    }
    expect(got).toEqual(want);
  }, 120_000);

  test("public routes take any token kind without a 5xx, and a card still opens its gate", async () => {
    const routes = s.service.app.routes.map((r) => ({ method: r.method, path: r.path })).filter((r) => !isAdmin(r) && !isUser(r));
    const broken: string[] = [];
    for (const r of routes) {
      for (const k of KINDS) {
        const res = await hit(r, k);
        const text = await res.text();
        const p = problem(r.method, r.path, undefined, { status: res.status, headers: res.headers, text });
        if (p !== null) broken.push(`${r.method} ${r.path} × ${k} → ${p}`);
      }
    }
    expect(broken).toEqual([]);
    await s.call("POST", "/api/v1/admin/gates", { body: { id: "TOK_GATE", name: "t" } });
    const g = await s.call("POST", "/api/v1/admin/grants", { body: { subject: { user_id: userId }, target: { gate_id: "TOK_GATE" } } });
    const card = await token("card");
    const [head] = await s.db.sql<{ n: number }[]>`select n from pcl_revision`;
    expect(head!.n).toBeGreaterThan(g.body.revision);
    expect(await s.service.deps.feed.waitFor(head!.n, 5000)).toBe(true);
    const v = await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "TOK_GATE", token: card } });
    expect(v.body).toMatchObject({ allow: true, reason: "granted" });
  }, 60_000);
});
