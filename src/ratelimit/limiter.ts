// Rate limiters in three modes behind one interface (RATE_LIMIT_MODE):
//
// local  — token buckets in this process (LocalBuckets): `count` per window, refilled continuously,
//          a burst of up to `count`. Instances do not share anything: a cluster of n instances
//          admits up to n × the limit.
//
// exact  — one atomic Redis call per decision (TAKE_ALL_LUA in redis.ts: the credential's and the
//          gate's limit together; TAKE_LUA for login): a fixed-window counter keyed
//          `<prefix><name>:<key>:<floor(now / window)>`, admitting while the window's cluster-wide
//          count is below the limit, so the cluster admits exactly `count` per window (windows are
//          aligned to the epoch on every instance; keep clocks NTP-synced). A fixed window rather
//          than GCRA: its key holds the exact admitted count (what the benchmark and the synced
//          mode add to), and synced and exact instances share the same keys, so modes can be
//          mixed while switching. The price is the usual fixed-window edge: up to 2 × count across
//          a window boundary. The decision waits for the round trip (the only mode that makes a
//          verify async); a failed or slow call (RATE_LIMIT_REDIS_TIMEOUT_MS) decides with a local
//          token bucket instead, and the link cools down so an outage is not paid per request.
//          Admits also feed that local bucket, so a fallback starts from this instance's recent
//          admits rather than from a full bucket.
//
// synced — decisions from local fixed-window counters, never waiting on Redis. Every
//          RATE_LIMIT_SYNC_MS one call per 2000 keys pushes each touched key's admits since the
//          last sync (INCRBY on the same key as exact mode) and adopts the returned cluster-wide
//          count. An
//          instance admits while (cluster count at its last sync) + (its own admits since) < count.
//
//          Error bound, per key and window, with n instances:
//              admitted ≤ count + (n − 1) × A,   and never more than n × count,
//          where A is the most one instance admits for that key within 2 × RATE_LIMIT_SYNC_MS plus
//          one Redis round trip. Why: take the last admit of the window, by instance j at time t.
//          j's view (its last sync, ≤ SYNC_MS ago, plus its own admits since) was below count;
//          what j could not see is the others' admits not yet in Redis when j last synced: those
//          made after their own last push, which is at most one further SYNC_MS earlier. So each
//          other instance adds at most its admits in 2 × SYNC_MS (+ the round trip) on top of
//          count. With every instance admitting at rate r: count + 2 (n − 1) r SYNC_MS. An
//          instance that had not touched a key for longer than SYNC_MS (or never, in this
//          window) decides its first interval on the count it last knew (0 for a new key): those
//          admits are part of its A. Redis trouble: syncs fail, decisions go on from local counts
//          (each instance then holds the limit on its own), and the next successful sync catches up.
//
//          Prediction: between syncs an instance also counts the others' admits as going on at
//          the rate it measured over its last sync interval, from half an interval before its
//          sync (their pushes are that much older on average), until its next sync (not while
//          Redis is unavailable). A view only ever grows by this, so the bound above still holds;
//          under steady traffic the overshoot mostly disappears (see SyncedLimiter.applied). The
//          price: when the others stop abruptly, an instance may refuse up to (their last rate ×
//          1.5 × SYNC_MS) too early, until its next sync, and only once the key is that close to
//          its limit.
//
//          The bound assumes syncs every SYNC_MS. A starved host (or a slow Redis) that syncs
//          late stretches it accordingly — up to n × count while syncs stop altogether;
//          portcullis_ratelimit_sync_age_seconds shows how old this instance's view is.
//
// Login limits (few requests, each already ~100 ms of argon2) always take the exact path when
// Redis is configured, in synced mode too: a synced view would let concurrent guesses on several
// instances through before the next sync.
//
// Keys never contain a secret: the verify path passes a credential id or a token's SHA-256.
import type { Config, RateLimit } from "../config";
import { log } from "../log";
import { LocalBuckets, MAX_KEYS, type LimitResult } from "./local-buckets";
import type { RedisLink } from "./redis";

export type { LimitResult };
export type LimitName = "gate" | "token" | "login";
export type Mode = Config["rateLimitMode"];

export interface Limiter {
  readonly name: LimitName;
  readonly limit: RateLimit;
  /** Admit one (and count it) if the limit allows. Synchronous except in exact mode. */
  take(key: string, now: number): LimitResult | Promise<LimitResult>;
  /** take() reduced to its verdict, for the verify path (local and synced; exact goes through RateLimits). */
  admit(key: string, now: number): boolean;
  /** Would one more be admitted? Counts nothing. */
  peek(key: string, now: number): LimitResult | Promise<LimitResult>;
  /** Gives back one unit taken at `now` (same window). Never rejects. */
  refund(key: string, now: number): void | Promise<void>;
  /** Forgets a key's count. Never rejects. */
  reset(key: string, now: number): void | Promise<void>;
  /** Decisions made locally because Redis was unavailable. */
  readonly fallbackDecisions: number;
  /** Keys held in memory. */
  readonly keys: number;
  stop(): void;
}

/** A fixed window's answer: Retry-After and RateLimit-Reset are the time left in the window. */
function windowResult(limit: RateLimit, admitted: boolean, used: number, idx: number, now: number): LimitResult {
  const resetS = Math.max(1, Math.ceil(((idx + 1) * limit.windowMs - now) / 1000));
  return { allowed: admitted, remaining: Math.max(0, Math.floor(limit.count - used)), retryAfterS: admitted ? 0 : resetS, resetS };
}

/** Keys live one window past their own, so an instance whose clock is behind still finds them. */
const expireAt = (limit: RateLimit, idx: number) => (idx + 2) * limit.windowMs + 1000;

export class LocalLimiter implements Limiter {
  readonly fallbackDecisions = 0;
  private readonly buckets: LocalBuckets;

  constructor(readonly name: LimitName, readonly limit: RateLimit) {
    this.buckets = new LocalBuckets(limit);
  }

  take(key: string, now: number): LimitResult {
    return this.buckets.take(key, now);
  }

  admit(key: string, now: number): boolean {
    return this.buckets.tryTake(key, now);
  }

  peek(key: string, now: number): LimitResult {
    return this.buckets.peek(key, now);
  }

  refund(key: string, now: number): void {
    this.buckets.refund(key, now);
  }

  reset(key: string): void {
    this.buckets.reset(key);
  }

  get keys(): number {
    return this.buckets.size;
  }

  stop(): void {
    this.buckets.stop();
  }
}

export class ExactLimiter implements Limiter {
  fallbackDecisions = 0;
  private readonly local: LocalBuckets;

  constructor(readonly name: LimitName, readonly limit: RateLimit, private readonly link: RedisLink) {
    this.local = new LocalBuckets(limit);
  }

  take(key: string, now: number): LimitResult | Promise<LimitResult> {
    if (!this.link.usable) return this.fallback(key, now, true);
    const idx = Math.floor(now / this.limit.windowMs);
    return this.link.client.pclTake(this.redisKey(key, idx), this.limit.count, expireAt(this.limit, idx), "take").then(
      (r) => {
        this.link.ok();
        const admitted = r[0] === 1;
        if (admitted) this.local.take(key, now);
        return windowResult(this.limit, admitted, r[1], idx, now);
      },
      (e) => {
        this.link.failed(e);
        return this.fallback(key, now, true);
      },
    );
  }

  /** Local verdict only (what a fallback would say); the verify path uses RateLimits.takeVerify. */
  admit(key: string, now: number): boolean {
    return this.fallback(key, now, true).allowed;
  }

  peek(key: string, now: number): LimitResult | Promise<LimitResult> {
    if (!this.link.usable) return this.fallback(key, now, false);
    const idx = Math.floor(now / this.limit.windowMs);
    return this.link.client.pclTake(this.redisKey(key, idx), this.limit.count, expireAt(this.limit, idx), "peek").then(
      (r) => {
        this.link.ok();
        return windowResult(this.limit, r[0] === 1, r[1], idx, now);
      },
      (e) => {
        this.link.failed(e);
        return this.fallback(key, now, false);
      },
    );
  }

  async refund(key: string, now: number): Promise<void> {
    this.local.refund(key, now);
    if (!this.link.usable) return;
    const idx = Math.floor(now / this.limit.windowMs);
    try {
      await this.link.client.pclTake(this.redisKey(key, idx), this.limit.count, expireAt(this.limit, idx), "refund");
      this.link.ok();
    } catch (e) {
      this.link.failed(e);
    }
  }

  async reset(key: string, now: number): Promise<void> {
    this.local.reset(key);
    if (!this.link.usable) return;
    const idx = Math.floor(now / this.limit.windowMs);
    try {
      await this.link.client.del(this.redisKey(key, idx));
      this.link.ok();
    } catch (e) {
      this.link.failed(e);
    }
  }

  /** Decided locally (Redis unavailable). */
  fallback(key: string, now: number, take: boolean): LimitResult {
    this.fallbackDecisions++;
    return take ? this.local.take(key, now) : this.local.peek(key, now);
  }

  /** For RateLimits.takeVerify: the window key and its expiry, and what to do with Redis's answer. */
  redisKey(key: string, idx: number): string {
    return `${this.link.prefix}${this.name}:${key}:${idx}`;
  }

  expireAt(idx: number): number {
    return expireAt(this.limit, idx);
  }

  /** Redis admitted `key`: the local fallback bucket counts it too. */
  shadow(key: string, now: number): void {
    this.local.take(key, now);
  }

  refused(count: number, idx: number, now: number): LimitResult {
    return windowResult(this.limit, false, count, idx, now);
  }

  get keys(): number {
    return this.local.size;
  }

  stop(): void {
    this.local.stop();
  }
}

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

/** A verify refused by a limit: which, and its numbers (Retry-After, RateLimit-*). */
export interface Refusal {
  limiter: Limiter;
  result: LimitResult;
}

/**
 * Keys per sync call. Big calls are cheap for this process (measured: ~0.7 µs of CPU per key at
 * 2000–3000 keys a call, ~1.4 µs at 500); Redis runs 2000 INCRBYs in about a millisecond.
 */
const SYNC_CHUNK = 2000;

/** The service's limiters, their Redis link and the synced mode's sync loop. */
export class RateLimits {
  readonly gate: Limiter | null;
  readonly token: Limiter | null;
  readonly login: Limiter | null;
  private readonly synced: SyncedLimiter[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private syncing: Promise<void> | null = null;
  syncs = 0;
  syncFailures = 0;
  lastSyncKeys = 0;
  /** When the last sync round completed (successfully, or with nothing to send). */
  lastSyncOkAt = Date.now();
  /** The longest time between two completed sync rounds, ms. */
  maxSyncGapMs = 0;
  /** exact mode with a Redis link: verify's limits go to Redis in one call. */
  private readonly exact: boolean;

  constructor(
    readonly mode: Mode,
    limits: { gate: RateLimit | null; token: RateLimit | null; login: RateLimit | null },
    readonly link: RedisLink | null,
    syncMs = 100,
    /** false: no sync timer, sync() by hand (tests). */
    autoSync = true,
  ) {
    const make = (name: LimitName, limit: RateLimit | null, syncable: boolean): Limiter | null => {
      if (limit === null) return null;
      if (mode === "local" || link === null) return new LocalLimiter(name, limit);
      if (mode === "synced" && syncable) {
        const l = new SyncedLimiter(name, limit, link, syncMs);
        this.synced.push(l);
        return l;
      }
      return new ExactLimiter(name, limit, link);
    };
    this.gate = make("gate", limits.gate, true);
    this.token = make("token", limits.token, true);
    this.login = make("login", limits.login, false);
    this.exact = mode === "exact" && link !== null;
    if (this.synced.length && autoSync) {
      this.timer = setInterval(() => void this.sync(), syncMs);
      this.timer.unref?.();
    }
  }

  /**
   * A verify's limits: the credential's (when `tokenKey` is given), then the gate's. Answers null
   * when both admit, else the refusal (which limit, and its numbers for the 429). Local and synced:
   * synchronous. exact: one Redis call for both (a Promise); on failure, local fallback buckets.
   */
  takeVerify(tokenKey: string | null, gateKey: string, now: number): Refusal | null | Promise<Refusal | null> {
    const token = tokenKey === null ? null : this.token;
    const gate = this.gate;
    if (this.exact) return this.takeVerifyExact(token as ExactLimiter | null, tokenKey!, gate as ExactLimiter | null, gateKey, now);
    // The verdicts alone; the numbers for a 429 (peek: nothing more is counted) only on refusal.
    if (token !== null && !token.admit(tokenKey!, now)) return { limiter: token, result: token.peek(tokenKey!, now) as LimitResult };
    if (gate !== null && !gate.admit(gateKey, now)) return { limiter: gate, result: gate.peek(gateKey, now) as LimitResult };
    return null;
  }

  private takeVerifyExact(token: ExactLimiter | null, tokenKey: string, gate: ExactLimiter | null, gateKey: string, now: number): Refusal | null | Promise<Refusal | null> {
    const link = this.link!;
    if (!link.usable) return this.verifyFallback(token, tokenKey, gate, gateKey, now);
    const tIdx = token === null ? 0 : Math.floor(now / token.limit.windowMs);
    const gIdx = gate === null ? 0 : Math.floor(now / gate.limit.windowMs);
    let call: Promise<[number, number]>;
    if (token !== null && gate !== null) {
      call = link.client.pclTakeAll(2, token.redisKey(tokenKey, tIdx), gate.redisKey(gateKey, gIdx),
        token.limit.count, token.expireAt(tIdx), gate.limit.count, gate.expireAt(gIdx));
    } else if (token !== null) {
      call = link.client.pclTakeAll(1, token.redisKey(tokenKey, tIdx), token.limit.count, token.expireAt(tIdx));
    } else {
      call = link.client.pclTakeAll(1, gate!.redisKey(gateKey, gIdx), gate!.limit.count, gate!.expireAt(gIdx));
    }
    return call.then(
      ([stage, count]) => {
        link.ok();
        const first = token ?? gate!;
        const firstKey = token !== null ? tokenKey : gateKey;
        if (stage === 1) return { limiter: first, result: first.refused(count, first === token ? tIdx : gIdx, now) };
        first.shadow(firstKey, now);
        if (stage === 2) return { limiter: gate!, result: gate!.refused(count, gIdx, now) };
        if (token !== null && gate !== null) gate.shadow(gateKey, now);
        return null;
      },
      (e) => {
        link.failed(e);
        return this.verifyFallback(token, tokenKey, gate, gateKey, now);
      },
    );
  }

  private verifyFallback(token: ExactLimiter | null, tokenKey: string, gate: ExactLimiter | null, gateKey: string, now: number): Refusal | null {
    if (token !== null) {
      const r = token.fallback(tokenKey, now, true);
      if (!r.allowed) return { limiter: token, result: r };
    }
    if (gate !== null) {
      const r = gate.fallback(gateKey, now, true);
      if (!r.allowed) return { limiter: gate, result: r };
    }
    return null;
  }

  /** True while decisions cannot use Redis (down, slow, or not connected yet). */
  get fallbackActive(): boolean {
    return this.link !== null && this.link.fallback;
  }

  get redisErrors(): number {
    return this.link?.errors ?? 0;
  }

  get fallbackDecisions(): number {
    return (this.gate?.fallbackDecisions ?? 0) + (this.token?.fallbackDecisions ?? 0) + (this.login?.fallbackDecisions ?? 0);
  }

  get keys(): number {
    return (this.gate?.keys ?? 0) + (this.token?.keys ?? 0) + (this.login?.keys ?? 0);
  }

  /** One sync round now (synced mode); concurrent calls share the round in progress. */
  sync(): Promise<void> {
    return (this.syncing ??= this.syncRound().finally(() => {
      this.syncing = null;
    }));
  }

  private async syncRound(): Promise<void> {
    const link = this.link;
    // Disconnected or cooling down after a failure: the "close"/"error" events or the failure
    // already flagged the fallback; admits keep accumulating and go out with the next sync.
    if (link === null || !link.usable) return;
    const items: SyncItem[] = [];
    const now = Date.now();
    for (const l of this.synced) l.collect(now, items);
    this.lastSyncKeys = items.length;
    if (!items.length) {
      this.syncDone(now);
      return;
    }
    this.syncs++;
    let failure: unknown = null;
    for (let i = 0; i < items.length; i += SYNC_CHUNK) {
      const chunk = items.slice(i, i + SYNC_CHUNK);
      let totals: string[] | null = null;
      let at = 0;
      if (failure === null) {
        const keys = new Array<string>(chunk.length);
        let packed = "";
        for (let k = 0; k < chunk.length; k++) {
          const it = chunk[k]!;
          keys[k] = it.limiter.redisKey(it);
          packed += `${it.n} ${it.limiter.expireAt(it)} `;
        }
        try {
          totals = (await link.client.pclAddMany(chunk.length, ...keys, packed)).split(",");
          at = Date.now();
          if (totals.length !== chunk.length) throw new Error(`sync: ${totals.length} totals for ${chunk.length} keys`);
        } catch (e) {
          failure = e;
          totals = null;
        }
      }
      chunk.forEach((it, k) => {
        if (totals !== null) it.limiter.applied(it, Number(totals[k]), at);
        else it.limiter.unapplied(it);
      });
    }
    if (failure !== null) {
      this.syncFailures++;
      link.failed(failure);
    } else {
      link.ok();
      this.syncDone(Date.now());
    }
  }

  private syncDone(at: number): void {
    this.maxSyncGapMs = Math.max(this.maxSyncGapMs, at - this.lastSyncOkAt);
    this.lastSyncOkAt = at;
  }

  /** synced mode: how old this instance's view of the cluster is (0 in other modes). */
  get syncAgeMs(): number {
    return this.synced.length ? Date.now() - this.lastSyncOkAt : 0;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // Push what this instance admitted last, so the others count it.
    if (this.synced.length) await Promise.race([this.sync(), Bun.sleep(1000)]).catch(() => {});
    this.gate?.stop();
    this.token?.stop();
    this.login?.stop();
    await this.link?.close();
  }
}

/** The limiters the configuration asks for; `link` is null in local mode (or with no limits on). */
export function createLimiters(config: Readonly<Config>, link: RedisLink | null): RateLimits {
  if (config.rateLimitMode !== "local" && link === null && (config.rateLimitGate || config.rateLimitToken || config.rateLimitLogin)) {
    log.warn("rate limits: no Redis link; deciding locally", { mode: config.rateLimitMode });
  }
  return new RateLimits(
    config.rateLimitMode,
    { gate: config.rateLimitGate, token: config.rateLimitToken, login: config.rateLimitLogin },
    link,
    config.rateLimitSyncMs,
  );
}
