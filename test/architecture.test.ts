// The layering of docs/ARCHITECTURE.md, enforced: every file under src/ is read and its imports
// (static, re-exports, dynamic, type-only alike) are checked against the table below. A new rule
// is one more row.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const SRC = join(import.meta.dir, "../src");

/** Folders (or files) under src/ — "services" are the parts that know no transport. */
const SERVICES = ["admin/", "verify/", "events/", "feed/", "ratelimit/", "db/", "state/", "nodes/"];
const TRANSPORTS = ["http/", "compat/"];
/** Packages that mean I/O: a database, Redis, the file system, the network, processes. */
const IO_PACKAGES = ["postgres", "ioredis", "elysia", "node:fs", "node:fs/promises", "node:net", "node:http", "node:child_process", "bun:sqlite", "node:worker_threads"];

interface Rule {
  /** Files this rule applies to: paths under src/ starting with one of these. */
  from: string[];
  /** What they must not import: src/ paths starting with one of these, or package names. */
  forbid: string[];
  why: string;
}

const RULES: Rule[] = [
  { from: ["index/"], forbid: ["db/", "http/", "feed/", "events/", "admin/", "verify/", "ratelimit/", "state/", "nodes/", "compat/", ...IO_PACKAGES], why: "the index is pure: no I/O at all" },
  { from: ["events/"], forbid: ["admin/"], why: "events know nothing of the admin services" },
  { from: ["state/"], forbid: ["admin/"], why: "the rules' state knows nothing of the admin services (they use it)" },
  { from: SERVICES, forbid: ["deps", "service", "main"], why: "services name what they use, never the composition root's whole bag of parts" },
  { from: SERVICES, forbid: TRANSPORTS, why: "services know no transport (HTTP or the compat port)" },
  { from: ["db/"], forbid: [...TRANSPORTS, "elysia"], why: "infrastructure knows no transport" },
  { from: ["compat/"], forbid: ["http/"], why: "compat shares neutral modules with the native API, never http internals" },
  { from: ["admin/import-sql"], forbid: ["admin/import-fields", "admin/import-validate", "admin/import-upsert", "compat/"], why: "the SQL both imports share knows neither import's rows" },
  { from: ["console/"], forbid: ["admin/", "db/", "events/", "feed/", "http/", "index/", "ratelimit/", "state/", "verify/", "compat/"], why: "the console is browser code: it shares only wire types (src/wire.ts)" },
];

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return filesUnder(p);
    return /\.(ts|tsx)$/.test(name) && !name.endsWith(".d.ts") ? [p] : [];
  });
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^"'`;]*?from\s*["']([^"']+)["']|(?:^|[\s;(=])import\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;

/** The imports of a source file: src/-relative paths for local modules, package names otherwise. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    if (spec.startsWith(".")) out.push(relative(SRC, normalize(join(dirname(file), spec))).replace(/\\/g, "/"));
    else out.push(spec);
  }
  return out;
}

const forbidden = (imp: string, pattern: string) =>
  pattern.endsWith("/") ? imp.startsWith(pattern) || imp + "/" === pattern : imp === pattern || imp.startsWith(pattern + "/");

const files = filesUnder(SRC).map((f) => ({ path: relative(SRC, f).replace(/\\/g, "/"), imports: importsOf(f) }));

describe("layers point one way (docs/ARCHITECTURE.md)", () => {
  test("the import reader sees the imports (a sanity check of the test itself)", () => {
    const verify = files.find((f) => f.path === "verify/verify.ts")!;
    expect(verify.imports).toContain("index/types");
    expect(files.find((f) => f.path === "http/app.ts")!.imports).toContain("elysia");
    expect(files.length).toBeGreaterThan(50);
  });

  for (const rule of RULES) {
    test(`${rule.why} (${rule.from.join(" ")} ↛ ${rule.forbid.length > 6 ? rule.forbid.slice(0, 6).join(" ") + " …" : rule.forbid.join(" ")})`, () => {
      const violations: string[] = [];
      for (const f of files) {
        if (!rule.from.some((p) => f.path.startsWith(p))) continue;
        for (const imp of f.imports) if (rule.forbid.some((p) => forbidden(imp, p))) violations.push(`${f.path} imports ${imp}`);
      }
      expect(violations).toEqual([]);
    });
  }
});
