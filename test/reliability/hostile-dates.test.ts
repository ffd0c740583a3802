// Dates, cursors and event ids of every shape, on every field and route that takes one — found in
// the app's route table and the import's row models, so a date field or list added later is
// covered without touching this file. A bad value is 400 `invalid_request` naming its field (never
// a 5xx, never a silent shift); a good one is stored as the instant it names.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { IMPORT_MODELS } from "../../src/admin/import-fields";
import { parseDateTime } from "../../src/dates";
import { startTestService, type Res, type TestService } from "../setup";
import { problem } from "./hostile-helpers";

let s: TestService;
beforeAll(async () => {
  s = await startTestService({}, { http: true });
  await s.call("POST", "/api/v1/admin/gates", { body: { id: "HD_GATE", name: "dates" } });
  await s.call("POST", "/api/v1/admin/users", { body: { username: "hd-user" } });
}, 30_000);
afterAll(() => s.stop(), 30_000);

const BAD_DATES: Array<[string, unknown]> = [
  ["impossible day", "2026-02-30T00:00:00Z"], ["no leap day", "2025-02-29T00:00:00Z"], ["month 13", "2026-13-01T00:00:00Z"],
  ["hour 24", "2026-01-01T24:00:00Z"], ["minute 60", "2026-01-01T23:60:00Z"],
  ["expanded year", "+099999-01-01T00:00:00Z"], ["five-digit year", "99999-01-01T00:00:00Z"], ["year 0", "0000-01-01T00:00:00Z"],
  ["negative year", "-0001-01-01T00:00:00Z"], ["past 9999 by its offset", "9999-12-31T23:59:59-01:00"], ["before year 1 by its offset", "0001-01-01T00:00:00+01:00"],
  ["no offset", "2026-01-01T00:00:00"], ["date only", "2026-01-01"], ["offset +24:00", "2026-01-01T00:00:00+24:00"], ["offset without colon", "2026-01-01T00:00:00+0100"],
  ["leap second on a wrong day", "2016-12-30T23:59:60Z"], ["leap second at noon", "2026-01-01T12:00:60Z"], ["second 61", "2016-12-31T23:59:61Z"],
  ["RFC 2822", "Thu, 01 Jan 2026 00:00:00 GMT"], ["epoch ms", "1767225600000"], ["empty", ""], ["a number", 1767225600000], ["an object", {}],
];
const GOOD_DATES: Array<[string, string, string]> = [
  ["Z", "2030-01-01T00:00:00Z", "2030-01-01T00:00:00.000Z"], ["lower case", "2030-01-01t00:00:00z", "2030-01-01T00:00:00.000Z"],
  ["positive offset", "2030-01-01T05:30:00+05:30", "2030-01-01T00:00:00.000Z"], ["negative offset", "2029-12-31T19:00:00-05:00", "2030-01-01T00:00:00.000Z"],
  ["-00:00", "2030-01-01T00:00:00-00:00", "2030-01-01T00:00:00.000Z"], ["nanoseconds", "2030-06-30T12:00:00.123456789Z", "2030-06-30T12:00:00.123Z"],
  ["leap second", "2016-12-31T23:59:60Z", "2017-01-01T00:00:00.000Z"], ["leap second with offset", "2016-12-31T18:59:60-05:00", "2017-01-01T00:00:00.000Z"],
  ["last instant", "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"], ["first instant", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"],
];

/** Date-time fields of a TypeBox schema, as dotted paths (arrays as []). */
function dateFields(schema: any, path = "", out: string[] = []): string[] {
  if (!schema || typeof schema !== "object") return out;
  if (schema.format === "date-time") out.push(path);
  for (const x of schema.anyOf ?? []) dateFields(x, path, out);
  for (const [k, v] of Object.entries(schema.properties ?? {})) dateFields(v, path ? `${path}.${k}` : k, out);
  if (schema.items) dateFields(schema.items, `${path}[]`, out);
  return [...new Set(out)];
}

/** Per route, a request that succeeds with the date field alone changed (created fresh each time). */
let k = 0;
const BASES: Record<string, () => Promise<{ path: string; body?: Record<string, unknown>; read?: (r: Res) => unknown }>> = {
  "POST /api/v1/admin/users": async () => ({ path: "/api/v1/admin/users", body: { username: `hd-${++k}` } }),
  "PATCH /api/v1/admin/users/:id": async () => ({ path: `/api/v1/admin/users/${(await s.call("POST", "/api/v1/admin/users", { body: { username: `hd-${++k}` } })).body.id}`, body: {} }),
  "POST /api/v1/admin/credentials": async () => ({ path: "/api/v1/admin/credentials", body: { user_id: await userId(), kind: "card" } }),
  "PATCH /api/v1/admin/credentials/:id": async () => ({ path: `/api/v1/admin/credentials/${(await s.call("POST", "/api/v1/admin/credentials", { body: { user_id: await userId(), kind: "card" } })).body.id}`, body: {} }),
  "POST /api/v1/admin/grants": async () => ({ path: "/api/v1/admin/grants", body: { subject: { user_id: await userId() }, target: { gate_id: "HD_GATE" } } }),
  "PATCH /api/v1/admin/grants/:id": async () => ({ path: `/api/v1/admin/grants/${(await s.call("POST", "/api/v1/admin/grants", { body: { subject: { user_id: await userId() }, target: { gate_id: "HD_GATE" } } })).body.id}`, body: {} }),
  "POST /api/v1/admin/explain": async () => ({ path: "/api/v1/admin/explain", body: { gate_id: "HD_GATE", user_id: await userId() }, read: (r) => r.body.at }),
  "GET /api/v1/admin/events": async () => ({ path: "/api/v1/admin/events" }),
  "GET /api/v1/admin/audit": async () => ({ path: "/api/v1/admin/audit" }),
};
const userId = async () => (await s.call("GET", "/api/v1/admin/users?username=hd-user")).body.items[0].id as string;

function contract(method: string, route: string, r: Res): string | null {
  return problem(method, route, undefined, { status: r.status, headers: r.headers, text: typeof r.body === "string" ? r.body : JSON.stringify(r.body) });
}

describe("dates on every field", () => {
  test("every date field of the route table × bad dates: 400 naming the field; × good dates: stored as the instant", async () => {
    const fields = s.service.app.routes.flatMap((r: any) => [
      ...dateFields(r.hooks?.body).map((f) => ({ method: r.method, route: r.path, field: f, in: "body" as const })),
      ...dateFields(r.hooks?.query).map((f) => ({ method: r.method, route: r.path, field: f, in: "query" as const })),
    ]);
    // The ones we know of are all found (a schema that stops declaring its dates would hide them).
    const found = fields.map((f) => `${f.method} ${f.route} ${f.field}`);
    for (const f of ["POST /api/v1/admin/users valid_until", "PATCH /api/v1/admin/credentials/:id expires_at", "POST /api/v1/admin/grants valid_from",
      "POST /api/v1/admin/explain at", "GET /api/v1/admin/events from", "GET /api/v1/admin/audit to"]) expect(found).toContain(f);
    const wrong: string[] = [];
    for (const f of fields) {
      const key = `${f.method} ${f.route}`;
      const base = BASES[key];
      for (const [name, value] of BAD_DATES) {
        const b = base ? await base() : { path: f.route.replace(/:(\w+)/g, "x"), body: {} as Record<string, unknown> };
        const r = f.in === "query"
          ? await s.call(f.method, `${b.path}?${f.field}=${encodeURIComponent(String(typeof value === "string" ? value : JSON.stringify(value)))}`)
          : await s.call(f.method, b.path, { body: { ...b.body, [f.field]: value } });
        const named = r.body?.error?.details?.field === f.field;
        // A query parameter's "" means absent; otherwise 400 naming the field (where a base request tells us the rest is right).
        const ok = f.in === "query" && value === "" ? r.status === 200
          : r.status === 400 && r.body?.error?.code === "invalid_request" && (named || !base) && contract(f.method, f.route, r) === null;
        if (!ok) wrong.push(`${key} ${f.field} = ${JSON.stringify(value)} (${name}) → ${r.status} ${JSON.stringify(r.body).slice(0, 120)}`);
      }
      if (!base) continue;
      for (const [name, value, instant] of GOOD_DATES) {
        const b = await base();
        const r = f.in === "query"
          ? await s.call(f.method, `${b.path}?${f.field}=${encodeURIComponent(value)}`)
          : await s.call(f.method, b.path, { body: { ...b.body, [f.field]: value } });
        const stored = f.in === "query" ? instant : b.read ? b.read(r) : r.body?.[f.field];
        if (r.status >= 300 || stored !== instant) wrong.push(`${key} ${f.field} = ${value} (${name}) → ${r.status} ${JSON.stringify(stored ?? r.body).slice(0, 120)}`);
      }
    }
    expect(wrong).toEqual([]);
  }, 60_000);

  test("every date field of the bulk import × bad dates, in JSON and CSV: 400 naming collection, row and field", async () => {
    const MIN_ROW: Record<string, () => Record<string, unknown>> = {
      users: () => ({ username: `hdi-${++k}` }),
      grants: () => ({ username: "hd-user", gate: "HD_GATE" }),
      credentials: () => ({ username: "hd-user", kind: "card", secret: `hd-secret-${++k}` }),
    };
    const fields = Object.entries(IMPORT_MODELS).flatMap(([c, model]) => dateFields(model).map((field) => ({ c, field })));
    expect(fields.map((f) => `${f.c}.${f.field}`)).toEqual(["users.valid_from", "users.valid_until", "grants.valid_from", "grants.valid_until", "credentials.expires_at", "credentials.valid_from"]);
    const wrong: string[] = [];
    for (const { c, field } of fields) {
      const row = MIN_ROW[c]!;
      for (const [name, value] of BAD_DATES) {
        if (value === "") continue; // an empty CSV cell is an absent key; in JSON "" is covered by the other shapes
        const json = await s.call("POST", "/api/v1/admin/import", { body: { [c]: [row(), { ...row(), [field]: value }] } });
        const want = { code: "invalid_request", collection: c, row: 2, field };
        const got = { code: json.body?.error?.code, collection: json.body?.error?.details?.collection, row: json.body?.error?.details?.row, field: json.body?.error?.details?.field };
        if (json.status !== 400 || JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`JSON ${c}.${field} = ${JSON.stringify(value)} (${name}) → ${json.status} ${JSON.stringify(json.body).slice(0, 120)}`);
        if (typeof value !== "string") continue;
        const base = row();
        const cols = [...Object.keys(base), field];
        const csv = `${cols.join(",")}\n${cols.map((x) => (x === field ? value : String(base[x]))).map((v) => `"${v}"`).join(",")}\n`;
        const r = await s.call("POST", `/api/v1/admin/import?collection=${c}`, { raw: csv, headers: { "content-type": "text/csv" } });
        if (r.status !== 400 || r.body?.error?.details?.field !== field || r.body?.error?.details?.row !== 2) wrong.push(`CSV ${c}.${field} = ${value} (${name}) → ${r.status} ${JSON.stringify(r.body).slice(0, 120)}`);
      }
      for (const [name, value, instant] of GOOD_DATES) {
        const r = await s.call("POST", "/api/v1/admin/import", { body: { [c]: [{ ...row(), [field]: value }] } });
        if (r.status !== 200) wrong.push(`JSON ${c}.${field} = ${value} (${name}) → ${r.status} ${JSON.stringify(r.body).slice(0, 120)}`);
        expect(parseDateTime(value, field)).toEqual({ ok: true, ms: Date.parse(instant) });
      }
    }
    expect(wrong).toEqual([]);
    // Nothing of the refused rows was stored: no date Postgres would have shifted.
    const [shifted] = await s.db.sql`select count(*)::int as n from users where valid_until = '2026-03-02T00:00:00Z' or valid_from = '2026-03-02T00:00:00Z'`;
    expect(shifted!.n).toBe(0);
  }, 120_000);
});

const CURSOR_SHAPES = [
  "", "x", "%", "%00", "====", "AAAA", "AA==", "a+b/c", "-_-_", "null", "undefined", "0", "-1", "9".repeat(30), "x".repeat(399), "é",
  Buffer.from("x".repeat(250)).toString("base64url"), Buffer.from("\u0000").toString("base64url"), Buffer.from("\ud800", "utf8").toString("base64url"),
  ...["2026-02-30T00:00:00.000Z|ffffffff-ffff-7fff-bfff-ffffffffffff", "+099999-01-01T00:00:00.000Z|00000000-0000-7000-8000-000000000000",
    "2026-01-01T00:00:00.000Z|------------------------------------", "2026-01-01T00:00:00.000Z|ffffffff-ffff-ffff-ffff-ffffffffffff", "|", "||", "a|b|c",
    "9223372036854775808", "-9223372036854775809", "1e309", "NaN", "u_zzzzzzzz", "\u0000", "' or 1=1 --"].map((k) => Buffer.from(k).toString("base64url")),
];

const LAST_EVENT_IDS = [
  "x", "0", "ffffffff-ffff-7fff-bfff-ffffffffffff", "FFFFFFFF-FFFF-7FFF-BFFF-FFFFFFFFFFFF", "fffffffe-0000-7000-8000-000000000000",
  "ffffffff-ffff-ffff-ffff-ffffffffffff", "0f000000-0000-4000-8000-000000000000", "------------------------------------",
  "018f0000-0000-7000-8000-00000000000", "018f0000-0000-7000-8000-0000000000000", "018f0000-0000-7000-8000-000000000000x", "x".repeat(300),
  "' or 1=1 --", "18446744073709551615",
];

describe("cursors and event ids", () => {
  test("every list route of the route table × every cursor shape: 200 or 400 naming `cursor`, never a 5xx; real cursors page on", async () => {
    const lists = s.service.app.routes.filter((r: any) => r.method === "GET" && r.hooks?.query?.properties?.cursor);
    expect(lists.length).toBeGreaterThanOrEqual(10);
    const wrong: string[] = [];
    for (const r of lists) {
      const path = r.path.replace(":id", "g_none");
      for (const cursor of CURSOR_SHAPES) {
        const a = await s.call("GET", `${path}?cursor=${encodeURIComponent(cursor)}`);
        const ok = a.status === 200 || a.status === 404 || (a.status === 400 && a.body?.error?.details?.field === "cursor");
        if (!ok || contract("GET", r.path, a) !== null) wrong.push(`${r.path} cursor=${cursor.slice(0, 40)} → ${a.status} ${JSON.stringify(a.body).slice(0, 100)}`);
      }
    }
    expect(wrong).toEqual([]);
    // A real cursor still pages, and one route's cursor on another is refused or harmless.
    for (let i = 0; i < 3; i++) await s.call("POST", "/api/v1/admin/zones", { body: { name: `hd-zone-${i}` } });
    const first = await s.call("GET", "/api/v1/admin/zones?limit=1");
    const second = await s.call("GET", `/api/v1/admin/zones?limit=1&cursor=${first.body.next_cursor}`);
    expect([second.status, second.body.items[0].id > first.body.items[0].id]).toEqual([200, true]);
    const audit = await s.call("GET", `/api/v1/admin/audit?cursor=${first.body.next_cursor}`);
    expect([400, 200]).toContain(audit.status);
  }, 60_000);

  test("every Last-Event-ID shape on the event stream: 400 naming it, or the stream; never a 5xx", async () => {
    const port = s.service.app.server!.port;
    const wrong: string[] = [];
    const open = async (lastId: string) => {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/admin/events/stream`, { headers: { authorization: `Bearer ${s.adminToken}`, "last-event-id": lastId } });
      const streaming = (res.headers.get("content-type") ?? "").includes("event-stream");
      const text = streaming ? "" : await res.text();
      if (streaming) await res.body?.cancel();
      return { status: res.status, streaming, text, headers: res.headers };
    };
    for (const id of LAST_EVENT_IDS) {
      const a = await open(id);
      const body = a.text ? JSON.parse(a.text) : null;
      const ok = a.status === 400 && body?.error?.details?.field === "Last-Event-ID";
      if (!ok || (!a.streaming && problem("GET", "/api/v1/admin/events/stream", undefined, a) !== null)) wrong.push(`${JSON.stringify(id.slice(0, 40))} → ${a.status} ${a.text.slice(0, 100)}`);
    }
    expect(wrong).toEqual([]);
    // The id of a real event (and the oldest possible UUIDv7) resume the stream.
    await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "HD_GATE", token: "nope" } });
    for (const id of ["", "00000000-0000-7000-8000-000000000000", " 018f0000-0000-7000-8000-000000000000", `${Date.now().toString(16).padStart(12, "0").slice(0, 8)}-${Date.now().toString(16).padStart(12, "0").slice(8)}-7000-8000-000000000000`]) {
      const a = await open(id);
      expect([id, a.status, a.streaming]).toEqual([id, 200, true]);
    }
  });
});
