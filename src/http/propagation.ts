// One response hook for every admin write: a route that committed a write says so by setting
// X-Revision (they all do — it is the read-your-writes contract); this hook then waits for every
// live node to apply that revision (src/nodes/propagation.ts) and tells the client how far it got:
// `X-Propagation: complete|partial` and, on a JSON object body, `"propagation": {nodes, applied,
// pending}`. Answers without a body (204) carry the header only.
import { Elysia } from "elysia";
import { isComplete, type Propagated, type Propagation } from "../nodes/propagation";

/** Waits for the revision a write route set in X-Revision; null when the route wrote nothing. */
export async function awaitWrite(propagation: Propagation, set: { headers: Record<string, unknown>; status?: unknown }, method: string): Promise<Propagated | null> {
  const rev = set.headers["x-revision"];
  if (rev === undefined || method === "GET" || method === "HEAD" || !propagation.enabled) return null;
  const status = typeof set.status === "number" ? set.status : 200;
  if (status >= 300) return null;
  const p = await propagation.await(Number(rev));
  set.headers["x-propagation"] = isComplete(p) ? "complete" : "partial";
  return p;
}

export function propagationHook(propagation: Propagation) {
  return new Elysia({ name: "propagation", seed: propagation }).onAfterHandle({ as: "global" }, async ({ set, request, responseValue }) => {
    const p = await awaitWrite(propagation, set, request.method);
    if (p === null) return;
    const body = responseValue as unknown;
    if (body !== null && typeof body === "object" && !Array.isArray(body) && !(body instanceof Response)) {
      return { ...(body as Record<string, unknown>), propagation: p };
    }
  });
}
