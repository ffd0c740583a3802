// exact mode: one atomic Redis call per decision (a fixed-window counter, cluster-wide exact); a
// failed or slow call decides with a local token bucket and the link cools down, so an outage is
// not paid per request. Admits also feed that bucket, so a fallback starts from this instance's
// recent admits. (Why fixed windows: docs/ARCHITECTURE.md, "Rate limits".)
import type { RateLimit } from "../config";
import { expireAt, type LimitName, type Limiter, type LimitResult, windowResult } from "./limiter";
import { LocalBuckets } from "./local-buckets";
import type { RedisLink } from "./redis";

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
