// The one place requests enter a listening Elysia app (the native API and the openway compat
// listener): Bun.serve, with each request's URL made safe for Elysia's path slicing first.
//
// Why: Elysia (1.4.30, the newest 1.4; elysiajs/elysia#748, open) finds the path with
// `url.indexOf("/", 11)`, assuming "http://" plus a host of at least 4 characters. Bun builds
// `request.url` from the Host header, so with `Host: x` (or `pcl`, `x:1`) that index lands past
// the path's first slash: `/zzz/api/v1/admin/zones` was routed as `/api/v1/admin/zones`, which
// lets a client walk past a proxy that filters by path prefix, and `/api/v1/access/verify`
// became `/v1/access/verify`. With an empty or unparsable Host (`a b`, `a/b`, `é`) Bun gives a
// relative URL (`/path?query`) that Elysia cuts at the same offset. Elysia's own switch
// (`handler.standardHostname: false`, cut at 7) helps neither relative URLs nor https.
//
// So: Elysia's routes are not handed to Bun's route table (`systemRouter: false` on each app —
// its compiled per-route handlers slice the URL the same way), every request goes through
// `app.fetch` here, and a URL of the unsafe shape is rewritten to `http://localhost` + its path
// and query before Elysia sees it. The Host header itself means nothing to Portcullis: an odd
// one is served like any other. The rewrite is in place (an own `url` property on the same
// Request), so Bun's `server.requestIP(request)` and `server.timeout(request)` still know it.
import type { Elysia } from "elysia";
import { StartupError } from "./db/startup";

const CANONICAL = "http://localhost";

/** The path and query of a request URL as Bun gives it (absolute, or relative when Host was unusable). */
function pathAndQuery(url: string): string {
  const scheme = url.startsWith("http://") ? 7 : url.startsWith("https://") ? 8 : -1;
  if (scheme === -1) return url.startsWith("/") ? url : "/" + url;
  const path = url.indexOf("/", scheme);
  if (path !== -1) return url.slice(path);
  const q = url.indexOf("?", scheme);
  return "/" + (q === -1 ? "" : url.slice(q));
}

/** http://localhost + the path and query of `url`: always parses, and Elysia slices it right. */
export function canonicalUrl(url: string): string {
  return CANONICAL + pathAndQuery(url);
}

/** `url` when Elysia's `indexOf("/", 11)` finds its path, else its canonical form. */
export function sliceableUrl(url: string): string {
  if (url.startsWith("http://")) {
    const path = url.indexOf("/", 7);
    if (path !== -1 && path === url.indexOf("/", 11)) return url;
  }
  return canonicalUrl(url);
}

/** Makes `req.url` one Elysia slices correctly (in place; the same Request comes back). */
export function normaliseRequest(req: Request): Request {
  const url = req.url;
  const safe = sliceableUrl(url);
  if (safe !== url) Object.defineProperty(req, "url", { value: safe, configurable: true });
  return req;
}

export interface ListenOptions {
  port: number;
  hostname: string;
  reusePort?: boolean;
  idleTimeout?: number;
  /** The setting that chose the port, named when it cannot be listened on. */
  setting?: "PORT" | "OPENWAY_COMPAT_PORT";
}

/**
 * Why `host`:`port` (chosen by `setting`) cannot be listened on, in one sentence with the fix.
 * Bun's own words ("Failed to start server. Is port 3001 in use?") were logged as a Postgres
 * problem when DATABASE_URL was set, and an unusable HOST was reported as a port in use.
 */
export function describeListenError(e: any, setting: "PORT" | "OPENWAY_COMPAT_PORT", host: string, port: number): StartupError {
  switch (e?.code) {
    case "EADDRINUSE":
      return new StartupError(`${setting} ${port} is in use on ${host}: another process listens on it (an earlier Portcullis still running?); stop it, or set ${setting} to a free port.`);
    case "EACCES":
      return new StartupError(`${setting} ${port} on ${host} needs privileges this process lacks (ports below 1024); set ${setting} to 1024 or above, or grant CAP_NET_BIND_SERVICE.`);
  }
  // EADDRNOTAVAIL (an address of another machine), EINVAL or no code at all (a name that does not resolve).
  return new StartupError(`cannot listen on HOST=${host}: it is not an address of this machine; set HOST to one of its addresses (0.0.0.0: all of them, 127.0.0.1: this machine only).`);
}

type AnyApp = Elysia<any, any, any, any, any, any, any>;

/** Serves `app` (its `serve` config: body size, native routes) with every request normalised. */
export function listen(app: AnyApp, opts: ListenOptions) {
  app.compile();
  const { routes, ...serve } = (app.config.serve ?? {}) as Record<string, any>;
  const { setting = "PORT", ...bind } = opts;
  let server;
  try {
    server = Bun.serve({
      idleTimeout: 30, // Elysia's listen() default, kept
      ...serve,
      ...bind,
      development: false,
      ...(routes ? { routes } : {}),
      fetch: (req: Request) => app.fetch(normaliseRequest(req)),
    });
  } catch (e) {
    throw describeListenError(e, setting, opts.hostname, opts.port);
  }
  // Elysia's handlers read the server (requestIP, timeout) from here, as after app.listen().
  (app as any).server = server;
  return server;
}
