import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestService, type TestService } from "../setup";

let s: TestService;
beforeAll(async () => {
  s = await startTestService();
});
afterAll(() => s.stop());

const DOC_ROUTES = new Set(["/swagger", "/swagger/json", "/swagger/assets/scalar.js"]);
const openapiPath = (p: string) => p.replace(/:(\w+)/g, "{$1}");

describe("API docs", () => {
  test("/swagger/json documents every route the app registers", async () => {
    const doc = (await s.call("GET", "/swagger/json", { token: null })).body;
    expect(doc.openapi).toMatch(/^3\./);
    const documented = new Set<string>();
    for (const [path, ops] of Object.entries<any>(doc.paths)) for (const m of Object.keys(ops)) documented.add(`${m.toUpperCase()} ${path}`);
    const registered = s.service.app.routes.filter((r) => !DOC_ROUTES.has(r.path)).map((r) => `${r.method} ${openapiPath(r.path)}`);
    expect(registered.length).toBeGreaterThan(40);
    expect(registered.filter((r) => !documented.has(r))).toEqual([]);
  });

  test("routes carry tags, summaries and the bearer scheme where a token is needed", async () => {
    const doc = (await s.call("GET", "/swagger/json", { token: null })).body;
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.paths["/api/v1/access/verify"].post.tags).toEqual(["verify"]);
    expect(doc.paths["/api/v1/admin/users"].post.tags).toEqual(["admin"]);
    expect(doc.paths["/api/v1/admin/users"].post.security).toEqual([{ bearer: [] }]);
    expect(doc.paths["/api/v1/auth/token"].post.tags).toEqual(["auth"]);
    expect(doc.paths["/api/v1/devices/me"].get.tags).toEqual(["devices"]);
    expect(doc.paths["/readyz"].get.tags).toEqual(["ops"]);
    for (const ops of Object.values<any>(doc.paths)) for (const op of Object.values<any>(ops)) expect(op.summary).toEqual(expect.any(String));
  });

  test("the verify examples in the document are valid requests", async () => {
    const doc = (await s.call("GET", "/swagger/json", { token: null })).body;
    const single = doc.paths["/api/v1/access/verify"].post.requestBody.content["application/json"];
    expect(single.schema.required).toEqual(["gate_id", "token"]);
    expect(single.schema.examples.length).toBeGreaterThan(0);
    for (const example of single.schema.examples) {
      const r = await s.call("POST", "/api/v1/access/verify", { token: null, body: example });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ allow: false, reason: "unknown_token", gate_id: example.gate_id });
    }
    const batch = doc.paths["/api/v1/access/verify/batch"].post.requestBody.content["application/json"];
    const b = await s.call("POST", "/api/v1/access/verify/batch", { token: null, body: batch.schema.examples[0] });
    expect(b.status).toBe(200);
    expect(b.body.results).toHaveLength(batch.schema.examples[0].checks.length);
  });

  test("the docs page works on a closed network: its script is served by the service", async () => {
    const page = await s.service.app.handle(new Request("http://localhost/swagger"));
    const html = await page.text();
    expect(page.status).toBe(200);
    const scripts = [...html.matchAll(/<script[^>]*src="([^"]+)"/g)].map((m) => m[1]!);
    expect(scripts).toEqual(["/swagger/assets/scalar.js"]);
    expect(html).not.toMatch(/https?:\/\//);
    const js = await s.service.app.handle(new Request("http://localhost/swagger/assets/scalar.js"));
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toContain("javascript");
    expect((await js.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
  });
});
