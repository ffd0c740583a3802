// OpenAPI docs at /swagger (Scalar UI) and /swagger/json. @elysiajs/openapi rather than
// @elysiajs/swagger: it is the same team's maintained successor for Elysia 1.4. Its page would
// load Scalar from a CDN at @latest; access-control networks are often closed, so the bundle is
// served from node_modules by this service and the default web fonts are turned off.
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import { dirname, join } from "node:path";

const SCALAR_BUNDLE = Bun.file(join(dirname(Bun.resolveSync("@scalar/api-reference/package.json", import.meta.dir)), "dist/browser/standalone.js"));
const SCALAR_PATH = "/swagger/assets/scalar.js";

export function docs() {
  return new Elysia({ name: "docs" })
    .get(SCALAR_PATH, () => new Response(SCALAR_BUNDLE, {
      headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "public, max-age=86400" },
    }), { detail: { hide: true } })
    .use(openapi({
      path: "/swagger",
      specPath: "/swagger/json",
      provider: "scalar",
      scalar: { cdn: SCALAR_PATH, withDefaultFonts: false } as any,
      documentation: {
        info: {
          title: "Portcullis",
          version: "1.0.0",
          description: "Access verification: may this token pass this gate, now? Errors are always {\"error\": {code, message, details?}}.",
        },
        tags: [
          { name: "verify", description: "The hot path: decisions from the in-memory index" },
          { name: "auth", description: "Login and logout" },
          { name: "devices", description: "A user's own devices" },
          { name: "admin", description: "Administration (bearer token with the admin scope)" },
          { name: "ops", description: "Health, readiness, metrics" },
        ],
        components: {
          securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "A credential secret (pcl_…)" } },
        },
      },
    }));
}
