import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startService, type Service } from "../../src/service";
import { sleepUntil, startTestService, testConfig, type TestService } from "../setup";

let s: TestService;
let card: string;
let base: string;

beforeAll(async () => {
  // A small backlog bound (64 KB), so the stalled-client test needs only a few thousand events.
  s = await startTestService({ HOST: "127.0.0.1", EVENT_STREAM_BACKLOG_KB: "64" });
  s.service.app.listen({ port: 0, hostname: "127.0.0.1" });
  base = `http://127.0.0.1:${s.service.app.server!.port}`;
  const u = (await s.call("POST", "/api/v1/admin/users", { body: { username: "streamer" } })).body.id;
  await s.call("POST", "/api/v1/admin/gates", { body: { id: "ST_A", name: "a" } });
  await s.call("POST", "/api/v1/admin/gates", { body: { id: "ST_B", name: "b" } });
  await s.call("POST", "/api/v1/admin/grants", { body: { subject: { user_id: u }, target: { gate_id: "ST_A" } } });
  const c = await s.call("POST", "/api/v1/admin/credentials", { body: { user_id: u, kind: "card" } });
  card = c.body.secret;
  await s.service.deps.feed.waitFor(c.body.revision, 2000);
});
afterAll(() => s.stop());

const verify = (gate: string) => fetch(`${base}/api/v1/access/verify`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ gate_id: gate, token: card }) }).then((r) => r.json() as Promise<any>);

/** Reads SSE frames from a streaming fetch until `n` access events arrived. */
async function readEvents(res: Response, n: number, timeoutMs = 5000): Promise<any[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  const out: any[] = [];
  const until = Date.now() + timeoutMs;
  while (out.length < n && Date.now() < until) {
    const { value, done } = await Promise.race([reader.read(), Bun.sleep(until - Date.now()).then(() => ({ value: undefined, done: true }))]) as ReadableStreamReadResult<Uint8Array>;
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const chunk = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = chunk.split("\n").find((l) => l.startsWith("data: "));
      const id = chunk.split("\n").find((l) => l.startsWith("id: "));
      if (data) out.push({ ...JSON.parse(data.slice(6)), frameId: id?.slice(4) });
    }
  }
  await reader.cancel().catch(() => {});
  return out;
}

const stream = (q = "", headers: Record<string, string> = {}) =>
  fetch(`${base}/api/v1/admin/events/stream${q}`, { headers: { authorization: `Bearer ${s.adminToken}`, ...headers } });

describe("GET /api/v1/admin/events/stream", () => {
  test("a verify appears in the stream within a second, as SSE with its id", async () => {
    const res = await stream();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/event-stream");
    const t0 = Date.now();
    const reading = readEvents(res, 1, 3000);
    await Bun.sleep(50);
    const answer = await verify("ST_A");
    const [e] = await reading;
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(e).toMatchObject({ gate_id: "ST_A", allow: true, reason: "granted", user_id: answer.user_id, revision: answer.revision });
    expect(e.frameId).toBe(e.id);
  });

  test("filters like the events list", async () => {
    const res = await stream("?gate_id=ST_B&allow=false");
    const reading = readEvents(res, 2, 3000);
    await Bun.sleep(50);
    await verify("ST_A");
    await verify("ST_B");
    await verify("ST_A");
    await verify("ST_B");
    const got = await reading;
    expect(got.map((e) => `${e.gate_id}:${e.reason}`)).toEqual(["ST_B:no_grant", "ST_B:no_grant"]);
  });

  test("resumes with Last-Event-ID: what was missed comes first, in order", async () => {
    const first = await stream();
    const reading = readEvents(first, 1, 3000);
    await Bun.sleep(50);
    await verify("ST_A");
    const [last] = await reading;
    // Disconnected; three decisions happen meanwhile.
    for (let i = 0; i < 3; i++) await verify("ST_B");
    const res = await stream("", { "last-event-id": last.id });
    const missed = await readEvents(res, 3, 3000);
    expect(missed.map((e) => e.gate_id)).toEqual(["ST_B", "ST_B", "ST_B"]);
  });

  test("resumes from Postgres when the id has left this process's memory", async () => {
    const res0 = await stream();
    const reading = readEvents(res0, 1, 3000);
    await Bun.sleep(50);
    await verify("ST_A");
    const [mark] = await reading;
    await verify("ST_B");
    await verify("ST_A");
    await sleepUntil(async () => (await s.db.sql`select count(*)::int as n from access_events where (at, id) > (${new Date(Date.parse(mark.at))}, ${mark.id}::uuid)`)[0]!.n >= 2, "events flushed");
    // A second process has never seen these events in memory.
    const other: Service = await startService(testConfig({ HOST: "127.0.0.1" }), { databaseUrl: s.db.url });
    try {
      const r = await other.app.handle(new Request("http://localhost/api/v1/admin/events/stream", { headers: { authorization: `Bearer ${s.adminToken}`, "last-event-id": mark.id } }));
      const missed = await readEvents(r, 2, 3000);
      expect(missed.map((e) => e.gate_id)).toEqual(["ST_B", "ST_A"]);
    } finally {
      await other.stop();
    }
  });

  test("a watcher on one process sees decisions made by another process", async () => {
    const other: Service = await startService(testConfig({ HOST: "127.0.0.1", EVENT_FLUSH_MS: "5" }), { databaseUrl: s.db.url });
    try {
      await other.deps.feed.waitFor(s.service.deps.feed.revision, 2000);
      const res = await stream("?gate_id=ST_A");
      const reading = readEvents(res, 2, 3000);
      await Bun.sleep(50);
      await other.app.handle(new Request("http://localhost/api/v1/access/verify", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ gate_id: "ST_A", token: card }) }));
      await verify("ST_A");
      const got = await reading;
      expect(got).toHaveLength(2);
      expect(got.every((e) => e.gate_id === "ST_A" && e.allow === true)).toBe(true);
    } finally {
      await other.stop();
    }
  });

  test("a client that does not read is disconnected once its backlog passes its bound; one that reads is not", async () => {
    const live = s.service.deps.events.live;
    const stalled = await s.service.app.handle(new Request("http://localhost/api/v1/admin/events/stream", { headers: { authorization: `Bearer ${s.adminToken}` } }));
    expect(stalled.status).toBe(200);
    const before = live.watchers;
    const reader = await stream();
    const reading = readEvents(reader, 2500, 15_000);
    // 3000 decisions, 1000 at a time: each poll brings far more than the 64 KB bound, which only
    // the client that does not read ever leaves untaken.
    const batch = Array.from({ length: 1000 }, () => ({ gate_id: "ST_A", token: card }));
    for (let i = 0; i < 3; i++) {
      await fetch(`${base}/api/v1/access/verify/batch`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ checks: batch }) });
      await Bun.sleep(150);
    }
    await sleepUntil(() => live.watchers < before + 1, "the stalled client to be dropped", 5000);
    expect((await reading).length).toBeGreaterThanOrEqual(2500);
    void stalled.body?.cancel().catch(() => {});
  }, 30_000);

  test("admin scope, and bad parameters are 400", async () => {
    expect((await fetch(`${base}/api/v1/admin/events/stream`)).status).toBe(401);
    expect((await fetch(`${base}/api/v1/admin/events/stream`, { headers: { authorization: `Bearer ${s.userToken}` } })).status).toBe(403);
    expect((await stream("?allow=maybe")).status).toBe(400);
    expect((await stream("", { "last-event-id": "nope" })).status).toBe(400);
  });
});
