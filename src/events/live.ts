// Live access events for watchers (the console's stream). Events are read back from Postgres, not
// from this process's memory: with WORKERS > 1 (or several hosts) every process writes its own
// decisions, and a watcher connected to any one of them must see them all. One poller per process,
// running only while someone watches, reads the last seconds of events every POLL_MS; a short
// look-back with an id set catches events that another process flushed a little late.
import type { Sql } from "../db/client";
import { log } from "../log";

export interface LiveEvent {
  id: string;
  at: string;
  gate_id: string;
  user_id: string | null;
  allow: boolean;
  reason: string;
  revision: number;
}

export interface LiveFilter {
  gateId?: string;
  userId?: string;
  allow?: boolean;
}

export interface Subscriber {
  filter: LiveFilter;
  /** Receives matching events; returns false when the subscriber cannot keep up. */
  deliver(events: LiveEvent[]): boolean;
}

const POLL_MS = 200;
const LOOKBACK_MS = 3000;
const BATCH = 5000;

export function matches(f: LiveFilter, e: LiveEvent): boolean {
  return (f.gateId === undefined || f.gateId === e.gate_id)
    && (f.userId === undefined || f.userId === e.user_id)
    && (f.allow === undefined || f.allow === e.allow);
}

export const toLive = (r: any): LiveEvent => ({
  id: r.id, at: r.at.toISOString(), gate_id: r.gate_id, user_id: r.user_id, allow: r.allow, reason: r.reason, revision: r.revision,
});

/** Milliseconds since the epoch encoded in a UUIDv7 (its first 48 bits). */
export const uuidV7Time = (id: string) => parseInt(id.slice(0, 8) + id.slice(9, 13), 16);

/** What a reconnecting watcher missed after event `lastId` (a UUIDv7), oldest first, at most `limit`. */
export async function eventsAfter(sql: Sql, lastId: string, f: LiveFilter, limit: number): Promise<LiveEvent[]> {
  const at = new Date(uuidV7Time(lastId));
  const rows = await sql`
    select id, at, gate_id, user_id, allow, reason, revision from access_events
    where (at, id) > (${at}, ${lastId}::uuid)
      ${f.gateId ? sql`and gate_id = ${f.gateId}` : sql``}
      ${f.userId ? sql`and user_id = ${f.userId}` : sql``}
      ${f.allow !== undefined ? sql`and allow = ${f.allow}` : sql``}
    order by at, id limit ${limit}`;
  return rows.map(toLive);
}

export class LiveEvents {
  /** Each subscriber with the instant it subscribed: it sees events decided from then on. */
  private readonly subscribers = new Map<Subscriber, number>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Ids already fanned out, with their time, for the look-back window. */
  private seen = new Map<string, number>();
  private since = 0;
  private failing = false;

  constructor(private readonly sql: Sql) {}

  subscribe(s: Subscriber): () => void {
    this.subscribers.set(s, Date.now());
    if (this.timer === null) {
      // Watchers see what is decided from now on (a resuming one gets its gap from the replay).
      this.since = Date.now();
      this.seen.clear();
      this.schedule(POLL_MS);
    }
    return () => {
      this.subscribers.delete(s);
    };
  }

  get watchers(): number {
    return this.subscribers.size;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => void this.poll(), ms);
  }

  private async poll(): Promise<void> {
    if (this.subscribers.size === 0) {
      this.timer = null;
      return;
    }
    try {
      const rows = await this.sql`
        select id, at, gate_id, user_id, allow, reason, revision from access_events
        where at >= ${new Date(this.since)} order by at, id limit ${BATCH}`;
      if (this.failing) log.info("live events: reading again");
      this.failing = false;
      const fresh: Array<[LiveEvent, number]> = [];
      let newest = this.since;
      for (const r of rows) {
        const t = (r.at as Date).getTime();
        if (t > newest) newest = t;
        if (this.seen.has(r.id)) continue;
        this.seen.set(r.id, t);
        fresh.push([toLive(r), t]);
      }
      this.since = rows.length === BATCH ? newest : Math.max(this.since, newest - LOOKBACK_MS);
      for (const [id, t] of this.seen) if (t < this.since - LOOKBACK_MS) this.seen.delete(id);
      if (fresh.length) {
        for (const [s, from] of this.subscribers) {
          const mine: LiveEvent[] = [];
          for (const [e, t] of fresh) if (t >= from && matches(s.filter, e)) mine.push(e);
          if (mine.length && !s.deliver(mine)) this.subscribers.delete(s);
        }
      }
    } catch (e) {
      if (!this.failing) log.warn("live events: cannot read access events", { error: String(e) });
      this.failing = true;
    }
    if (this.subscribers.size === 0) this.timer = null;
    else this.schedule(POLL_MS);
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.subscribers.clear();
  }
}
