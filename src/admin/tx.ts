// One transaction per admin write: the change, its audit rows and its revision commit together
// or not at all. Postgres constraint violations become API errors naming the field.
import type { Sql } from "../db/client";
import { ApiError, conflict, invalid } from "../errors";

/** Told when an admin write transaction begins and ends (the service's metrics count them). */
export interface WriteObserver {
  begin(): void;
  end(): void;
}

// Per pool: each service registers its own observer for its own Sql (two services in one process
// count only their own writes), and this module needs to know nothing of metrics.
const observers = new WeakMap<Sql, WriteObserver>();

/** Reports `sql`'s admin writes in flight to `observer`. */
export function observeWrites(sql: Sql, observer: WriteObserver): void {
  observers.set(sql, observer);
}

export type Tx = Parameters<Parameters<Sql["begin"]>[1]>[0];

export interface Actor {
  /** Credential id of the caller; null for the CLI and bootstrap. */
  credentialId: string | null;
}

export interface AuditEntry {
  action: string;
  entity: string;
  entityId: string | null;
  before: unknown;
  after: unknown;
}

export interface Written<T> {
  value: T;
  revision: number;
}

/** Runs `fn` in a transaction, records its audit entries, and answers the revision that holds it. */
export async function write<T>(
  sql: Sql,
  actor: Actor,
  fn: (tx: Tx, audit: (e: AuditEntry) => void) => Promise<T>,
): Promise<Written<T>> {
  const observer = observers.get(sql);
  observer?.begin();
  try {
    return await sql.begin(async (tx) => {
      // Take the revision row first: admin writes serialise on it anyway (at their first change),
      // and taking it up front gives every writer the same lock order — no deadlocks between,
      // say, a bulk import and a PATCH of a row it touches.
      await tx`select n from pcl_revision for update`;
      const entries: AuditEntry[] = [];
      const value = await fn(tx, (e) => entries.push(e));
      // The revision the triggers took, or — when nothing changed — the current one.
      const { rev } = (await tx<{ rev: number }[]>`
        select coalesce(nullif(current_setting('pcl.revision', true), '')::int8,
                        (select n from pcl_revision)) as rev`)[0]!;
      for (const e of entries) {
        await tx`insert into audit_log (revision, actor, action, entity, entity_id, before, after)
                 values (${rev}, ${actor.credentialId}, ${e.action}, ${e.entity}, ${e.entityId},
                         ${tx.json(stripSecrets(e.before) as any)}, ${tx.json(stripSecrets(e.after) as any)})`;
      }
      return { value, revision: rev };
    }) as Written<T>;
  } catch (e) {
    throw mapDbError(e);
  } finally {
    observer?.end();
  }
}

const SECRET_FIELDS = new Set(["password", "password_hash", "secret", "secret_hash", "token"]);

/** Audit rows never hold a secret or a hash of one. */
export function stripSecrets(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (!SECRET_FIELDS.has(k)) out[k] = x;
  return out;
}

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
  grants_check2: "valid_until",
};

export function isConnectionError(e: any): boolean {
  const code = e?.code;
  return code === "ECONNREFUSED" || code === "ECONNRESET" || code === "ETIMEDOUT" || code === "EPIPE"
    || code === "CONNECT_TIMEOUT" || code === "CONNECTION_CLOSED" || code === "CONNECTION_ENDED"
    || code === "CONNECTION_DESTROYED" || code === "57P01" || code === "57P03" || code === "08006" || code === "08001";
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
