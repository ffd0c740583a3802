// synced mode: decisions from local fixed-window counters, never waiting on Redis; every
// RATE_LIMIT_SYNC_MS the touched keys' admits are pushed (INCRBY on exact mode's keys) and the
// cluster-wide counts adopted, with the others' admits predicted in between. Its error bound and
// why it holds: docs/ARCHITECTURE.md, "Rate limits".
import type { RateLimit } from "../config";
import { expireAt, type LimitName, type Limiter, type LimitResult, windowResult } from "./limiter";
import { MAX_KEYS } from "./local-buckets";
import type { RedisLink } from "./redis";

/** One key's counts in the current window (synced mode). */
interface Entry {
  idx: number;
  /** Cluster-wide count at the last sync (includes this instance's pushed admits). */
  base: number;
  /** Admits not yet pushed. */
  pending: number;
  /** Admits being pushed right now. */
  inflight: number;
  /** Asked since the last sync: the next sync refreshes `base` even with nothing to push. */
  touched: boolean;
  /** When `base` was learnt (the window start before the first sync). */
  syncedAt: number;
  /** Since when the other instances' admits are taken as missing from `base`. */
  predFrom: number;
  /** The other instances' admits per ms over the last sync interval (see "prediction" above). */
  othersRate: number;
  /** Its Redis key and expiry (made once per key and window, not per sync; strings: ioredis encodes them faster than numbers). */
  rkey: string;
  rexp: string;
}

export interface SyncItem {
  limiter: SyncedLimiter;
  key: string;
  entry: Entry;
  n: number;
}

export class SyncedLimiter implements Limiter {
  fallbackDecisions = 0;
  private readonly entries = new Map<string, Entry>();
  /** Entries of past windows with admits still to push. */
  private leftovers: Array<[string, Entry]> = [];

  constructor(readonly name: LimitName, readonly limit: RateLimit, private readonly link: RedisLink, private readonly syncMs = 100, private readonly maxKeys = MAX_KEYS) {}

  /**
   * This instance's view of the window's count: the last cluster-wide count, its own admits since,
   * and the others' predicted ones — for as long as syncs go on (a late sync, on a starved host,
   * keeps the prediction going); while Redis is unavailable, only what is known (each instance
   * then holds the limit on its own).
   */
  private used(e: Entry, now: number): number {
    const known = e.base + e.inflight + e.pending;
    if (e.othersRate === 0 || this.link.fallback) return known;
    const age = now - e.predFrom;
    return age > 0 ? known + e.othersRate * age : known;
  }

  take(key: string, now: number): LimitResult {
    const e = this.entry(key, now);
    const admitted = this.admitEntry(e, now);
    return windowResult(this.limit, admitted, this.used(e, now), e.idx, now);
  }

  admit(key: string, now: number): boolean {
    return this.admitEntry(this.entry(key, now), now);
  }

  private admitEntry(e: Entry, now: number): boolean {
    e.touched = true;
    const admitted = this.used(e, now) < this.limit.count;
    if (admitted) e.pending++;
    if (this.link.fallback) this.fallbackDecisions++;
    return admitted;
  }

  peek(key: string, now: number): LimitResult {
    const e = this.entry(key, now);
    e.touched = true;
    const used = this.used(e, now);
    return windowResult(this.limit, used < this.limit.count, used, e.idx, now);
  }

  refund(key: string, now: number): void {
    const e = this.entries.get(key);
    if (e !== undefined && e.idx === Math.floor(now / this.limit.windowMs)) e.pending--;
  }

  async reset(key: string, now: number): Promise<void> {
    this.entries.delete(key);
    if (!this.link.usable) return;
    try {
      await this.link.client.del(`${this.link.prefix}${this.name}:${key}:${Math.floor(now / this.limit.windowMs)}`);
    } catch {}
  }

  private entry(key: string, now: number): Entry {
    const idx = Math.floor(now / this.limit.windowMs);
    const old = this.entries.get(key);
    let othersRate = 0;
    if (old !== undefined) {
      if (old.idx === idx) return old;
      if (old.pending !== 0 || old.inflight !== 0) this.leftovers.push([key, old]);
      this.entries.delete(key);
      // Traffic carries over: the others probably go on admitting as they did just before.
      if (old.idx === idx - 1) othersRate = old.othersRate;
    } else if (this.entries.size >= this.maxKeys) {
      const [k, e] = this.entries.entries().next().value!;
      this.entries.delete(k);
      if (e.pending !== 0) this.leftovers.push([k, e]); // its admits still count elsewhere
    }
    const start = idx * this.limit.windowMs;
    const e: Entry = { idx, base: 0, pending: 0, inflight: 0, touched: false, syncedAt: start, predFrom: start, othersRate, rkey: `${this.link.prefix}${this.name}:${key}:${idx}`, rexp: String(expireAt(this.limit, idx)) };
    this.entries.set(key, e);
    return e;
  }

  /** What the next sync sends: touched keys and unpushed admits; forgets finished windows. */
  collect(now: number, out: SyncItem[]): void {
    const idx = Math.floor(now / this.limit.windowMs);
    const left = this.leftovers;
    this.leftovers = [];
    for (const [key, e] of left) {
      // Admits of a window that ended more than one window ago no longer matter to anyone.
      if (e.pending !== 0 && e.idx >= idx - 1) this.stage(key, e, out);
    }
    for (const [key, e] of this.entries) {
      if (e.touched || e.pending !== 0) {
        this.stage(key, e, out);
        e.touched = false;
      } else if (e.idx < idx && e.inflight === 0) {
        this.entries.delete(key);
      }
    }
  }

  private stage(key: string, e: Entry, out: SyncItem[]): void {
    const n = e.pending;
    e.pending = 0;
    e.inflight += n;
    out.push({ limiter: this, key, entry: e, n });
  }

  redisKey(item: SyncItem): string {
    return item.entry.rkey;
  }

  expireAt(item: SyncItem): string {
    return item.entry.rexp;
  }

  /** The push landed (reply at `at`): adopt the cluster-wide count and the others' rate. */
  applied(item: SyncItem, total: number, at: number): void {
    const e = item.entry;
    e.inflight -= item.n;
    const others = total - e.base - item.n; // admitted elsewhere since our last view
    const dt = at - e.syncedAt;
    if (others >= 0 && dt > 0) e.othersRate = others / dt;
    e.base = total;
    e.syncedAt = at;
    // What the others admitted since their own last push is not in `total` yet; their last push
    // was anywhere in the sync interval before ours, on average half an interval earlier:
    // extrapolate from there. (Measured, two instances at twice the limit: from ~+10 % per window
    // without prediction to within ~1 %. Extrapolating from a whole interval back over-counts,
    // makes instances stop early, and the room left is then used by all of them at once, so the
    // overshoot comes back: ~+5 %.)
    e.predFrom = at - this.syncMs / 2;
  }

  /** The push failed: its admits are pushed again next time (if the window still matters). */
  unapplied(item: SyncItem): void {
    const e = item.entry;
    e.inflight -= item.n;
    e.pending += item.n;
    if (this.entries.get(item.key) !== e && e.pending !== 0) this.leftovers.push([item.key, e]);
  }

  get keys(): number {
    return this.entries.size;
  }

  stop(): void {}
}
