// local mode: token buckets in this process — `count` per window, refilled continuously, a burst
// of up to `count`. Nothing is shared: a cluster of n instances admits up to n × the limit.
import type { RateLimit } from "../config";
import type { LimitName, Limiter, LimitResult } from "./limiter";
import { LocalBuckets } from "./local-buckets";

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
