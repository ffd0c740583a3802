// POST /api/v1/access/verify served from Bun's native route table, bypassing Elysia's per-request
// machinery (its compiled handler, global hooks and schema validation cost more than the decision
// itself). It handles the well-formed request only: anything else — a body without
// Content-Length or over 4 KiB, bad JSON, a field out of shape, a min_revision to wait for — is
// handed, unchanged, to the Elysia route, which stays the one place errors are produced. The
// decision, the rate limits and the event come from the verify core, the answer from the same
// mappings as the Elysia route's (verify.ts).
import { TypeCompiler } from "elysia/type-system";
import { ApiError } from "../errors";
import type { Deps } from "../deps";
import { requestId } from "../request";
import type { Outcome } from "../verify/verify";
import { canonicalUrl } from "../listen";
import { VerifyBody } from "./schemas";
import { limitedBody, limitedHeaders, verifyAnswer } from "./verify";

const MAX_BODY = 4096;
const ROUTE = "/api/v1/access/verify";
const JSON_TYPE = "application/json;charset=utf-8";

/** The Elysia route's own body schema, compiled once: the native route accepts exactly what it accepts. */
const wellFormed = TypeCompiler.Compile(VerifyBody);

/** The native handler; `fallback` is the Elysia app, for every request this one does not take. */
export function nativeVerify(deps: Deps, fallback: (req: Request) => Response | Promise<Response>) {
  const { feed, verify } = deps;
  const observeRequest = deps.config.httpMetrics ? deps.metrics.observeRequest : null;

  const respond = (o: Outcome, id: string, t0: number): Response => {
    if (o.refusal !== null) {
      const res = new Response(JSON.stringify(limitedBody(o, o.refusal)), { status: 429, headers: { "content-type": JSON_TYPE, "x-request-id": id, ...limitedHeaders(o.refusal) } });
      if (observeRequest) observeRequest("POST", ROUTE, 429, (performance.now() - t0) / 1000);
      return res;
    }
    const res = new Response(JSON.stringify(verifyAnswer(o)), { headers: { "content-type": JSON_TYPE, "x-request-id": id } });
    if (observeRequest) observeRequest("POST", ROUTE, 200, (performance.now() - t0) / 1000);
    return res;
  };

  /** A verify that could not be answered (its event could not be recorded): the error's JSON. */
  const failed = (e: unknown, id: string, t0: number): Response => {
    if (!(e instanceof ApiError)) throw e;
    const headers: Record<string, string> = { "content-type": JSON_TYPE, "x-request-id": id };
    if (e.retryAfter !== undefined) headers["retry-after"] = String(e.retryAfter);
    const res = new Response(JSON.stringify(e.body()), { status: e.status, headers });
    if (observeRequest) observeRequest("POST", ROUTE, res.status, (performance.now() - t0) / 1000);
    return res;
  };

  // One async function and two awaits a request (the body, then this tick's journal write inside
  // the verify's promise): no closures, no promise chained onto another.
  return async (req: Request): Promise<Response> => {
    const t0 = performance.now();
    const declared = req.headers.get("content-length");
    if (declared === null || +declared > MAX_BODY) return fallback(req);
    const text = await req.text();
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!wellFormed.Check(body) || (body.min_revision !== undefined && feed.current.revision < body.min_revision)) {
      return fallback(new Request(canonicalUrl(req.url), { method: "POST", headers: req.headers, body: text }));
    }
    const id = requestId(req.headers.get("x-request-id"));
    const o = body.pin === undefined ? verify(body.token, body.gate_id) : verify(body.token, body.gate_id, { pin: body.pin });
    if (!(o instanceof Promise)) return respond(o, id, t0);
    let x: Outcome;
    try {
      x = await o;
    } catch (e) {
      return failed(e, id, t0);
    }
    return respond(x, id, t0);
  };
}
