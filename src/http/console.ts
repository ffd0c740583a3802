// The admin console at /console: a page bundled from src/console/ with Bun's own bundler when the
// process starts (in memory, once per process) and served by this service — no CDN, no web fonts,
// no separate web server, so it works on a closed network. Plus the few read routes the console
// needs that the collection API does not give: live statistics, the group tree, a user's groups,
// and who an audit actor is. Zone lock/unlock lives in ./admin/zone-actions.ts.
import { Elysia, t } from "elysia";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { decodeCursor, encodeCursor } from "../db/pagination";
import { mapDbError } from "../db/errors";
import { invalid, notFound } from "../errors";
import { log } from "../log";
import { zoneActionRoutes } from "./admin/zone-actions";
import { authenticate } from "./auth";
import type { Deps } from "../deps";
import { ErrorBody, parseLimit } from "./schemas";

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

function consolePage() {
  const page = async () => {
    const b = await buildConsole();
    return new Response(b.html, { headers: PAGE_HEADERS });
  };
  return new Elysia({ name: "console-page", detail: { tags: ["console"] } })
    .get("/console", page, { detail: { summary: "The admin console (a web page; sign in with an admin token or an admin user's password)" } })
    .get("/console/", page, { detail: { summary: "The admin console (same page)" } })
    .get("/console/:file", async ({ params }) => {
      const a = (await buildConsole()).assets.get(params.file);
      if (!a) throw notFound("console asset");
      return new Response(a, {
        headers: { "content-type": a.type, "cache-control": "public, max-age=31536000, immutable", "x-content-type-options": "nosniff" },
      });
    }, { params: t.Object({ file: t.String({ maxLength: 200 }) }), detail: { summary: "The console's bundled scripts, styles and icon (content-hashed names)" } });
}

// ---------------------------------------------------------------------------------------------
// Live statistics

const STATS_CACHE_MS = 1000;
const TOP_GATES = 20;

interface Stats {
  at: string;
  window_s: number;
  total: number;
  allow: number;
  deny: number;
  per_second: Array<{ t: string; allow: number; deny: number }>;
  deny_reasons: Array<{ reason: string; count: number }>;
  gates: Array<{ gate_id: string; name: string | null; zone_id: string | null; mode: string | null; allow: number; deny: number; last_at: string }>;
  gate_modes: Record<string, number>;
  index: { revision: number; known_revision: number; lag_ms: number; feed_connected: boolean; ready: boolean };
  events: { buffered: number; live_watchers: number };
  processes: number;
}

function statsService(deps: Deps) {
  const { sql, feed, events } = deps;
  const cache = new Map<number, { at: number; value: Promise<Stats> }>();

  async function compute(windowS: number): Promise<Stats> {
    // Whole seconds only: the current second is still filling.
    const to = Math.floor(Date.now() / 1000) * 1000;
    const from = to - windowS * 1000;
    let rows;
    try {
      // One pass over the window's events (the (at, id) key of each day's partition), three groupings.
      rows = await sql`
        with e as (
          select floor(extract(epoch from at))::int8 as sec, gate_id, reason, allow, at
          from access_events where at >= ${new Date(from)} and at < ${new Date(to)})
        select sec, gate_id, reason, allow, count(*)::int as n, max(at) as last_at
        from e group by grouping sets ((sec, allow), (gate_id, allow), (reason, allow))`;
    } catch (e) {
      throw mapDbError(e);
    }
    const perSecond = Array.from({ length: windowS }, (_, i) => ({ t: new Date(from + i * 1000).toISOString(), allow: 0, deny: 0 }));
    const reasons = new Map<string, number>();
    const gates = new Map<string, { allow: number; deny: number; last: number }>();
    let allow = 0, deny = 0;
    for (const r of rows) {
      const n = r.n as number;
      if (r.sec !== null) {
        const i = Number(r.sec) - from / 1000;
        if (i >= 0 && i < windowS) perSecond[i]![r.allow ? "allow" : "deny"] += n;
        if (r.allow) allow += n;
        else deny += n;
      } else if (r.gate_id !== null) {
        const g = gates.get(r.gate_id) ?? { allow: 0, deny: 0, last: 0 };
        g[r.allow ? "allow" : "deny"] += n;
        g.last = Math.max(g.last, r.last_at.getTime());
        gates.set(r.gate_id, g);
      } else if (r.reason !== null && !r.allow) {
        reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + n);
      }
    }
    const ix = feed.current;
    const gateModes: Record<string, number> = { normal: 0, locked: 0, disabled: 0 };
    for (const g of ix.gates.values()) gateModes[g.mode] = (gateModes[g.mode] ?? 0) + 1;
    return {
      at: new Date(to).toISOString(),
      window_s: windowS,
      total: allow + deny,
      allow,
      deny,
      per_second: perSecond,
      deny_reasons: [...reasons].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason)),
      gates: [...gates]
        .sort((a, b) => b[1].allow + b[1].deny - (a[1].allow + a[1].deny) || a[0].localeCompare(b[0]))
        .slice(0, TOP_GATES)
        .map(([id, g]) => {
          const rec = ix.gates.get(id);
          return { gate_id: id, name: rec?.name ?? null, zone_id: rec?.zoneId ?? null, mode: rec?.mode ?? null, allow: g.allow, deny: g.deny, last_at: new Date(g.last).toISOString() };
        }),
      gate_modes: gateModes,
      index: { revision: feed.revision, known_revision: Math.max(feed.knownHead, feed.revision), lag_ms: feed.lagMs, feed_connected: feed.connected, ready: feed.live },
      events: { buffered: events.depth, live_watchers: events.live.watchers },
      processes: Math.max(1, Math.min(deps.config.workers, availableParallelism() * 4)), // as main.ts starts them
    };
  }

  /** Shared by every console polling within a second: N open consoles cost one query a second. */
  return (windowS: number): Promise<Stats> => {
    const now = Date.now();
    const hit = cache.get(windowS);
    if (hit && now - hit.at < STATS_CACHE_MS) return hit.value;
    const value = compute(windowS);
    cache.set(windowS, { at: now, value });
    value.catch(() => cache.delete(windowS));
    return value;
  };
}

const StatsAnswer = t.Object({
  at: t.String({ description: "end of the window (exclusive): the start of the current second" }),
  window_s: t.Integer(),
  total: t.Integer({ description: "verify decisions in the window, on every process (from the access events)" }),
  allow: t.Integer(),
  deny: t.Integer(),
  per_second: t.Array(t.Object({ t: t.String(), allow: t.Integer(), deny: t.Integer() }), { description: "one entry per second of the window, oldest first" }),
  deny_reasons: t.Array(t.Object({ reason: t.String(), count: t.Integer() }), { description: "deny reasons, most frequent first" }),
  gates: t.Array(t.Object({
    gate_id: t.String(), name: t.Union([t.String(), t.Null()]), zone_id: t.Union([t.String(), t.Null()]),
    mode: t.Union([t.String(), t.Null()]), allow: t.Integer(), deny: t.Integer(), last_at: t.String(),
  }), { description: `the ${TOP_GATES} busiest gates of the window` }),
  gate_modes: t.Record(t.String(), t.Integer(), { description: "gates by mode, from this process's index" }),
  index: t.Object({
    revision: t.Integer({ description: "the revision this process's index has applied" }),
    known_revision: t.Integer({ description: "the highest revision this process knows exists" }),
    lag_ms: t.Number({ description: "how long the index has been behind a known revision; 0 when caught up" }),
    feed_connected: t.Boolean(),
    ready: t.Boolean(),
  }),
  events: t.Object({ buffered: t.Integer({ description: "access events waiting to be written (this process)" }), live_watchers: t.Integer() }),
  processes: t.Integer({ description: "serving processes (WORKERS); each has its own index and its own live event stream" }),
});

// ---------------------------------------------------------------------------------------------
// Admin read routes for the console

function consoleAdminRoutes(deps: Deps) {
  const { sql, feed } = deps;
  const stats = statsService(deps);
  const IdParam = t.Object({ id: t.String({ minLength: 1, maxLength: 64 }) });

  return new Elysia({ name: "console-admin", prefix: "/api/v1/admin", detail: { tags: ["admin"], security: [{ bearer: [] }] } })
    .derive(async ({ headers }) => ({ caller: await authenticate(sql, headers.authorization, "admin") }))
    .get("/stats", ({ query }) => {
      const raw = query.window ?? "60";
      const windowS = /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
      if (!(windowS >= 10 && windowS <= 300)) throw invalid("window", "seconds, an integer from 10 to 300");
      return stats(windowS);
    }, {
      query: t.Object({ window: t.Optional(t.String({ description: "seconds, 10..300 (default 60)", examples: ["60"] })) }),
      response: { 200: StatsAnswer, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      detail: {
        summary: "Live statistics: verifies per second, allow/deny, deny reasons, busiest gates, index revision and feed lag",
        description: "Counts come from the access events of the last `window` whole seconds, so they cover every process of the service (events are written in batches every EVENT_FLUSH_MS). The answer is shared for a second between callers: any number of open consoles costs one query a second. `index` and `gate_modes` describe the process that answered.",
      },
    })
    .get("/group-tree", async ({ query }) => {
      const limit = parseLimit(query.limit);
      const after = decodeCursor(query.cursor);
      const parent = query.parent_id || null;
      try {
        if (parent !== null) {
          const [p] = await sql`select id from groups where id = ${parent}`;
          if (!p) throw invalid("parent_id", "no such group");
        }
        const rows = await sql`
          select g.id, g.name, g.parent_id,
                 (select count(*) from groups c where c.parent_id = g.id)::int as children,
                 (select count(*) from memberships m where m.group_id = g.id)::int as members
          from groups g
          where ${parent === null ? sql`g.parent_id is null` : sql`g.parent_id = ${parent}`}
            ${after !== null ? sql`and g.name > ${after}` : sql``}
          order by g.name limit ${limit + 1}`;
        const more = rows.length > limit;
        const items = rows.slice(0, limit).map((r) => ({ id: r.id, name: r.name, parent_id: r.parent_id, children: r.children, members: r.members }));
        return { items, next_cursor: more ? encodeCursor(items[items.length - 1]!.name) : null };
      } catch (e) {
        throw mapDbError(e);
      }
    }, {
      query: t.Object({
        parent_id: t.Optional(t.String({ maxLength: 64, description: "omit for the top-level groups" })),
        limit: t.Optional(t.String({ description: "1..500, default 50" })),
        cursor: t.Optional(t.String({ maxLength: 400 })),
      }),
      detail: { summary: "One level of the group tree, by name, with each group's number of child groups and direct members" },
    })
    .get("/users/:id/groups", async ({ params }) => {
      let direct;
      try {
        const [u] = await sql`select id from users where id = ${params.id}`;
        if (!u) throw notFound("user");
        direct = await sql`select g.id, g.name, g.parent_id, m.created_at from memberships m join groups g on g.id = m.group_id
                           where m.user_id = ${params.id} order by g.name limit 500`;
      } catch (e) {
        throw mapDbError(e);
      }
      const ix = feed.current;
      const name = (id: string) => ix.groups.get(id)?.name ?? id;
      const effective = [...ix.effectiveGroups(params.id)].map(([id, path]) => ({ id, name: name(id), path: path.map(name) }));
      return {
        direct: direct.map((r) => ({ id: r.id, name: r.name, parent_id: r.parent_id, since: r.created_at.toISOString() })),
        effective,
        revision: ix.revision,
      };
    }, {
      params: IdParam,
      detail: { summary: "A user's groups: direct memberships, and every group reached through nesting with its path (from the index)" },
    })
    .get("/names", ({ query }) => {
      const ids = [...new Set((query.ids ?? "").split(",").map((s) => s.trim()).filter(Boolean))];
      if (ids.length > 100) throw invalid("ids", "at most 100 ids");
      const ix = feed.current;
      const out: Record<string, { kind: string; name: string }> = {};
      for (const id of ids) {
        const u = ix.users.get(id);
        if (u) { out[id] = { kind: "user", name: u.username }; continue; }
        const g = ix.groups.get(id);
        if (g) { out[id] = { kind: "group", name: g.name }; continue; }
        const z = ix.zones.get(id);
        if (z) { out[id] = { kind: "zone", name: z.name }; continue; }
        const s = ix.schedules.get(id);
        if (s) { out[id] = { kind: "schedule", name: s.rec.name }; continue; }
        const gate = ix.gates.get(id);
        if (gate) out[id] = { kind: "gate", name: gate.name };
      }
      return { names: out, revision: ix.revision };
    }, {
      query: t.Object({ ids: t.Optional(t.String({ maxLength: 7000, description: "comma-separated ids of users, groups, zones, schedules or gates, at most 100" })) }),
      detail: { summary: "Names for ids (usernames, group, zone, schedule and gate names), from the in-memory index; unknown ids are left out" },
    })
    .get("/actors", async ({ query }) => {
      const ids = [...new Set((query.ids ?? "").split(",").map((s) => s.trim()).filter(Boolean))];
      if (ids.length > 100) throw invalid("ids", "at most 100 ids");
      if (ids.length === 0) return { items: [] };
      try {
        const rows = await sql`select c.id, c.kind, c.label, c.user_id, u.username, u.display_name
                               from credentials c join users u on u.id = c.user_id where c.id in ${sql(ids)}`;
        return { items: rows.map((r) => ({ credential_id: r.id, kind: r.kind, label: r.label, user_id: r.user_id, username: r.username, display_name: r.display_name })) };
      } catch (e) {
        throw mapDbError(e);
      }
    }, {
      query: t.Object({ ids: t.Optional(t.String({ maxLength: 7000, description: "comma-separated credential ids (audit `actor` values), at most 100" })) }),
      detail: { summary: "Who audit actors are: credential id → kind, label and user" },
    });
}

export function consoleRoutes(deps: Deps) {
  // Start the build now, so the first visitor does not wait for it (and a broken bundle is logged
  // at start, not at first use).
  buildConsole().catch((e) => log.error("console build failed", { error: String(e?.stack ?? e), logs: String((e as any)?.errors ?? "") }));
  return new Elysia({ name: "console" })
    .use(consolePage())
    .use(consoleAdminRoutes(deps))
    .use(zoneActionRoutes(deps));
}
