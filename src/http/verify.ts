// THE VERIFY PATH: validate, hash, decide() from the in-memory index, enqueue the event, answer.
// No Postgres, no Redis, no awaits unless the caller asked for a fresher revision.
import { Elysia, t } from "elysia";
import { ApiError } from "../errors";
import type { Decision } from "../index/types";
import { countDecision } from "../metrics";
import { hashSecret } from "../tokens";
import { bearer } from "./auth";
import { jsonBody } from "./body";
import type { Deps } from "./deps";
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

export function verifyRoutes(deps: Deps) {
  const { feed, events } = deps;

  /** One decision, recorded. */
  const check = (token: string, gateId: string): VerifyAnswerJson => {
    const index = feed.current;
    const now = Date.now();
    const d = index.decide(hashSecret(token), gateId, now);
    events.record(d, gateId, index.revision, now);
    countDecision(d.reason);
    return answer(d, gateId, index.revision);
  };

  const fresh = async (minRevision: number | undefined) => {
    if (minRevision !== undefined && feed.current.revision < minRevision) {
      if (!(await feed.waitFor(minRevision, MIN_REVISION_WAIT_MS))) {
        throw new ApiError("unavailable", `index has not reached revision ${minRevision} yet`, { revision: feed.current.revision }, 1);
      }
    }
  };

  return new Elysia({ name: "verify", detail: { tags: ["verify"] } })
    .post(
      "/api/v1/access/verify",
      ({ body }) => {
        if (body.min_revision === undefined || feed.current.revision >= body.min_revision) return check(body.token, body.gate_id);
        return fresh(body.min_revision).then(() => check(body.token, body.gate_id));
      },
      {
        // Our size-bounded parser first (it always answers or throws); "json" only tells the
        // OpenAPI generator the content type.
        parse: [jsonBody(4096), "json"],
        body: VerifyBody,
        response: { 200: VerifyAnswer, 400: ErrorBody, 413: ErrorBody, 429: ErrorBody, 503: ErrorBody },
        detail: {
          summary: "May this token pass this gate, now?",
          description: "Always 200 for a well-formed request; `allow` and `reason` carry the decision. Bodies up to 4096 bytes.",
        },
      },
    )
    .post(
      "/api/v1/access/verify/batch",
      ({ body }) => {
        const results = body.checks.map((c) => check(c.token, c.gate_id));
        return { results, revision: feed.current.revision };
      },
      {
        parse: [jsonBody(256 * 1024), "json"],
        body: BatchBody,
        response: { 400: ErrorBody, 413: ErrorBody },
        detail: {
          summary: "Up to 1000 decisions in one request, answered in order",
        },
      },
    )
    .get(
      "/api/v1/access/verify",
      ({ query, headers, set }) => {
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
          summary: "Forward-auth for reverse proxies: 204 allowed, 403 denied, 401 without a token",
          security: [{ bearer: [] }],
        },
      },
    );
}
