// Password guessing: more than RATE_LIMIT_LOGIN failures per username or per source address
// within the window answer 429 until the budget refills. Keys are usernames and addresses, never
// a secret. In-process buckets here; shared limits plug in behind the same three calls.
import type { RateLimit } from "../config";
import { ApiError } from "../errors";
import { LocalBuckets } from "./local-buckets";

export interface LoginThrottle {
  /** Throws 429 when either key has no failures left. */
  check(username: string, source: string): void;
  failed(username: string, source: string): void;
  succeeded(username: string): void;
  stop(): void;
}

export function localLoginThrottle(limit: RateLimit | null): LoginThrottle {
  if (limit === null) return { check() {}, failed() {}, succeeded() {}, stop() {} };
  const buckets = new LocalBuckets(limit);
  return {
    check(username, source) {
      const now = Date.now();
      for (const key of [`u:${username.toLowerCase()}`, `a:${source}`]) {
        const r = buckets.peek(key, now);
        if (!r.allowed) {
          throw new ApiError("rate_limited", "too many failed logins; try again later", { retry_after_s: r.retryAfterS }, r.retryAfterS);
        }
      }
    },
    failed(username, source) {
      const now = Date.now();
      buckets.take(`u:${username.toLowerCase()}`, now);
      buckets.take(`a:${source}`, now);
    },
    succeeded(username) {
      buckets.reset(`u:${username.toLowerCase()}`);
    },
    stop: () => buckets.stop(),
  };
}
