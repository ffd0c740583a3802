// docs/alerts.yml and docs/OPERATIONS.md against the real thing: Prometheus' promtool accepts the
// rules and runs their unit tests, every metric a rule names exists in a real scrape, and the
// metrics catalogue in OPERATIONS.md lists exactly the metrics /metrics serves.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promtool } from "../promtool";
import { startTestService, type TestService } from "../setup";

const docs = join(import.meta.dir, "../../docs");
let s: TestService;
let served: Set<string>;
beforeAll(async () => {
  s = await startTestService();
  await s.call("GET", "/healthz", { token: null }); // a request series for the histogram
  const text = (await s.call("GET", "/metrics", { token: null })).body as string;
  served = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
  // The host-wide view adds this one (src/metrics-host.ts); a single process does not serve it.
  served.add("portcullis_host_processes");
}, 30_000);
afterAll(() => s.stop(), 30_000);

const metricNames = (text: string) => new Set([...text.matchAll(/\b((?:portcullis|process|bun)_[a-z_]+)\b/g)].map((m) => m[1]!.replace(/_(bucket|count|sum)$/, "")));

test("promtool check rules accepts docs/alerts.yml", async () => {
  const r = await promtool(["check", "rules", join(docs, "alerts.yml")]);
  expect(r.output).toContain("SUCCESS: 16 rules found");
  expect(r.code).toBe(0);
});

test("promtool test rules: the alerts fire on the series they are meant for, and only then", async () => {
  const r = await promtool(["test", "rules", "alerts.test.yml"], { cwd: import.meta.dir });
  expect(r.output).toContain("SUCCESS");
  expect(r.code).toBe(0);
});

test("every metric the alerting rules name is one /metrics serves", () => {
  const named = metricNames(readFileSync(join(docs, "alerts.yml"), "utf8"));
  expect(named.size).toBeGreaterThan(10);
  expect([...named].filter((m) => !served.has(m))).toEqual([]);
});

test("the metrics catalogue in docs/OPERATIONS.md lists exactly the metrics /metrics serves", () => {
  const ops = readFileSync(join(docs, "OPERATIONS.md"), "utf8");
  const section = ops.slice(ops.indexOf("## Metrics catalogue"), ops.indexOf("\n## ", ops.indexOf("## Metrics catalogue") + 1));
  const listed = new Set([...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]!));
  expect([...served].filter((m) => !listed.has(m)).sort()).toEqual([]);
  expect([...listed].filter((m) => !served.has(m)).sort()).toEqual([]);
});
