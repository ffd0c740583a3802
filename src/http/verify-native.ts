// POST /api/v1/access/verify served from Bun's native route table, bypassing Elysia's per-request
// machinery (its compiled handler, global hooks and schema validation cost more than the decision
// itself). It handles the well-formed request only: anything else — a body without
// Content-Length or over 4 KiB, bad JSON, a field out of shape, a min_revision to wait for — is
// handed, unchanged, to the Elysia route, which stays the one place errors are produced. The
// decision, the rate limits, the event and the answer come from the same Verifier either way.
import type { Deps } from "../deps";
import { requestId } from "./observe";
import { Limited, type Outcome, type Verifier } from "./verify";

const MAX_BODY = 4096;
const ROUTE = "/api/v1/access/verify";
const JSON_TYPE = "application/json;charset=utf-8";

/** True when `b` is exactly {gate_id, token, min_revision?} within the VerifyBody schema's bounds. */
function wellFormed(b: any): boolean {
  if (typeof b !== "object" || b === null || Array.isArray(b)) return false;
  const g = b.gate_id, t = b.token, m = b.min_revision;
  if (typeof g !== "string" || g.length === 0 || g.length > 64) return false;
  if (typeof t !== "string" || t.length === 0 || t.length > 1024) return false;
  let n = 2;
  if (m !== undefined) {
    if (typeof m !== "number" || !Number.isSafeInteger(m) || m < 1) return false;
    n = 3;
  }
  for (const _ in b) n--;
  return n === 0; // no other keys
}

export function nativeVerify(deps: Deps, v: Verifier, fallback: (req: Request) => Response | Promise<Response>) {
  const { feed } = deps;
  const observeRequest = deps.config.httpMetrics ? deps.metrics.observeRequest : null;

  const respond = (o: Outcome, id: string, t0: number): Response => {
    let res: Response;
    if (o instanceof Limited) {
      res = new Response(JSON.stringify(o.body()), { status: 429, headers: { "content-type": JSON_TYPE, "x-request-id": id, ...o.headers() } });
    } else {
      res = new Response(JSON.stringify(o), { headers: { "content-type": JSON_TYPE, "x-request-id": id } });
    }
    if (observeRequest) observeRequest("POST", ROUTE, res.status, (performance.now() - t0) / 1000);
    return res;
  };

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
    if (!wellFormed(body) || (body.min_revision !== undefined && feed.current.revision < body.min_revision)) {
      return fallback(new Request(req.url, { method: "POST", headers: req.headers, body: text }));
    }
    const id = requestId(req.headers.get("x-request-id"));
    const o = v.one(body.token, body.gate_id);
    return o instanceof Promise ? o.then((x) => respond(x, id, t0)) : respond(o, id, t0);
  };
}
