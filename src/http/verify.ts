// The verify routes of the native API — POST verify (JSON), batch and forward-auth — as adapters
// of the verify core (src/verify/verify.ts): each maps an Outcome to its answer and status. The
// same POST is served from Bun's native route table by verify-native.ts, with these mappings.
import { Elysia, t } from "elysia";
import type { Deps } from "../deps";
import { ApiError } from "../errors";
import type { Refusal } from "../ratelimit/limiter";
import type { Outcome } from "../verify/verify";
import { bearer } from "./auth";
import { jsonBody } from "./body";
import { BatchAnswer, BatchBody, ErrorBody, NoContent, VerifyAnswer, VerifyBody } from "./schemas";

export interface VerifyAnswerJson {
  allow: boolean;
  reason: string;
  gate_id: string;
  user_id?: string;
  unlock_ms?: number;
  revision: number;
  /** A rule with memory flagged the decision (anti_passback_soft, state_failure_open, supervisor_in). */
  flags?: string[];
  /** Two-person rule: the other user of the pair. */
  peer_user_id?: string;
}

/** An outcome as the native API answers it (in a batch, a rate-limited check's own entry too). */
export function verifyAnswer(o: Outcome): VerifyAnswerJson {
  const d = o.decision;
  if (o.state !== undefined) return withState(o);
  if (d.allow) return { allow: true, reason: d.reason, gate_id: o.gateId, user_id: d.userId, unlock_ms: d.unlockMs, revision: o.revision };
  if (d.userId === undefined) return { allow: false, reason: d.reason, gate_id: o.gateId, revision: o.revision };
  return { allow: false, reason: d.reason, gate_id: o.gateId, user_id: d.userId, revision: o.revision };
}

/** A decision at a gate with a rule with memory: its flags and two-person peer too. */
function withState(o: Outcome): VerifyAnswerJson {
  const d = o.decision, x = o.state!;
  const a = { allow: d.allow, reason: d.reason, gate_id: o.gateId } as VerifyAnswerJson;
  if (d.userId !== undefined) a.user_id = d.userId;
  if (d.allow) a.unlock_ms = d.unlockMs;
  a.revision = o.revision;
  if (x.flags) a.flags = x.flags;
  if (x.peerUserId) a.peer_user_id = x.peerUserId;
  return a;
}

type BatchJson = { results: VerifyAnswerJson[]; revision: number };

export type LimitedBody = { error: { code: string; message: string; details: Record<string, unknown> } };

/** Retry-After and the RateLimit-* fields of the limit that refused. */
export function limitedHeaders(r: Refusal): Record<string, string> {
  const { limit } = r.limiter;
  return {
    "retry-after": String(r.result.retryAfterS),
    "ratelimit-limit": String(limit.count),
    "ratelimit-remaining": String(r.result.remaining),
    "ratelimit-reset": String(r.result.resetS),
    "ratelimit-policy": `${limit.count};w=${Math.max(1, Math.round(limit.windowMs / 1000))}`,
  };
}

/** The 429 body of a verify refused by a rate limit. */
export function limitedBody(o: Outcome, r: Refusal): LimitedBody {
  const retry = r.result.retryAfterS;
  const details: Record<string, unknown> = { limit: r.limiter.name, retry_after_s: retry, gate_id: o.gateId, revision: o.revision };
  if (o.decision.userId !== undefined) details.user_id = o.decision.userId;
  const what = r.limiter.name === "gate" ? "this gate" : "this credential";
  return { error: { code: "rate_limited", message: `rate limit of ${what} exceeded; retry after ${retry} s`, details } };
}

type SetLike = { status?: unknown; headers: Record<string, unknown> };

/** POST verify: the answer, or 429 with its headers. */
function single(o: Outcome, set: SetLike): VerifyAnswerJson | LimitedBody {
  if (o.refusal === null) return verifyAnswer(o);
  set.status = 429;
  Object.assign(set.headers, limitedHeaders(o.refusal));
  return limitedBody(o, o.refusal);
}

/** Forward-auth: 204 allowed, 403 denied (with the answer), 429 over a limit; reason and user in headers. */
function forward(o: Outcome, set: SetLike): VerifyAnswerJson | LimitedBody | undefined {
  set.headers["x-portcullis-reason"] = o.decision.reason;
  if (o.decision.userId !== undefined) set.headers["x-portcullis-user"] = o.decision.userId;
  if (o.refusal !== null) return single(o, set);
  if (o.decision.allow) {
    set.status = 204;
    return;
  }
  set.status = 403;
  return verifyAnswer(o);
}

/** The Elysia verify routes. */
export function verifyRoutes(deps: Deps) {
  const { feed, verify } = deps;
  return new Elysia({ name: "verify", detail: { tags: ["verify"] } })
    .post(
      "/api/v1/access/verify",
      ({ body, set }) => {
        const o = verify(body.token, body.gate_id, body.min_revision === undefined && body.pin === undefined ? undefined : { minRevision: body.min_revision, pin: body.pin });
        return o instanceof Promise ? o.then<VerifyAnswerJson | LimitedBody>((x) => single(x, set)) : single(o, set);
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
      ({ body }): BatchJson | Promise<BatchJson> => {
        const outs = body.checks.map((c) => verify(c.token, c.gate_id));
        if (outs.some((o) => o instanceof Promise)) {
          return Promise.all(outs).then((all) => ({ results: all.map(verifyAnswer), revision: feed.current.revision }));
        }
        return { results: (outs as Outcome[]).map(verifyAnswer), revision: feed.current.revision };
      },
      {
        parse: [jsonBody(256 * 1024), "json"],
        body: BatchBody,
        response: { 200: BatchAnswer, 400: ErrorBody, 413: ErrorBody },
        detail: {
          summary: "Up to 1000 decisions in one request, answered in order",
          description: "Each check counts against the rate limits on its own; a check over a limit answers its own entry " +
            "`{\"allow\": false, \"reason\": \"rate_limited\", \"gate_id\", \"user_id\"?, \"revision\"}` inside the 200 answer.",
        },
      },
    )
    .get(
      "/api/v1/access/verify",
      ({ query, headers, set }) => {
        const token = bearer(headers.authorization);
        if (token === null) throw new ApiError("unauthorized", "missing bearer token");
        const o = verify(token, query.gate_id);
        return o instanceof Promise ? o.then((x) => forward(x, set)) : forward(o, set);
      },
      {
        query: t.Object({ gate_id: VerifyBody.properties.gate_id }),
        response: { 204: NoContent, 400: ErrorBody, 401: ErrorBody, 403: VerifyAnswer, 429: ErrorBody },
        detail: {
          summary: "Forward-auth for reverse proxies: 204 allowed, 403 denied, 401 without a token, 429 over a rate limit",
          security: [{ bearer: [] }],
        },
      },
    );
}
