// Health, readiness and metrics: what load balancers and operators poll.
import { Elysia } from "elysia";
import { dbProbe } from "../db/probe";
import type { Deps } from "../deps";

export function opsRoutes(deps: Deps) {
  const { feed, sql } = deps;
  const checkDb = dbProbe(sql);

  return new Elysia({ name: "ops", detail: { tags: ["ops"] } })
    .get("/healthz", () => ({ status: "ok" }), { detail: { summary: "The process runs" } })
    .get("/readyz", async ({ set }) => {
      const reachable = await checkDb();
      const ready = feed.live;
      set.status = ready ? 200 : 503;
      if (!ready) set.headers["retry-after"] = "1";
      return {
        status: ready ? "ready" : "not_ready",
        revision: feed.revision,
        feed: { connected: feed.connected, lag_ms: feed.lagMs },
        db: { reachable },
      };
    }, { detail: { summary: "200 when the index is loaded and the change feed is live, else 503" } })
    .get("/metrics", async ({ set }) => {
      set.headers["content-type"] = "text/plain; version=0.0.4; charset=utf-8";
      return deps.metrics.render();
    }, { detail: { summary: "Prometheus metrics" } });
}
