// One response hook for every admin write: a route that committed a write says so by setting
// X-Revision (they all do — it is the read-your-writes contract); this hook then waits for every
// live node to apply that revision (src/nodes/propagation.ts) and tells the client how far it got:
// `X-Propagation: complete|partial` and, on a JSON object body, `"propagation": {nodes, applied,
// pending}`. Answers without a body (204) carry the header only.
import { Elysia } from "elysia";
import { awaitWrite, type Propagation } from "../nodes/propagation";

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
