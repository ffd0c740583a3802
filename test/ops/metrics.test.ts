import { expect, test } from "bun:test";
import { observeRequest, renderMetrics } from "../../src/metrics";

test("request histogram: cumulative buckets with le as upper bound, sum and count", async () => {
  for (const s of [0.0001, 0.0002, 0.003, 0.003, 7]) observeRequest("PUT", "/test/histogram", 201, s);
  const lines = (await renderMetrics()).split("\n").filter((l) => l.includes('route="/test/histogram"'));
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
