import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { setLogLevel } from "../../src/log";
import { startTestService, type TestService } from "../setup";

let s: TestService;
beforeAll(async () => {
  s = await startTestService();
});
afterAll(() => s.stop());

describe("operations", () => {
  test("/healthz is 200 while the process runs", async () => {
    const r = await s.call("GET", "/healthz", { token: null });
    expect(r).toMatchObject({ status: 200, body: { status: "ok" } });
  });

  test("/readyz reports revision, feed and database", async () => {
    const r = await s.call("GET", "/readyz", { token: null });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: "ready", revision: s.service.deps.feed.revision, node: s.service.deps.nodes.id, data_age_ms: expect.any(Number), feed: { connected: true, lag_ms: 0 }, db: { reachable: true }, events: { journal: "ok", journal_bytes: expect.any(Number), unshipped: 0 } });
  });

  test("/metrics lists the catalogue in Prometheus text format", async () => {
    await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "X", token: "nobody" } });
    await s.call("GET", "/api/v1/admin/users");
    await Bun.sleep(20); // request metrics are recorded after the response is sent
    const r = await s.service.app.handle(new Request("http://localhost/metrics"));
    const text = await r.text();
    expect(r.headers.get("content-type")).toContain("text/plain");
    for (const name of [
      "portcullis_decisions_total{reason=\"unknown_token\",allow=\"false\"}",
      "portcullis_http_request_duration_seconds_bucket",
      "route=\"/api/v1/access/verify\"", "route=\"/api/v1/admin/users\"",
      "portcullis_index_entries{kind=\"credentials\"}", "portcullis_index_revision", "portcullis_feed_lag_seconds",
      "portcullis_feed_connected 1", "portcullis_feed_reconnects_total", "portcullis_events_buffered",
      "portcullis_events_flushed_total", "portcullis_events_flush_failures_total", "portcullis_events_shed_total",
      "portcullis_events_journal_bytes", "portcullis_db_pool_max", "process_resident_memory_bytes",
      "process_cpu_seconds_total", "bun_jsc_heap_bytes{kind=\"used\"}",
    ]) expect(text).toContain(name);
    // The collectors that misbehave under Bun are not there.
    expect(text).not.toContain("nodejs_heap_space");
    expect(text).not.toContain("nodejs_gc_duration");
  });

  test("one JSON log line per admin request, none per verify, never a secret", async () => {
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    (process.stdout as any).write = (chunk: any) => {
      lines.push(String(chunk));
      return true;
    };
    setLogLevel("info");
    try {
      const u = await s.call("POST", "/api/v1/admin/users", { body: { username: "logged", password: "very-secret-password" }, headers: { "x-request-id": "log-test-1" } });
      const card = await s.call("POST", "/api/v1/admin/credentials", { body: { user_id: u.body.id, kind: "card", secret: "card-secret-998877" } });
      for (let i = 0; i < 5; i++) await s.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "X", token: "card-secret-998877" } });
      await Bun.sleep(20);
      expect(card.status).toBe(201);
    } finally {
      setLogLevel("error");
      (process.stdout as any).write = write;
    }
    const records = lines.flatMap((l) => l.split("\n")).filter(Boolean).map((l) => JSON.parse(l));
    await Bun.sleep(20);
    const requests = records.filter((r) => r.msg === "request" && r.method === "POST");
    expect(requests).toHaveLength(2);
    expect(requests[0]).toMatchObject({ level: "info", request_id: "log-test-1", method: "POST", route: "/api/v1/admin/users", status: 201, actor: expect.stringMatching(/^c_/) });
    expect(records.some((r) => r.route === "/api/v1/access/verify")).toBe(false);
    const all = lines.join("");
    expect(all).not.toContain("very-secret-password");
    expect(all).not.toContain("card-secret-998877");
    expect(all).not.toContain(s.adminToken);
  });
});
