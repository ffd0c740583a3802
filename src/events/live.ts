// Live access events for watchers (the console's stream). Events are read back from Postgres, not
// from this process's memory: with WORKERS > 1 (or several hosts) every process writes its own
// decisions, and a watcher connected to any one of them must see them all. One poller per process,
// running only while someone watches, reads forward from its (at, id) position every POLL_MS —
// back to back while batches come full, so a burst never outruns it — and a look-back over the
// last seconds' ids catches events that another process shipped a little late.
import type { Sql } from "../db/client";
import type { LiveEvent } from "../wire";
import { log } from "../log";


export interface LiveFilter {
  gateId?: string;
  userId?: string;
  allow?: boolean;
}

export interface Subscriber {
  filter: LiveFilter;
  /** Receives matching events; returns false when the subscriber cannot keep up. */
  deliver(events: LiveEvent[]): boolean;
  /** The process is stopping: end the stream (the client reconnects elsewhere and resumes). */
  end(): void;
}

const POLL_MS = 200;
/** How far back a late-committed event (another process's batch, a same-millisecond id) is caught. */
const LOOKBACK_MS = 3000;
/** The look-back pass runs this often (it reads ids only). */
const LOOKBACK_EVERY_MS = 1000;
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
  /** Keyset position: the last (at, id) read in order. */
  private cursorAt = 0;
  private cursorId = "00000000-0000-0000-0000-000000000000";
  private lastLookback = 0;
  private failing = false;

  constructor(private readonly sql: Sql) {}

  subscribe(s: Subscriber): () => void {
    this.subscribers.set(s, Date.now());
    if (this.timer === null) {
      // Watchers see what is decided from now on (a resuming one gets its gap from the replay).
      this.cursorAt = Date.now();
      this.cursorId = "00000000-0000-0000-0000-000000000000";
      this.lastLookback = Date.now();
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

  /**
   * Reads forward from the keyset position (at, id) — as many full batches as there are, so a
   * burst of any rate is read as fast as Postgres gives it — and, once a second, the ids of the
   * last LOOKBACK_MS behind the position, to pick up what committed late.
   */
  private async poll(): Promise<void> {
    if (this.subscribers.size === 0) {
      this.timer = null;
      return;
    }
    let more = false;
    try {
      const rows = await this.sql`
        select id, at, gate_id, user_id, allow, reason, revision from access_events
        where (at, id) > (${new Date(this.cursorAt)}, ${this.cursorId}::uuid) order by at, id limit ${BATCH}`;
      more = rows.length === BATCH;
      const fresh = this.take(rows);
      if (rows.length) {
        const last = rows[rows.length - 1]!;
        this.cursorAt = (last.at as Date).getTime();
        this.cursorId = last.id;
      }
      if (!more && Date.now() - this.lastLookback >= LOOKBACK_EVERY_MS) {
        this.lastLookback = Date.now();
        const late = await this.lateArrivals();
        if (late.length) fresh.push(...this.take(late));
      }
      if (this.failing) log.info("live events: reading again");
      this.failing = false;
      for (const [id, t] of this.seen) if (t < this.cursorAt - LOOKBACK_MS) this.seen.delete(id);
      if (fresh.length) this.fanOut(fresh);
    } catch (e) {
      if (!this.failing) log.warn("live events: cannot read access events", { error: String(e) });
      this.failing = true;
    }
    if (this.subscribers.size === 0) this.timer = null;
    else this.schedule(more ? 0 : POLL_MS);
  }

  /** Events behind the position not yet seen: ids first (the primary key's index), rows for the new ones. */
  private async lateArrivals(): Promise<any[]> {
    const from = new Date(this.cursorAt - LOOKBACK_MS);
    const ids = await this.sql`
      select id from access_events where at >= ${from} and (at, id) <= (${new Date(this.cursorAt)}, ${this.cursorId}::uuid)`;
    const missing = ids.map((r) => r.id as string).filter((id) => !this.seen.has(id));
    if (missing.length === 0) return [];
    return await this.sql`
      select id, at, gate_id, user_id, allow, reason, revision from access_events
      where at >= ${from} and id = any(${missing}::uuid[]) order by at, id`;
  }

  private take(rows: readonly any[]): Array<[LiveEvent, number]> {
    const out: Array<[LiveEvent, number]> = [];
    for (const r of rows) {
      if (this.seen.has(r.id)) continue;
      const t = (r.at as Date).getTime();
      this.seen.set(r.id, t);
      out.push([toLive(r), t]);
    }
    return out;
  }

  private fanOut(fresh: Array<[LiveEvent, number]>): void {
    for (const [s, from] of this.subscribers) {
      const mine: LiveEvent[] = [];
      for (const [e, t] of fresh) if (t >= from && matches(s.filter, e)) mine.push(e);
      if (mine.length && !s.deliver(mine)) this.subscribers.delete(s);
    }
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const all = [...this.subscribers.keys()];
    this.subscribers.clear();
    for (const s of all) s.end();
  }
}
