import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { dirname, join } from "node:path";
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

  test("docs/API.md has a heading for every route of the OpenAPI document, and no other route", async () => {
    const doc = (await s.call("GET", "/swagger/json", { token: null })).body;
    const inOpenapi = Object.entries<any>(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    const markdown = await Bun.file(join(import.meta.dir, "../../docs/API.md")).text();
    // Route headings name their routes in backticks: ### `GET /api/v1/admin/users` · `POST …`
    const inApiMd = markdown.split("\n").filter((l) => /^#{2,6} /.test(l))
      .flatMap((l) => [...l.matchAll(/`(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (\/[^`\s]*)`/g)].map((m) => `${m[1]} ${m[2]}`));
    expect(inApiMd.length).toBeGreaterThan(40);
    expect({ onlyInApiMd: inApiMd.filter((r) => !inOpenapi.includes(r)), onlyInOpenapi: inOpenapi.filter((r) => !inApiMd.includes(r)) })
      .toEqual({ onlyInApiMd: [], onlyInOpenapi: [] });
    expect(new Set(inApiMd).size).toBe(inApiMd.length);
  });

  test("README.md and docs/ link only to files inside the repository", async () => {
    const root = join(import.meta.dir, "../..");
    const files = ["README.md", ...[...new Bun.Glob("docs/*.md").scanSync(root)]];
    const broken: string[] = [];
    for (const f of files) {
      const text = await Bun.file(join(root, f)).text();
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^(https?:|mailto:|#)/.test(target!)) continue;
        const file = join(root, dirname(f), target!.split("#")[0]!);
        if (!file.startsWith(root + "/") || !(await Bun.file(file).exists())) broken.push(`${f}: ${target}`);
      }
    }
    expect(files.length).toBeGreaterThan(2);
    expect(broken).toEqual([]);
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
