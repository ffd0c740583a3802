// The event writer COPYs on the pool the admin API reads from. postgres.js pipelines a query onto
// a busy connection when every connection is in use; one pipelined behind a COPY FROM STDIN
// reaches Postgres mid-COPY, which ends the connection ("protocol synchronization was lost",
// 08P01) and fails every query queued on it — admin reads answered 500. Here: events flushing
// every few ms while admin reads keep the small pool saturated.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTestService, type TestService } from "../setup";

let s: TestService;
beforeAll(async () => {
  s = await startTestService({ EVENT_FLUSH_MS: "1" });
  await s.db.sql`insert into gates (id, name) values ('SP1', 'shared pool gate')`;
});
afterAll(() => s.stop());

test("event COPYs never share a connection with other queries: admin reads under a flood of events all answer 200", async () => {
  const statuses = new Map<number, number>();
  const deadline = Date.now() + 6000;
  let verifies = 0;
  const verifyLoop = async () => {
    while (Date.now() < deadline) {
      await s.call("POST", "/api/v1/access/verify", { body: { gate_id: "SP1", token: "nope-" + verifies++ }, token: null });
      if (verifies % 8 === 0) await Bun.sleep(1);
    }
  };
  const readLoop = async () => {
    while (Date.now() < deadline) {
      const r = await s.call("GET", "/api/v1/admin/gates/SP1");
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
  };
  await Promise.all([...Array.from({ length: 8 }, verifyLoop), ...Array.from({ length: 24 }, readLoop)]);
  expect(Object.fromEntries(statuses)).toEqual({ 200: expect.any(Number) });
  // The events were all stored meanwhile.
  const stored = async () => (await s.db.sql`select count(*)::int as n from access_events where gate_id = 'SP1'`)[0]!.n;
  for (let i = 0; i < 100 && (await stored()) < verifies; i++) await Bun.sleep(50);
  expect(await stored()).toBe(verifies);
}, 60_000);
