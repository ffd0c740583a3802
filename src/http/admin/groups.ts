// The group tree and a user's groups, as the console browses them (the service: src/admin/groups.ts).
import { Elysia, t } from "elysia";
import { groupTree, userGroups } from "../../admin/groups";
import type { Deps } from "../../deps";
import { parseLimit } from "../schemas";
import { adminAuth } from "./auth";

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
      detail: { summary: "One level of the group tree, by name, with each group's number of child groups and direct members" },
    })
    .get("/users/:id/groups", ({ params }) => userGroups(sql, feed.current, params.id), {
      params: t.Object({ id: t.String({ minLength: 1, maxLength: 64 }) }),
      detail: { summary: "A user's groups: direct memberships, and every group reached through nesting with its path (from the index)" },
    });
}
