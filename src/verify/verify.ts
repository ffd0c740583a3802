// THE VERIFY CORE: one function from (token, gate, options) to an outcome. Hash the token,
// decide() from the in-memory index, take the rate limits once (the credential's and the gate's in
// one call), record the access event, count the decision. Every transport — the JSON route, the
// native Bun route, batch, forward-auth, the openway_access compat verify — calls this and only
// maps the outcome to its wire format.
//
// No Postgres, no Redis, no awaits but the journal write of the tick's events, unless the caller asked for a fresher revision than the index
// has, or the exact rate-limit mode is on (one Redis round trip for both limits, see
// src/ratelimit/limiter.ts). With both verify limits off (the default) the function has no limit
// code at all: that is decided once, when it is made.
import { ApiError } from "../errors";
import type { EventExtra } from "../events/copy-line";
import type { EventWriter } from "../events/event-writer";
import type { ChangeFeed } from "../feed/change-feed";
import type { PermissionIndex } from "../index/permission-index";
import type { Decision } from "../index/types";
import type { Metrics } from "../metrics";
import type { RateLimits } from "../ratelimit/rate-limits";
import type { Refusal } from "../ratelimit/limiter";
import { rulesFor } from "../state/rules";
import type { StateService } from "../state/state-service";
import { digestHex, secretDigest } from "../tokens";

/** How long a verify with min_revision waits for the index to reach it before answering 503. */
const MIN_REVISION_WAIT_MS = 250;

/** The decision of a verify refused by a rate limit, as recorded: a deny with reason rate_limited. */
export type LimitedDecision = Omit<Decision, "allow" | "reason"> & { allow: false; reason: "rate_limited" };

export interface Outcome {
  /** What was decided and recorded (a rate-limited verify: reason rate_limited, allow false). */
  decision: Decision | LimitedDecision;
  gateId: string;
  /** The index revision the decision was made at. */
  revision: number;
  /** The limit that refused and its numbers (for Retry-After, RateLimit-*); null when admitted. */
  refusal: Refusal | null;
  /** The index the decision came from (compat looks the gate up in it). */
  index: PermissionIndex;
  /** At a gate with a rule with memory: what the event recorded besides (flags, the two-person peer). */
  state?: EventExtra;
}

export interface VerifyOptions {
  /** Answer only from an index at this revision or later (read your own write). */
  minRevision?: number;
  /** The PIN typed at a card + PIN gate. */
  pin?: string;
}

/**
 * One verify: synchronous unless `minRevision` is ahead of the index (waits up to 250 ms, then
 * throws ApiError "unavailable") or the exact rate-limit mode is on.
 */
export type Verify = (token: string, gateId: string, options?: VerifyOptions) => Outcome | Promise<Outcome>;

/** The services a verify calls: a part of the service's Deps (src/deps.ts). */
export interface VerifyParts {
  feed: ChangeFeed;
  events: EventWriter;
  limits: RateLimits;
  metrics: Metrics;
  state: StateService;
}

/** The service's verify function, with the configured limits (see the header). */
export function createVerify(deps: VerifyParts): Verify {
  const { feed, events, limits, metrics, state } = deps;
  const tokenLimited = limits.token !== null;
  const limited = limits.gate !== null || tokenLimited;

  const recorded = (d: Decision, gateId: string, index: Outcome["index"], now: number, extra?: EventExtra): Outcome => {
    events.record(d, gateId, index.revision, now, extra);
    metrics.countDecision(d.reason);
    return { decision: d, gateId, revision: index.revision, refusal: null, index, state: extra };
  };
  // An allowed decision at a gate with a rule with memory (anti-passback, occupancy, two-person,
  // first-in, escort, PIN) is then decided by the shared state: one store call (src/state/). Every
  // other decision stays in memory: a denied one costs nothing more, an allowed one a Map lookup.
  const admitted = (d: Decision, gateId: string, index: Outcome["index"], now: number, pin: string | undefined): Outcome | Promise<Outcome> => {
    if (d.allow) {
      const rules = rulesFor(index, gateId);
      if (rules !== undefined) return state.decide(index, d, rules, pin, now).then((s) => recorded(s.decision, gateId, index, now, s.extra));
    }
    return recorded(d, gateId, index, now);
  };
  const refused = (d: Decision, gateId: string, index: Outcome["index"], now: number, r: Refusal): Outcome => {
    const ld: LimitedDecision = { ...d, allow: false, reason: "rate_limited" };
    events.record(ld, gateId, index.revision, now);
    metrics.rateLimited(r.limiter.name as "gate" | "token");
    return { decision: ld, gateId, revision: index.revision, refusal: r, index };
  };

  const unlimited = (token: string, gateId: string, pin: string | undefined): Outcome | Promise<Outcome> => {
    const index = feed.current;
    const now = Date.now();
    return admitted(index.decideDigest(secretDigest(token), gateId, now, feed.dataAgeMs(now)), gateId, index, now, pin);
  };

  // The decision comes first (it names the credential); then the per-credential limit, then the
  // per-gate one, in one call: a request refused for its credential does not use up the gate's
  // budget, so one abusive card cannot lock a door for everyone. A limited verify is still an
  // access event, with reason rate_limited.
  const withLimits = (token: string, gateId: string, pin: string | undefined): Outcome | Promise<Outcome> => {
    const index = feed.current;
    const now = Date.now();
    const digest = secretDigest(token);
    const d = index.decideDigest(digest, gateId, now, feed.dataAgeMs(now));
    // Keyed by the credential id, or by the token's SHA-256 (hex) when no credential has it: never the secret.
    const tokenKey = !tokenLimited ? null : d.credentialId !== undefined ? "c:" + d.credentialId : "h:" + digestHex(digest);
    const r = limits.takeVerify(tokenKey, gateId, now);
    if (r === null) return admitted(d, gateId, index, now, pin);
    if (r instanceof Promise) return r.then((x) => (x === null ? admitted(d, gateId, index, now, pin) : refused(d, gateId, index, now, x)));
    return refused(d, gateId, index, now, r);
  };

  const decideNow = limited ? withLimits : unlimited;
  const decide = (token: string, gateId: string, options?: VerifyOptions): Outcome | Promise<Outcome> => {
    const min = options?.minRevision;
    if (min === undefined || feed.current.revision >= min) return decideNow(token, gateId, options?.pin);
    return feed.waitFor(min, MIN_REVISION_WAIT_MS).then((reached) => {
      if (!reached) throw new ApiError("unavailable", `index has not reached revision ${min} yet`, { revision: feed.current.revision }, 1);
      return decideNow(token, gateId, options?.pin);
    });
  };
  // No answer leaves before its access event is in the journal: the outcome is handed over once
  // this tick's events are written (one write for all of them, src/events/event-writer.ts), or
  // rejected with 503 when they cannot be (the journal at its disk budget, EVENT_JOURNAL_FULL).
  return (token, gateId, options) => events.after(decide(token, gateId, options));
}
