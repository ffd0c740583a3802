// The HTTP app: plugins, request ids, the one error handler, and the feature modules.
import { Elysia } from "elysia";
import { parseDateTime } from "../dates";
import { mapDbError } from "../db/errors";
import { ApiError, STATUS } from "../errors";
import { log } from "../log";
import { adminCollectionRoutes } from "./admin/collections";
import { adminConsistencyRoutes } from "./admin/consistency";
import { adminImportRoutes } from "./admin/import";
import { adminInsightRoutes } from "./admin/insight";
import { adminGroupRoutes } from "./admin/groups";
import { adminNodeRoutes } from "./admin/nodes";
import { adminPresenceRoutes } from "./admin/presence";
import { adminStatsRoutes } from "./admin/stats";
import { adminStreamRoutes } from "./admin/stream";
import { zoneActionRoutes } from "./admin/zone-actions";
import { authRoutes } from "./auth-routes";
import { bodyGuard } from "./body-guard";
import { expectedMessage } from "./expected";
import { paramsGuard } from "./params-guard";
import { consoleRoutes } from "./console";
import { deviceRoutes } from "./devices";
import type { Deps } from "../deps";
import { docs } from "./docs";
import { normaliseRequest } from "../listen";
import { observe } from "./observe";
import { opsRoutes } from "./ops";
import { propagationHook } from "./propagation";
import { verifyRoutes } from "./verify";
import { nativeVerify } from "./verify-native";

/** Elysia's validation error → our body, naming the first failing field. */
function validationError(error: any): ApiError {
  const first = error?.valueError ?? error?.all?.[0];
  const path: string = first?.path ?? "";
  const field = path.replace(/^\//, "").replace(/\//g, ".") || (error?.type === "query" ? "query" : "body");
  let message = expectedMessage(first, error?.type) ?? first?.message ?? "invalid value";
  // A refused date says why (not a calendar date, offset missing, out of range), not just "format".
  const schema = first?.schema;
  if (typeof first?.value === "string" && (schema?.format === "date-time" || schema?.anyOf?.some((x: any) => x?.format === "date-time"))) {
    const r = parseDateTime(first.value, field);
    if (!r.ok) message = r.message;
  }
  return new ApiError("invalid_request", `${field}: ${message}`, { field, in: error?.type });
}

export function createApp(deps: Deps) {
  deps.metrics.attach(deps);
  // The hot route, served natively by Bun when listening; it falls back to the Elysia route below.
  const native = nativeVerify(deps, (req) => app.fetch(normaliseRequest(req)));
  const app = new Elysia({
    serve: { maxRequestBodySize: 64 * 1024 * 1024, routes: { "/api/v1/access/verify": { POST: native } } } as any,
    // Reject unknown fields (a typo like "gateid" must not pass silently) instead of stripping them.
    normalize: false,
    // Every request enters through listen.ts, which makes its URL safe for Elysia's path slicing;
    // Bun's route table would hand Elysia's per-route handlers the raw URL.
    systemRouter: false,
  })
    .use(observe(deps.config.httpMetrics ? deps.metrics : null))
    .error({ ApiError })
    .onError(({ code, error, set, request, path }) => {
      let e: ApiError;
      let mapped: unknown;
      if (error instanceof ApiError) e = error;
      else if (code === "VALIDATION" && (error as any).type === "response") {
        // An answer that does not match its documented schema is our bug, never the client's.
        log.error("answer does not match its schema", { method: request.method, path, error: String((error as any)?.message ?? error).slice(0, 2000), request_id: set.headers["x-request-id"] });
        e = new ApiError("internal", "internal error");
      } else if (code === "VALIDATION") e = validationError(error);
      else if (code === "PARSE" && (error as any).cause instanceof ApiError) e = (error as any).cause; // from jsonBody()
      else if (code === "PARSE") e = new ApiError("invalid_request", "body: not valid JSON", { field: "body" });
      else if (code === "NOT_FOUND") e = new ApiError("not_found", `no route for ${request.method} ${path}`);
      else if ((mapped = mapDbError(error)) instanceof ApiError) e = mapped; // Postgres gone or refusing, wherever it surfaced: 503/409/400, not a 500
      else {
        log.error("unhandled error", { method: request.method, path, error: String((error as any)?.stack ?? error), request_id: set.headers["x-request-id"] });
        e = new ApiError("internal", "internal error");
      }
      if (e.retryAfter !== undefined) set.headers["retry-after"] = String(e.retryAfter);
      set.headers["content-type"] = "application/json";
      set.status = STATUS[e.code];
      return e.body();
    })
    .use(bodyGuard())
    .use(paramsGuard())
    .use(propagationHook(deps.propagation))
    .use(docs())
    .use(opsRoutes(deps))
    .use(verifyRoutes(deps))
    .use(authRoutes(deps))
    .use(deviceRoutes(deps))
    .use(adminInsightRoutes(deps))
    .use(adminPresenceRoutes(deps))
    .use(adminCollectionRoutes(deps))
    .use(adminImportRoutes(deps))
    .use(adminConsistencyRoutes(deps))
    .use(adminNodeRoutes(deps))
    .use(adminStreamRoutes(deps))
    .use(adminStatsRoutes(deps))
    .use(adminGroupRoutes(deps))
    .use(zoneActionRoutes(deps))
    .use(consoleRoutes());
  return app;
}

export type App = ReturnType<typeof createApp>;
