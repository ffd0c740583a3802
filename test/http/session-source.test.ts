// A login session lives no longer than the credential it was derived from, and secrets without
// scopes (cards, PINs, devices) are refused on every route a person's token opens.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { setLogLevel } from "../../src/log";
import { hashSecret } from "../../src/tokens";
import { sleepUntil, startTestService, type TestService } from "../setup";

let s: TestService;
let n = 0;

beforeAll(async () => {
  s = await startTestService({ RATE_LIMIT_LOGIN: "off" });
  await s.call("POST", "/api/v1/admin/gates", { body: { id: "SRC_DOOR", name: "door" } });
}, 30_000);
afterAll(() => s.stop(), 30_000);

/** A user with a password and an admin API credential, and an admin session made from it. */
async function adminWithSession() {
  const username = `src-admin-${++n}`;
  const u = await s.call("POST", "/api/v1/admin/users", { body: { username, password: "source-password-1" } });
  await s.call("POST", "/api/v1/admin/grants", { body: { subject: { user_id: u.body.id }, target: { gate_id: "SRC_DOOR" } } });
  const api = await s.call("POST", "/api/v1/admin/credentials", { body: { user_id: u.body.id, kind: "api", scopes: ["admin"] } });
  const login = await s.call("POST", "/api/v1/auth/token", { token: null, body: { username, password: "source-password-1", scope: "admin" } });
  expect(login.status).toBe(201);
  const session: string = login.body.token;
  expect((await s.call("GET", "/api/v1/admin/zones", { token: session })).status).toBe(200);
  return { userId: u.body.id as string, apiId: api.body.id as string, apiToken: api.body.secret as string, session, sessionId: login.body.token_id as string };
}

async function expectEnded(a: Awaited<ReturnType<typeof adminWithSession>>, revision: number) {
  const zones = await s.call("GET", "/api/v1/admin/zones", { token: a.session });
  expect([zones.status, zones.body.error.code]).toEqual([401, "unauthorized"]);
  // It cannot mint an admin credential to outlive its source.
  const mint = await s.call("POST", "/api/v1/admin/credentials", { token: a.session, body: { user_id: a.userId, kind: "api", scopes: ["admin"] } });
  expect([mint.status, mint.body.error.code]).toEqual([401, "unauthorized"]);
  expect((await s.call("GET", "/api/v1/devices/me", { token: a.session })).status).toBe(401);
  // Revoked in the same transaction as its source (or deleted with it).
  const [row] = await s.db.sql`select revoked_at from credentials where id = ${a.sessionId}`;
  expect(row === undefined ? "deleted" : row.revoked_at === null ? "live" : "revoked").not.toBe("live");
  // And no gate opens for it either: the feed took it out of the index with its source.
  const v = await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "SRC_DOOR", token: a.session, min_revision: revision } });
  expect(v.body.allow).toBe(false);
}

describe("a session derived from a credential", () => {
  test("the admin login records its source; while the source lives the session is admin (and opens the user's gates)", async () => {
    const a = await adminWithSession();
    const [row] = await s.db.sql`select source_credential_id from credentials where id = ${a.sessionId}`;
    expect(row!.source_credential_id).toBe(a.apiId);
    // The login's revision is not in its answer: wait for the feed to bring the session in.
    await sleepUntil(async () => (await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "SRC_DOOR", token: a.session } })).body.allow, "the session opens the gate");
  }, 20_000);

  test("revoking the source credential ends the session at once: 401 on admin routes, no new admin credential, no gate", async () => {
    const a = await adminWithSession();
    const r = await s.call("POST", `/api/v1/admin/credentials/${a.apiId}/revoke`);
    expect(r.status).toBe(200);
    await expectEnded(a, r.body.revision);
  }, 20_000);

  test("narrowing the source's scopes (admin removed) ends the session at once", async () => {
    const a = await adminWithSession();
    const r = await s.call("PATCH", `/api/v1/admin/credentials/${a.apiId}`, { body: { scopes: ["user"] } });
    expect(r.status).toBe(200);
    await expectEnded(a, r.body.revision);
  }, 20_000);

  test("deleting the source, or making it expired or not yet valid, ends the session", async () => {
    for (const change of [
      (id: string) => s.call("DELETE", `/api/v1/admin/credentials/${id}`),
      (id: string) => s.call("PATCH", `/api/v1/admin/credentials/${id}`, { body: { expires_at: new Date(Date.now() - 1000).toISOString() } }),
      (id: string) => s.call("PATCH", `/api/v1/admin/credentials/${id}`, { body: { valid_from: new Date(Date.now() + 3600_000).toISOString() } }),
    ]) {
      const a = await adminWithSession();
      const r = await change(a.apiId);
      expect(r.status).toBe(200);
      await expectEnded(a, r.body.revision);
    }
  }, 20_000);

  test("the session expires no later than its source", async () => {
    const a = await adminWithSession();
    const soon = new Date(Date.now() + 3600_000).toISOString();
    const r = await s.call("PATCH", `/api/v1/admin/credentials/${a.apiId}`, { body: { expires_at: soon } });
    expect(r.status).toBe(200);
    const session = await s.call("GET", `/api/v1/admin/credentials/${a.sessionId}`);
    expect(session.body.expires_at).toBe(soon);
    // A later login takes the source's expiry too.
    const [u] = await s.db.sql`select username from users where id = ${a.userId}`;
    const again = await s.call("POST", "/api/v1/auth/token", { token: null, body: { username: u!.username, password: "source-password-1", scope: "admin" } });
    expect(again.body.expires_at).toBe(soon);
  }, 20_000);

  test("the bearer lookup itself refuses a session whose source stopped holding, whatever wrote the change", async () => {
    const a = await adminWithSession();
    // Un-revoke the session behind the trigger's back: the lookup still refuses it.
    await s.db.sql`update credentials set revoked_at = now() where id = ${a.apiId}`;
    await s.db.sql`update credentials set revoked_at = null where id = ${a.sessionId}`;
    const zones = await s.call("GET", "/api/v1/admin/zones", { token: a.session });
    expect([zones.status, zones.body.error.message]).toEqual([401, "the credential this session was derived from is revoked, expired or no longer has its scope"]);
  }, 20_000);

  test("deactivating the user ends the session; the source's API token and a plain user login are refused too", async () => {
    const a = await adminWithSession();
    const r = await s.call("PATCH", `/api/v1/admin/users/${a.userId}`, { body: { active: false } });
    expect(r.status).toBe(200);
    for (const token of [a.session, a.apiToken]) {
      const zones = await s.call("GET", "/api/v1/admin/zones", { token });
      expect([zones.status, zones.body.error.message]).toEqual([401, "the token's user is inactive"]);
    }
  }, 20_000);

  test("revoking another credential of the user leaves the session alone", async () => {
    const a = await adminWithSession();
    const card = await s.call("POST", "/api/v1/admin/credentials", { body: { user_id: a.userId, kind: "card" } });
    await s.call("POST", `/api/v1/admin/credentials/${card.body.id}/revoke`);
    expect((await s.call("GET", "/api/v1/admin/zones", { token: a.session })).status).toBe(200);
  }, 20_000);
});

describe("secrets without scopes on user routes", () => {
  test("a card, PIN, device or scope-less API secret gets 403 on every user route and deletes nothing", async () => {
    const u = await s.call("POST", "/api/v1/admin/users", { body: { username: "scopeless", password: "scopeless-pass-1" } });
    const login = await s.call("POST", "/api/v1/auth/token", { token: null, body: { username: "scopeless", password: "scopeless-pass-1" } });
    const phone = await s.call("POST", "/api/v1/devices/register", { token: login.body.token, body: { name: "phone", platform: "android" } });
    expect(phone.status).toBe(201);
    const secrets: Record<string, string> = { device: phone.body.token };
    for (const [kind, secret] of [["card", "4711"], ["pin", "123456"], ["api", "pcl_scopeless_api_token_000000000000000000000"]] as const) {
      await s.db.sql`insert into credentials (user_id, kind, scopes, secret_hash) values (${u.body.id}, ${kind}, ${[]}, ${hashSecret(secret)})`;
      secrets[kind] = secret;
    }
    for (const [kind, secret] of Object.entries(secrets)) {
      for (const [method, path, body] of [
        ["GET", "/api/v1/devices/me", undefined], ["DELETE", `/api/v1/devices/${phone.body.device_id}`, undefined],
        ["POST", "/api/v1/devices/register", { name: "x", platform: "y" }], ["DELETE", "/api/v1/auth/token", undefined],
      ] as const) {
        const r = await s.call(method, path, { token: secret, body });
        expect([kind, method, path, r.status, r.body?.error?.code]).toEqual([kind, method, path, 403, "forbidden"]);
      }
    }
    const me = await s.call("GET", "/api/v1/devices/me", { token: login.body.token });
    expect(me.body.items.map((d: any) => d.device_id)).toEqual([phone.body.device_id]);
    const [card] = await s.db.sql`select revoked_at from credentials where secret_hash = ${hashSecret("4711")}`;
    expect(card!.revoked_at).toBeNull();
  }, 20_000);

  test("an admin-only API token is 403 on the device routes; logout takes it", async () => {
    const u = await s.call("POST", "/api/v1/admin/users", { body: { username: "admin-only" } });
    const api = await s.call("POST", "/api/v1/admin/credentials", { body: { user_id: u.body.id, kind: "api", scopes: ["admin"] } });
    expect((await s.call("GET", "/api/v1/devices/me", { token: api.body.secret })).status).toBe(403);
    expect((await s.call("DELETE", "/api/v1/auth/token", { token: api.body.secret })).status).toBe(204);
    expect((await s.call("GET", "/api/v1/admin/zones", { token: api.body.secret })).status).toBe(401);
  }, 20_000);
});

describe("a taken secret", () => {
  test("creating a credential with a secret in use is 409 naming `secret`, and the refusal is logged with the caller, never the secret", async () => {
    const u = await s.call("POST", "/api/v1/admin/users", { body: { username: "probe-target" } });
    expect((await s.call("POST", "/api/v1/admin/credentials", { body: { user_id: u.body.id, kind: "pin", secret: "0815" } })).status).toBe(201);
    const lines: string[] = [];
    const err = process.stderr.write.bind(process.stderr);
    (process.stderr as any).write = (chunk: any) => (lines.push(String(chunk)), true);
    setLogLevel("warn");
    let r;
    try {
      r = await s.call("POST", "/api/v1/admin/credentials", { body: { user_id: u.body.id, kind: "pin", secret: "0815" } });
    } finally {
      setLogLevel("error");
      (process.stderr as any).write = err;
    }
    expect([r.status, r.body.error.code, r.body.error.details]).toEqual([409, "conflict", { field: "secret" }]);
    const line = lines.map((l) => JSON.parse(l)).find((l) => l.msg === "credential create refused: the secret is already in use");
    const [caller] = await s.db.sql`select id from credentials where secret_hash = ${hashSecret(s.adminToken)}`;
    expect(line).toMatchObject({ level: "warn", actor: caller!.id, user_id: u.body.id, kind: "pin" });
    expect(lines.join("")).not.toContain("0815");
  }, 20_000);
});
