// Bounds on request bodies that schema validation cannot give.
//
// Depth: Elysia builds every validation error's message with JSON.stringify of the whole value.
// On a deeply nested value that takes seconds and then overflows the stack: a 200 KB body of
// "[[[[…" cost 10 s of CPU and answered 500 (unauthenticated, on POST /api/v1/auth/token too).
// Bodies are checked right after parsing, before validation; nesting deeper than MAX_DEPTH is 400.
//
// Unicode: a JSON escape can spell a lone UTF-16 surrogate ("\ud800"), which no UTF-8 text holds;
// postgres.js would send it as U+FFFD, so the value stored would differ from the one sent (and two
// values sent could collide into one). A body holding one, in a value or a key, is 400 naming it.
// A NUL (\u0000) Postgres text cannot hold at all: it reached Postgres and came back as its own
// error blaming the field `body`; it is 400 naming the field too.
// (The import's rows are checked by its validator, which names the collection and row; a verify
// stores no text of its body and answers on its own path.)
//
// Size: the server accepts bodies up to 64 MiB for the bulk import, and a body is parsed before
// a route's authentication runs. Elsewhere a declared body over MAX_BYTES is 413 before it is read.
import { Elysia } from "elysia";
import { ApiError } from "../errors";
import { LONE_SURROGATE, NUL } from "../unicode";

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

/** Why Postgres text cannot hold `s` as sent, or null. */
function unstorable(s: string): string | null {
  return !s.isWellFormed() ? LONE_SURROGATE : s.includes("\u0000") ? NUL : null;
}

/**
 * The path (`windows[0].start`) of the first string or key of `v` that Postgres text cannot hold
 * as sent — a lone UTF-16 surrogate, or a NUL — and why, or null. Call on a value of bounded depth.
 */
export function unstorableAt(v: unknown, path = ""): { at: string; why: string } | null {
  if (typeof v === "string") {
    const why = unstorable(v);
    return why === null ? null : { at: path || "body", why };
  }
  if (v === null || typeof v !== "object") return null;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = unstorableAt(v[i], `${path}[${i}]`);
      if (p !== null) return p;
    }
    return null;
  }
  for (const k in v) {
    const at = path === "" ? k : `${path}.${k}`;
    const why = unstorable(k);
    if (why !== null) return { at, why };
    const p = unstorableAt((v as Record<string, unknown>)[k], at);
    if (p !== null) return p;
  }
  return null;
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
    .onTransform({ as: "global" }, ({ body, path }) => {
      if (body !== null && typeof body === "object" && nestedDeeperThan(body, MAX_DEPTH)) {
        throw new ApiError("invalid_request", `body: nested deeper than ${MAX_DEPTH} levels`, { field: "body" });
      }
      // Not the import's (its validator names collection and row) nor verify's (nothing stored; the native path answers it alike).
      const bad = OWN_BOUNDS.test(path) ? null : unstorableAt(body);
      if (bad !== null) throw new ApiError("invalid_request", `${bad.at}: ${bad.why}`, { field: bad.at });
    });
}
