// The security matrix, generated from the app's own route table, so a route added later cannot
// escape it: every admin and user route × every kind of caller → the expected status. Every route
// must be in a known class; the public ones are listed by name. Plus: known secrets never appear
// in the database, the logs or any later response; a login for an unknown user costs what a
// wrong password costs.
import { afterAll, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { setLogLevel } from "../../src/log";
import { hashSecret, newSecret } from "../../src/tokens";
import { startTestService, type TestService } from "../setup";

let s: TestService;
let userId: string;

// Login throttling off: the timing test makes many failed logins on purpose.
beforeAll(async () => {
  s = await startTestService({ RATE_LIMIT_LOGIN: "off" });
  const [u] = await s.db.sql`insert into users (username) values ('matrix') returning id`;
  userId = u!.id;
});
afterAll(() => s.stop());

// ---------------------------------------------------------------------------------------------
// Route classes

type Route = { method: string; path: string };
const key = (r: Route) => `${r.method} ${r.path}`;

/** Routes that need no token, by name. "open": answers without one; a number: that status without one. */
const PUBLIC: Record<string, "open" | number> = {
  "GET /healthz": "open",
  "GET /readyz": "open",
  "GET /metrics": "open",
  "GET /swagger": "open",
  "GET /swagger/json": "open",
  "GET /swagger/assets/scalar.js": "open",
  "POST /api/v1/access/verify": "open",
  "POST /api/v1/access/verify/batch": "open",
  "GET /api/v1/access/verify": 401, // forward auth: the bearer IS the credential being verified; none is 401
  "POST /api/v1/auth/token": "open", // login
  // The admin console's page and its bundled assets: static, the page calls the API with a bearer.
  "GET /console": "open",
  "GET /console/": "open",
  "GET /console/:file": "open",
};

const isAdmin = (r: Route) => r.path.startsWith("/api/v1/admin/");
const isUser = (r: Route) => r.path.startsWith("/api/v1/devices/") || key(r) === "DELETE /api/v1/auth/token";

const routes = (): Route[] => s.service.app.routes.map((r) => ({ method: r.method, path: r.path }));
/** A request each route would accept past validation, where that matters to the expected status. */
const VALID: Record<string, { query?: string; body?: unknown }> = {
  "GET /api/v1/access/verify": { query: "?gate_id=X" },
  "POST /api/v1/devices/register": { body: { name: "matrix phone", platform: "android" } },
};
const concrete = (r: Route) => r.path.replace(/:(\w+)/g, "x_$1") + (VALID[key(r)]?.query ?? "");

// ---------------------------------------------------------------------------------------------
// Callers

type Caller = "no token" | "malformed" | "empty bearer" | "unknown" | "expired" | "revoked" | "not yet valid" | "inactive user" | "user scope" | "admin scope";
const INVALID: Caller[] = ["no token", "malformed", "empty bearer", "unknown", "expired", "revoked", "not yet valid", "inactive user"];
const CALLERS: Caller[] = [...INVALID, "user scope", "admin scope"];

/** A fresh token of each kind (fresh per call: DELETE /auth/token revokes the caller's own). */
async function header(c: Caller): Promise<Record<string, string>> {
  switch (c) {
    case "no token": return {};
    case "malformed": return { authorization: "Token abc" };
    case "empty bearer": return { authorization: "Bearer " };
    case "unknown": return { authorization: `Bearer ${newSecret()}` };
  }
  const secret = newSecret();
  const now = Date.now();
  const cols: Record<string, unknown> = {
    user_id: userId, kind: "api", secret_hash: hashSecret(secret),
    scopes: c === "user scope" ? ["user"] : ["admin"],
  };
  if (c === "expired") cols.expires_at = new Date(now - 60_000);
  if (c === "revoked") cols.revoked_at = new Date(now - 1000);
  if (c === "not yet valid") cols.valid_from = new Date(now + 3_600_000);
  if (c === "inactive user") {
    const [u] = await s.db.sql`insert into users (username, active) values (${"off-" + secret.slice(4, 16)}, false) returning id`;
    cols.user_id = u!.id;
  }
  await s.db.sql`insert into credentials ${s.db.sql(cols)}`;
  return { authorization: `Bearer ${secret}` };
}

interface Answer { status: number; code: string | undefined; text: string; headers: Headers }

/** Through the whole app; a streaming answer is not read past its headers. */
async function call(r: Route, headers: Record<string, string>): Promise<Answer> {
  const hasBody = ["POST", "PATCH", "PUT"].includes(r.method);
  const res = await s.service.app.handle(new Request(`http://localhost${concrete(r)}`, {
    method: r.method,
    headers: hasBody ? { ...headers, "content-type": "application/json" } : headers,
    body: hasBody ? JSON.stringify(VALID[key(r)]?.body ?? {}) : undefined,
  }));
  if ((res.headers.get("content-type") ?? "").includes("event-stream")) {
    await res.body?.cancel();
    return { status: res.status, code: undefined, text: "", headers: res.headers };
  }
  const text = await res.text();
  let code: string | undefined;
  try {
    code = JSON.parse(text)?.error?.code;
  } catch {}
  return { status: res.status, code, text, headers: res.headers };
}

/** What a caller gets on a route: a status with its code, or "through" (authentication passed). */
function expected(r: Route, c: Caller): { status: number; code: string } | "through" {
  if (INVALID.includes(c)) return { status: 401, code: "unauthorized" };
  if (isAdmin(r)) return c === "admin scope" ? "through" : { status: 403, code: "forbidden" };
  // user routes need the user scope; logout takes any token a person holds (user or admin scope)
  if (key(r) === "DELETE /api/v1/auth/token") return "through";
  return c === "user scope" ? "through" : { status: 403, code: "forbidden" };
}

describe("the security matrix", () => {
  test("every route is in a known class: admin, user, or public by name", () => {
    const unknown = routes().filter((r) => !isAdmin(r) && !isUser(r) && !(key(r) in PUBLIC)).map(key);
    expect(unknown).toEqual([]);
    // The public list names only routes that exist (a renamed route must be reclassified).
    const all = new Set(routes().map(key));
    expect(Object.keys(PUBLIC).filter((k) => !all.has(k))).toEqual([]);
    expect(routes().filter(isAdmin).length).toBeGreaterThanOrEqual(40);
    expect(routes().filter(isUser).map(key).sort()).toEqual([
      "DELETE /api/v1/auth/token", "DELETE /api/v1/devices/:device_id", "GET /api/v1/devices/me", "POST /api/v1/devices/register",
    ]);
  });

  for (const c of CALLERS) {
    test(`admin and user routes × ${c}`, async () => {
      const got: string[] = [], want: string[] = [];
      for (const r of routes().filter((x) => isAdmin(x) || isUser(x))) {
        const a = await call(r, await header(c));
        const e = expected(r, c);
        want.push(`${key(r)} → ${e === "through" ? "through" : `${e.status} ${e.code}`}`);
        const through = a.status !== 401 && a.status !== 403 && a.status < 500;
        got.push(`${key(r)} → ${e === "through" && through ? "through" : `${a.status} ${a.code}`}`);
      }
      expect(got).toEqual(want);
    });
  }

  test("public routes answer without a token, never 5xx", async () => {
    for (const r of routes().filter((x) => key(x) in PUBLIC)) {
      const a = await call(r, {});
      const want = PUBLIC[key(r)]!;
      expect({ route: key(r), ok: want === "open" ? a.status < 500 && a.status !== 401 && a.status !== 403 : a.status === want })
        .toEqual({ route: key(r), ok: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Secrets

describe("secrets", () => {
  test("a known secret never appears in the database, the logs or any response after its creation", async () => {
    const lines: string[] = [];
    const out = process.stdout.write.bind(process.stdout), err = process.stderr.write.bind(process.stderr);
    const capture = (chunk: any) => {
      lines.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
      return true;
    };
    (process.stdout as any).write = capture;
    (process.stderr as any).write = capture;
    setLogLevel("debug");
    const later: string[] = []; // every answer after the secrets exist, headers and body
    const secrets: Record<string, string> = {};
    const canary = `canary-${newSecret().slice(4, 20)}`;
    try {
      const api = async (method: string, path: string, body?: unknown, token: string | null = s.adminToken) => {
        const r = await s.call(method, path, { body, token });
        later.push(`${method} ${path} ${r.status} ${JSON.stringify([...r.headers])} ${typeof r.body === "string" ? r.body : JSON.stringify(r.body)}`);
        return r;
      };
      // Creation: each secret is known to the test, and returned at most once.
      secrets.password = "correct horse battery staple 42";
      const u = await s.call("POST", "/api/v1/admin/users", { body: { username: "keeper", password: secrets.password } });
      expect(u.status).toBe(201);
      expect(JSON.stringify(u.body)).not.toContain(secrets.password);
      await s.call("POST", "/api/v1/admin/gates", { body: { id: "VAULT", name: "vault" } });
      await s.call("POST", "/api/v1/admin/grants", { body: { subject: { user_id: u.body.id }, target: { gate_id: "VAULT" } } });
      secrets.card = "04A224B1C95E80-card-number";
      const card = await s.call("POST", "/api/v1/admin/credentials", { body: { user_id: u.body.id, kind: "card", secret: secrets.card } });
      expect(card.body.secret).toBe(secrets.card);
      const admin = await s.call("POST", "/api/v1/admin/credentials", { body: { user_id: u.body.id, kind: "api", scopes: ["admin"] } });
      secrets.admin = admin.body.secret;
      const session = await s.call("POST", "/api/v1/auth/token", { token: null, body: { username: "keeper", password: secrets.password } });
      expect(session.status).toBe(201);
      secrets.login = session.body.token;
      const device = await s.call("POST", "/api/v1/devices/register", { token: secrets.login, body: { name: "phone", platform: "android" } });
      expect(device.status).toBe(201);
      secrets.device = device.body.token;
      expect(Object.values(secrets).every((x) => typeof x === "string" && x.length >= 14)).toBe(true);

      // Use: every secret where it is used, and where it fails.
      for (const t of [secrets.card, secrets.admin, secrets.login, secrets.device]) {
        await api("POST", "/api/v1/access/verify", { gate_id: "VAULT", token: t }, null);
        await api("POST", "/api/v1/access/verify", { gate_id: "NOWHERE", token: t, min_revision: 1 }, null);
        await api("POST", "/api/v1/access/verify/batch", { checks: [{ gate_id: "VAULT", token: t }] }, null);
        await api("GET", "/api/v1/access/verify?gate_id=VAULT", undefined, t);
        await api("POST", "/api/v1/admin/explain", { gate_id: "VAULT", token: t });
        await api("GET", "/api/v1/admin/users", undefined, t); // 403 for all but the admin token
        await api("POST", "/api/v1/access/verify", { gate_id: "VAULT", token: t, extra: t }, null); // 400
      }
      await api("POST", "/api/v1/auth/token", { username: "keeper", password: secrets.password + "x" }, null);
      await api("POST", "/api/v1/auth/token", { username: secrets.password, password: secrets.password }, null);
      await api("GET", "/api/v1/devices/me", undefined, secrets.login);
      for (const c of ["users", "credentials", "grants", "gates"]) await api("GET", `/api/v1/admin/${c}?limit=500`, undefined, secrets.admin);
      await api("GET", `/api/v1/admin/users/${u.body.id}`);
      await api("GET", `/api/v1/admin/credentials/${card.body.id}`);
      // A canary the scanners below must find (in a table, a log line and a response header),
      // so that "not found" means something.
      const r = await s.call("PATCH", `/api/v1/admin/users/${u.body.id}`, { body: { display_name: canary }, headers: { "x-request-id": canary } });
      later.push(JSON.stringify([...r.headers]));
      await api("POST", `/api/v1/admin/credentials/${device.body.token_id}/revoke`);
      await api("GET", "/api/v1/admin/audit?limit=500");
      await Bun.sleep(60); // events are written in batches
      await api("GET", "/api/v1/admin/events?limit=500");
      await api("GET", "/api/v1/admin/consistency");
      await api("GET", "/metrics", undefined, null);
      await api("GET", "/readyz", undefined, null);
      await api("DELETE", "/api/v1/auth/token", undefined, secrets.login);
      await api("GET", "/api/v1/devices/me", undefined, secrets.login); // 401 now
    } finally {
      setLogLevel("error");
      (process.stdout as any).write = out;
      (process.stderr as any).write = err;
    }
    expect(later.length).toBeGreaterThan(40);
    expect(lines.length).toBeGreaterThan(10); // the logs did run

    // The database: every table's rows as text.
    const tables = await s.db.sql<{ t: string }[]>`
      select format('%I.%I', schemaname, tablename) as t from pg_tables where schemaname = 'public'`;
    expect(tables.length).toBeGreaterThanOrEqual(10);
    const found: string[] = [];
    for (const { t } of tables) {
      for (const [name, secret] of Object.entries({ ...secrets, canary })) {
        const [row] = await s.db.sql.unsafe(`select count(*)::int as n from ${t} x where strpos(x::text, $1) > 0`, [secret]);
        if (row!.n > 0) found.push(`${name} in ${t}`);
      }
    }
    expect(found.sort()).toEqual(["canary in public.audit_log", "canary in public.users"]);

    const logs = lines.join("");
    const responses = later.join("\n");
    expect({ inLogs: logs.includes(canary), inResponses: responses.includes(canary) }).toEqual({ inLogs: true, inResponses: true });
    for (const [name, secret] of Object.entries(secrets)) {
      expect({ name, inLogs: logs.includes(secret), inResponses: responses.includes(secret) }).toEqual({ name, inLogs: false, inResponses: false });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Login timing

describe("login timing", () => {
  // The guarantee is structural: an unknown username still runs one argon2id verification, against
  // a dummy hash with the same parameters as a real one — so both paths do the same work. That is
  // asserted exactly (a spy on Bun.password.verify). A wall-clock comparison is added with a
  // generous bound only to catch a gross regression (say, an early return): timing assertions on
  // a shared 2-core CI machine are otherwise flaky.
  test("an unknown user costs one argon2id verification with the same parameters as a wrong password", async () => {
    await s.call("POST", "/api/v1/admin/users", { body: { username: "timed", password: "the-right-password" } });
    const params = (hash: string) => /^\$argon2id\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(hash)?.slice(1).join(",") ?? `not argon2id: ${hash.slice(0, 12)}`;
    const spy = spyOn(Bun.password, "verify");
    try {
      const attempt = async (username: string) => {
        spy.mockClear();
        const r = await s.call("POST", "/api/v1/auth/token", { token: null, body: { username, password: "a-wrong-password" } });
        expect(r.status).toBe(401);
        return { answer: r.body, calls: spy.mock.calls.map((c) => params(String(c[1]))) };
      };
      const known = await attempt("timed");
      const unknown = await attempt("nobody-by-this-name");
      expect(known.calls).toHaveLength(1);
      expect(unknown.calls).toEqual(known.calls); // one verification, same argon2id parameters
      expect(unknown.answer).toEqual(known.answer); // and the same answer
    } finally {
      spy.mockRestore();
    }
  });

  test("wall clock: medians of alternating attempts within 3× of each other", async () => {
    const time = async (username: string) => {
      const t0 = performance.now();
      await s.call("POST", "/api/v1/auth/token", { token: null, body: { username, password: "a-wrong-password" } });
      return performance.now() - t0;
    };
    const known: number[] = [], unknown: number[] = [];
    await time("timed"); // warm
    for (let i = 0; i < 7; i++) {
      known.push(await time("timed"));
      unknown.push(await time(`ghost-${i}`));
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
    const k = median(known), u = median(unknown);
    expect({ ratio: u / k > 1 / 3 && u / k < 3, k: Math.round(k), u: Math.round(u) }).toMatchObject({ ratio: true });
  });
});
