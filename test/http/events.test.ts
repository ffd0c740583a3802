import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { encodeCursor } from "../../src/db/pagination";
import { startTestService, sleepUntil, type TestService } from "../setup";

let s: TestService;
let card: string;
let userId: string;

beforeAll(async () => {
  s = await startTestService();
  userId = (await s.call("POST", "/api/v1/admin/users", { body: { username: "walker" } })).body.id;
  await s.call("POST", "/api/v1/admin/gates", { body: { id: "EV_A", name: "a" } });
  await s.call("POST", "/api/v1/admin/gates", { body: { id: "EV_B", name: "b" } });
  await s.call("POST", "/api/v1/admin/grants", { body: { subject: { user_id: userId }, target: { gate_id: "EV_A" } } });
  const c = await s.call("POST", "/api/v1/admin/credentials", { body: { user_id: userId, kind: "card" } });
  card = c.body.secret;
  await s.service.deps.feed.waitFor(c.body.revision, 2000);
  // 7 allowed at EV_A, 5 refused at EV_B, 3 unknown tokens at EV_A.
  for (let i = 0; i < 7; i++) await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "EV_A", token: card } });
  for (let i = 0; i < 5; i++) await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "EV_B", token: card } });
  for (let i = 0; i < 3; i++) await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "EV_A", token: `nobody-${i}` } });
  await sleepUntil(async () => (await s.db.sql`select count(*)::int as n from access_events`)[0]!.n === 15, "15 events");
});
afterAll(() => s.stop());

const events = (q: string) => s.call("GET", `/api/v1/admin/events${q}`);

describe("GET /api/v1/admin/events", () => {
  test("every decision is listed newest first with its fields", async () => {
    const r = await events("?limit=500");
    expect(r.status).toBe(200);
    expect(r.body.items).toHaveLength(15);
    expect(r.body.next_cursor).toBeNull();
    const ats = r.body.items.map((e: any) => Date.parse(e.at));
    expect([...ats].sort((a, b) => b - a)).toEqual(ats);
    expect(r.body.items[0]).toEqual({ id: expect.any(String), at: expect.any(String), gate_id: "EV_A", user_id: null, allow: false, reason: "unknown_token", revision: expect.any(Number) });
  });

  test("filters: gate_id, user_id, allow, from/to", async () => {
    expect((await events("?gate_id=EV_B")).body.items.map((e: any) => e.reason)).toEqual(Array(5).fill("no_grant"));
    expect((await events(`?user_id=${userId}&allow=true`)).body.items).toHaveLength(7);
    expect((await events("?allow=false&gate_id=EV_A")).body.items).toHaveLength(3);
    expect((await events("?from=2999-01-01T00:00:00Z")).body.items).toHaveLength(0);
    expect((await events("?to=2000-01-01T00:00:00Z")).body.items).toHaveLength(0);
    expect((await events(`?from=${new Date(Date.now() - 60_000).toISOString()}`)).body.items).toHaveLength(15);
  });

  test("keyset pagination walks every event once, in order", async () => {
    const all = (await events("?limit=500")).body.items.map((e: any) => e.id);
    const walked: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const r: any = await events(`?limit=4${cursor ? `&cursor=${cursor}` : ""}`);
      walked.push(...r.body.items.map((e: any) => e.id));
      cursor = r.body.next_cursor;
      if (!cursor) break;
    }
    expect(walked).toEqual(all);
  });

  test("bad filters are 400 naming the field", async () => {
    for (const [q, field] of [["?allow=maybe", "allow"], ["?from=today", "from"], ["?limit=0", "limit"], ["?cursor=zzz", "cursor"]]) {
      const r = await events(q!);
      expect(r.status).toBe(400);
      expect(r.body.error.details.field).toBe(field);
    }
  });

  test("a cursor's time is read by the one date parser: a leap second or an offset pages on, never a 500", async () => {
    const all = (await events("?limit=500")).body.items as Array<{ id: string; at: string }>;
    const first = all[0]!;
    // 23:59:60 is the next minute's first instant (dates.ts); JavaScript's Date cannot read it, and
    // postgres.js handed the cursor's text to Date for a timestamptz parameter: 500.
    for (const [at, before] of [["2026-06-30T23:59:60Z", Date.parse("2026-07-01T00:00:00Z")], ["9999-12-31T23:59:59.999Z", Infinity]] as const) {
      for (const q of ["", "&gate_id=EV_A", `&user_id=${userId}`]) {
        const r = await events(`?limit=500${q}&cursor=${encodeCursor(`${at}|${first.id}`)}`);
        expect(r.status).toBe(200);
        for (const e of r.body.items) expect(Date.parse(e.at)).toBeLessThan(before);
      }
    }
    // An offset names the same instant as its UTC spelling: the same page.
    const mid = all[5]!;
    const utc = await events(`?limit=500&cursor=${encodeCursor(`${mid.at}|${mid.id}`)}`);
    const shifted = new Date(Date.parse(mid.at) + 23 * 3_600_000 + 59 * 60_000).toISOString().replace("Z", "+23:59");
    const off = await events(`?limit=500&cursor=${encodeCursor(`${shifted}|${mid.id}`)}`);
    expect(off.status).toBe(200);
    expect(off.body.items).toEqual(utc.body.items);
    expect(utc.body.items.map((e: any) => e.id)).toEqual(all.slice(6).map((e) => e.id));
  });

  test("a NUL in a filter is 400 naming that filter", async () => {
    for (const field of ["gate_id", "user_id"]) {
      const r = await events(`?${field}=a%00b`);
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ code: "invalid_request", details: { field } });
    }
  });

  test("the listing query uses an index, never a sequential scan of the partitions", async () => {
    const plan = await s.db.sql.unsafe(`explain select * from access_events where gate_id = 'EV_A' order by at desc, id desc limit 51`);
    expect(JSON.stringify(plan)).not.toMatch(/Seq Scan on access_events_\d/);
  });
});
