// The admin API's authentication, in one plugin: every feature module under /api/v1/admin uses
// it, and its routes see a typed `caller`. Derived (not resolved) so that it runs before body
// validation: an anonymous caller gets 401 whatever it sent and learns nothing of the schema.
import { Elysia } from "elysia";
import type { Sql } from "../../db/client";
import { authenticate, type Caller } from "../auth";

// One lookup per request, whoever asks first: the import's parse hook authenticates before it
// reads a 64 MiB body, and the plugin's derive then reuses that answer.
const callers = new WeakMap<Request, Promise<Caller>>();

/** The admin caller of `request` (scope admin), looked up in Postgres once per request. */
export function adminCaller(sql: Sql, request: Request): Promise<Caller> {
  let c = callers.get(request);
  if (c === undefined) callers.set(request, (c = authenticate(sql, request.headers.get("authorization"), "admin")));
  return c;
}

/** `.use(adminAuth(sql))` in a feature module: its routes (registered after) need an admin token. */
export function adminAuth(sql: Sql) {
  return new Elysia().derive({ as: "scoped" }, async ({ request }) => ({ caller: await adminCaller(sql, request) }));
}
