// The openway_access compatibility listener (OPENWAY_COMPAT_PORT): a second Elysia app that
// speaks the Django service's API (../shared/COMPAT-openway.md) from the same index, event writer,
// rate limits and database as the native API. Paths are exact (strictPath): a trailing slash is
// 404 as in the original; a known path with another method is DRF's 405.
import { Elysia } from "elysia";
import { ApiError } from "../errors";
import type { Deps } from "../deps";
import { listen } from "../listen";
import { requestId, sourceAddress } from "../request";
import { log } from "../log";
import { awaitWrite } from "../nodes/propagation";
import { tokenAuth } from "./auth";
import { listDevices, registerDevice, revokeDevice } from "./devices";
import { asObject, booleanField, charField, detail, DrfError, type Errors, fieldErrors, integerField, nonFieldError, requestData } from "./drf";
import { compatLogin } from "./login";
import { loadTokenKey, type TokenKey } from "./token-key";
import { compatVerify, parseVerifyBody } from "./verify";

// Django's own 404 page (django.views.defaults.ERROR_PAGE_TEMPLATE), as the original served it.
const NOT_FOUND_HTML = `
<!doctype html>
<html lang="en">
<head>
  <title>Not Found</title>
</head>
<body>
  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>
</body>
</html>
`;

/** Methods each path answers; any other method on a known path is 405 with Allow. */
const ROUTES: Record<string, string> = {
  "/api/v1/access/verify": "POST",
  "/api/v1/auth/token": "POST",
  "/api/v1/devices/register": "POST",
  "/api/v1/devices/me": "GET, HEAD",
  "/api/v1/devices/revoke": "POST",
  "/health": "GET, HEAD",
  "/healthz": "GET, HEAD",
  "/ready": "GET, HEAD",
  "/readyz": "GET, HEAD",
};

const LOGGED = /^\/api\/v1\/(auth|devices)\//;

const json = (status: number, body: unknown, headers?: Record<string, string>) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

/** Native errors that reach this app (throttle, database away) in DRF's words. */
function drfFromApiError(e: ApiError): DrfError {
  const retry = e.retryAfter !== undefined ? { "retry-after": String(e.retryAfter) } : undefined;
  if (e.code === "rate_limited") {
    const wait = e.retryAfter ?? 1;
    return detail(429, `Request was throttled. Expected available in ${wait} second${wait === 1 ? "" : "s"}.`, retry);
  }
  if (e.code === "unavailable") return detail(503, "Service temporarily unavailable, try again later.", retry);
  if (e.code === "not_found") return detail(404, "Not found.");
  if (e.code === "invalid_request" || e.code === "conflict") return detail(400, e.message);
  return detail(500, "A server error occurred.");
}

export function createCompatApp(deps: Deps, key: TokenKey) {
  const { sql, config, feed, loginThrottle } = deps;
  const verify = compatVerify(deps);
  const observeRequest = config.httpMetrics ? deps.metrics.observeRequest : null;

  return new Elysia({ name: "openway-compat", strictPath: true, systemRouter: false, serve: { maxRequestBodySize: 2 * 1024 * 1024 } })
    .onRequest((c: any) => {
      c.set.headers["x-request-id"] = requestId(c.request.headers.get("x-request-id"));
      c.t0 = performance.now();
    })
    // Metrics as the native routes (labelled openway:/…) and, like them, one log line per auth or
    // device request — never per verify (access events are that record), never a secret.
    .onAfterResponse((c: any) => {
      const status = typeof c.set.status === "number" ? c.set.status : 200;
      const route: string = c.route ?? "unmatched";
      const seconds = (performance.now() - c.t0) / 1000;
      if (observeRequest) observeRequest(c.request.method, "openway:" + route, status, seconds);
      if (LOGGED.test(route)) {
        log.info("request", { api: "openway", request_id: c.set.headers["x-request-id"], method: c.request.method, route, status, ms: Math.round(seconds * 10_000) / 10 });
      }
    })
    // Writes wait for every live node like native ones; the bodies stay exactly Django's, so how
    // far the write got is in the headers only (X-Revision, X-Propagation).
    .onAfterHandle(async ({ set, request }) => {
      await awaitWrite(deps.propagation, set, request.method);
    })
    .onError(({ code, error, request, set, path }) => {
      const requestIdHeader = { "x-request-id": String(set.headers["x-request-id"] ?? "") };
      if (code === "NOT_FOUND") {
        const allow = ROUTES[path]; // Elysia's path: request.url need not parse (a Host of "[::1")
        if (allow) {
          set.status = 405;
          return json(405, { detail: `Method "${request.method}" not allowed.` }, { allow, ...requestIdHeader });
        }
        set.status = 404;
        return new Response(NOT_FOUND_HTML, { status: 404, headers: { "content-type": "text/html; charset=utf-8", ...requestIdHeader } });
      }
      let e: DrfError;
      if (error instanceof DrfError) e = error;
      else if (error instanceof ApiError) e = drfFromApiError(error);
      else {
        log.error("openway compat: unhandled error", { method: request.method, path, error: String((error as any)?.stack ?? error) });
        e = detail(500, "A server error occurred.");
      }
      set.status = e.status;
      return json(e.status, e.body, { ...e.headers, ...requestIdHeader });
    })
    .post("/api/v1/access/verify", verify, { parse: parseVerifyBody })
    .post("/api/v1/auth/token", async ({ request, server }) => {
      const data = asObject(await requestData(request));
      const errors: Errors = {};
      const username = charField(data, "username", errors, { required: true });
      const password = charField(data, "password", errors, { required: true, trim: false });
      if (Object.keys(errors).length) throw fieldErrors(errors);
      const token = await compatLogin(sql, loginThrottle, key, username!, password!, sourceAddress(server, request, config.trustProxy));
      if (token === null) throw nonFieldError("Unable to log in with provided credentials.");
      return { token };
    })
    .post("/api/v1/devices/register", async ({ request, set }) => {
      const caller = await tokenAuth(sql, request.headers.get("authorization"));
      const raw = await requestData(request);
      const data = asObject(raw ?? {});
      const errors: Errors = {};
      const rotate = booleanField(data, "rotate", errors);
      const androidId = charField(data, "android_device_id", errors, { allowBlank: true, allowNull: true, maxLength: 128 });
      if (Object.keys(errors).length) throw fieldErrors(errors);
      return written(set, await registerDevice(sql, key, caller, rotate ?? true, androidId));
    })
    .get("/api/v1/devices/me", async ({ request }) => {
      const caller = await tokenAuth(sql, request.headers.get("authorization"));
      return listDevices(sql, caller.userId);
    })
    .post("/api/v1/devices/revoke", async ({ request, set }) => {
      const caller = await tokenAuth(sql, request.headers.get("authorization"));
      const data = asObject(await requestData(request));
      const errors: Errors = {};
      const deviceId = integerField(data, "device_id", errors);
      const androidId = charField(data, "android_device_id", errors, { allowBlank: true });
      if (Object.keys(errors).length) throw fieldErrors(errors);
      if (!deviceId && !androidId) throw nonFieldError("Provide device_id or android_device_id");
      return written(set, await revokeDevice(sql, caller, deviceId ? { deviceId } : { androidId: androidId! }));
    })
    .get("/health", () => OK)
    .get("/healthz", () => OK)
    .get("/ready", ({ set }) => ready(feed.live && !deps.events.full, set))
    .get("/readyz", ({ set }) => ready(feed.live && !deps.events.full, set));
}

/** X-Revision for a committed write; its body unchanged. */
function written<T>(set: { headers: Record<string, unknown> }, w: { value: T; revision: number }): T {
  set.headers["x-revision"] = String(w.revision);
  return w.value;
}

const OK = Object.freeze({ status: "ok" });
const READY = Object.freeze({ status: "ready" });
const NOT_READY = Object.freeze({ status: "not-ready" });
function ready(live: boolean, set: { status?: number | string }) {
  if (live) return READY;
  set.status = 503;
  return NOT_READY;
}

export type CompatApp = ReturnType<typeof createCompatApp>;

export interface CompatListener {
  app: CompatApp;
  readonly port: number;
  stop(): Promise<void>;
}

/** Builds the compatibility app and listens on OPENWAY_COMPAT_PORT (service.ts calls this). */
export function startCompat(deps: Deps, reusePort: boolean): CompatListener {
  const app = createCompatApp(deps, loadTokenKey(deps.config));
  listen(app, { port: deps.config.openwayCompatPort!, hostname: deps.config.host, reusePort, setting: "OPENWAY_COMPAT_PORT" }); // normalises each URL (see there)
  log.info("openway compat listening", { url: `http://${deps.config.host}:${app.server!.port}` });
  return {
    app,
    get port() {
      return app.server!.port!;
    },
    async stop() {
      await app.server?.stop(false);
    },
  };
}
