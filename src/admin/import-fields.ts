// What an import holds: its collections, each collection's row model (TypeBox), and the errors
// that name a collection, a row and a field. (The whole import: import.ts.)
import { Kind, type TObject, type TProperties, type TSchema, Type } from "@sinclair/typebox";
import { ValueErrorType } from "@sinclair/typebox/errors";
import { mapDbError } from "../db/errors";
import { ApiError } from "../errors";
import { isValidTimezone } from "../index/clock";
import { windowsProblem } from "../index/schedule";
import type { ScheduleWindow } from "../index/types";
import {
  about, CredentialKind, DisplayName, Effect, Email, GateId, GateMode, Label, Name, NullableDate, Password, Scope, Secret, Timezone, UnlockMs, Windows,
} from "../fields";

export const IMPORT_COLLECTIONS = ["users", "groups", "memberships", "zones", "gates", "schedules", "grants", "credentials"] as const;
export type ImportCollection = (typeof IMPORT_COLLECTIONS)[number];

/** A field JSON null may clear: the model's value, or null. */
const Nullable = <T extends TSchema>(s: T) => Type.Union([s, Type.Null()]);
const Opt = Type.Optional;
const row = <P extends TProperties>(properties: P) => Type.Object(properties, { additionalProperties: false });
const TIME = Opt(NullableDate);

/**
 * The rows each collection takes, as TypeBox models built from the shared field models
 * (src/fields.ts): import-validate.ts compiles and checks them, import-csv.ts reads a cell by its
 * field's model, and the HTTP layer's OpenAPI body schema is these models.
 */
export const IMPORT_MODELS = {
  users: row({
    username: Name,
    email: Opt(Nullable(Email)),
    display_name: Opt(Nullable(DisplayName)),
    password: Opt(Nullable(about(Password, "write-only; stored as an argon2id hash"))),
    active: Opt(Type.Boolean()),
    valid_from: TIME,
    valid_until: TIME,
  }),
  groups: row({
    name: Name,
    parent: Opt(Nullable(about(Name, "the parent group's name (in this import or already stored)"))),
  }),
  memberships: row({ group: about(Name, "group name"), username: Name }),
  zones: row({ name: Name }),
  gates: row({
    id: about(GateId, "a gate's id, e.g. GATE_001"),
    name: Name,
    zone: Opt(Nullable(about(Name, "zone name"))),
    mode: Opt(GateMode),
    unlock_ms: Opt(UnlockMs),
  }),
  schedules: row({
    name: Name,
    timezone: about(Timezone, "IANA name, e.g. Europe/Berlin"),
    windows: about(Windows, 'e.g. [{"days":[1,2,3,4,5],"start":"08:00","end":"18:00"}]'),
  }),
  grants: row({
    group: Opt(about(Name, "subject: a group name (or username)")),
    username: Opt(about(Name, "subject: a username (or group)")),
    gate: Opt(about(GateId, "target: a gate id (or zone)")),
    zone: Opt(about(Name, "target: a zone name (or gate)")),
    effect: Opt(Effect),
    schedule: Opt(Nullable(about(Name, "schedule name"))),
    valid_from: TIME,
    valid_until: TIME,
  }),
  credentials: row({
    username: Name,
    kind: CredentialKind,
    secret: about(Secret, "write-only; stored as its SHA-256"),
    label: Opt(Nullable(Label)),
    // Up to 10 (repeats allowed), where the admin API takes at most the two distinct ones.
    scopes: Opt(Type.Array(Scope, { maxItems: 10, description: 'JSON: ["admin"], ["user"]; CSV: "admin user" (space- or comma-separated)' })),
    expires_at: TIME,
    valid_from: TIME,
  }),
} satisfies Record<ImportCollection, TObject>;

/** A field's own words for what TypeBox finds wrong in it: a message, or by the error's type;
 * null leaves it to the field's check (IMPORT_CHECKS), which words it then. */
export type Wording = string | ((type: ValueErrorType) => string | null);

// A weekday out of range, an empty or fractional list: windowsProblem says which window and why.
const LEFT_TO_WINDOWS = new Set([ValueErrorType.ArrayMinItems, ValueErrorType.NumberMinimum, ValueErrorType.NumberMaximum, ValueErrorType.NumberMultipleOf]);
const HH_MM = "must be HH:MM";
const NOT_A_TIMEZONE = "not an IANA timezone name (e.g. Europe/Berlin)";

/**
 * Per field (by name, in whichever collection), the import's words for problems inside it, keyed
 * by the problem's path in the field (an array index as `#`); the longest matching path words it
 * and names the field with that path (`windows[0].days`). Other problems are worded by their
 * TypeBox error type (import-validate.ts).
 */
export const IMPORT_WORDING: Record<string, Record<string, Wording>> = {
  timezone: { "": NOT_A_TIMEZONE },
  scopes: { "": 'must be a list of scopes ("admin", "user")', "/#": 'must be "admin" or "user"' },
  windows: {
    "": (type) => (type === ValueErrorType.ArrayMaxItems ? "at most 100 windows" : 'must be a list of {"days", "start", "end"}'),
    "/#": 'must be {"days", "start", "end"}',
    "/#/days": (type) => (LEFT_TO_WINDOWS.has(type) ? null : "must be a list of ISO weekdays (1 = Monday … 7 = Sunday)"),
    "/#/start": HH_MM,
    "/#/end": HH_MM,
  },
};

/** What a check found: [the path after the field's name, or "", the message]. */
export type Problem = [string, string];

/**
 * Per field (by name), what TypeBox cannot state, checked after the model: the same timezone
 * and window rules as the admin API. Plain text fields (no format, no check here) also refuse
 * NUL characters, which Postgres text cannot hold (import-validate.ts).
 */
export const IMPORT_CHECKS: Record<string, (value: any) => Problem | null> = {
  timezone: (v: string) => (isValidTimezone(v) ? null : ["", NOT_A_TIMEZONE]),
  windows: (v: ScheduleWindow[]) => {
    const p = windowsProblem(v);
    return p ? [p.field.slice("windows".length), p.message] : null;
  },
};

/** A field's model without its `| null`, and whether JSON null may clear it. */
export function unwrapNullable(s: TSchema): { model: TSchema; nullable: boolean } {
  if (s[Kind] !== "Union") return { model: s, nullable: false };
  const rest = (s.anyOf as TSchema[]).filter((x) => x[Kind] !== "Null");
  return rest.length === 1 && rest.length < s.anyOf.length ? { model: rest[0]!, nullable: true } : { model: s, nullable: false };
}

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
