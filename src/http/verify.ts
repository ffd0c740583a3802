// THE VERIFY PATH: validate, hash, decide() from the in-memory index, enqueue the event, answer.
// No Postgres, no Redis, no awaits unless the caller asked for a fresher revision (or the exact
// rate-limit mode is on: one Redis round trip for both limits, see src/ratelimit/limiter.ts).
import { Elysia, t } from "elysia";
import { ApiError } from "../errors";
import type { Decision } from "../index/types";
import type { Limiter, LimitResult, Refusal } from "../ratelimit/limiter";
import { hashSecret } from "../tokens";
import { bearer } from "./auth";
import { jsonBody } from "./body";
import type { Deps } from "../deps";
import { BatchBody, ErrorBody, VerifyAnswer, VerifyBody } from "./schemas";

const MIN_REVISION_WAIT_MS = 250;

export interface VerifyAnswerJson {
  allow: boolean;
  reason: string;
  gate_id: string;
  user_id?: string;
  unlock_ms?: number;
  revision: number;
}

export function answer(d: Decision, gateId: string, revision: number): VerifyAnswerJson {
  if (d.allow) return { allow: true, reason: d.reason, gate_id: gateId, user_id: d.userId, unlock_ms: d.unlockMs, revision };
  if (d.userId === undefined) return { allow: false, reason: d.reason, gate_id: gateId, revision };
  return { allow: false, reason: d.reason, gate_id: gateId, user_id: d.userId, revision };
}

type LimitedBody = { error: { code: string; message: string; details: Record<string, unknown> } };

/** A verify refused by a rate limit: its answer (reason rate_limited) and what to tell the client. */
export class Limited {
  constructor(readonly answer: VerifyAnswerJson, readonly limiter: Limiter, readonly result: LimitResult) {}

  /** Retry-After and the RateLimit-* fields of the limit that refused. */
  headers(): Record<string, string> {
    const { limit } = this.limiter;
    const r = this.result;
    return {
      "retry-after": String(r.retryAfterS),
      "ratelimit-limit": String(limit.count),
      "ratelimit-remaining": String(r.remaining),
      "ratelimit-reset": String(r.resetS),
      "ratelimit-policy": `${limit.count};w=${Math.max(1, Math.round(limit.windowMs / 1000))}`,
    };
  }

  body(): LimitedBody {
    const r = this.result;
    const a = this.answer;
    const details: Record<string, unknown> = { limit: this.limiter.name, retry_after_s: r.retryAfterS, gate_id: a.gate_id, revision: a.revision };
    if (a.user_id !== undefined) details.user_id = a.user_id;
    const what = this.limiter.name === "gate" ? "this gate" : "this credential";
    return { error: { code: "rate_limited", message: `rate limit of ${what} exceeded; retry after ${r.retryAfterS} s`, details } };
  }

  /** 429 with its headers, through Elysia's `set`. */
  respond(set: { status?: unknown; headers: Record<string, unknown> }): LimitedBody {
    set.status = 429;
    Object.assign(set.headers, this.headers());
    return this.body();
  }
}
export type Outcome = VerifyAnswerJson | Limited;

export type Verifier = ReturnType<typeof createVerifier>;

/** The verify logic, independent of the transport: used by the Elysia routes and the native route. */
export function createVerifier(deps: Deps) {
  const { feed, events, metrics } = deps;
  const limits = deps.limits;
  const gateLimit = limits?.gate ?? null;
  const tokenLimit = limits?.token ?? null;
  // Decided once, here: with both verify limits off (the default) the routes below are exactly the
  // unlimited ones, with no per-request test of any kind.
  const limited = gateLimit !== null || tokenLimit !== null;

  /** One decision, recorded. */
  const check = (token: string, gateId: string): VerifyAnswerJson => {
    const index = feed.current;
    const now = Date.now();
    const d = index.decide(hashSecret(token), gateId, now);
    events.record(d, gateId, index.revision, now);
    metrics.countDecision(d.reason);
    return answer(d, gateId, index.revision);
  };

  // --- With rate limits. The decision comes first (it names the credential); then the per-credential
  // limit, then the per-gate one: a request refused for its credential does not use up the gate's
  // budget, so one abusive card cannot lock a door for everyone. Every limited verify is still an
  // access event, with reason rate_limited. Local and synced limits answer synchronously; only the
  // exact mode returns a Promise (one Redis call for both limits), and only then does the check go
  // async.
  const admit = (d: Decision, gateId: string, revision: number, now: number): VerifyAnswerJson => {
    events.record(d, gateId, revision, now);
    metrics.countDecision(d.reason);
    return answer(d, gateId, revision);
  };
  const refuse = (d: Decision, gateId: string, revision: number, now: number, r: Refusal): Limited => {
    const ld: Decision = { ...d, allow: false, reason: "rate_limited" as Decision["reason"] };
    events.record(ld, gateId, revision, now);
    metrics.rateLimited(r.limiter.name as "gate" | "token");
    return new Limited(answer(ld, gateId, revision), r.limiter, r.result);
  };
  const checkLimited = (token: string, gateId: string): Outcome | Promise<Outcome> => {
    const index = feed.current;
    const now = Date.now();
    const hash = hashSecret(token);
    const d = index.decide(hash, gateId, now);
    const revision = index.revision;
    // Keyed by the credential id, or by the token's SHA-256 when no credential has it: never the secret.
    const tokenKey = tokenLimit === null ? null : d.credentialId !== undefined ? "c:" + d.credentialId : "h:" + hash;
    const r = limits.takeVerify(tokenKey, gateId, now);
    if (r === null) return admit(d, gateId, revision, now);
    if (r instanceof Promise) return r.then((x) => (x === null ? admit(d, gateId, revision, now) : refuse(d, gateId, revision, now, x)));
    return refuse(d, gateId, revision, now, r);
  };
  type SetLike = { status?: unknown; headers: Record<string, unknown> };
  const single = (o: Outcome, set: SetLike): VerifyAnswerJson | LimitedBody => (o instanceof Limited ? o.respond(set) : o);
  const verifyOne = (token: string, gateId: string, set: SetLike): VerifyAnswerJson | LimitedBody | Promise<VerifyAnswerJson | LimitedBody> => {
    const o = checkLimited(token, gateId);
    return o instanceof Promise ? o.then((x) => single(x, set)) : single(o, set);
  };
  const inBatch = (o: Outcome): VerifyAnswerJson => (o instanceof Limited ? o.answer : o);
  const forward = (o: Outcome, set: SetLike) => {
    const a = o instanceof Limited ? o.answer : o;
    set.headers["x-portcullis-reason"] = a.reason;
    if (a.user_id !== undefined) set.headers["x-portcullis-user"] = a.user_id;
    if (o instanceof Limited) return o.respond(set);
    if (a.allow) {
      set.status = 204;
      return;
    }
    set.status = 403;
    return a;
  };

  const fresh = async (minRevision: number | undefined) => {
    if (minRevision !== undefined && feed.current.revision < minRevision) {
      if (!(await feed.waitFor(minRevision, MIN_REVISION_WAIT_MS))) {
        throw new ApiError("unavailable", `index has not reached revision ${minRevision} yet`, { revision: feed.current.revision }, 1);
      }
    }
  };

  /** One decision under the configured limits; synchronous unless the exact limit mode is on. */
  const one = limited ? checkLimited : check;
  return { check, checkLimited, one, limited, fresh, forward, inBatch, verifyOne, feed };
}

export function verifyRoutes(deps: Deps, v: Verifier = createVerifier(deps)) {
  const { feed } = deps;
  const { check, checkLimited, limited, fresh, forward, inBatch, verifyOne } = v;
  return new Elysia({ name: "verify", detail: { tags: ["verify"] } })
    .post(
      "/api/v1/access/verify",
      limited
        ? ({ body, set }) => {
            if (body.min_revision === undefined || feed.current.revision >= body.min_revision) return verifyOne(body.token, body.gate_id, set);
            return fresh(body.min_revision).then<VerifyAnswerJson | LimitedBody>(() => verifyOne(body.token, body.gate_id, set));
          }
        : ({ body }) => {
            if (body.min_revision === undefined || feed.current.revision >= body.min_revision) return check(body.token, body.gate_id);
            return fresh(body.min_revision).then<VerifyAnswerJson>(() => check(body.token, body.gate_id));
          },
      {
        // Our size-bounded parser first (it always answers or throws); "json" only tells the
        // OpenAPI generator the content type.
        parse: [jsonBody(4096), "json"],
        body: VerifyBody,
        response: { 200: VerifyAnswer, 400: ErrorBody, 413: ErrorBody, 429: ErrorBody, 503: ErrorBody },
        detail: {
          summary: "May this token pass this gate, now?",
          description: "Always 200 for a well-formed request; `allow` and `reason` carry the decision. Bodies up to 4096 bytes. " +
            "With RATE_LIMIT_GATE or RATE_LIMIT_TOKEN on, a request over a limit answers 429 `rate_limited` with `Retry-After`, " +
            "`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy` (of the limit that refused), and is " +
            "recorded as an access event with reason `rate_limited`.",
        },
      },
    )
    .post(
      "/api/v1/access/verify/batch",
      limited
        ? ({ body }) => {
            const outs = body.checks.map((c) => checkLimited(c.token, c.gate_id));
            if (outs.some((o) => o instanceof Promise)) {
              return Promise.all(outs).then((all) => ({ results: all.map(inBatch), revision: feed.current.revision }));
            }
            return { results: (outs as Outcome[]).map(inBatch), revision: feed.current.revision };
          }
        : ({ body }) => {
            const results = body.checks.map((c) => check(c.token, c.gate_id));
            return { results, revision: feed.current.revision };
          },
      {
        parse: [jsonBody(256 * 1024), "json"],
        body: BatchBody,
        response: { 400: ErrorBody, 413: ErrorBody },
        detail: {
          summary: "Up to 1000 decisions in one request, answered in order",
          description: "Each check counts against the rate limits on its own; a check over a limit answers its own entry " +
            "`{\"allow\": false, \"reason\": \"rate_limited\", \"gate_id\", \"user_id\"?, \"revision\"}` inside the 200 answer.",
        },
      },
    )
    .get(
      "/api/v1/access/verify",
      limited
        ? ({ query, headers, set }) => {
            const token = bearer(headers.authorization);
            if (token === null) throw new ApiError("unauthorized", "missing bearer token");
            const o = checkLimited(token, query.gate_id);
            return o instanceof Promise ? o.then((x) => forward(x, set)) : forward(o, set);
          }
        : ({ query, headers, set }) => {
            const token = bearer(headers.authorization);
            if (token === null) throw new ApiError("unauthorized", "missing bearer token");
            const a = check(token, query.gate_id);
            set.headers["x-portcullis-reason"] = a.reason;
            if (a.user_id !== undefined) set.headers["x-portcullis-user"] = a.user_id;
            if (a.allow) {
              set.status = 204;
              return;
            }
            set.status = 403;
            return a;
          },
      {
        query: t.Object({ gate_id: VerifyBody.properties.gate_id }),
        detail: {
          summary: "Forward-auth for reverse proxies: 204 allowed, 403 denied, 401 without a token, 429 over a rate limit",
          security: [{ bearer: [] }],
        },
      },
    );
}
