// The service's limiters (one per limit, in the configured mode), their Redis link, the synced
// mode's sync loop, and verify's one call for both of its limits. Login limits (few requests,
// each already ~100 ms of argon2) take the exact path whenever Redis is configured, in synced mode
// too: a synced view would let concurrent guesses on several instances through before the next sync.
import type { Config, RateLimit } from "../config";
import { log } from "../log";
import { ExactLimiter } from "./exact-limiter";
import type { LimitName, Limiter, LimitResult, Mode, Refusal } from "./limiter";
import { LocalLimiter } from "./local-limiter";
import type { RedisLink } from "./redis";
import { type SyncItem, SyncedLimiter } from "./synced-limiter";

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
