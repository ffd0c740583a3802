// Generic admin services over a Collection: keyset-paginated lists and audited writes.
// Plain functions: they take the pool and the actor, never the request.
import type { Sql } from "../db/client";
import { log } from "../log";
import { ApiError, invalid, notFound } from "../errors";
import { decodeCursor, encodeCursor, type Page } from "../db/pagination";
import type { Collection } from "./collections";
import { type Actor, write, type Written } from "./tx";
import { mapDbError } from "../db/errors";

export async function list(
  sql: Sql, c: Collection, limit: number, cursor: string | undefined, query: Record<string, string | undefined> = {},
): Promise<Page<Record<string, unknown>>> {
  const after = decodeCursor(cursor);
  const conds = [sql`true`];
  if (after !== null) conds.push(sql`id > ${after}`);
  for (const [param, column] of Object.entries(c.filters ?? {})) {
    const v = query[param];
    if (v !== undefined && v !== "") conds.push(sql`${sql(column)} = ${v}`);
  }
  const q = query.q;
  if (q !== undefined && q !== "" && c.search) {
    if (q.length > 150) throw invalid("q", "at most 150 characters");
    // Prefix match, case-insensitive; starts_with needs no LIKE escaping. Keyset order stays by id.
    const prefix = q.toLowerCase();
    conds.push(sql`(${c.search.map((col) => sql`starts_with(lower(${sql(col)}), ${prefix})`).reduce((a, b) => sql`${a} or ${b}`)})`);
  }
  const where = conds.reduce((a, b) => sql`${a} and ${b}`);
  try {
    const rows = await sql`select * from ${sql(c.table)} where ${where} order by id limit ${limit + 1}`;
    const more = rows.length > limit;
    const items = rows.slice(0, limit).map(c.toJson);
    return { items, next_cursor: more ? encodeCursor(String(items[items.length - 1]!.id)) : null };
  } catch (e) {
    throw mapDbError(e);
  }
}

export async function get(sql: Sql, c: Collection, id: string): Promise<Record<string, unknown>> {
  try {
    const [row] = await sql`select * from ${sql(c.table)} where id = ${id}`;
    if (!row) throw notFound(c.entity);
    return c.toJson(row);
  } catch (e) {
    throw mapDbError(e);
  }
}

export async function create(sql: Sql, actor: Actor, c: Collection, input: Record<string, any>): Promise<Written<Record<string, unknown>>> {
  try {
    return await write(sql, actor, async (tx, audit) => {
      const row = await c.toRow(tx, input, null);
      const [created] = await tx`insert into ${tx(c.table)} ${tx(row)} returning *`;
      const json = c.toJson(created!);
      audit({ action: "create", entity: c.entity, entityId: created!.id, before: null, after: json });
      const secret = (row as any).secret;
      return secret === undefined ? json : { ...json, secret };
    });
  } catch (e) {
    // A secret must name one credential, so a taken one is refused (409) — which tells an admin
    // that some card number or PIN exists. Accepted (README, "Security decisions"), but never
    // silently: each refusal leaves a line naming the caller, so probing leaves a trail.
    if (e instanceof ApiError && e.code === "conflict" && e.details?.field === "secret") {
      log.warn("credential create refused: the secret is already in use", { actor: actor.credentialId, user_id: input.user_id ?? null, kind: input.kind ?? null });
    }
    throw e;
  }
}

export async function update(sql: Sql, actor: Actor, c: Collection, id: string, input: Record<string, any>): Promise<Written<Record<string, unknown>>> {
  return write(sql, actor, async (tx, audit) => {
    const [existing] = await tx`select * from ${tx(c.table)} where id = ${id} for update`;
    if (!existing) throw notFound(c.entity);
    const row = await c.toRow(tx, input, existing);
    if (Object.keys(row).length === 0) return c.toJson(existing);
    row.updated_at = new Date();
    const [updated] = await tx`update ${tx(c.table)} set ${tx(row)} where id = ${id} returning *`;
    const json = c.toJson(updated!);
    audit({ action: "update", entity: c.entity, entityId: id, before: c.toJson(existing), after: json });
    return json;
  });
}

export async function remove(sql: Sql, actor: Actor, c: Collection, id: string): Promise<Written<{ id: string }>> {
  return write(sql, actor, async (tx, audit) => {
    const [gone] = await tx`delete from ${tx(c.table)} where id = ${id} returning *`;
    if (!gone) throw notFound(c.entity);
    audit({ action: "delete", entity: c.entity, entityId: id, before: c.toJson(gone), after: null });
    return { id };
  });
}

export async function revokeCredential(sql: Sql, actor: Actor, c: Collection, id: string): Promise<Written<Record<string, unknown>>> {
  return write(sql, actor, async (tx, audit) => {
    const [existing] = await tx`select * from credentials where id = ${id} for update`;
    if (!existing) throw notFound("credential");
    if (existing.revoked_at) return c.toJson(existing); // idempotent
    const [row] = await tx`update credentials set revoked_at = now(), updated_at = now() where id = ${id} returning *`;
    const json = c.toJson(row!);
    audit({ action: "revoke", entity: "credential", entityId: id, before: c.toJson(existing), after: json });
    return json;
  });
}

export async function listMembers(sql: Sql, groupId: string, limit: number, cursor: string | undefined) {
  const after = decodeCursor(cursor);
  try {
    const [group] = await sql`select id from groups where id = ${groupId}`;
    if (!group) throw notFound("group");
    const rows = await sql`
      select u.id as user_id, u.username, m.created_at from memberships m join users u on u.id = m.user_id
      where m.group_id = ${groupId} ${after !== null ? sql`and m.user_id > ${after}` : sql``}
      order by m.user_id limit ${limit + 1}`;
    const more = rows.length > limit;
    const items = rows.slice(0, limit).map((r) => ({ user_id: r.user_id, username: r.username, created_at: r.created_at.toISOString() }));
    return { items, next_cursor: more ? encodeCursor(items[items.length - 1]!.user_id) : null };
  } catch (e) {
    throw mapDbError(e);
  }
}

export async function addMember(sql: Sql, actor: Actor, groupId: string, userId: string) {
  return write(sql, actor, async (tx, audit) => {
    const [group] = await tx`select id from groups where id = ${groupId}`;
    if (!group) throw notFound("group");
    const [row] = await tx`insert into memberships (group_id, user_id) values (${groupId}, ${userId})
                           on conflict do nothing returning group_id, user_id`;
    if (!row) throw new ApiError("conflict", "user is already a member", { field: "user_id" });
    const after = { group_id: groupId, user_id: userId };
    audit({ action: "add_member", entity: "group", entityId: groupId, before: null, after });
    return after;
  });
}

export async function removeMember(sql: Sql, actor: Actor, groupId: string, userId: string) {
  return write(sql, actor, async (tx, audit) => {
    const [row] = await tx`delete from memberships where group_id = ${groupId} and user_id = ${userId} returning group_id, user_id`;
    if (!row) throw notFound("membership");
    audit({ action: "remove_member", entity: "group", entityId: groupId, before: { group_id: groupId, user_id: userId }, after: null });
    return { group_id: groupId, user_id: userId };
  });
}
