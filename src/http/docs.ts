// OpenAPI docs at /swagger (Scalar UI) and /swagger/json. @elysiajs/openapi rather than
// @elysiajs/swagger: it is the same team's maintained successor for Elysia 1.4. Its page would
// load Scalar from a CDN at @latest; access-control networks are often closed, so the bundle is
// served from node_modules by this service, and everything on the page that calls a service on
// the internet (web fonts, telemetry, "Ask AI", "Generate MCP", the developer toolbar's "Share"
// and "Deploy", the footer's link home) is turned off; test/http/docs-page.test.ts checks it in
// a browser.
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import { dirname, join } from "node:path";

const SCALAR_BUNDLE = Bun.file(join(dirname(Bun.resolveSync("@scalar/api-reference/package.json", import.meta.dir)), "dist/browser/standalone.js"));
const SCALAR_PATH = "/swagger/assets/scalar.js";
const SPEC_PATH = "/swagger/json";

const SCALAR_CONFIG = {
  cdn: SCALAR_PATH,
  // Absolute: the page is served at /swagger and /swagger/, and a relative URL resolves differently.
  url: SPEC_PATH,
  withDefaultFonts: false,
  telemetry: false,
  agent: { disabled: true },
  mcp: { disabled: true },
  showDeveloperTools: "never",
  documentDownloadType: "json",
  // The footer's "Powered by Scalar" is a link to the internet; there is no setting for it.
  customCss: `a[href*="scalar.com"] { display: none; }`,
};

type Json = Record<string, any>;
const finished = new WeakSet<object>();

/**
 * Two things the generator writes that OpenAPI does not allow, mended once per document: an
 * answer without a body (`t.Void`, e.g. 204) gets `content: {type: "void"}` instead of no
 * content, and a string answer is always `text/plain` — ours name their media type in
 * `contentMediaType` (HTML, Server-Sent Events, Prometheus text).
 */
export function finishDocument(doc: Json): Json {
  if (finished.has(doc)) return doc;
  finished.add(doc);
  for (const ops of Object.values<Json>(doc.paths ?? {})) {
    for (const op of Object.values<Json>(ops)) {
      for (const answer of Object.values<Json>(op.responses ?? {})) {
        const content = answer.content as Json | undefined;
        if (!content) continue;
        if (typeof content.type === "string") {
          delete answer.content;
          continue;
        }
        const plain = content["text/plain"]?.schema;
        if (plain?.contentMediaType) {
          delete content["text/plain"];
          content[plain.contentMediaType] = { schema: plain };
        }
      }
    }
  }
  return doc;
}

export function docs() {
  return new Elysia({ name: "docs" })
    .onAfterHandle(({ path, response }) => {
      if (path === SPEC_PATH && response !== null && typeof response === "object" && "paths" in response) finishDocument(response as Json);
    })
    .get(SCALAR_PATH, () => new Response(SCALAR_BUNDLE, {
      headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "public, max-age=86400" },
    }), { detail: { hide: true } })
    .use(openapi({
      path: "/swagger",
      specPath: SPEC_PATH,
      provider: "scalar",
      scalar: SCALAR_CONFIG as any,
      documentation: {
        info: {
          title: "Portcullis",
          version: "1.0.0",
          // No double quotes: the page puts this into an HTML attribute as it is.
          description: "Access verification: may this token pass this gate, now? Every error answer is {error: {code, message, details?}}; the codes and statuses are in docs/API.md.",
        },
        tags: [
          { name: "verify", description: "The hot path: decisions from the in-memory index" },
          { name: "auth", description: "Login and logout" },
          { name: "devices", description: "A user's own devices" },
          { name: "admin", description: "Administration (bearer token with the admin scope)" },
          { name: "ops", description: "Health, readiness, metrics" },
          { name: "console", description: "The operators' web console" },
        ],
        components: {
          securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "A credential secret (pcl_…)" } },
        },
      },
    }));
}
