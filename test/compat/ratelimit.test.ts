// Rate limits on the compatibility verify: the native limiters themselves (one budget per token
// and per gate across both ports), answered as the original did — 200 DENY RATE_LIMIT.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { sleepUntil } from "../setup";
import { type CompatService, startCompatService } from "./helpers";

let s: CompatService;
let token: string;

beforeAll(async () => {
  s = await startCompatService({ RATE_LIMIT_TOKEN: "3/1m", RATE_LIMIT_GATE: "6/1m", RATE_LIMIT_MODE: "local", RATE_LIMIT_LOGIN: "2/5m" });
  const u = (await s.call("POST", "/api/v1/admin/users", { body: { username: "rita", password: "rita-password-1" } })).body.id;
  for (const gate of ["G_TOKEN", "G_SHARED", "G_GATE"]) {
    await s.call("POST", "/api/v1/admin/gates", { body: { id: gate, name: gate } });
    await s.call("POST", "/api/v1/admin/grants", { body: { subject: { user_id: u }, target: { gate_id: gate } } });
  }
  token = (await s.compat("POST", "/api/v1/auth/token", { json: { username: "rita", password: "rita-password-1" } })).body.token;
  await s.caughtUp();
});
afterAll(() => s.stop());

const verify = (gate_id: string, tok: string) => s.compat("POST", "/api/v1/access/verify", { json: { gate_id, token: tok } });

test("over the per-credential limit: 200 DENY RATE_LIMIT, recorded as an access event", async () => {
  for (let i = 0; i < 3; i++) expect((await verify("G_TOKEN", token)).body).toEqual({ decision: "ALLOW", reason: "OK", duration_ms: 800 });
  const r = await verify("G_TOKEN", token);
  expect([r.status, r.body]).toEqual([200, { decision: "DENY", reason: "RATE_LIMIT" }]);
  await sleepUntil(async () => (await s.db.sql`select count(*)::int as n from access_events where gate_id = 'G_TOKEN' and reason = 'rate_limited'`)[0]!.n === 1, "rate_limited event");
});

test("one budget across both ports: native verifies use up the compat budget and the other way round", async () => {
  const [u] = await s.db.sql`select id from users where username = 'rita'`;
  const card = "rita-card-000001";
  await s.db.sql`insert into credentials (user_id, kind, secret_hash) values (${u!.id}, 'card', encode(sha256(${card}::bytea), 'hex'))`;
  await s.caughtUp();
  const native = (tok: string) => s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "G_SHARED", token: tok } });
  expect((await native(card)).status).toBe(200);
  expect((await native(card)).status).toBe(200);
  expect((await verify("G_SHARED", card)).body.reason).toBe("OK");
  expect((await verify("G_SHARED", card)).body.reason).toBe("RATE_LIMIT");
  expect((await native(card)).status).toBe(429);
});

test("over the per-gate limit (any tokens, unknown ones too): RATE_LIMIT", async () => {
  const answers = [];
  for (let i = 0; i < 7; i++) answers.push((await verify("G_GATE", `unknown-token-${i}-xxxx`)).body.reason);
  expect(answers).toEqual([...Array(6).fill("TOKEN_INVALID"), "RATE_LIMIT"]);
});

test("failed logins are throttled with the native login limit: DRF's 429 with Retry-After", async () => {
  const attempt = () => s.compat("POST", "/api/v1/auth/token", { json: { username: "rita", password: "wrong-password" } });
  expect((await attempt()).status).toBe(400);
  expect((await attempt()).status).toBe(400);
  const r = await attempt();
  expect(r.status).toBe(429);
  expect(r.body.detail).toMatch(/^Request was throttled\. Expected available in \d+ seconds?\.$/);
  expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
  // The right password does not get through either while throttled.
  expect((await s.compat("POST", "/api/v1/auth/token", { json: { username: "rita", password: "rita-password-1" } })).status).toBe(429);
});
