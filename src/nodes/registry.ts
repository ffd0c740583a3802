// THE NODE REGISTRY: each serving process (every worker of every host) has a row in `nodes`. It
// registers once its index is loaded, heartbeats every second with the revision it has applied and
// its data age, and marks itself stopped on a clean stop. Writers wait for the nodes that are live
// (heartbeat younger than NODE_TIMEOUT, not stopped); the last listing is kept for the metrics and
// for the one "node gone" log line per departure.
import { hostname } from "node:os";
import type { Sql } from "../db/client";
import type { ChangeFeed } from "../feed/change-feed";
import { log } from "../log";
import { withTimeout } from "../timeout";

// Background statements get a deadline of their own: a driver call that never settles (a
// connection dropped mid-query) must not stop the heartbeats or hang a clean stop.
const STATEMENT_DEADLINE_MS = 5000;
import { version } from "../../package.json";
import type { NodeInfo, NodeState } from "../wire";

export type { NodeInfo, NodeState } from "../wire";

export interface Listing {
  head: number;
  nodes: NodeInfo[];
}

/** Every node seen in the last day, live first; `timeoutMs` decides live from gone. */
export async function listNodes(sql: Sql, timeoutMs: number): Promise<Listing> {
  const rows = await sql`
    select id, host, pid, version, started_at, heartbeat_at, applied_revision,
           (select n from pcl_revision) as head,
           (extract(epoch from now() - heartbeat_at) * 1000)::float8 as heartbeat_age_ms,
           (extract(epoch from now() - confirmed_at) * 1000)::float8 as data_age_ms,
           case when stopped_at is not null then 'stopped'
                when heartbeat_at > now() - make_interval(secs => ${timeoutMs / 1000}) then 'live'
                else 'gone' end as state
    from nodes where heartbeat_at > now() - interval '1 day'
    order by (stopped_at is null and heartbeat_at > now() - make_interval(secs => ${timeoutMs / 1000})) desc, started_at, id`;
  const head = rows.length ? Number(rows[0]!.head) : Number((await sql`select n from pcl_revision`)[0]!.n);
  return {
    head,
    nodes: rows.map((r) => ({
      id: r.id, host: r.host, pid: r.pid, version: r.version,
      started_at: r.started_at.toISOString(), heartbeat_at: r.heartbeat_at.toISOString(),
      applied_revision: r.applied_revision, lag: Math.max(0, head - r.applied_revision),
      data_age_ms: r.data_age_ms === null ? null : Math.round(r.data_age_ms),
      heartbeat_age_ms: Math.round(r.heartbeat_age_ms), state: r.state,
    })),
  };
}

/** Live nodes and what their heartbeats last reported, read after a write's COMMIT. */
export async function liveNodes(sql: Sql, timeoutMs: number): Promise<Array<{ id: string; applied_revision: number }>> {
  return (await sql`select id, applied_revision from nodes
    where stopped_at is null and heartbeat_at > now() - make_interval(secs => ${timeoutMs / 1000})`) as any;
}

export interface RegistryOptions {
  timeoutMs: number;
  heartbeatMs?: number;
}

export class NodeRegistry {
  readonly id: string;
  readonly host = hostname();
  /** The last listing (refreshed every heartbeat): metrics and the "gone" log read it. */
  last: Listing = { head: 0, nodes: [] };
  heartbeatFailures = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private beating: Promise<void> | null = null;
  private readonly heartbeatMs: number;

  constructor(private readonly sql: Sql, private readonly feed: ChangeFeed, private readonly opts: RegistryOptions) {
    // host-pid-random: readable in the list, unique when a pid is reused after a restart.
    this.id = `${this.host.slice(0, 40)}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
    this.heartbeatMs = opts.heartbeatMs ?? Math.min(1000, Math.floor(opts.timeoutMs / 3));
  }

  /** Registers (or re-registers) this node and starts heartbeating. */
  async start(): Promise<void> {
    await withTimeout(this.beat(true), STATEMENT_DEADLINE_MS, "node registration");
    this.timer = setInterval(() => {
      if (!this.beating) this.beating = withTimeout(this.beat(false), STATEMENT_DEADLINE_MS, "node heartbeat").catch(() => {}).finally(() => (this.beating = null));
    }, this.heartbeatMs);
  }

  /** Clean stop: writers stop waiting for this node at once instead of after NODE_TIMEOUT. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.beating) await withTimeout(this.beating, 500, "last heartbeat").catch(() => {});
    await withTimeout(this.sql`update nodes set stopped_at = now(), heartbeat_at = now() where id = ${this.id}`.execute(), 2000, "node deregistration")
      .catch((e) => log.warn("node deregistration failed; it counts as gone after NODE_TIMEOUT", { node: this.id, error: String(e) }));
  }

  private async beat(first: boolean): Promise<void> {
    const t0 = Date.now();
    const applied = this.feed.revision;
    const age = this.feed.dataAgeMs(t0);
    const ageS = Number.isFinite(age) ? age / 1000 : null;
    try {
      // An upsert, not an update: a node whose row was pruned while it was away registers again.
      const [row] = await this.sql`
        insert into nodes (id, host, pid, version, applied_revision, confirmed_at)
        values (${this.id}, ${this.host}, ${process.pid}, ${version}, ${applied},
                case when ${ageS}::float8 is null then null else now() - make_interval(secs => ${ageS}::float8) end)
        on conflict (id) do update set heartbeat_at = now(), applied_revision = excluded.applied_revision,
          confirmed_at = excluded.confirmed_at, stopped_at = null
        returning (select n from pcl_revision) as head`;
      this.feed.confirm(t0, Number(row!.head));
      if (this.heartbeatFailures) log.info("node heartbeat restored", { node: this.id, failures: this.heartbeatFailures });
      this.heartbeatFailures = 0;
      this.observe(await withTimeout(listNodes(this.sql, this.opts.timeoutMs), STATEMENT_DEADLINE_MS, "node listing"));
    } catch (e) {
      if (first) throw e;
      if (this.heartbeatFailures++ === 0) log.warn("node heartbeat failed; retrying every heartbeat", { node: this.id, error: String(e) });
    }
  }

  /** One "node gone" line per departure, written by the oldest live node only (not once per node). */
  private observe(next: Listing): void {
    const before = new Map(this.last.nodes.map((n) => [n.id, n.state]));
    this.last = next;
    const oldestLive = next.nodes.find((n) => n.state === "live");
    if (oldestLive?.id !== this.id) return;
    for (const n of next.nodes) {
      if (n.state === "gone" && before.get(n.id) === "live") {
        log.warn("node gone", { node: n.id, host: n.host, pid: n.pid, last_heartbeat: n.heartbeat_at, applied_revision: n.applied_revision });
      }
    }
  }
}
