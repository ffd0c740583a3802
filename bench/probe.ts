// Loaded INTO a server under test with `bun --preload ./bench/probe.ts src/main.ts` (bench/run.ts
// does so for every server it starts; idle, it costs nothing per request: no timer runs until
// /lag/start): a tiny side listener on PROBE_PORT, on the same event loop, that answers
//   GET /gc   → a full garbage collection (Bun.gc(true)), then bun:jsc heapStats() and RSS, so the
//               heap is read without the garbage a snapshot load leaves behind;
//   GET /lag/start, /lag/stop → event-loop lag seen by a setInterval(1 ms) probe between the two:
//               how long timers were held up, e.g. by a synchronous /metrics render or an index
//               rebuild. The probe runs only between start and stop (or from boot with PROBE_LAG=1).
// The service's own code is not touched; the side listener shares the event loop it measures.
import { heapStats } from "bun:jsc";

const port = Number(process.env.PROBE_PORT ?? 0);
let lags: number[] = [];
let last = 0;
let timer: ReturnType<typeof setInterval> | null = null;
function startLag(): void {
  if (timer) clearInterval(timer);
  lags = [];
  last = performance.now();
  timer = setInterval(() => {
    const now = performance.now();
    lags.push(now - last - 1);
    last = now;
  }, 1);
}
if (process.env.PROBE_LAG === "1") startLag();
if (port > 0) {
  Bun.serve({
    port,
    hostname: "127.0.0.1",
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/gc") {
        const t0 = performance.now();
        Bun.gc(true);
        const gcMs = performance.now() - t0;
        const h = heapStats();
        const types = Object.entries(h.objectTypeCounts).sort((a, b) => b[1] - a[1]).slice(0, 12);
        return Response.json({ gcMs, heapSize: h.heapSize, heapCapacity: h.heapCapacity, extraMemorySize: h.extraMemorySize, objectCount: h.objectCount, rss: process.memoryUsage.rss(), objectTypes: Object.fromEntries(types) });
      }
      if (path === "/lag/start") {
        startLag();
        return Response.json({ started: true });
      }
      if (path === "/lag/stop" || path === "/lag") {
        if (path === "/lag/stop" && timer) {
          clearInterval(timer);
          timer = null;
        }
        const xs = lags.sort((a, b) => a - b);
        lags = [];
        const p = (q: number) => (xs.length ? xs[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)]! : NaN);
        return Response.json({ samples: xs.length, p50: p(0.5), p99: p(0.99), max: xs.length ? xs[xs.length - 1]! : NaN, over5ms: xs.filter((x) => x > 5).length });
      }
      return new Response("not found", { status: 404 });
    },
  });
}
