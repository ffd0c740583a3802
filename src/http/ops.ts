// Health, readiness and metrics: what load balancers and operators poll.
import { Elysia } from "elysia";
import { dbProbe } from "../db/probe";
import { HealthAnswer, MetricsText, ReadyAnswer } from "./schemas";
import type { Deps } from "../deps";

export function opsRoutes(deps: Deps) {
  const { feed, sql, events, nodes } = deps;
  const checkDb = dbProbe(sql);

  return new Elysia({ name: "ops", detail: { tags: ["ops"] } })
    .get("/healthz", () => ({ status: "ok" as const }), { response: { 200: HealthAnswer }, detail: { summary: "The process runs" } })
    .get("/readyz", async ({ set }) => {
      const reachable = await checkDb();
      // Not ready while decisions cannot be recorded (journal at its disk budget): a load balancer
      // sends the gates to an instance that can.
      const ready = feed.live && !events.full;
      set.status = ready ? 200 : 503;
      if (!ready) set.headers["retry-after"] = "1";
      return {
        status: ready ? ("ready" as const) : ("not_ready" as const),
        revision: feed.revision,
        // Which process answered (its id in GET /api/v1/admin/nodes), and how old its data may be.
        node: nodes.id,
        data_age_ms: Number.isFinite(feed.dataAgeMs()) ? feed.dataAgeMs() : null,
        feed: { connected: feed.connected, lag_ms: feed.lagMs },
        db: { reachable },
        events: { journal: events.full ? "full" : "ok", journal_bytes: events.journalBytes, unshipped: events.depth },
      };
    }, { response: { 200: ReadyAnswer, 503: ReadyAnswer }, detail: { summary: "200 when the index is loaded, the change feed is live and access events can be recorded, else 503" } })
    .get("/metrics", async ({ set }) => {
      set.headers["content-type"] = "text/plain; version=0.0.4; charset=utf-8";
      return deps.metrics.render();
    }, { response: { 200: MetricsText }, detail: { summary: "Prometheus metrics" } });
}
