// The group tree and a user's groups, as the console browses them (the service: src/admin/groups.ts).
import { Elysia, t } from "elysia";
import { groupTree, userGroups } from "../../admin/groups";
import type { Deps } from "../../deps";
import { ErrorBody, parseLimit } from "../schemas";
import { adminAuth } from "./auth";

const EXAMPLE_GROUP = "g_0193a1b2c3d4e5f6a7b8c9d0e1f2";
const GroupTreePage = t.Object({
  items: t.Array(t.Object({
    id: t.String(), name: t.String(), parent_id: t.Union([t.String(), t.Null()]),
    children: t.Integer({ description: "child groups" }), members: t.Integer({ description: "direct members" }),
  })),
  next_cursor: t.Union([t.String(), t.Null()]),
}, { examples: [{ items: [{ id: EXAMPLE_GROUP, name: "engineering", parent_id: null, children: 2, members: 14 }], next_cursor: null }] });

const UserGroups = t.Object({
  direct: t.Array(t.Object({ id: t.String(), name: t.String(), parent_id: t.Union([t.String(), t.Null()]), since: t.String({ format: "date-time" }) }), { description: "direct memberships (Postgres)" }),
  effective: t.Array(t.Object({ id: t.String(), name: t.String(), path: t.Array(t.String()) }), { description: "every group the user is in through nesting, with the path of names (the index)" }),
  revision: t.Integer({ description: "the index revision of `effective`" }),
}, {
  examples: [{
    direct: [{ id: "g_0193a1b2c3d4e5f6a7b8c9d0e1f3", name: "backend", parent_id: EXAMPLE_GROUP, since: "2026-01-05T08:30:00.000Z" }],
    effective: [{ id: "g_0193a1b2c3d4e5f6a7b8c9d0e1f3", name: "backend", path: ["backend"] }, { id: EXAMPLE_GROUP, name: "engineering", path: ["backend", "engineering"] }],
    revision: 57,
  }],
});

export function adminGroupRoutes(deps: Deps) {
  const { sql, feed } = deps;
  return new Elysia({ name: "admin-groups", prefix: "/api/v1/admin", detail: { tags: ["admin"], security: [{ bearer: [] }] } })
    .use(adminAuth(sql))
    .get("/group-tree", ({ query }) => groupTree(sql, query.parent_id || null, parseLimit(query.limit), query.cursor), {
      query: t.Object({
        parent_id: t.Optional(t.String({ maxLength: 64, description: "omit for the top-level groups" })),
        limit: t.Optional(t.String({ description: "1..500, default 50" })),
        cursor: t.Optional(t.String({ maxLength: 400 })),
      }),
      response: { 200: GroupTreePage, 400: ErrorBody },
      detail: { summary: "One level of the group tree, by name, with each group's number of child groups and direct members" },
    })
    .get("/users/:id/groups", ({ params }) => userGroups(sql, feed.current, params.id), {
      params: t.Object({ id: t.String({ minLength: 1, maxLength: 64 }) }),
      response: { 200: UserGroups, 404: ErrorBody },
      detail: { summary: "A user's groups: direct memberships, and every group reached through nesting with its path (from the index)" },
    });
}
