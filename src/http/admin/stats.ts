// GET /api/v1/admin/stats: the console's live view (the service: src/events/stats.ts).
import { Elysia, t } from "elysia";
import type { Deps } from "../../deps";
import { invalid } from "../../errors";
import { createStats, TOP_GATES } from "../../events/stats";
import { ErrorBody } from "../schemas";
import { adminAuth } from "./auth";

const StatsAnswer = t.Object({
  at: t.String({ description: "end of the window (exclusive): the start of the current second" }),
  window_s: t.Integer(),
  total: t.Integer({ description: "verify decisions in the window, on every process (from the access events)" }),
  allow: t.Integer(),
  deny: t.Integer(),
  per_second: t.Array(t.Object({ t: t.String(), allow: t.Integer(), deny: t.Integer() }), { description: "one entry per second of the window, oldest first" }),
  deny_reasons: t.Array(t.Object({ reason: t.String(), count: t.Integer() }), { description: "deny reasons, most frequent first" }),
  gates: t.Array(t.Object({
    gate_id: t.String(), name: t.Union([t.String(), t.Null()]), zone_id: t.Union([t.String(), t.Null()]),
    mode: t.Union([t.String(), t.Null()]), allow: t.Integer(), deny: t.Integer(), last_at: t.String(),
  }), { description: `the ${TOP_GATES} busiest gates of the window` }),
  gate_modes: t.Record(t.String(), t.Integer(), { description: "gates by mode, from this process's index" }),
  index: t.Object({
    revision: t.Integer({ description: "the revision this process's index has applied" }),
    known_revision: t.Integer({ description: "the highest revision this process knows exists" }),
    lag_ms: t.Number({ description: "how long the index has been behind a known revision; 0 when caught up" }),
    feed_connected: t.Boolean(),
    ready: t.Boolean(),
  }),
  events: t.Object({ buffered: t.Integer({ description: "access events waiting to be written (this process)" }), live_watchers: t.Integer() }),
  processes: t.Integer({ description: "serving processes (WORKERS); each has its own index and its own live event stream" }),
}, {
  examples: [{
    at: "2026-01-05T08:31:00.000Z", window_s: 60, total: 1250, allow: 1200, deny: 50,
    per_second: [{ t: "2026-01-05T08:30:59.000Z", allow: 20, deny: 1 }],
    deny_reasons: [{ reason: "outside_schedule", count: 30 }, { reason: "unknown_token", count: 20 }],
    gates: [{ gate_id: "GATE_001", name: "HQ main door", zone_id: "z_0193a1b2c3d4e5f6a7b8c9d0e1f2", mode: "normal", allow: 700, deny: 12, last_at: "2026-01-05T08:30:59.870Z" }],
    gate_modes: { normal: 4, locked: 1 },
    index: { revision: 57, known_revision: 57, lag_ms: 0, feed_connected: true, ready: true },
    events: { buffered: 3, live_watchers: 1 },
    processes: 2,
  }],
});

export function adminStatsRoutes(deps: Deps) {
  const stats = createStats(deps);
  return new Elysia({ name: "admin-stats", prefix: "/api/v1/admin", detail: { tags: ["admin"], security: [{ bearer: [] }] } })
    .use(adminAuth(deps.sql))
    .get("/stats", ({ query }) => {
      const raw = query.window ?? "60";
      const windowS = /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
      if (!(windowS >= 10 && windowS <= 300)) throw invalid("window", "seconds, an integer from 10 to 300");
      return stats(windowS);
    }, {
      query: t.Object({ window: t.Optional(t.String({ description: "seconds, 10..300 (default 60)", examples: ["60"] })) }),
      response: { 200: StatsAnswer, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      detail: {
        summary: "Live statistics: verifies per second, allow/deny, deny reasons, busiest gates, index revision and feed lag",
        description: "Counts come from the access events of the last `window` whole seconds, so they cover every process of the service (events are written in batches every EVENT_FLUSH_MS). The answer is shared for a second between callers: any number of open consoles costs one query a second. `index` and `gate_modes` describe the process that answered.",
      },
    });
}
