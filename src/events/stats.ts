// Live statistics for the console: verifies per second, allow/deny, deny reasons and the busiest
// gates of the last seconds — from the access events, so they cover every process — plus this
// process's index revision, feed lag and event buffer.
import { availableParallelism } from "node:os";
import { mapDbError } from "../db/errors";
import type { Config } from "../config";
import type { Sql } from "../db/client";
import type { ChangeFeed } from "../feed/change-feed";
import type { Stats } from "../wire";
import type { EventWriter } from "./event-writer";

const STATS_CACHE_MS = 1000;
/** How many of the busiest gates an answer lists. */
export const TOP_GATES = 20;

/** The statistics of the last `windowS` seconds, computed at most once a second per window. */
export function createStats(deps: { sql: Sql; feed: ChangeFeed; events: EventWriter; config: Readonly<Config> }): (windowS: number) => Promise<Stats> {
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
