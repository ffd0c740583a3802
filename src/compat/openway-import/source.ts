// Reading the openway_access (Django) database: the tables the import needs, checked to be there,
// read whole in the caller's one REPEATABLE READ, read-only transaction (a consistent picture even
// while the old service still runs).
import type postgres from "postgres";

/** A source the import refuses (not an openway_access database, gate codes that are no gate ids). */
export class OpenwayImportError extends Error {}

export interface Source {
  users: Array<{ id: number; username: string; email: string | null; first_name: string | null; last_name: string | null; password: string | null; is_active: boolean }>;
  groups: Array<{ id: number; name: string }>;
  memberships: Array<{ user_id: number; group_id: number }>;
  tokens: Array<{ key: string; user_id: number }>;
  points: Array<{ id: number; code: string; name: string | null }>;
  permissions: Array<{ id: number; access_point_id: number; user_id: number | null; group_id: number | null }>;
  devices: Array<{ id: number; user_id: number; name: string | null; android_device_id: string | null; auth_token: string | null; is_active: boolean; created_at: Date | null }>;
}

const REQUIRED_TABLES = ["auth_user", "auth_group", "auth_user_groups", "authtoken_token", "access_accesspoint", "access_accesspermission", "devices_device"];
const GATE_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Every table but the events (copied in batches by events.ts, with `events`: checked here too). */
export async function readSource(s: postgres.TransactionSql, events: boolean): Promise<Source> {
  const need = events ? [...REQUIRED_TABLES, "access_accessevent"] : REQUIRED_TABLES;
  const present = await s<{ t: string }[]>`select t from unnest(${need}::text[]) t where to_regclass(t) is not null`;
  const missing = need.filter((t) => !present.some((p) => p.t === t));
  if (missing.length) throw new OpenwayImportError(`not an openway_access database: missing table${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`);
  const [users, groups, memberships, tokens, points, permissions, devices] = await Promise.all([
    s`select id::int8 as id, username, email, first_name, last_name, password, is_active from auth_user order by id`,
    s`select id::int8 as id, name from auth_group order by id`,
    s`select user_id::int8 as user_id, group_id::int8 as group_id from auth_user_groups`,
    s`select key, user_id::int8 as user_id from authtoken_token`,
    s`select id::int8 as id, code, name from access_accesspoint order by id`,
    s`select id::int8 as id, access_point_id::int8 as access_point_id, user_id::int8 as user_id, group_id::int8 as group_id
      from access_accesspermission where allow order by id`,
    s`select id::int8 as id, user_id::int8 as user_id, name, android_device_id, auth_token, is_active, created_at from devices_device order by id`,
  ]);
  return { users, groups, memberships, tokens, points, permissions, devices } as unknown as Source;
}

/** Gate codes must be gate ids: refused, naming them, rather than leave gates clients would find unknown. */
export function checkGateCodes(data: Source): void {
  const badCodes = data.points.filter((p) => !GATE_ID.test(p.code)).map((p) => JSON.stringify(p.code));
  if (badCodes.length) {
    throw new OpenwayImportError(`access point codes that are not valid gate ids (letters, digits, _ . : -, up to 64): ${badCodes.slice(0, 20).join(", ")}${badCodes.length > 20 ? ` and ${badCodes.length - 20} more` : ""}`);
  }
}
