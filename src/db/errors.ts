// Postgres errors in the API's words: a lost connection is "unavailable" (retry), a constraint
// violation names the field it guards, a deadlock or serialisation failure asks for a retry.
import { ApiError, conflict, invalid } from "../errors";

// Constraint name → the API field it guards.
const FIELD_OF: Record<string, string> = {
  users_username_key: "username",
  groups_name_key: "name",
  zones_name_key: "name",
  schedules_name_key: "name",
  gates_pkey: "id",
  gates_id_check: "id",
  groups_parent_id_fkey: "parent_id",
  groups_check: "parent_id",
  memberships_pkey: "user_id",
  memberships_user_id_fkey: "user_id",
  memberships_group_id_fkey: "group_id",
  gates_zone_id_fkey: "zone_id",
  grants_subject_user_id_fkey: "subject.user_id",
  grants_subject_group_id_fkey: "subject.group_id",
  grants_target_gate_id_fkey: "target.gate_id",
  grants_target_zone_id_fkey: "target.zone_id",
  grants_schedule_id_fkey: "schedule_id",
  credentials_user_id_fkey: "user_id",
  credentials_secret_hash_key: "secret",
  users_check: "valid_until",
  zones_parent_id_fkey: "parent_id",
  zones_parent_check: "parent_id",
  zones_supervisor_group_id_fkey: "supervisor_group_id",
  zones_supervisor_schedule_id_fkey: "supervisor_schedule_id",
  zones_supervisor_check: "supervisor_schedule_id",
  credentials_host_user_id_fkey: "host_user_id",
  credentials_visitor_check: "host_user_id",
  grants_check2: "valid_until",
};

export function isConnectionError(e: any): boolean {
  const code = e?.code;
  return code === "ECONNREFUSED" || code === "ECONNRESET" || code === "ETIMEDOUT" || code === "EPIPE"
    || code === "CONNECT_TIMEOUT" || code === "CONNECTION_CLOSED" || code === "CONNECTION_ENDED"
    || code === "CONNECTION_DESTROYED" || code === "57P01" || code === "57P02" || code === "57P03"
    || code === "08006" || code === "08001" || code === "08003" || code === "08P01" // every code retry.ts counts as a dead connection, too
    || code === "53300"; // too_many_connections: Postgres is there but takes no more clients — unavailable, not a bug
}

export function mapDbError(e: any): unknown {
  if (e instanceof ApiError) return e;
  if (isConnectionError(e)) return new ApiError("unavailable", "the database is unreachable; try again shortly", undefined, 1);
  const field = FIELD_OF[e?.constraint_name] ?? e?.column_name ?? "body";
  switch (e?.code) {
    case "23505":
      return conflict(field, `${field} already exists`);
    case "23503":
      // Deleting a row others still refer to is a conflict; referring to a missing row is bad input.
      return /still referenced|update or delete/.test(e.message ?? "")
        ? conflict(field, `still in use (${e.table_name ?? "referenced"})`)
        : invalid(field, "refers to a row that does not exist");
    case "23001":
      // restrict_violation: Postgres 18 reports an ON DELETE RESTRICT reference with its own code
      // (15 used 23503 for it); the same answer either way.
      return conflict(field, `still in use (${e.table_name ?? "referenced"})`);
    case "23514":
    case "23502":
    case "22007":
    case "22008":
    case "22P02":
    case "22003":
    case "22001":
    case "22021": // a NUL byte (\u0000 in JSON, %00 in a path) that Postgres text cannot hold
      return invalid(field, e.message ?? "invalid value");
    case "40P01":
    case "40001":
      return new ApiError("unavailable", "a concurrent write got in the way; try again", undefined, 1);
    case "57014":
      return new ApiError("unavailable", "the database took too long; try again", undefined, 1);
  }
  return e;
}
