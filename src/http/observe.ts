// Request ids, request metrics and request logs, for every route. One line of JSON per admin,
// auth or device request (never per verify: access events are the record of those), never a
// secret — only method, route pattern, status, duration, request id and the caller's credential id.
import { Elysia } from "elysia";
import { log } from "../log";
import type { Metrics } from "../metrics";
import { requestId } from "../request";

const LOGGED = /^\/api\/v1\/(admin|auth|devices)\//;

export function observe(metrics: Metrics | null) {
  const app = new Elysia({ name: "observe" }).onRequest((c: any) => {
    c.set.headers["x-request-id"] = requestId(c.request.headers.get("x-request-id"));
    c.t0 = performance.now();
  });
  return app.onAfterResponse({ as: "global" }, (c: any) => {
    const status = typeof c.set.status === "number" ? c.set.status : 200;
    const route: string = c.route ?? "unmatched";
    const seconds = (performance.now() - c.t0) / 1000;
    if (metrics) metrics.observeRequest(c.request.method, route, status, seconds);
    if (LOGGED.test(route)) {
      log.info("request", {
        request_id: c.set.headers["x-request-id"], method: c.request.method, route, status,
        ms: Math.round(seconds * 10_000) / 10, actor: c.caller?.credentialId ?? null,
      });
    }
  });
}
