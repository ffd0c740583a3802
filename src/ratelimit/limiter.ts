// The rate limiter's interface and what its three modes share (RATE_LIMIT_MODE). Why the modes
// are built as they are — fixed windows, the synced mode's error bound and its prediction, the
// exact mode's fallback — is in docs/ARCHITECTURE.md ("Rate limits"). The modes:
//   local-limiter.ts  — token buckets in this process; instances share nothing
//   exact-limiter.ts  — one atomic Redis call per decision, local fallback while Redis is away
//   synced-limiter.ts — local fixed-window counts reconciled with Redis every RATE_LIMIT_SYNC_MS
//   rate-limits.ts    — the service's limiters, their Redis link, the sync loop, verify's one call
// Keys never contain a secret: the verify path passes a credential id or a token's SHA-256.
import type { Config, RateLimit } from "../config";
import type { LimitResult } from "./local-buckets";

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
export function windowResult(limit: RateLimit, admitted: boolean, used: number, idx: number, now: number): LimitResult {
  const resetS = Math.max(1, Math.ceil(((idx + 1) * limit.windowMs - now) / 1000));
  return { allowed: admitted, remaining: Math.max(0, Math.floor(limit.count - used)), retryAfterS: admitted ? 0 : resetS, resetS };
}

/** Keys live one window past their own, so an instance whose clock is behind still finds them. */
export const expireAt = (limit: RateLimit, idx: number) => (idx + 2) * limit.windowMs + 1000;

/** A verify refused by a limit: which, and its numbers (Retry-After, RateLimit-*). */
export interface Refusal {
  limiter: Limiter;
  result: LimitResult;
}
