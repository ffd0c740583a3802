// Query and path parameters, checked once for every route before the route's own validation.
//
// Repeated: `?gate_id=A&gate_id=B` was read as B on every route (Elysia keeps the last), so a
// forward-auth check decided at a gate other than the one a proxy that reads the first value had
// put in the URL, and `?limit=1&limit=500` or `?allow=true&allow=false` silently meant the last.
// No parameter of this API takes more than one value (lists of ids are comma-separated), so a
// repeated name is 400 naming it.
//
// NUL: Postgres text cannot hold U+0000. A `%00` in a filter, a search or a path id reached
// Postgres and came back as its own error, blaming the field `body`; it is 400 naming the parameter.
import { Elysia } from "elysia";
import { ApiError } from "../errors";
import { NUL } from "../unicode";

/** The first name that occurs more than once in the query of `url`, or null. */
export function repeatedParam(url: string): string | null {
  const q = url.indexOf("?");
  if (q === -1 || q === url.length - 1) return null;
  const seen = new Set<string>();
  for (const name of new URLSearchParams(url.slice(q + 1)).keys()) {
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return null;
}

function nulIn(values: Record<string, unknown> | undefined): string | null {
  if (!values) return null;
  for (const [name, v] of Object.entries(values)) if (typeof v === "string" && v.includes("\u0000")) return name;
  return null;
}

export function paramsGuard() {
  return new Elysia({ name: "params-guard" }).onTransform({ as: "global" }, ({ request, query, params }) => {
    const repeated = repeatedParam(request.url);
    if (repeated !== null) {
      throw new ApiError("invalid_request", `${repeated}: given more than once (every parameter takes one value)`, { field: repeated, in: "query" });
    }
    for (const [where, values] of [["params", params], ["query", query]] as const) {
      const name = nulIn(values as Record<string, unknown> | undefined);
      if (name !== null) throw new ApiError("invalid_request", `${name}: ${NUL}`, { field: name, in: where });
    }
  });
}
