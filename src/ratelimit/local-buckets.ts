// In-process token buckets: `count` tokens per `windowMs`, refilled continuously. A bucket that
// has refilled completely is indistinguishable from a new one, so idle keys are swept away and
// memory stays bounded by the keys active within one window — and by `maxKeys` under a flood of
// distinct keys (random unknown tokens, made-up gate ids): past it the oldest key is forgotten,
// which resets that key's limit (fails open for it) rather than growing without bound.
import type { RateLimit } from "../config";

export interface LimitResult {
  allowed: boolean;
  /** Tokens left after this call. */
  remaining: number;
  /** Seconds until one token is back (what Retry-After says when refused). */
  retryAfterS: number;
  /** Seconds until the bucket is full again (RateLimit-Reset). */
  resetS: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Default bound on keys held at once (≈ 150 bytes each). */
export const MAX_KEYS = 500_000;

export class LocalBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  private sweeper: ReturnType<typeof setInterval> | null = null;
  /** Keys forgotten because `maxKeys` was reached. */
  evicted = 0;

  constructor(readonly limit: RateLimit, private readonly maxKeys = MAX_KEYS) {
    this.perMs = limit.count / limit.windowMs;
    this.sweeper = setInterval(() => this.sweep(), Math.max(1000, Math.min(limit.windowMs, 60_000)));
    this.sweeper.unref?.();
  }

  /** Takes `cost` tokens if there are enough. */
  take(key: string, now = Date.now(), cost = 1): LimitResult {
    const b = this.refill(key, now);
    const allowed = b.tokens >= cost;
    if (allowed) b.tokens -= cost;
    return this.result(b, allowed, cost);
  }

  /** take() without the LimitResult (the verify path's common case allocates nothing). */
  tryTake(key: string, now = Date.now()): boolean {
    const b = this.refill(key, now);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Would `cost` tokens be granted now? Takes nothing. */
  peek(key: string, now = Date.now(), cost = 1): LimitResult {
    const b = this.refill(key, now);
    return this.result(b, b.tokens >= cost, cost);
  }

  /** Gives back `cost` tokens taken earlier (never above the limit). */
  refund(key: string, now = Date.now(), cost = 1): void {
    const b = this.refill(key, now);
    b.tokens = Math.min(this.limit.count, b.tokens + cost);
  }

  /** Forget a key (e.g. failures after a successful login). */
  reset(key: string): void {
    this.buckets.delete(key);
  }

  /** Sets a key's tokens directly (used when reconciling with a shared store). */
  set(key: string, tokens: number, now = Date.now()): void {
    this.buckets.set(key, { tokens: Math.max(0, Math.min(this.limit.count, tokens)), at: now });
  }

  get size(): number {
    return this.buckets.size;
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  private refill(key: string, now: number): Bucket {
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.maxKeys) {
        this.buckets.delete(this.buckets.keys().next().value!);
        this.evicted++;
      }
      b = { tokens: this.limit.count, at: now };
      this.buckets.set(key, b);
      return b;
    }
    if (now > b.at) {
      b.tokens = Math.min(this.limit.count, b.tokens + (now - b.at) * this.perMs);
      b.at = now;
    }
    return b;
  }

  private result(b: Bucket, allowed: boolean, cost: number): LimitResult {
    const missing = allowed ? 0 : cost - b.tokens;
    return {
      allowed,
      remaining: Math.floor(b.tokens),
      retryAfterS: allowed ? 0 : Math.max(1, Math.ceil(missing / this.perMs / 1000)),
      resetS: Math.ceil((this.limit.count - b.tokens) / this.perMs / 1000),
    };
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, b] of this.buckets) {
      if (b.tokens + (now - b.at) * this.perMs >= this.limit.count) this.buckets.delete(k);
    }
  }
}
