// The events list: newest first, keyset pagination on (at, id) — no OFFSET, no count(*). Each
// filter combination walks one of the (gate_id, at), (user_id, at) or (at, id) indexes; events of the
// same millisecond come out of the first two in `at` order only, and an Incremental Sort orders
// them by id (sql/0011: the id in those keys cost more to store than that sort costs to read).
import type { Sql } from "../db/client";
import { dateTimeMs, parseDateTime } from "../dates";
import { invalid } from "../errors";
import { decodeCursor, encodeCursor } from "../db/pagination";
import { mapDbError } from "../db/errors";

export interface EventFilter {
  gate_id?: string;
  user_id?: string;
  allow?: string;
  from?: string;
  to?: string;
}

function time(field: string, v: string | undefined): Date | null {
  if (v === undefined || v === "") return null;
  return new Date(dateTimeMs(v, field));
}

/** What a rule with memory recorded (present only on such events). */
function stateOf(r: Record<string, any>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (r.zone_id !== null) out.zone_id = r.zone_id;
  if (r.direction !== null) out.direction = r.direction;
  if (r.flags !== null) out.flags = r.flags;
  if (r.peer_event_id !== null) out.peer_event_id = r.peer_event_id;
  if (r.peer_user_id !== null) out.peer_user_id = r.peer_user_id;
  return out;
}

export async function listEvents(sql: Sql, f: EventFilter, limit: number, cursor: string | undefined) {
  const key = decodeCursor(cursor);
  let after: { at: Date; id: string } | null = null;
  if (key !== null) {
    const [at, id] = key.split("|");
    const t = parseDateTime(at, "cursor");
    if (!t.ok || !id || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) throw invalid("cursor", "not a cursor this API issued");
    // The instant our parser read, not the text: postgres.js gives a timestamptz parameter's text
    // to JavaScript's Date, which reads 23:59:60 as Invalid Date (a 500) and 2026-02-30 as March 2.
    after = { at: new Date(t.ms), id };
  }
  // Postgres text holds no NUL: refused here, naming the filter (not the database's 'body').
  for (const field of ["gate_id", "user_id"] as const) if (f[field]?.includes("\u0000")) throw invalid(field, "must not contain NUL characters");
  let allow: boolean | null = null;
  if (f.allow !== undefined && f.allow !== "") {
    if (f.allow !== "true" && f.allow !== "false") throw invalid("allow", "expected true or false");
    allow = f.allow === "true";
  }
  const from = time("from", f.from), to = time("to", f.to);
  const conds = [sql`true`];
  if (after) conds.push(sql`(at, id) < (${after.at}::timestamptz, ${after.id}::uuid)`);
  if (f.gate_id) conds.push(sql`gate_id = ${f.gate_id}`);
  if (f.user_id) conds.push(sql`user_id = ${f.user_id}`);
  if (allow !== null) conds.push(sql`allow = ${allow}`);
  if (from) conds.push(sql`at >= ${from}`);
  if (to) conds.push(sql`at < ${to}`);
  const where = conds.reduce((a, b) => sql`${a} and ${b}`);
  try {
    const rows = await sql`
      select id, at, gate_id, user_id, allow, reason, revision, zone_id, direction, flags, peer_event_id, peer_user_id
      from access_events where ${where} order by at desc, id desc limit ${limit + 1}`;
    const more = rows.length > limit;
    const items = rows.slice(0, limit).map((r) => ({
      id: r.id as string, at: (r.at as Date).toISOString(), gate_id: r.gate_id, user_id: r.user_id, allow: r.allow,
      reason: r.reason, revision: r.revision, ...stateOf(r),
    }));
    const last = items[items.length - 1];
    // Event times are written with millisecond precision, so the ISO string is exact.
    return { items, next_cursor: more && last ? encodeCursor(`${last.at}|${last.id}`) : null };
  } catch (e) {
    throw mapDbError(e);
  }
}
