// The admin console at /console: a page bundled from src/console/ with Bun's own bundler when the
// process starts (in memory, once per process) and served by this service — no CDN, no web fonts,
// no separate web server, so it works on a closed network. The admin routes it calls live with
// their features in ./admin/ (live statistics: ./admin/stats.ts).
import { Elysia, t } from "elysia";
import { join } from "node:path";
import { notFound } from "../errors";
import { log } from "../log";
import { ErrorBody, HtmlPage } from "./schemas";

// ---------------------------------------------------------------------------------------------
// The page and its assets

interface Bundle {
  html: Blob;
  /** Content-hashed file name → its bytes (with their content type). */
  assets: Map<string, Blob>;
}

const SOURCE = join(import.meta.dir, "../console/index.html");
const PUBLIC_PATH = "/console/";

/**
 * Everything the page may load comes from this origin; the API is called with fetch() on the same
 * origin. No inline script or style: the bundle has none.
 */
const CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "font-src 'self'",
  "connect-src 'self'", "manifest-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join("; ");
const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-cache",
  "content-security-policy": CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

let building: Promise<Bundle> | null = null;

/** Builds the console (once per process): HTML entry → hashed JS and CSS, all kept in memory. */
export function buildConsole(): Promise<Bundle> {
  return (building ??= (async () => {
    const t0 = performance.now();
    const result = await Bun.build({
      entrypoints: [SOURCE],
      target: "browser",
      minify: true,
      sourcemap: "none",
      publicPath: PUBLIC_PATH,
      naming: { entry: "[name]-[hash].[ext]", chunk: "[name]-[hash].[ext]", asset: "[name]-[hash].[ext]" },
    });
    if (!result.success) throw new AggregateError(result.logs, "console build failed");
    let html: Blob | null = null;
    const assets = new Map<string, Blob>();
    for (const o of result.outputs) {
      const body = new Blob([await o.arrayBuffer()], { type: o.type });
      const name = o.path.replace(/^\.\//, "");
      if (o.type.startsWith("text/html")) html = body;
      else assets.set(name, body);
    }
    if (!html) throw new Error("console build produced no HTML");
    log.debug("console built", { ms: Math.round(performance.now() - t0), assets: [...assets.keys()] });
    return { html, assets };
  })().catch((e) => {
    building = null; // a later request may try again
    throw e;
  }));
}

export function consoleRoutes() {
  // Start the build now, so the first visitor does not wait for it (and a broken bundle is logged
  // at start, not at first use).
  buildConsole().catch((e) => log.error("console build failed", { error: String(e?.stack ?? e), logs: String((e as any)?.errors ?? "") }));
  const page = async () => {
    const b = await buildConsole();
    return new Response(b.html, { headers: PAGE_HEADERS });
  };
  return new Elysia({ name: "console", detail: { tags: ["console"] } })
    .get("/console", page, { response: { 200: HtmlPage }, detail: { summary: "The admin console (a web page; sign in with an admin token or an admin user's password)" } })
    .get("/console/", page, { response: { 200: HtmlPage }, detail: { summary: "The admin console (same page)", operationId: "getConsoleWithSlash" } })
    .get("/console/:file", async ({ params }) => {
      const a = (await buildConsole()).assets.get(params.file);
      if (!a) throw notFound("console asset");
      return new Response(a, {
        headers: { "content-type": a.type, "cache-control": "public, max-age=31536000, immutable", "x-content-type-options": "nosniff" },
      });
    }, {
      params: t.Object({ file: t.String({ maxLength: 200 }) }),
      response: { 200: t.String({ contentMediaType: "*/*", description: "a script, a style sheet or an icon", examples: ["(a bundled file)"] }), 404: ErrorBody },
      detail: { summary: "The console's bundled scripts, styles and icon (content-hashed names)" },
    });
}
