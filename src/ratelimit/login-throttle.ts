// Password guessing: more than RATE_LIMIT_LOGIN failures per username (lowercased) or per source
// address within the window answer 429 until the budget is back. Keys are usernames and
// addresses, never a secret. The counts live in a Limiter (limiter.ts): in-process token buckets
// in local mode, shared through Redis otherwise (one atomic call per attempt, local fallback).
//
// Every attempt is counted as a failure *before* the password is checked, and given back when it
// succeeds: a check-then-count throttle lets any number of concurrent guesses through (they all
// pass the check during the ~100 ms argon2 verification), on one instance and all the more so
// across several.
import { ApiError } from "../errors";
import type { Limiter, LimitResult } from "./limiter";

export interface LoginThrottle {
  /**
   * Counts this attempt against both keys; throws 429 when either has no attempts left. Answers
   * when it was counted, for succeeded()/cancelled() to give it back in the same window. A failed
   * attempt needs nothing more: it stays counted.
   */
  check(username: string, source: string): Promise<number>;
  /** The attempt succeeded: the username's failures are forgotten, the address's attempt given back. */
  succeeded(username: string, source?: string, countedAt?: number): Promise<void>;
  /** The attempt could not be judged (database unreachable): both keys get it back. */
  cancelled(username: string, source: string, countedAt: number): Promise<void>;
  stop(): void;
}

const userKey = (username: string) => `u:${username.toLowerCase()}`;
const addrKey = (source: string) => `a:${source}`;

const refused = (r: LimitResult) =>
  new ApiError("rate_limited", "too many failed logins; try again later", { retry_after_s: r.retryAfterS }, r.retryAfterS);

/** `onRefused` counts refusals (the service's metrics), by the key that refused. */
export function createLoginThrottle(limiter: Limiter | null, onRefused: (limit: "login_username" | "login_address") => void = () => {}): LoginThrottle {
  const none = async () => {};
  if (limiter === null) return { check: async () => Date.now(), succeeded: none, cancelled: none, stop() {} };
  return {
    async check(username, source) {
      const now = Date.now();
      const u = await limiter.take(userKey(username), now);
      if (!u.allowed) {
        onRefused("login_username");
        throw refused(u);
      }
      const a = await limiter.take(addrKey(source), now);
      if (!a.allowed) {
        await limiter.refund(userKey(username), now);
        onRefused("login_address");
        throw refused(a);
      }
      return now;
    },
    async succeeded(username, source, countedAt = Date.now()) {
      await Promise.all([limiter.reset(userKey(username), Date.now()), source === undefined ? null : limiter.refund(addrKey(source), countedAt)]);
    },
    async cancelled(username, source, countedAt) {
      await Promise.all([limiter.refund(userKey(username), countedAt), limiter.refund(addrKey(source), countedAt)]);
    },
    stop: () => limiter.stop(),
  };
}

