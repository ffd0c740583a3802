// The one RFC 3339 parser (src/dates.ts) and every admin date field that goes through it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parseDateTime } from "../../src/dates";
import { startTestService, type TestService } from "../setup";

const ms = (v: string) => {
  const r = parseDateTime(v, "f");
  return r.ok ? new Date(r.ms).toISOString() : r.problem;
};

describe("parseDateTime", () => {
  test("accepts RFC 3339 date-times with Z, lower case, offsets and fractions", () => {
    expect(ms("2026-01-01T00:00:00Z")).toBe("2026-01-01T00:00:00.000Z");
    expect(ms("2026-01-01t00:00:00z")).toBe("2026-01-01T00:00:00.000Z");
    expect(ms("2026-01-01T01:30:00+01:30")).toBe("2026-01-01T00:00:00.000Z");
    expect(ms("2025-12-31T19:00:00-05:00")).toBe("2026-01-01T00:00:00.000Z");
    expect(ms("2026-01-01T00:00:00-00:00")).toBe("2026-01-01T00:00:00.000Z");
    expect(ms("2024-02-29T12:00:00.123456789Z")).toBe("2024-02-29T12:00:00.123Z");
    expect(ms("2000-02-29T00:00:00.5Z")).toBe("2000-02-29T00:00:00.500Z");
    expect(ms("0005-03-01T00:00:00Z")).toBe("0005-03-01T00:00:00.000Z");
    expect(ms("9999-12-31T23:59:59.999Z")).toBe("9999-12-31T23:59:59.999Z");
  });

  test("refuses impossible dates and times instead of rolling them over", () => {
    for (const v of ["2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z",
      "2026-00-10T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z", "2026-01-01T23:59:61Z"]) {
      expect([v, ms(v)]).toEqual([v, "impossible"]);
    }
  });

  test("refuses what is not RFC 3339: no offset, a bare date, expanded years, other shapes", () => {
    for (const v of ["2026-01-01T00:00:00", "2026-01-01", "2026-01-01 00:00:00Z", "+099999-01-01T00:00:00Z", "99999-01-01T00:00:00Z",
      "-0001-01-01T00:00:00Z", "2026-01-01T00:00Z", "2026-01-01T00:00:00+0100", "2026-01-01T00:00:00+01", "2026-W01-1T00:00:00Z",
      "2026-001T00:00:00Z", "Thu, 01 Jan 2026 00:00:00 GMT", "1767225600000", " 2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z\n",
      "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00.1234567890Z", "２０２６-01-01T00:00:00Z", ""]) {
      expect([v, ms(v)]).toEqual([v, "format"]);
    }
    expect(parseDateTime(20260101, "f").ok).toBe(false);
    expect(parseDateTime(null, "f").ok).toBe(false);
  });

  test("refuses offsets past ±23:59", () => {
    expect(ms("2026-01-01T00:00:00+24:00")).toBe("offset");
    expect(ms("2026-01-01T00:00:00-00:60")).toBe("offset");
    expect(ms("2026-01-01T00:00:00+23:59")).toBe("2025-12-31T00:01:00.000Z");
  });

  test("refuses years Postgres cannot store, also when the offset pushes the instant out", () => {
    expect(ms("0000-01-01T00:00:00Z")).toBe("out_of_range");
    expect(ms("0001-01-01T00:00:00+00:01")).toBe("out_of_range");
    expect(ms("9999-12-31T23:59:59-00:01")).toBe("out_of_range");
    expect(ms("0001-01-01T00:00:00Z")).toBe("0001-01-01T00:00:00.000Z");
  });

  test("leap seconds: only 23:59:60 UTC on a month's last day, read as the next minute", () => {
    expect(ms("2016-12-31T23:59:60Z")).toBe("2017-01-01T00:00:00.000Z");
    expect(ms("2015-06-30T23:59:60Z")).toBe("2015-07-01T00:00:00.000Z");
    expect(ms("2016-12-31T18:59:60-05:00")).toBe("2017-01-01T00:00:00.000Z");
    expect(ms("2016-12-31T23:59:60.999Z")).toBe("2017-01-01T00:00:00.000Z");
    expect(ms("2016-12-30T23:59:60Z")).toBe("leap_second");
    expect(ms("2016-12-31T12:00:60Z")).toBe("leap_second");
    expect(ms("2016-12-31T23:59:60+01:00")).toBe("leap_second"); // 22:59:60 UTC
  });

  test("a refusal names the field it was given", () => {
    expect(parseDateTime("2026-02-30T00:00:00Z", "grants[2].valid_until")).toEqual({
      ok: false, field: "grants[2].valid_until", problem: "impossible", message: "2026-02-30 is not a calendar date",
    });
  });
});

let s: TestService;
beforeAll(async () => {
  s = await startTestService();
}, 30_000);
afterAll(() => s.stop(), 30_000);

describe("admin date fields", () => {
  // Every admin date field, on create and on patch.
  const fields = async () => {
    const u = await s.call("POST", "/api/v1/admin/users", { body: { username: `d-${Math.random().toString(36).slice(2)}` } });
    const c = await s.call("POST", "/api/v1/admin/credentials", { body: { user_id: u.body.id, kind: "card" } });
    const g = await s.call("POST", "/api/v1/admin/gates", { body: { id: `DG_${Math.random().toString(36).slice(2, 8)}`, name: "d" } });
    const gr = await s.call("POST", "/api/v1/admin/grants", { body: { subject: { user_id: u.body.id }, target: { gate_id: g.body.id } } });
    return [
      { path: "/users", id: u.body.id, create: { username: `d-${Math.random().toString(36).slice(2)}` }, field: "valid_from" },
      { path: "/users", id: u.body.id, create: { username: `d-${Math.random().toString(36).slice(2)}` }, field: "valid_until" },
      { path: "/credentials", id: c.body.id, create: { user_id: u.body.id, kind: "card" }, field: "valid_from" },
      { path: "/credentials", id: c.body.id, create: { user_id: u.body.id, kind: "card" }, field: "expires_at" },
      { path: "/grants", id: gr.body.id, create: { subject: { user_id: u.body.id }, target: { gate_id: g.body.id } }, field: "valid_from" },
      { path: "/grants", id: gr.body.id, create: { subject: { user_id: u.body.id }, target: { gate_id: g.body.id } }, field: "valid_until" },
    ];
  };

  test("impossible, out-of-range and offset-less dates are 400 naming the field, on create and patch; nothing is stored", async () => {
    const bad = ["2026-02-30T00:00:00Z", "+099999-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01T24:00:00Z",
      "2026-01-01T00:00:00+24:00", "2016-12-30T23:59:60Z", "9999-12-31T23:59:59-01:00"];
    for (const f of await fields()) {
      for (const v of bad) {
        const created = await s.call("POST", `/api/v1/admin${f.path}`, { body: { ...f.create, [f.field]: v } });
        expect([f.path, f.field, v, created.status, created.body.error?.code, created.body.error?.details?.field])
          .toEqual([f.path, f.field, v, 400, "invalid_request", f.field]);
        const patched = await s.call("PATCH", `/api/v1/admin${f.path}/${f.id}`, { body: { [f.field]: v } });
        expect([f.path, f.field, v, patched.status, patched.body.error?.code, patched.body.error?.details?.field])
          .toEqual([f.path, f.field, v, 400, "invalid_request", f.field]);
      }
      const row = await s.call("GET", `/api/v1/admin${f.path}/${f.id}`);
      expect(row.body[f.field]).toBeNull();
    }
    const r = await s.call("POST", "/api/v1/admin/users", { body: { username: "d-feb", valid_until: "2026-02-30T00:00:00Z" } });
    expect(r.body.error.message).toBe("valid_until: 2026-02-30 is not a calendar date");
  });

  test("offsets and leap seconds are stored as the instant they name", async () => {
    for (const f of await fields()) {
      const v = f.field === "valid_from" ? "2016-12-31T18:59:60-05:00" : "2030-06-30T23:59:59.5+02:00";
      const want = f.field === "valid_from" ? "2017-01-01T00:00:00.000Z" : "2030-06-30T21:59:59.500Z";
      const patched = await s.call("PATCH", `/api/v1/admin${f.path}/${f.id}`, { body: { [f.field]: v } });
      expect([f.path, f.field, patched.status, patched.body[f.field]]).toEqual([f.path, f.field, 200, want]);
    }
  });

  test("explain's `at` and the events list's from/to refuse impossible dates naming the field", async () => {
    const e = await s.call("POST", "/api/v1/admin/explain", { body: { gate_id: "X", user_id: "u_x", at: "2026-02-30T00:00:00Z" } });
    expect([e.status, e.body.error.code, e.body.error.details.field]).toEqual([400, "invalid_request", "at"]);
    for (const q of ["from", "to"]) {
      const r = await s.call("GET", `/api/v1/admin/events?${q}=2026-02-30T00:00:00Z`);
      expect([q, r.status, r.body.error.code, r.body.error.details.field]).toEqual([q, 400, "invalid_request", q]);
      const ok = await s.call("GET", `/api/v1/admin/events?${q}=2026-02-28T00:00:00%2B01:00`);
      expect([q, ok.status]).toEqual([q, 200]);
    }
  });
});
