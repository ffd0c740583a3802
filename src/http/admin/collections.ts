// Admin CRUD for every collection, generated from one table so each gets the same routes,
// validation, pagination, audit and revision handling.
import { Elysia, t } from "elysia";
import { COLLECTIONS, type Collection } from "../../admin/collections";
import * as crud from "../../admin/crud";
import { adminAuth } from "./auth";
import type { Deps } from "../../deps";
import { jsonParse } from "../body";
import { CollectionSchemas, collectionListQuery, CredentialCreated, Deleted, EntityAnswers, ErrorBody, ListQuery, MemberBody, MemberPage, Membership, page, parseLimit, withRevision } from "../schemas";

const IdParam = t.Object({ id: t.String({ minLength: 1, maxLength: 64 }) });

/** Sets the revision header and merges `revision` into the body. */
function written<T extends object>(set: { headers: Record<string, any>; status?: any }, w: { value: T; revision: number }, status = 200) {
  set.headers["x-revision"] = String(w.revision);
  set.status = status;
  return { ...w.value, revision: w.revision };
}

// Generic in the collection's name, so the route paths stay literal types and an Eden client is
// checked against them.
function collectionRoutes<const N extends keyof typeof CollectionSchemas>(deps: Deps, c: Collection & { name: N }) {
  const { sql } = deps;
  const schemas = CollectionSchemas[c.name] as (typeof CollectionSchemas)[N];
  const entity = EntityAnswers[c.name] as (typeof EntityAnswers)[N];
  const example = (entity as { examples?: unknown[] }).examples?.[0];
  const app = new Elysia({ prefix: `/${c.name}` as `/${N}` })
    .use(adminAuth(sql))
    .get("", ({ query }) => crud.list(sql, c, parseLimit(query.limit), query.cursor, query as Record<string, string>) as Promise<any>, {
      query: collectionListQuery(c), response: { 200: page(entity, example), 400: ErrorBody }, detail: { summary: `List ${c.name}` },
    })
    .post("", async ({ body, set, caller }) => written(set, await crud.create(sql, caller, c, body), 201) as any, {
      parse: jsonParse(), body: schemas.create,
      response: { 201: c.name === "credentials" ? CredentialCreated : withRevision(entity), 400: ErrorBody, 409: ErrorBody },
      detail: { summary: `Create a ${c.entity}` },
    })
    .get("/:id", ({ params }) => crud.get(sql, c, params.id) as Promise<any>, {
      params: IdParam, response: { 200: entity, 404: ErrorBody }, detail: { summary: `Get a ${c.entity}` },
    })
    .patch("/:id", async ({ params, body, set, caller }) => written(set, await crud.update(sql, caller, c, params.id, body)) as any, {
      params: IdParam, parse: jsonParse(), body: schemas.patch,
      response: { 200: withRevision(entity), 400: ErrorBody, 404: ErrorBody, 409: ErrorBody }, detail: { summary: `Change a ${c.entity}` },
    })
    .delete("/:id", async ({ params, set, caller }) => written(set, await crud.remove(sql, caller, c, params.id)), {
      params: IdParam, response: { 200: Deleted, 404: ErrorBody }, detail: { summary: `Delete a ${c.entity}` },
    });
  return app;
}

export function adminCollectionRoutes(deps: Deps) {
  const { sql } = deps;
  return new Elysia({ name: "admin-collections", prefix: "/api/v1/admin", detail: { tags: ["admin"], security: [{ bearer: [] }] } })
    .use(collectionRoutes(deps, COLLECTIONS.users))
    .use(collectionRoutes(deps, COLLECTIONS.groups))
    .use(collectionRoutes(deps, COLLECTIONS.zones))
    .use(collectionRoutes(deps, COLLECTIONS.gates))
    .use(collectionRoutes(deps, COLLECTIONS.schedules))
    .use(collectionRoutes(deps, COLLECTIONS.grants))
    .use(collectionRoutes(deps, COLLECTIONS.credentials))
    // After the collections (each authenticates its own routes): these routes only.
    .use(adminAuth(sql))
    .post("/credentials/:id/revoke", async ({ params, set, caller }) => written(set, await crud.revokeCredential(sql, caller, COLLECTIONS.credentials, params.id)) as any, {
      params: IdParam, response: { 200: withRevision(EntityAnswers.credentials), 404: ErrorBody }, detail: { summary: "Revoke a credential (idempotent)" },
    })
    .get("/groups/:id/members", ({ params, query }) => crud.listMembers(sql, params.id, parseLimit(query.limit), query.cursor), {
      params: IdParam, query: ListQuery, response: { 200: MemberPage, 400: ErrorBody, 404: ErrorBody }, detail: { summary: "List a group's direct members" },
    })
    .post("/groups/:id/members", async ({ params, body, set, caller }) => written(set, await crud.addMember(sql, caller, params.id, body.user_id), 201), {
      params: IdParam, parse: jsonParse(), body: MemberBody, response: { 201: Membership, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      detail: { summary: "Add a user to a group" },
    })
    .delete("/groups/:id/members/:user_id", async ({ params, set, caller }) => written(set, await crud.removeMember(sql, caller, params.id, params.user_id)), {
      params: t.Object({ id: IdParam.properties.id, user_id: IdParam.properties.id }), response: { 200: Membership, 404: ErrorBody },
      detail: { summary: "Remove a user from a group" },
    });
}
