// /metrics as Prometheus sees it: the histogram's format, Prometheus' own linter on a real scrape,
// one registry per service instance, and one coherent view of a host with WORKERS=2.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createMetrics } from "../../src/metrics";
import { promtool } from "../promtool";
import { createTestDb, freePort, seedGrantedCard, sleepUntil, startTestService, type TestDb } from "../setup";

const promtoolCheckMetrics = (text: string) => promtool(["check", "metrics"], { stdin: text });

/** The value of the sample whose line starts with `prefix` (name and labels, exactly). */
function sample(text: string, prefix: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(prefix + " "));
  return line === undefined ? undefined : Number(line.slice(prefix.length + 1));
}

test("request histogram: cumulative buckets with le as upper bound, sum and count", async () => {
  const metrics = createMetrics();
  for (const s of [0.0001, 0.0002, 0.003, 0.003, 7]) metrics.observeRequest("PUT", "/test/histogram", 201, s);
  const lines = (await metrics.render()).split("\n").filter((l) => l.includes('route="/test/histogram"'));
  const value = (needle: string) => Number(lines.find((l) => l.includes(needle))!.split(" ").pop());
  expect(value('le="0.0001"')).toBe(1); // a value equal to a bound falls in that bucket
  expect(value('le="0.00025"')).toBe(2);
  expect(value('le="0.0025"')).toBe(2);
  expect(value('le="0.005"')).toBe(4);
  expect(value('le="2.5"')).toBe(4);
  expect(value('le="+Inf"')).toBe(5);
  expect(value("_count")).toBe(5);
  expect(value("_sum")).toBeCloseTo(7.0063, 6);
  expect(lines[0]).toContain('method="PUT"');
  expect(lines[0]).toContain('status="201"');
});

describe("one service's metrics", () => {
  test("promtool check metrics accepts a real scrape, with every kind of series present", async () => {
    const s = await startTestService({ RATE_LIMIT_GATE: "1/1m" }, { http: true });
    try {
      await s.call("POST", "/api/v1/admin/zones", { body: { name: "lint" } });
      for (let i = 0; i < 3; i++) await s.call("POST", "/api/v1/access/verify", { body: { gate_id: "NOPE", token: "x".repeat(20) } });
      const r = await s.call("GET", "/metrics", { token: null });
      expect(r.status).toBe(200);
      expect(sample(r.body, 'portcullis_rate_limited_total{limit="gate"}')).toBe(2);
      expect(r.body).toContain("# TYPE portcullis_events_flushed_total counter");
      expect(r.body).toContain("# TYPE process_cpu_seconds_total counter");
      const lint = await promtoolCheckMetrics(r.body);
      expect(lint.output).toBe("");
      expect(lint.code).toBe(0);
    } finally {
      await s.stop();
    }
  }, 30_000);

  test("two services in one process each show only their own counters and gauges", async () => {
    const a = await startTestService();
    const b = await startTestService();
    try {
      await b.db.sql`insert into users (username) select 'extra' || i from generate_series(1, 5) i`;
      const w = await b.call("POST", "/api/v1/admin/zones", { body: { name: "only-b" } });
      await sleepUntil(() => b.service.deps.feed.revision >= w.body.revision, "b applied its write");
      for (let i = 0; i < 4; i++) await a.call("POST", "/api/v1/access/verify", { body: { gate_id: "NOPE", token: "y".repeat(20) } });
      const scrape = async (s: typeof a) => (await s.call("GET", "/metrics", { token: null })).body as string;
      // Request metrics are recorded after the response is sent (onAfterResponse): wait for b's write.
      const mb = await sleepUntil(async () => {
        const m = await scrape(b);
        return m.includes('route="/api/v1/admin/zones"') ? m : null;
      }, "b's write in its request metrics");
      const ma = await scrape(a);
      expect(sample(ma, 'portcullis_decisions_total{reason="unknown_token",allow="false"}')).toBe(4);
      expect(sample(mb, 'portcullis_decisions_total{reason="unknown_token",allow="false"}')).toBe(0);
      expect(sample(ma, "portcullis_index_revision")).toBe(a.service.deps.feed.revision);
      expect(sample(mb, "portcullis_index_revision")).toBe(b.service.deps.feed.revision);
      expect(sample(ma, 'portcullis_index_entries{kind="users"}')).toBe(2);
      expect(sample(mb, 'portcullis_index_entries{kind="users"}')).toBe(7);
      expect(mb).toContain('route="/api/v1/admin/zones"');
      expect(ma).not.toContain('route="/api/v1/admin/zones"');
    } finally {
      await a.stop();
      await b.stop();
    }
  }, 30_000);
});

describe("a host with WORKERS=2", () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb();
  }, 30_000);
  afterAll(() => db.drop(), 30_000);

  test("every scrape is the merged view of both processes: counters add up and never flip back", async () => {
    const card = await seedGrantedCard(db.sql, 'scraped', 'MX_1');
    const port = await freePort();
    const proc = Bun.spawn(["bun", "src/main.ts"], {
      env: { ...process.env, DATABASE_URL: db.url, PORT: String(port), HOST: "127.0.0.1", WORKERS: "2", LOG_LEVEL: "warn", DATA_DIR: `/tmp/pcl-metrics-${process.pid}` },
      stdout: "ignore", stderr: "inherit",
    });
    const base = `http://127.0.0.1:${port}`;
    const scrape = async () => (await fetch(`${base}/metrics`)).text();
    try {
      await sleepUntil(async () => (await fetch(`${base}/readyz`).catch(() => null))?.status === 200, "service ready", 20_000);
      await sleepUntil(async () => {
        const m = await scrape();
        return sample(m, 'portcullis_host_processes{state="scraped"}') === 2 && sample(m, 'portcullis_host_processes{state="missing"}') === 0;
      }, "both processes in the view", 45_000); // a busy machine: the worker builds its own index
      const N = 300;
      const answers = await Promise.all(Array.from({ length: N }, () =>
        fetch(`${base}/api/v1/access/verify`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ gate_id: "MX_1", token: card }) })
          .then((r) => r.json() as Promise<any>)));
      expect(answers.filter((a) => a.allow === true).length).toBe(N);
      // Several scrapes land on either process (reusePort); each answers the same host view.
      const starts = new Set<number>();
      for (let i = 0; i < 12; i++) {
        const m = await scrape();
        expect(sample(m, 'portcullis_decisions_total{reason="granted",allow="true"}')).toBe(N);
        expect(sample(m, 'portcullis_http_request_duration_seconds_count{method="POST",route="/api/v1/access/verify",status="200"}')).toBe(N);
        expect(sample(m, 'portcullis_host_processes{state="scraped"}')).toBe(2);
        expect(sample(m, 'portcullis_index_entries{kind="gates"}')).toBe(1); // the same index in both, not doubled
        starts.add(sample(m, "process_start_time_seconds")!);
        if (i === 0) {
          const lint = await promtoolCheckMetrics(m);
          expect(lint.output).toBe("");
        }
      }
      expect(starts.size).toBe(1);
      // A worker that dies is reported missing at once (not waited for at every scrape).
      const workerPids = String(Bun.spawnSync(["pgrep", "-P", String(proc.pid)]).stdout).trim().split("\n").filter(Boolean).map(Number);
      expect(workerPids.length).toBe(1);
      process.kill(workerPids[0]!, "SIGKILL");
      const after = await sleepUntil(async () => {
        const m = await scrape().catch(() => "");
        return sample(m, 'portcullis_host_processes{state="missing"}') === 1 ? m : null;
      }, "the dead worker reported missing", 10_000);
      expect(sample(after, 'portcullis_host_processes{state="scraped"}')).toBe(1);
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
    }
  }, 90_000);
});
