import { compileErrors, validate } from "@readme/openapi-parser";
import { Value } from "@sinclair/typebox/value";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { dirname, join } from "node:path";
import { startTestService, type TestService } from "../setup";

let s: TestService;
beforeAll(async () => {
  s = await startTestService();
}, 30_000);
afterAll(() => s.stop(), 30_000);

const DOC_ROUTES = new Set(["/swagger", "/swagger/json", "/swagger/assets/scalar.js"]);
const openapiPath = (p: string) => p.replace(/:(\w+)/g, "{$1}");
/** Actions that take no request body at all (the path says everything). */
const WITHOUT_BODY = new Set([
  "POST /api/v1/admin/credentials/:id/revoke",
  "POST /api/v1/admin/zones/:id/lock",
  "POST /api/v1/admin/zones/:id/unlock",
  "POST /api/v1/admin/zones/:id/presence/:user_id/forgive",
]);
const document = async () => (await s.call("GET", "/swagger/json", { token: null })).body;

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

  test("the OpenAPI document passes a maintained validator (@readme/openapi-parser), operationIds unique", async () => {
    const doc = await document();
    const result = await validate(structuredClone(doc));
    expect(result.valid ? "valid" : compileErrors(result)).toBe("valid");
    const ids = Object.values<any>(doc.paths).flatMap((ops) => Object.values<any>(ops).map((op) => op.operationId));
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
  });

  test("every route of the route table has a typed body (when it takes one) and a typed success answer, with examples that match them", async () => {
    const doc = await document();
    const problems: string[] = [];
    let checked = 0;
    for (const route of s.service.app.routes) {
      const hooks = route.hooks as any;
      if (hooks?.detail?.hide) continue;
      const key = `${route.method} ${route.path}`;
      const op = doc.paths[openapiPath(route.path)]?.[route.method.toLowerCase()];
      if (!op) {
        problems.push(`${key}: not in the document`);
        continue;
      }
      checked++;
      if (["POST", "PUT", "PATCH"].includes(route.method) && !WITHOUT_BODY.has(key)) {
        const media = Object.entries<any>(op.requestBody?.content ?? {});
        if (!media.some(([, m]) => m.schema?.type || m.schema?.anyOf)) problems.push(`${key}: request body without a schema`);
        if (!media.every(([, m]) => m.schema?.examples?.length || m.example !== undefined)) problems.push(`${key}: request body without an example`);
        for (const example of hooks.body?.examples ?? []) if (!Value.Check(hooks.body, example)) problems.push(`${key}: body example does not match its schema: ${JSON.stringify(example)}`);
      } else if (op.requestBody) {
        problems.push(`${key}: documents a request body it does not take`);
      }
      const ok = Object.entries<any>(op.responses ?? {}).filter(([status]) => /^2\d\d$/.test(status));
      if (ok.length === 0) problems.push(`${key}: no success answer`);
      for (const [status, answer] of ok) {
        if (status === "204") {
          if (answer.content) problems.push(`${key}: 204 with content`);
          continue;
        }
        const media = Object.values<any>(answer.content ?? {});
        if (!media.length || !media.every((m) => m.schema?.type || m.schema?.anyOf)) problems.push(`${key}: ${status} answer without a schema`);
        if (!media.every((m) => m.schema?.examples?.length)) problems.push(`${key}: ${status} answer without an example`);
        const schema = hooks.response?.[status];
        for (const example of schema?.examples ?? []) if (!Value.Check(schema, example)) problems.push(`${key}: ${status} example does not match its schema: ${JSON.stringify(example).slice(0, 200)}`);
      }
    }
    expect(checked).toBeGreaterThan(60);
    expect(problems).toEqual([]);
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

  test("/swagger and /swagger/ both serve the page, and the document it names loads from either", async () => {
    for (const path of ["/swagger", "/swagger/"]) {
      const page = await s.service.app.handle(new Request(`http://localhost${path}`));
      expect(page.status).toBe(200);
      const html = await page.text();
      const config = JSON.parse(/data-configuration='([^']*)'/.exec(html)![1]!);
      expect(config).toMatchObject({ agent: { disabled: true }, mcp: { disabled: true }, showDeveloperTools: "never", telemetry: false, withDefaultFonts: false });
      const docUrl = new URL(config.url, `http://localhost${path}`);
      const doc = await s.service.app.handle(new Request(docUrl));
      expect({ path, url: docUrl.pathname, status: doc.status }).toEqual({ path, url: "/swagger/json", status: 200 });
      expect((await doc.json()).openapi).toMatch(/^3\./);
    }
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
