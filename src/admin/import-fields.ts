// What an import holds: its collections, each collection's fields (type, bounds, nullability),
// and the errors that name a collection, a row and a field. (The whole import: import.ts.)
import { ApiError } from "../errors";
import { mapDbError } from "../db/errors";

export const IMPORT_COLLECTIONS = ["users", "groups", "memberships", "zones", "gates", "schedules", "grants", "credentials"] as const;
export type ImportCollection = (typeof IMPORT_COLLECTIONS)[number];

export type FieldType = "text" | "bool" | "int" | "time" | "enum" | "timezone" | "windows" | "scopes";
export interface FieldSpec {
  type: FieldType;
  required?: boolean;
  /** JSON null accepted: clears the column. */
  nullable?: boolean;
  min?: number;
  max?: number;
  pattern?: RegExp;
  values?: readonly string[];
  description?: string;
}

const NAME: FieldSpec = { type: "text", min: 1, max: 150 };
const GATE_ID: FieldSpec = { type: "text", pattern: /^[A-Za-z0-9_.:-]{1,64}$/, description: "a gate's id, e.g. GATE_001" };
const TIME: FieldSpec = { type: "time", nullable: true };

/** The keys each collection's rows may carry. The HTTP layer builds its OpenAPI schema from this. */
export const IMPORT_FIELDS: Record<ImportCollection, Record<string, FieldSpec>> = {
  users: {
    username: { ...NAME, required: true },
    email: { type: "text", max: 254, nullable: true },
    display_name: { type: "text", max: 200, nullable: true },
    password: { type: "text", min: 8, max: 1024, nullable: true, description: "write-only; stored as an argon2id hash" },
    active: { type: "bool" },
    valid_from: TIME,
    valid_until: TIME,
  },
  groups: {
    name: { ...NAME, required: true },
    parent: { ...NAME, nullable: true, description: "the parent group's name (in this import or already stored)" },
  },
  memberships: {
    group: { ...NAME, required: true, description: "group name" },
    username: { ...NAME, required: true },
  },
  zones: { name: { ...NAME, required: true } },
  gates: {
    id: { ...GATE_ID, required: true },
    name: { ...NAME, required: true },
    zone: { ...NAME, nullable: true, description: "zone name" },
    mode: { type: "enum", values: ["normal", "locked", "disabled"] },
    unlock_ms: { type: "int", min: 0, max: 600000 },
  },
  schedules: {
    name: { ...NAME, required: true },
    timezone: { type: "timezone", required: true, description: "IANA name, e.g. Europe/Berlin" },
    windows: { type: "windows", required: true, description: 'e.g. [{"days":[1,2,3,4,5],"start":"08:00","end":"18:00"}]' },
  },
  grants: {
    group: { ...NAME, description: "subject: a group name (or username)" },
    username: { ...NAME, description: "subject: a username (or group)" },
    gate: { ...GATE_ID, description: "target: a gate id (or zone)" },
    zone: { ...NAME, description: "target: a zone name (or gate)" },
    effect: { type: "enum", values: ["allow", "deny"] },
    schedule: { ...NAME, nullable: true, description: "schedule name" },
    valid_from: TIME,
    valid_until: TIME,
  },
  credentials: {
    username: { ...NAME, required: true },
    kind: { type: "enum", required: true, values: ["card", "pin", "api", "device", "session"] },
    secret: { type: "text", min: 4, max: 512, required: true, description: "write-only; stored as its SHA-256" },
    label: { type: "text", max: 200, nullable: true },
    scopes: { type: "scopes", description: 'JSON: ["admin"], ["user"]; CSV: "admin user" (space- or comma-separated)' },
    expires_at: TIME,
    valid_from: TIME,
  },
};

export type Row = Record<string, any>;
export type ImportData = Partial<Record<ImportCollection, Row[]>>;
/** Per collection, the number to report for each row (default: its 1-based position). */
export type RowNumbers = Partial<Record<ImportCollection, number[]>>;

/**
 * How far an import is, for a progress display: `passwords` — passwords hashed of those to hash
 * (argon2id, the slow part of a users file); a collection — rows written so far, all collections
 * together, of all rows, reported as each collection's upsert completes.
 */
export interface ImportProgress {
  stage: "passwords" | ImportCollection;
  done: number;
  total: number;
}

export interface ImportResult {
  /** Rows in the import, per collection present (each was inserted, updated or already equal). */
  counts: Partial<Record<ImportCollection, number>>;
  /** Of those, rows that did not exist before. */
  inserted: Partial<Record<ImportCollection, number>>;
  /** Of those, existing rows that changed. */
  updated: Partial<Record<ImportCollection, number>>;
}

// ---------------------------------------------------------------------------------------------
// Errors

export function rowError(collection: string, row: number, field: string, message: string, code: "invalid_request" | "conflict" = "invalid_request") {
  return new ApiError(code, `${collection} row ${row}: ${field}: ${message}`, { collection, row, field });
}

/** A database error during one collection's statements, as an API error naming the collection. */
export function importDbError(e: unknown, collection: ImportCollection): unknown {
  const m = mapDbError(e);
  if (m instanceof ApiError) {
    if (m.details?.collection !== undefined) return m;
    return new ApiError(m.code, `${collection}: ${m.message}`, { ...m.details, collection }, m.retryAfter);
  }
  const code: string = (e as any)?.code ?? "";
  // A lock we could not get: the caller may simply retry (deadlocks are mapped by mapDbError).
  if (code === "55P03") {
    return new ApiError("unavailable", "the import collided with a concurrent write; try again", { collection }, 1);
  }
  // Any other data or constraint error is still the file's fault, never a 500.
  if (code.startsWith("22") || code.startsWith("23")) {
    return new ApiError("invalid_request", `${collection}: ${(e as any).message}`, { collection, field: (e as any).column_name ?? "body" });
  }
  return m;
}
