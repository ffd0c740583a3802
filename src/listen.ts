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
}

type AnyApp = Elysia<any, any, any, any, any, any, any>;

/** Serves `app` (its `serve` config: body size, native routes) with every request normalised. */
export function listen(app: AnyApp, opts: ListenOptions) {
  app.compile();
  const { routes, ...serve } = (app.config.serve ?? {}) as Record<string, any>;
  const server = Bun.serve({
    idleTimeout: 30, // Elysia's listen() default, kept
    ...serve,
    ...opts,
    development: false,
    ...(routes ? { routes } : {}),
    fetch: (req: Request) => app.fetch(normaliseRequest(req)),
  });
  // Elysia's handlers read the server (requestIP, timeout) from here, as after app.listen().
  (app as any).server = server;
  return server;
}
