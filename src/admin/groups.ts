// The group hierarchy as the console browses it: one level of the tree at a time, and a user's
// groups — direct memberships from Postgres, and every group reached through nesting (with its
// path) from the index.
import type { Sql } from "../db/client";
import { mapDbError } from "../db/errors";
import { decodeCursor, encodeCursor, type Page } from "../db/pagination";
import { invalid, notFound } from "../errors";
import type { PermissionIndex } from "../index/permission-index";

export interface TreeGroup {
  id: string;
  name: string;
  parent_id: string | null;
  children: number;
  members: number;
}

/** The children of `parentId` (null: the top-level groups), by name, each with its counts. */
export async function groupTree(sql: Sql, parentId: string | null, limit: number, cursor: string | undefined): Promise<Page<TreeGroup>> {
  const after = decodeCursor(cursor);
  try {
    if (parentId !== null) {
      const [p] = await sql`select id from groups where id = ${parentId}`;
      if (!p) throw invalid("parent_id", "no such group");
    }
    const rows = await sql`
      select g.id, g.name, g.parent_id,
             (select count(*) from groups c where c.parent_id = g.id)::int as children,
             (select count(*) from memberships m where m.group_id = g.id)::int as members
      from groups g
      where ${parentId === null ? sql`g.parent_id is null` : sql`g.parent_id = ${parentId}`}
        ${after !== null ? sql`and g.name > ${after}` : sql``}
      order by g.name limit ${limit + 1}`;
    const more = rows.length > limit;
    const items = rows.slice(0, limit).map((r) => ({ id: r.id, name: r.name, parent_id: r.parent_id, children: r.children, members: r.members }));
    return { items, next_cursor: more ? encodeCursor(items[items.length - 1]!.name) : null };
  } catch (e) {
    throw mapDbError(e);
  }
}

/** A user's direct memberships (Postgres) and effective groups with their paths (the index). */
export async function userGroups(sql: Sql, index: PermissionIndex, userId: string) {
  let direct;
  try {
    const [u] = await sql`select id from users where id = ${userId}`;
    if (!u) throw notFound("user");
    direct = await sql`select g.id, g.name, g.parent_id, m.created_at from memberships m join groups g on g.id = m.group_id
                       where m.user_id = ${userId} order by g.name limit 500`;
  } catch (e) {
    throw mapDbError(e);
  }
  const name = (id: string) => index.groups.get(id)?.name ?? id;
  const effective = [...index.effectiveGroups(userId)].map(([id, path]) => ({ id, name: name(id), path: path.map(name) }));
  return {
    direct: direct.map((r) => ({ id: r.id, name: r.name, parent_id: r.parent_id, since: r.created_at.toISOString() })),
    effective,
    revision: index.revision,
  };
}
