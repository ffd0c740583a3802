// The openway_access compatibility listener, scenario by scenario of ../shared/COMPAT-openway.md,
// over real HTTP on OPENWAY_COMPAT_PORT, beside the native API of the same service.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sleepUntil } from "../setup";
import { type CompatService, startCompatService } from "./helpers";

let s: CompatService;
let mariaId: string;
let othoId: string;

beforeAll(async () => {
  s = await startCompatService();
  mariaId = (await s.call("POST", "/api/v1/admin/users", { body: { username: "maria", password: "maria-password-1" } })).body.id;
  othoId = (await s.call("POST", "/api/v1/admin/users", { body: { username: "otho", password: "otho-password-1" } })).body.id;
  await s.call("POST", "/api/v1/admin/users", { body: { username: "ina", password: "ina-password-1", active: false } });
  for (const [id, unlock] of [["GATE_C1", 1500], ["GATE_C2", undefined], ["GATE_LOCKED", undefined], ["GATE_OFF", undefined]] as const) {
    const r = await s.call("POST", "/api/v1/admin/gates", { body: { id, name: id, ...(unlock ? { unlock_ms: unlock } : {}) } });
    expect(r.status).toBe(201);
  }
  await s.call("PATCH", "/api/v1/admin/gates/GATE_LOCKED", { body: { mode: "locked" } });
  await s.call("PATCH", "/api/v1/admin/gates/GATE_OFF", { body: { mode: "disabled" } });
  for (const gate of ["GATE_C1", "GATE_LOCKED", "GATE_OFF"]) {
    expect((await s.call("POST", "/api/v1/admin/grants", { body: { subject: { user_id: mariaId }, target: { gate_id: gate } } })).status).toBe(201);
  }
  await s.caughtUp();
});
afterAll(() => s.stop());

const verify = (body: unknown) => s.compat("POST", "/api/v1/access/verify", { json: body });
const login = (username: string, password: string) => s.compat("POST", "/api/v1/auth/token", { json: { username, password } });
const register = (token: string, body: unknown = {}) => s.compat("POST", "/api/v1/devices/register", { token, json: body });

describe("health and readiness", () => {
  test("/health and /healthz are ok; /ready and /readyz are ready while the feed is live", async () => {
    for (const p of ["/health", "/healthz"]) {
      const r = await s.compat("GET", p);
      expect([r.status, r.body]).toEqual([200, { status: "ok" }]);
    }
    for (const p of ["/ready", "/readyz"]) {
      const r = await s.compat("GET", p);
      expect([r.status, r.body]).toEqual([200, { status: "ready" }]);
    }
  });
});

describe("paths", () => {
  test("a trailing slash is 404, as in Django", async () => {
    for (const [m, p] of [["POST", "/api/v1/access/verify/"], ["POST", "/api/v1/auth/token/"], ["POST", "/api/v1/devices/register/"],
      ["GET", "/api/v1/devices/me/"], ["POST", "/api/v1/devices/revoke/"], ["GET", "/health/"], ["GET", "/healthz/"], ["GET", "/ready/"], ["GET", "/readyz/"]]) {
      const r = await s.compat(m!, p!, m === "GET" ? {} : { json: {} });
      expect([p, r.status]).toEqual([p, 404]);
      expect(r.headers.get("content-type")).toStartWith("text/html");
      expect(r.text).toContain("<h1>Not Found</h1>");
    }
  });

  test("unknown paths are 404; native-only paths are not served here", async () => {
    expect((await s.compat("GET", "/nothing")).status).toBe(404);
    expect((await s.compat("GET", "/metrics")).status).toBe(404);
    expect((await s.compat("GET", "/api/v1/admin/users")).status).toBe(404);
  });

  test("another method on a known path is DRF's 405 with Allow", async () => {
    const r = await s.compat("GET", "/api/v1/access/verify");
    expect(r.status).toBe(405);
    expect(r.body).toEqual({ detail: 'Method "GET" not allowed.' });
    expect(r.headers.get("allow")).toContain("POST");
    expect((await s.compat("DELETE", "/api/v1/devices/me")).status).toBe(405);
  });
});

describe("verify", () => {
  let token: string;
  beforeAll(async () => {
    token = (await login("maria", "maria-password-1")).body.token;
    await s.caughtUp();
  });

  test("a granted login token: ALLOW with the gate's unlock time as duration_ms", async () => {
    const r = await verify({ gate_id: "GATE_C1", token });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ decision: "ALLOW", reason: "OK", duration_ms: 1500 });
  });

  test("reasons: NO_PERMISSION (no grant, locked gate), UNKNOWN_GATE (unknown, disabled), TOKEN_INVALID", async () => {
    const unknownToken = "f".repeat(40);
    const cases: Array<[string, string, string]> = [
      ["GATE_C2", token, "NO_PERMISSION"],
      ["GATE_LOCKED", token, "NO_PERMISSION"],
      ["NO_SUCH_GATE", token, "UNKNOWN_GATE"],
      ["GATE_OFF", token, "UNKNOWN_GATE"],
      ["GATE_C1", unknownToken, "TOKEN_INVALID"],
      // The original looked the gate up first: an unknown gate is UNKNOWN_GATE whatever the token.
      ["NO_SUCH_GATE", unknownToken, "UNKNOWN_GATE"],
    ];
    for (const [gate_id, tok, reason] of cases) {
      const r = await verify({ gate_id, token: tok });
      expect([gate_id, r.status, r.body]).toEqual([gate_id, 200, { decision: "DENY", reason }]);
    }
  });

  test("INVALID_REQUEST, always with 200: missing, blank, mistyped fields, bad JSON, token length", async () => {
    const bodies: unknown[] = [
      {}, { gate_id: "GATE_C1" }, { token }, { gate_id: "", token }, { gate_id: "   ", token }, { gate_id: "GATE_C1", token: "   " },
      { gate_id: 5, token }, { gate_id: "GATE_C1", token: 12345678 }, { gate_id: null, token }, { gate_id: ["GATE_C1"], token },
      { gate_id: "GATE_C1", token: "a".repeat(7) }, { gate_id: "GATE_C1", token: "a".repeat(129) }, { gate_id: "GATE_C1", token: `  ${"a".repeat(7)}  ` },
      [], "GATE_C1", null, 42,
    ];
    for (const b of bodies) {
      const r = await verify(b);
      expect([b, r.status, r.body]).toEqual([b, 200, { decision: "DENY", reason: "INVALID_REQUEST" }]);
    }
    for (const raw of ["not json", "{\"gate_id\": \"GATE_C1\",", "", `{"gate_id":"GATE_C1","token":"${"x".repeat(5000)}"}`]) {
      const r = await s.compat("POST", "/api/v1/access/verify", { raw, headers: { "content-type": "application/json" } });
      expect([r.status, r.body]).toEqual([200, { decision: "DENY", reason: "INVALID_REQUEST" }]);
    }
  });

  test("token length 8 and 128 are well-formed; surrounding whitespace is trimmed; extra fields are ignored", async () => {
    for (const t of ["a".repeat(8), "a".repeat(128)]) {
      expect((await verify({ gate_id: "GATE_C1", token: t })).body).toEqual({ decision: "DENY", reason: "TOKEN_INVALID" });
    }
    expect((await verify({ gate_id: " GATE_C1 ", token: `\t${token} ` })).body.decision).toBe("ALLOW");
    expect((await verify({ gate_id: "GATE_C1", token, extra: 1, min_revision: "x" })).body.decision).toBe("ALLOW");
  });

  test("an inactive user's token is TOKEN_INVALID", async () => {
    const [u] = await s.db.sql`select id from users where username = 'ina'`;
    await s.db.sql`insert into credentials (user_id, kind, secret_hash) values (${u!.id}, 'card', encode(sha256('ina-card-0001'::bytea), 'hex'))`;
    await s.db.sql`insert into grants (subject_user_id, target_gate_id) values (${u!.id}, 'GATE_C1')`;
    await s.caughtUp();
    expect((await verify({ gate_id: "GATE_C1", token: "ina-card-0001" })).body).toEqual({ decision: "DENY", reason: "TOKEN_INVALID" });
  });

  test("every decision is an access event, like a native one", async () => {
    const before = Number((await s.db.sql`select count(*) from access_events where gate_id = 'GATE_C2'`)[0]!.count);
    await verify({ gate_id: "GATE_C2", token });
    await verify({ gate_id: "GATE_C2", token: "b".repeat(40) });
    await sleepUntil(async () => Number((await s.db.sql`select count(*) from access_events where gate_id = 'GATE_C2'`)[0]!.count) === before + 2, "events");
    const rows = await s.db.sql`select user_id, allow, reason from access_events where gate_id = 'GATE_C2' order by at desc, id desc limit 2`;
    expect(rows.map((r) => r.reason).sort()).toEqual(["no_grant", "unknown_token"]);
    expect(rows.find((r) => r.reason === "no_grant")!.user_id).toBe(mariaId);
  });
});

describe("login", () => {
  test("JSON, form and multipart logins answer the same 40-hex token, every time", async () => {
    const a = await login("otho", "otho-password-1");
    expect(a.status).toBe(200);
    expect(a.body).toEqual({ token: expect.stringMatching(/^[0-9a-f]{40}$/) });
    const b = await s.compat("POST", "/api/v1/auth/token", { form: { username: "otho", password: "otho-password-1" } });
    const c = await s.compat("POST", "/api/v1/auth/token", { multipart: { username: "otho", password: "otho-password-1" } });
    expect([b.status, b.body]).toEqual([200, a.body]);
    expect([c.status, c.body]).toEqual([200, a.body]);
    // One credential, stored as a hash only.
    const creds = await s.db.sql`select secret_hash from credentials where user_id = ${othoId} and openway_role = 'login'`;
    expect(creds.length).toBe(1);
    expect(creds[0]!.secret_hash).toBe(new Bun.CryptoHasher("sha256").update(a.body.token).digest("hex"));
  });

  test("concurrent first logins make one token", async () => {
    await s.call("POST", "/api/v1/admin/users", { body: { username: "quinn", password: "quinn-password-1" } });
    const all = await Promise.all([1, 2, 3].map(() => login("quinn", "quinn-password-1")));
    expect(new Set(all.map((r) => r.body.token)).size).toBe(1);
  });

  test("a revoked login token is replaced by a new one at the next login", async () => {
    const first = (await login("otho", "otho-password-1")).body.token;
    await s.db.sql`update credentials set revoked_at = now() where user_id = ${othoId} and openway_role = 'login'`;
    const second = (await login("otho", "otho-password-1")).body.token;
    expect(second).toMatch(/^[0-9a-f]{40}$/);
    expect(second).not.toBe(first);
    expect((await login("otho", "otho-password-1")).body.token).toBe(second);
  });

  test("bad or inactive credentials: 400 non_field_errors", async () => {
    for (const [u, p] of [["otho", "wrong-password"], ["nobody", "whatever"], ["ina", "ina-password-1"]]) {
      const r = await login(u!, p!);
      expect([r.status, r.body]).toEqual([400, { non_field_errors: ["Unable to log in with provided credentials."] }]);
    }
  });

  test("missing fields: 400 naming each, in DRF's words; blank is not missing", async () => {
    const cases: Array<[unknown, unknown]> = [
      [{}, { username: ["This field is required."], password: ["This field is required."] }],
      [{ username: "otho" }, { password: ["This field is required."] }],
      [{ password: "x" }, { username: ["This field is required."] }],
      [{ username: "", password: "x" }, { username: ["This field may not be blank."] }],
      [{ username: "otho", password: null }, { password: ["This field may not be null."] }],
      [{ username: { a: 1 }, password: "x" }, { username: ["Not a valid string."] }],
      // A NUL reached Postgres and came back as {"detail": "body: invalid byte sequence …"}.
      [{ username: "ot\u0000ho", password: "x" }, { username: ["Null characters are not allowed."] }],
      [{ username: "otho", password: "otho-pass\u0000word-1" }, { password: ["Null characters are not allowed."] }],
    ];
    for (const [body, want] of cases) {
      const r = await s.compat("POST", "/api/v1/auth/token", { json: body });
      expect([body, r.status, r.body]).toEqual([body, 400, want]);
    }
    const form = await s.compat("POST", "/api/v1/auth/token", { form: { username: "otho" } });
    expect([form.status, form.body]).toEqual([400, { password: ["This field is required."] }]);
    const none = await s.compat("POST", "/api/v1/auth/token");
    expect([none.status, none.body]).toEqual([400, { username: ["This field is required."], password: ["This field is required."] }]);
  });

  test("malformed JSON is DRF's parse error; another content type is 415", async () => {
    const bad = await s.compat("POST", "/api/v1/auth/token", { raw: "{nope", headers: { "content-type": "application/json" } });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toStartWith("JSON parse error - ");
    const other = await s.compat("POST", "/api/v1/auth/token", { raw: "username=otho", headers: { "content-type": "text/plain" } });
    expect([other.status, other.body]).toEqual([415, { detail: 'Unsupported media type "text/plain" in request.' }]);
  });
});

describe("devices", () => {
  let token: string;
  let othoToken: string;
  beforeAll(async () => {
    token = (await login("maria", "maria-password-1")).body.token;
    othoToken = (await login("otho", "otho-password-1")).body.token;
  });

  test("no, malformed or bad token: 401 with WWW-Authenticate: Token and DRF's message", async () => {
    const deviceTok = (await register(othoToken)).body.token;
    const cases: Array<[Record<string, string>, string]> = [
      [{}, "Authentication credentials were not provided."],
      [{ authorization: `Bearer ${token}` }, "Authentication credentials were not provided."],
      [{ authorization: "Token" }, "Invalid token header. No credentials provided."],
      [{ authorization: "Token a b" }, "Invalid token header. Token string should not contain spaces."],
      [{ authorization: "Token " + "0".repeat(40) }, "Invalid token."],
      [{ authorization: `Token ${deviceTok}` }, "Invalid token."],
    ];
    for (const [path, method] of [["/api/v1/devices/me", "GET"], ["/api/v1/devices/register", "POST"], ["/api/v1/devices/revoke", "POST"]] as const) {
      for (const [headers, message] of cases) {
        const r = await s.compat(method, path, { headers, json: method === "POST" ? {} : undefined });
        expect([path, headers, r.status, r.body]).toEqual([path, headers, 401, { detail: message }]);
        expect(r.headers.get("www-authenticate")).toBe("Token");
      }
    }
    expect((await s.compat("GET", "/api/v1/devices/me", { headers: { authorization: `token ${token}` } })).status).toBe(200);
  });

  test("an inactive user's token: 401 User inactive or deleted.", async () => {
    await s.call("POST", "/api/v1/admin/users", { body: { username: "paused", password: "paused-password-1" } });
    const t = (await login("paused", "paused-password-1")).body.token;
    await s.db.sql`update users set active = false where username = 'paused'`;
    const r = await s.compat("GET", "/api/v1/devices/me", { token: t });
    expect([r.status, r.body]).toEqual([401, { detail: "User inactive or deleted." }]);
  });

  test("register {}: a device (integer id) with a 64-hex token that verifies as its user; the QR payload is the token", async () => {
    const r = await register(token);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ device_id: expect.any(Number), token: expect.stringMatching(/^[0-9a-f]{64}$/), android_device_id: "", qr_payload: r.body.token });
    await s.caughtUp();
    expect((await verify({ gate_id: "GATE_C1", token: r.body.token })).body).toEqual({ decision: "ALLOW", reason: "OK", duration_ms: 1500 });
  });

  test("rotate (the default) issues a new token on the same device and the old one stops verifying", async () => {
    const a = await register(token);
    const b = await register(token, { rotate: true });
    const c = await register(token, {});
    expect(b.body.device_id).toBe(a.body.device_id);
    expect(c.body.device_id).toBe(a.body.device_id);
    expect(new Set([a.body.token, b.body.token, c.body.token]).size).toBe(3);
    await s.caughtUp();
    expect((await verify({ gate_id: "GATE_C1", token: a.body.token })).body).toEqual({ decision: "DENY", reason: "TOKEN_INVALID" });
    expect((await verify({ gate_id: "GATE_C1", token: c.body.token })).body.decision).toBe("ALLOW");
  });

  test("rotate=false keeps the token and sets android_device_id; null keeps the stored one", async () => {
    const a = await register(token);
    const b = await register(token, { rotate: false, android_device_id: "android-123" });
    expect(b.status).toBe(200);
    expect(b.body).toEqual({ device_id: a.body.device_id, token: a.body.token, android_device_id: "android-123", qr_payload: a.body.token });
    const c = await register(token, { rotate: "false", android_device_id: null });
    expect(c.body).toEqual(b.body);
    const form = await s.compat("POST", "/api/v1/devices/register", { token, form: { rotate: "0" } });
    expect(form.body).toEqual(b.body);
  });

  test("register validation in DRF's words", async () => {
    const cases: Array<[unknown, unknown]> = [
      [{ rotate: "maybe" }, { rotate: ["Must be a valid boolean."] }],
      [{ rotate: null }, { rotate: ["This field may not be null."] }],
      [{ android_device_id: "x".repeat(129) }, { android_device_id: ["Ensure this field has no more than 128 characters."] }],
      [{ android_device_id: ["x"] }, { android_device_id: ["Not a valid string."] }],
      [[1, 2], { non_field_errors: ["Invalid data. Expected a dictionary, but got list."] }],
    ];
    for (const [body, want] of cases) {
      const r = await register(token, body);
      expect([body, r.status, r.body]).toEqual([body, 400, want]);
    }
  });

  test("me lists every device of the user, newest first, with a token preview", async () => {
    const cur = await register(token, { rotate: false });
    const r = await s.compat("GET", "/api/v1/devices/me", { token });
    expect(r.status).toBe(200);
    expect(r.body[0]).toEqual({ id: cur.body.device_id, android_device_id: "android-123", is_active: true, token_preview: `${cur.body.token.slice(0, 4)}…${cur.body.token.slice(-4)}` });
    const other = await s.compat("GET", "/api/v1/devices/me", { token: othoToken });
    expect(other.body.map((d: any) => d.id)).not.toContain(cur.body.device_id);
  });

  test("revoke by device_id: 200, idempotent; its token answers DEVICE_INACTIVE; the next register makes a new device", async () => {
    const d = await register(token, { rotate: false });
    const r = await s.compat("POST", "/api/v1/devices/revoke", { token, json: { device_id: d.body.device_id } });
    expect([r.status, r.body]).toEqual([200, { device_id: d.body.device_id, is_active: false }]);
    const again = await s.compat("POST", "/api/v1/devices/revoke", { token, json: { device_id: String(d.body.device_id) } });
    expect([again.status, again.body]).toEqual([200, { device_id: d.body.device_id, is_active: false }]);
    await s.caughtUp();
    expect((await verify({ gate_id: "GATE_C1", token: d.body.token })).body).toEqual({ decision: "DENY", reason: "DEVICE_INACTIVE" });
    // An unknown gate still comes first, as in the original.
    expect((await verify({ gate_id: "NO_SUCH_GATE", token: d.body.token })).body.reason).toBe("UNKNOWN_GATE");
    const me = await s.compat("GET", "/api/v1/devices/me", { token });
    expect(me.body.find((x: any) => x.id === d.body.device_id).is_active).toBe(false);
    const next = await register(token, { rotate: false });
    expect(next.body.device_id).not.toBe(d.body.device_id);
    expect(next.body.token).not.toBe(d.body.token);
  });

  test("revoke by android_device_id takes the newest device with it", async () => {
    const d = await register(token, { android_device_id: "android-xyz" });
    const r = await s.compat("POST", "/api/v1/devices/revoke", { token, json: { android_device_id: "android-xyz" } });
    expect([r.status, r.body]).toEqual([200, { device_id: d.body.device_id, is_active: false }]);
    await s.caughtUp();
    expect((await verify({ gate_id: "GATE_C1", token: d.body.token })).body.reason).toBe("DEVICE_INACTIVE");
    const form = await s.compat("POST", "/api/v1/devices/revoke", { token, form: { android_device_id: "android-xyz" } });
    expect([form.status, form.body]).toEqual([200, { device_id: d.body.device_id, is_active: false }]);
  });

  test("revoke needs device_id or android_device_id; someone else's or an unknown device is 404", async () => {
    for (const body of [{}, { device_id: 0 }, { android_device_id: "" }, { device_id: 0, android_device_id: "  " }]) {
      const r = await s.compat("POST", "/api/v1/devices/revoke", { token, json: body });
      expect([body, r.status, r.body]).toEqual([body, 400, { non_field_errors: ["Provide device_id or android_device_id"] }]);
    }
    for (const [body, want] of [
      [{ device_id: "abc" }, { device_id: ["A valid integer is required."] }],
      [{ device_id: 1.5 }, { device_id: ["A valid integer is required."] }],
      [{ device_id: null }, { device_id: ["This field may not be null."] }],
      [{ android_device_id: { x: 1 } }, { android_device_id: ["Not a valid string."] }],
    ] as const) {
      const r = await s.compat("POST", "/api/v1/devices/revoke", { token, json: body });
      expect([body, r.status, r.body]).toEqual([body, 400, want]);
    }
    const theirs = await register(othoToken, { android_device_id: "otho-phone" });
    for (const body of [{ device_id: theirs.body.device_id }, { android_device_id: "otho-phone" }, { device_id: 987654321 }]) {
      const r = await s.compat("POST", "/api/v1/devices/revoke", { token, json: body });
      expect([body, r.status, r.body]).toEqual([body, 404, { detail: "Device not found" }]);
    }
    await s.caughtUp();
    expect((await verify({ gate_id: "GATE_C1", token: theirs.body.token })).body.reason).toBe("NO_PERMISSION");
  });
});

describe("compat and native see each other's writes at once", () => {
  test("a native admin write decides the next compat verify (after the feed reaches its revision)", async () => {
    const token = (await login("otho", "otho-password-1")).body.token;
    expect((await verify({ gate_id: "GATE_C2", token })).body.reason).toBe("NO_PERMISSION");
    const g = await s.call("POST", "/api/v1/admin/grants", { body: { subject: { user_id: othoId }, target: { gate_id: "GATE_C2" } } });
    expect(await s.service.deps.feed.waitFor(g.body.revision, 2000)).toBe(true);
    expect((await verify({ gate_id: "GATE_C2", token })).body).toEqual({ decision: "ALLOW", reason: "OK", duration_ms: 800 });
    const p = await s.call("PATCH", "/api/v1/admin/gates/GATE_C2", { body: { unlock_ms: 2500 } });
    expect(await s.service.deps.feed.waitFor(p.body.revision, 2000)).toBe(true);
    expect((await verify({ gate_id: "GATE_C2", token })).body.duration_ms).toBe(2500);
    const n = await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "GATE_C2", token } });
    expect([n.body.allow, n.body.unlock_ms]).toEqual([true, 2500]);
  });

  test("a gate's unlock_ms from the bulk import is the compat duration_ms", async () => {
    const token = (await login("maria", "maria-password-1")).body.token;
    const r = await s.call("POST", "/api/v1/admin/import", {
      body: { gates: [{ id: "GATE_IMP", name: "imported door", unlock_ms: 3000 }], grants: [{ username: "maria", gate: "GATE_IMP" }] },
    });
    expect(r.status).toBe(200);
    expect(await s.service.deps.feed.waitFor(r.body.revision, 2000)).toBe(true);
    expect((await verify({ gate_id: "GATE_IMP", token })).body).toEqual({ decision: "ALLOW", reason: "OK", duration_ms: 3000 });
  });

  test("a compat register and revoke decide the next native verify (min_revision)", async () => {
    const login1 = (await login("otho", "otho-password-1")).body.token;
    const d = await register(login1);
    let v = await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "GATE_C2", token: d.body.token, min_revision: await s.headRevision() } });
    expect([v.status, v.body.allow, v.body.user_id]).toEqual([200, true, othoId]);
    await s.compat("POST", "/api/v1/devices/revoke", { token: login1, json: { device_id: d.body.device_id } });
    v = await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "GATE_C2", token: d.body.token, min_revision: await s.headRevision() } });
    expect([v.body.allow, v.body.reason]).toEqual([false, "revoked_token"]);
  });

  test("a compat login token works on the native API and a native device on the compat one", async () => {
    const t = (await login("maria", "maria-password-1")).body.token;
    const compatDevice = await register(t, { android_device_id: "maria-phone" });
    const native = await s.call("POST", "/api/v1/devices/register", { token: t, body: { name: "reader", platform: "android" } });
    expect(native.status).toBe(201);
    const me = await s.compat("GET", "/api/v1/devices/me", { token: t });
    expect(me.body[0]).toEqual({ id: expect.any(Number), android_device_id: "", is_active: true, token_preview: "" });
    await s.caughtUp();
    expect((await verify({ gate_id: "GATE_C1", token: native.body.token })).body.reason).toBe("OK");
    // And the native device list sees compat devices.
    const list = await s.call("GET", "/api/v1/devices/me", { token: t });
    const [row] = await s.db.sql`select id from devices where number = ${compatDevice.body.device_id}`;
    expect(list.body.items.map((d: any) => d.device_id)).toEqual([native.body.device_id, row!.id]);
  });
});
