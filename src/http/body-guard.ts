// Bounds on request bodies that schema validation cannot give.
//
// Depth: Elysia builds every validation error's message with JSON.stringify of the whole value.
// On a deeply nested value that takes seconds and then overflows the stack: a 200 KB body of
// "[[[[…" cost 10 s of CPU and answered 500 (unauthenticated, on POST /api/v1/auth/token too).
// Bodies are checked right after parsing, before validation; nesting deeper than MAX_DEPTH is 400.
//
// Size: the server accepts bodies up to 64 MiB for the bulk import, and a body is parsed before
// a route's authentication runs. Elsewhere a declared body over MAX_BYTES is 413 before it is read.
import { Elysia } from "elysia";
import { ApiError } from "../errors";

export const MAX_DEPTH = 32;
export const MAX_BYTES = 1024 * 1024;
/** Routes with bounds of their own (the import takes 64 MiB; verify routes check 4 KiB / 256 KiB). */
const OWN_BOUNDS = /^\/api\/v1\/(admin\/import$|access\/)/;

/** True when `v` nests objects/arrays deeper than `max` (iterative: a deep value cannot overflow it). */
export function nestedDeeperThan(v: unknown, max: number): boolean {
  if (v === null || typeof v !== "object") return false;
  const values: unknown[] = [v];
  const depths: number[] = [1];
  while (values.length) {
    const x = values.pop()!, d = depths.pop()!;
    if (d > max) return true;
    if (Array.isArray(x)) {
      for (const y of x) if (y !== null && typeof y === "object") values.push(y), depths.push(d + 1);
    } else {
      for (const k in x as object) {
        const y = (x as Record<string, unknown>)[k];
        if (y !== null && typeof y === "object") values.push(y), depths.push(d + 1);
      }
    }
  }
  return false;
}

export function bodyGuard() {
  return new Elysia({ name: "body-guard" })
    .onParse({ as: "global" }, ({ request, path }) => {
      const declared = request.headers.get("content-length");
      if (declared !== null && +declared > MAX_BYTES && !OWN_BOUNDS.test(path)) {
        throw new ApiError("payload_too_large", `body is larger than ${MAX_BYTES} bytes`, { limit: MAX_BYTES });
      }
      // All bodies of this API are JSON (the import also takes text/csv): a form or multipart body
      // would otherwise be parsed by Elysia and accepted.
      const type = request.headers.get("content-type");
      if (type !== null && !OWN_BOUNDS.test(path) && !/^application\/json\b/i.test(type)) {
        throw new ApiError("invalid_request", "body: expected Content-Type application/json", { field: "body" });
      }
      return undefined; // not parsed here: the route's parser goes on
    })
    .onTransform({ as: "global" }, ({ body }) => {
      if (body !== null && typeof body === "object" && nestedDeeperThan(body, MAX_DEPTH)) {
        throw new ApiError("invalid_request", `body: nested deeper than ${MAX_DEPTH} levels`, { field: "body" });
      }
    });
}
