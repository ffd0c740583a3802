// The audit log, newest first, keyset-paginated on its id.
import type { Sql } from "../db/client";
import { invalid } from "../errors";
import { dateTimeMs } from "../dates";
import { decodeCursor, encodeCursor } from "../db/pagination";
import { mapDbError } from "../db/errors";

export interface AuditFilter {
  entity?: string;
  id?: string;
  actor?: string;
  from?: string;
  to?: string;
}

const time = (field: string, v: string | undefined) => (v === undefined || v === "" ? null : new Date(dateTimeMs(v, field)));

export async function listAudit(sql: Sql, f: AuditFilter, limit: number, cursor: string | undefined) {
  const afterRaw = decodeCursor(cursor);
  const before = afterRaw === null ? null : Number(afterRaw);
  if (before !== null && !Number.isSafeInteger(before)) throw invalid("cursor", "not a cursor this API issued");
  const from = time("from", f.from), to = time("to", f.to);
  const conds = [sql`true`];
  if (before !== null) conds.push(sql`id < ${before}`);
  if (f.entity) conds.push(sql`entity = ${f.entity}`);
  if (f.id) conds.push(sql`entity_id = ${f.id}`);
  if (f.actor) conds.push(sql`actor = ${f.actor}`);
  if (from) conds.push(sql`at >= ${from}`);
  if (to) conds.push(sql`at < ${to}`);
  const where = conds.reduce((a, b) => sql`${a} and ${b}`);
  try {
    const rows = await sql`select * from audit_log where ${where} order by id desc limit ${limit + 1}`;
    const more = rows.length > limit;
    const items = rows.slice(0, limit).map((r) => ({
      id: String(r.id), at: r.at.toISOString(), revision: r.revision, actor: r.actor, action: r.action,
      entity: r.entity, entity_id: r.entity_id, before: r.before, after: r.after,
    }));
    return { items, next_cursor: more ? encodeCursor(items[items.length - 1]!.id) : null };
  } catch (e) {
    throw mapDbError(e);
  }
}
