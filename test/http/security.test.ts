// The security matrix, generated from the app's own route table: a route added later cannot
// escape it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { hashSecret, newSecret } from "../../src/tokens";
import { startTestService, type TestService } from "../setup";

let s: TestService;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  s = await startTestService();
  const [u] = await s.db.sql`insert into users (username) values ('matrix') returning id`;
  const [inactive] = await s.db.sql`insert into users (username, active) values ('matrix-inactive', false) returning id`;
  const mk = async (name: string, user: string, cols: Record<string, unknown>) => {
    tokens[name] = newSecret();
    await s.db.sql`insert into credentials ${s.db.sql({ user_id: user, kind: "api", secret_hash: hashSecret(tokens[name]!), scopes: ["admin"], ...cols })}`;
  };
  await mk("expired", u!.id, { expires_at: new Date(Date.now() - 60_000) });
  await mk("revoked", u!.id, { revoked_at: new Date() });
  await mk("not yet valid", u!.id, { valid_from: new Date(Date.now() + 3_600_000) });
  await mk("inactive user", inactive!.id, {});
  tokens["user scope"] = s.userToken;
  tokens["admin scope"] = s.adminToken;
});
afterAll(() => s.stop());

const protectedRoutes = () =>
  s.service.app.routes
    .filter((r) => r.path.startsWith("/api/v1/admin"))
    .map((r) => ({ method: r.method, path: r.path.replace(/:(\w+)/g, "x_$1") }));

const cases: Array<[string, (path: string) => Record<string, string>, number]> = [
  ["no token", () => ({}), 401],
  ["malformed header", () => ({ authorization: "Token abc" }), 401],
  ["empty bearer", () => ({ authorization: "Bearer " }), 401],
  ["unknown token", () => ({ authorization: `Bearer ${newSecret()}` }), 401],
  ["expired", () => ({ authorization: `Bearer ${tokens.expired}` }), 401],
  ["revoked", () => ({ authorization: `Bearer ${tokens.revoked}` }), 401],
  ["not yet valid", () => ({ authorization: `Bearer ${tokens["not yet valid"]}` }), 401],
  ["inactive user", () => ({ authorization: `Bearer ${tokens["inactive user"]}` }), 401],
  ["user scope", () => ({ authorization: `Bearer ${tokens["user scope"]}` }), 403],
];

describe("admin routes refuse every caller without a valid admin token", () => {
  test("the route table has the admin routes", () => {
    expect(protectedRoutes().length).toBeGreaterThanOrEqual(38);
  });

  for (const [name, headers, status] of cases) {
    test(`${name} → ${status}`, async () => {
      for (const r of protectedRoutes()) {
        const res = await s.call(r.method, r.path, { token: null, headers: headers(r.path), body: ["POST", "PATCH"].includes(r.method) ? {} : undefined });
        expect({ route: `${r.method} ${r.path}`, status: res.status, code: res.body?.error?.code })
          .toEqual({ route: `${r.method} ${r.path}`, status, code: status === 401 ? "unauthorized" : "forbidden" });
      }
    });
  }

  test("admin scope passes authentication on every route", async () => {
    for (const r of protectedRoutes()) {
      const res = await s.call(r.method, r.path, { body: ["POST", "PATCH"].includes(r.method) ? {} : undefined });
      expect({ route: `${r.method} ${r.path}`, ok: ![401, 403, 500].includes(res.status) }).toEqual({ route: `${r.method} ${r.path}`, ok: true });
    }
  });
});
