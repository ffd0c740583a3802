// Bulk import: users, groups, memberships, zones, gates, schedules, grants and credentials, rows
// referring to each other by natural keys (username, group/zone/schedule name, gate id), upserted
// in ONE transaction (one revision, one audit row) with set-based statements: each collection is
// one `insert … select … from unnest(<arrays>) … on conflict … do update` (plus a few set-based
// helpers), never a statement per row, so 100k rows take seconds.
//
// Order of work, so that a bad file costs no database writes:
//   1. every row is checked in memory (types, required keys, enums, RFC 3339 times, timezones,
//      windows, duplicates within the file); the first problem answers 400 naming collection,
//      row (1-based; for CSV the line in the file, header = line 1) and field;
//   2. passwords are hashed (argon2id, concurrently; an unchanged password keeps its hash);
//   3. in the transaction: the revision lock, then references to rows that are not in the file
//      are looked up in Postgres (one query per kind of reference), then the upserts.
//
// Upsert semantics
//   - A key that is absent from a row (or an empty CSV cell) leaves that column alone on an
//     existing row and takes the column's default on a new one; JSON `null` clears a nullable
//     column. So re-importing a users file without `active` never reactivates anybody, and a file
//     without passwords never removes one. Unchanged rows are not written at all (no revision,
//     no change-log churn): re-importing the same file is a no-op.
//   - Grants have no natural key in the schema. A grant is identified by
//     (subject, target, effect, schedule): the same subject may be allowed at the same target
//     under two different schedules, and an allow and a deny for the same pair are two rules;
//     the validity window is an attribute of the rule, replaced by the import (absent = open),
//     because a grant row in a file describes the whole rule. Re-importing a file never
//     duplicates a grant. (The schema has no unique index on that identity — CRUD may create
//     twins — so instead of `on conflict` this is one set-based update of the matching grants
//     plus one `insert … where not exists`; two imports cannot interleave, since each holds the
//     revision lock throughout. A unique index on the identity would make it one statement.)
//   - Credentials are identified by the SHA-256 of their secret (the only thing stored). A secret
//     that already belongs to another user's credential, or to one of another kind, is refused
//     with 409: an import never moves a credential between users. A revoked credential stays
//     revoked: re-importing its secret updates label/scopes/dates but does not resurrect it.
//   - Groups and zones have nothing but their name (and parent): existing ones are kept.
//   - An import adds and updates, it never deletes: rows (and memberships) not in the file stay.
import { dateTimeMs, parseDateTime } from "../dates";
import type { Sql } from "../db/client";
import { ApiError } from "../errors";
import { isValidTimezone } from "../index/clock";
import { windowsProblem } from "../index/schedule";
import type { ScheduleWindow } from "../index/types";
import { hashSecret } from "../tokens";
import { CsvError, parseCsv } from "./csv";
import { type Actor, type Tx, write, type Written } from "./tx";
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

type Row = Record<string, any>;
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

// ---------------------------------------------------------------------------------------------
// Field checks (pure)

function hasNul(s: string): boolean {
  return s.includes("\u0000");
}

/** Why `v` does not fit `f`: [field suffix or "", message], or null when it fits. */
function fieldProblem(f: FieldSpec, v: unknown): [string, string] | null {
  switch (f.type) {
    case "text":
      if (typeof v !== "string") return ["", "must be a string"];
      if (f.min !== undefined && v.length < f.min) return ["", f.min === 1 ? "must not be empty" : `must be at least ${f.min} characters`];
      if (f.max !== undefined && v.length > f.max) return ["", `must be at most ${f.max} characters`];
      if (f.pattern && !f.pattern.test(v)) return ["", `must match ${f.pattern.source}`];
      if (hasNul(v)) return ["", "must not contain NUL characters"];
      return null;
    case "bool":
      return typeof v === "boolean" ? null : ["", "must be true or false"];
    case "int":
      if (typeof v !== "number" || !Number.isInteger(v)) return ["", "must be an integer"];
      if (v < f.min! || v > f.max!) return ["", `must be from ${f.min} to ${f.max}`];
      return null;
    case "time": {
      const r = parseDateTime(v, "");
      return r.ok ? null : ["", r.message];
    }
    case "enum":
      return typeof v === "string" && f.values!.includes(v) ? null : ["", `must be one of ${f.values!.join(", ")}`];
    case "timezone":
      return typeof v === "string" && isValidTimezone(v) ? null : ["", "not an IANA timezone name (e.g. Europe/Berlin)"];
    case "scopes":
      if (!Array.isArray(v) || v.length > 10) return ["", 'must be a list of scopes ("admin", "user")'];
      for (let i = 0; i < v.length; i++) if (v[i] !== "admin" && v[i] !== "user") return [`[${i}]`, 'must be "admin" or "user"'];
      return null;
    case "windows": {
      if (!Array.isArray(v)) return ["", 'must be a list of {"days", "start", "end"}'];
      if (v.length > 100) return ["", "at most 100 windows"];
      for (let i = 0; i < v.length; i++) {
        const w = v[i];
        if (typeof w !== "object" || w === null || Array.isArray(w)) return [`[${i}]`, 'must be {"days", "start", "end"}'];
        for (const k of Object.keys(w)) if (k !== "days" && k !== "start" && k !== "end") return [`[${i}].${k}`, "unknown field"];
        if (!Array.isArray(w.days) || w.days.length > 7 || !w.days.every((d: unknown) => typeof d === "number")) return [`[${i}].days`, "must be a list of ISO weekdays (1 = Monday … 7 = Sunday)"];
        if (typeof w.start !== "string") return [`[${i}].start`, "must be HH:MM"];
        if (typeof w.end !== "string") return [`[${i}].end`, "must be HH:MM"];
      }
      const p = windowsProblem(v as ScheduleWindow[]);
      return p ? [p.field.slice("windows".length), p.message] : null;
    }
  }
}

/** Checks a row against its collection's fields; throws the first problem. */
function checkRow(c: ImportCollection, fields: [string, FieldSpec][], spec: Record<string, FieldSpec>, row: unknown, rowNo: number): asserts row is Row {
  if (typeof row !== "object" || row === null || Array.isArray(row)) throw rowError(c, rowNo, "row", "must be an object");
  for (const k in row) if (!Object.hasOwn(spec, k)) throw rowError(c, rowNo, k, "unknown field");
  for (const [k, f] of fields) {
    const v = (row as Row)[k];
    if (v === undefined || (v === null && f.required)) {
      if (f.required) throw rowError(c, rowNo, k, "required");
      continue;
    }
    if (v === null) {
      if (!f.nullable) throw rowError(c, rowNo, k, "must not be null");
      continue;
    }
    const p = fieldProblem(f, v);
    if (p) throw rowError(c, rowNo, k + p[0], p[1]);
  }
}

const ms = (v: unknown) => (typeof v === "string" ? dateTimeMs(v, "") : null); // rows are checked before
const iso = (v: unknown) => (typeof v === "string" ? new Date(dateTimeMs(v, "")).toISOString() : null);

// ---------------------------------------------------------------------------------------------
// Validation of the whole import (no I/O)

interface Part {
  c: ImportCollection;
  rows: Row[];
  rowNo: (i: number) => number;
}

interface Plan {
  parts: Partial<Record<ImportCollection, Part>>;
  /** Per credential row: the SHA-256 of its secret, the credential's identity. */
  secretHashes: string[];
  /** Per user row: the argon2id hash to store, or undefined to leave the column alone. */
  passwordHashes: (string | null | undefined)[];
}

export function validateImport(data: unknown, rowNumbers: RowNumbers = {}): Plan {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new ApiError("invalid_request", "body: expected an object of collections", { field: "body" });
  }
  for (const k of Object.keys(data)) {
    if (!(IMPORT_COLLECTIONS as readonly string[]).includes(k)) {
      throw new ApiError("invalid_request", `${k}: unknown collection (one of ${IMPORT_COLLECTIONS.join(", ")})`, { collection: k, field: k });
    }
  }
  const parts: Plan["parts"] = {};
  for (const c of IMPORT_COLLECTIONS) {
    const rows = (data as Record<string, unknown>)[c];
    if (rows === undefined) continue;
    if (!Array.isArray(rows)) throw new ApiError("invalid_request", `${c}: must be a list of rows`, { collection: c, field: c });
    const numbers = rowNumbers[c];
    const rowNo = numbers ? (i: number) => numbers[i]! : (i: number) => i + 1;
    const spec = IMPORT_FIELDS[c];
    const fields = Object.entries(spec);
    for (let i = 0; i < rows.length; i++) checkRow(c, fields, spec, rows[i], rowNo(i));
    checkSemantics(c, rows, rowNo);
    parts[c] = { c, rows, rowNo };
  }
  return { parts, passwordHashes: [], secretHashes: (parts.credentials?.rows ?? []).map((r) => hashSecret(r.secret)) };
}

/** Rules across a row's fields, and duplicates within the file. */
function checkSemantics(c: ImportCollection, rows: Row[], rowNo: (i: number) => number): void {
  const seen = new Map<string, number>();
  const unique = (i: number, key: string, field: string, what = field) => {
    const first = seen.get(key);
    if (first !== undefined) throw rowError(c, rowNo(i), field, `the same ${what} as row ${rowNo(first)}`);
    seen.set(key, i);
  };
  const window = (i: number, r: Row, from: string, until: string) => {
    const a = ms(r[from]), b = ms(r[until]);
    if (a !== null && b !== null && a >= b) throw rowError(c, rowNo(i), until, `must be after ${from}`);
  };
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    switch (c) {
      case "users":
        unique(i, r.username, "username");
        window(i, r, "valid_from", "valid_until");
        break;
      case "groups":
        unique(i, r.name, "name");
        if (r.parent === r.name) throw rowError(c, rowNo(i), "parent", "a group cannot be its own parent");
        break;
      case "memberships":
        unique(i, `${r.group}\u0000${r.username}`, "username", "group and username");
        break;
      case "zones":
      case "schedules":
        unique(i, r.name, "name");
        break;
      case "gates":
        unique(i, r.id, "id");
        break;
      case "grants": {
        if ((r.group === undefined) === (r.username === undefined)) {
          throw rowError(c, rowNo(i), r.group === undefined ? "group" : "username", "give exactly one subject: group or username");
        }
        if ((r.gate === undefined) === (r.zone === undefined)) {
          throw rowError(c, rowNo(i), r.gate === undefined ? "gate" : "zone", "give exactly one target: gate or zone");
        }
        window(i, r, "valid_from", "valid_until");
        const key = [r.group === undefined ? "u" : "g", r.group ?? r.username, r.gate === undefined ? "z" : "t", r.gate ?? r.zone, r.effect ?? "allow", r.schedule ?? ""].join("\u0000");
        unique(i, key, r.group === undefined ? "username" : "group", "grant (subject, target, effect, schedule)");
        break;
      }
      case "credentials":
        unique(i, r.secret, "secret");
        window(i, r, "valid_from", "expires_at");
        break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// CSV

const CSV_BOOL: Record<string, boolean> = { true: true, false: false, "1": true, "0": false, yes: true, no: false };

/**
 * A CSV file of one collection → the rows importData takes, with each row's line number.
 * The header row names the collection's keys (any order; unknown or repeated → 400). An empty
 * cell is an absent key (so CSV cannot clear a column; use JSON null). Cells are text except:
 * `active` true/false (also 1/0, yes/no), `unlock_ms` an integer, `windows` a JSON list,
 * `scopes` scope names separated by spaces or commas ("admin user").
 */
export function csvToImport(collection: string, text: string): { data: ImportData; rowNumbers: RowNumbers } {
  if (!(IMPORT_COLLECTIONS as readonly string[]).includes(collection)) {
    throw new ApiError("invalid_request", `collection: unknown collection "${collection}" (one of ${IMPORT_COLLECTIONS.join(", ")})`, { field: "collection" });
  }
  const c = collection as ImportCollection;
  const spec = IMPORT_FIELDS[c];
  let records;
  try {
    records = parseCsv(text);
  } catch (e) {
    if (e instanceof CsvError) throw rowError(c, e.line, "body", e.message.replace(/^line \d+: /, ""));
    throw e;
  }
  if (records.length === 0) throw rowError(c, 1, "body", "a header row is required");
  const header = records[0]!.cells.map((h) => h.trim());
  const headerLine = records[0]!.line;
  header.forEach((h, j) => {
    if (!Object.hasOwn(spec, h)) throw rowError(c, headerLine, h || `column ${j + 1}`, `unknown column (${c} has: ${Object.keys(spec).join(", ")})`);
    if (header.indexOf(h) !== j) throw rowError(c, headerLine, h, "repeated column");
  });
  for (const [k, f] of Object.entries(spec)) if (f.required && !header.includes(k)) throw rowError(c, headerLine, k, "required column missing");
  const types = header.map((h) => spec[h]!.type);
  const rows: Row[] = [];
  const lines: number[] = [];
  for (let r = 1; r < records.length; r++) {
    const { line, cells } = records[r]!;
    if (cells.length !== header.length) {
      throw rowError(c, line, cells.length < header.length ? header[cells.length]! : "row", `the row has ${cells.length} fields, the header ${header.length}`);
    }
    const row: Row = {};
    for (let j = 0; j < cells.length; j++) {
      const cell = cells[j]!;
      if (cell === "") continue;
      const h = header[j]!;
      switch (types[j]) {
        case "bool": {
          const b = CSV_BOOL[cell.trim().toLowerCase()];
          if (b === undefined) throw rowError(c, line, h, "must be true or false");
          row[h] = b;
          break;
        }
        case "int":
          if (!/^\s*-?\d{1,9}\s*$/.test(cell)) throw rowError(c, line, h, "must be an integer");
          row[h] = Number(cell);
          break;
        case "windows":
          try {
            row[h] = JSON.parse(cell);
          } catch {
            throw rowError(c, line, h, 'must be a JSON list, e.g. [{"days":[1,2,3,4,5],"start":"08:00","end":"18:00"}]');
          }
          break;
        case "scopes":
          row[h] = cell.split(/[\s,]+/).filter((s) => s !== "");
          break;
        default:
          row[h] = cell;
      }
    }
    rows.push(row);
    lines.push(line);
  }
  return { data: { [c]: rows }, rowNumbers: { [c]: lines } };
}

// ---------------------------------------------------------------------------------------------
// SQL helpers

/** A Postgres array literal of text (NULL for null/undefined): sent as one text parameter and
 *  cast in SQL (`::text[]`, `::timestamptz[]`, `::bool[]` …). Independent of postgres.js's array
 *  type inference, which needs the array type oids fetched first. */
export function pgArray(xs: ArrayLike<unknown>): string {
  const parts = new Array<string>(xs.length);
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (x === null || x === undefined) parts[i] = "NULL";
    else {
      const s = String(x);
      parts[i] = /[\\"]/.test(s) ? `"${s.replace(/[\\"]/g, "\\$&")}"` : `"${s}"`;
    }
  }
  return `{${parts.join(",")}}`;
}

/** Bit i of the result is set when key i is present (not undefined) in the row. */
function presence(r: Row, keys: string[]): number {
  let m = 0;
  for (let i = 0; i < keys.length; i++) if (r[keys[i]!] !== undefined) m |= 1 << i;
  return m;
}

const col = <T>(rows: Row[], f: (r: Row, i: number) => T): T[] => rows.map(f);

// ---------------------------------------------------------------------------------------------
// References that are not in the file, checked set-based against Postgres

type RefKind = "user" | "group" | "zone" | "gate" | "schedule";
const REF_SOURCE: Record<RefKind, { c: ImportCollection; key: string; table: string; column: string }> = {
  user: { c: "users", key: "username", table: "users", column: "username" },
  group: { c: "groups", key: "name", table: "groups", column: "name" },
  zone: { c: "zones", key: "name", table: "zones", column: "name" },
  gate: { c: "gates", key: "id", table: "gates", column: "id" },
  schedule: { c: "schedules", key: "name", table: "schedules", column: "name" },
};
const REFS: Partial<Record<ImportCollection, [string, RefKind][]>> = {
  groups: [["parent", "group"]],
  memberships: [["group", "group"], ["username", "user"]],
  gates: [["zone", "zone"]],
  grants: [["group", "group"], ["username", "user"], ["gate", "gate"], ["zone", "zone"], ["schedule", "schedule"]],
  credentials: [["username", "user"]],
};

async function checkReferences(tx: Tx, plan: Plan): Promise<void> {
  const inFile = {} as Record<RefKind, Set<string>>;
  const wanted = {} as Record<RefKind, Set<string>>;
  for (const kind of Object.keys(REF_SOURCE) as RefKind[]) {
    const src = REF_SOURCE[kind];
    inFile[kind] = new Set((plan.parts[src.c]?.rows ?? []).map((r) => r[src.key]));
    wanted[kind] = new Set();
  }
  for (const [c, refs] of Object.entries(REFS) as [ImportCollection, [string, RefKind][]][]) {
    for (const r of plan.parts[c]?.rows ?? []) {
      for (const [field, kind] of refs) {
        const v = r[field];
        if (typeof v === "string" && !inFile[kind].has(v)) wanted[kind].add(v);
      }
    }
  }
  const stored = {} as Record<RefKind, Set<string>>;
  for (const kind of Object.keys(REF_SOURCE) as RefKind[]) {
    const src = REF_SOURCE[kind];
    stored[kind] = new Set();
    if (wanted[kind].size === 0) continue;
    const rows = await tx`select ${tx(src.column)} as k from ${tx(src.table)} where ${tx(src.column)} = any(${pgArray([...wanted[kind]])}::text[])`;
    for (const row of rows) stored[kind].add(row.k);
  }
  for (const c of IMPORT_COLLECTIONS) {
    const refs = REFS[c];
    const part = plan.parts[c];
    if (!refs || !part) continue;
    part.rows.forEach((r, i) => {
      for (const [field, kind] of refs) {
        const v = r[field];
        if (typeof v === "string" && !inFile[kind].has(v) && !stored[kind].has(v)) {
          throw rowError(c, part.rowNo(i), field, `unknown ${kind} "${v}" (neither in this import nor stored)`);
        }
      }
    });
  }
}

/**
 * Rows that give only one end of a validity window: the other end comes from the stored row, and
 * the merged window must still be a window. One query for all such rows.
 */
async function checkMergedWindows(
  tx: Tx, part: Part | undefined, table: "users" | "credentials", keyOf: (r: Row, i: number) => string, keySql: string, from: string, until: string,
): Promise<void> {
  if (!part) return;
  const idx: number[] = [];
  part.rows.forEach((r, i) => {
    if ((r[from] === undefined) !== (r[until] === undefined)) idx.push(i);
  });
  if (idx.length === 0) return;
  const rows = idx.map((i) => part.rows[i]!);
  const [bad] = await tx`
    select s.ord from unnest(${pgArray(idx.map((i) => keyOf(part.rows[i]!, i)))}::text[], ${pgArray(rows.map((r) => iso(r[from])))}::timestamptz[],
                             ${pgArray(rows.map((r) => r[from] !== undefined))}::bool[], ${pgArray(rows.map((r) => iso(r[until])))}::timestamptz[],
                             ${pgArray(rows.map((r) => r[until] !== undefined))}::bool[]) with ordinality as s(k, f, has_f, u, has_u, ord)
    join ${tx(table)} e on e.${tx(keySql)} = s.k
    where (case when s.has_f then s.f else e.${tx(from)} end) >= (case when s.has_u then s.u else e.${tx(until)} end)
    order by s.ord limit 1`;
  if (bad) {
    const i = idx[Number(bad.ord) - 1]!;
    const field = part.rows[i]![from] === undefined ? until : from;
    throw rowError(part.c, part.rowNo(i), field, `${until} must be after ${from} (the other end is the stored one)`);
  }
}

/** An import never moves a credential to another user or changes its kind. */
async function checkCredentialOwners(tx: Tx, part: Part | undefined, hashes: string[]): Promise<void> {
  if (!part || part.rows.length === 0) return;
  const [bad] = await tx`
    select s.ord, u.username <> s.username as other_user
    from unnest(${pgArray(hashes)}::text[], ${pgArray(part.rows.map((r) => r.username))}::text[],
                ${pgArray(part.rows.map((r) => r.kind))}::text[]) with ordinality as s(h, username, kind, ord)
    join credentials c on c.secret_hash = s.h join users u on u.id = c.user_id
    where u.username <> s.username or c.kind <> s.kind
    order by s.ord limit 1`;
  if (bad) {
    const i = Number(bad.ord) - 1;
    throw rowError(part.c, part.rowNo(i), "secret", bad.other_user ? "already belongs to another user's credential" : "already belongs to a credential of another kind", "conflict");
  }
}

// ---------------------------------------------------------------------------------------------
// Passwords

/** argon2id for rows with a password, concurrently; a password equal to the stored one keeps its hash. */
async function hashPasswords(sql: Sql, plan: Plan, onProgress?: (p: ImportProgress) => void): Promise<void> {
  const rows = plan.parts.users?.rows ?? [];
  const out: (string | null | undefined)[] = new Array(rows.length).fill(undefined);
  const withPassword: number[] = [];
  rows.forEach((r, i) => {
    if (r.password === null) out[i] = null;
    else if (typeof r.password === "string") withPassword.push(i);
  });
  if (withPassword.length > 0) {
    const stored = new Map<string, string>();
    try {
      const found = await sql`select username, password_hash from users
                              where password_hash is not null and username = any(${pgArray(withPassword.map((i) => rows[i]!.username))}::text[])`;
      for (const f of found) stored.set(f.username, f.password_hash);
    } catch (e) {
      throw mapDbError(e);
    }
    let hashed = 0;
    await Promise.all(withPassword.map(async (i) => {
      const r = rows[i]!;
      const old = stored.get(r.username);
      if (old !== undefined && (await Bun.password.verify(r.password, old).catch(() => false))) { // unchanged
        onProgress?.({ stage: "passwords", done: ++hashed, total: withPassword.length });
        return;
      }
      out[i] = await Bun.password.hash(r.password, "argon2id");
      onProgress?.({ stage: "passwords", done: ++hashed, total: withPassword.length });
    }));
  }
  plan.passwordHashes = out;
}

// ---------------------------------------------------------------------------------------------
// The upserts, one collection at a time, in dependency order

type Counts = { inserted: number; updated: number };

async function upsertUsers(tx: Tx, part: Part, hashes: (string | null | undefined)[]): Promise<Counts> {
  const rows = part.rows;
  const keys = ["email", "display_name", "password", "active", "valid_from", "valid_until"];
  // The password bit follows the hash: an unchanged password leaves the stored hash alone.
  const mask = rows.map((r, i) => (presence(r, keys) & ~4) | (hashes[i] !== undefined ? 4 : 0));
  // m: each row merged with the stored one (absent key = stored value); only new or changed rows
  // reach the insert, so unchanged rows are neither locked nor written.
  const [c] = await tx`
    with ins as (
      insert into users as t (username, email, display_name, password_hash, active, valid_from, valid_until)
      select m.username, m.email, m.display_name, m.password_hash, m.active, m.valid_from, m.valid_until
      from (
        select s.username, e.id as old_id,
               case when s.m & 1 <> 0 then s.email else e.email end as email,
               case when s.m & 2 <> 0 then s.display_name else e.display_name end as display_name,
               case when s.m & 4 <> 0 then s.password_hash else e.password_hash end as password_hash,
               case when s.m & 8 <> 0 then s.active else coalesce(e.active, true) end as active,
               case when s.m & 16 <> 0 then s.valid_from else e.valid_from end as valid_from,
               case when s.m & 32 <> 0 then s.valid_until else e.valid_until end as valid_until,
               e.email as o_email, e.display_name as o_display_name, e.password_hash as o_password_hash,
               e.active as o_active, e.valid_from as o_valid_from, e.valid_until as o_valid_until
        from unnest(${pgArray(col(rows, (r) => r.username))}::text[], ${pgArray(col(rows, (r) => r.email))}::text[],
                    ${pgArray(col(rows, (r) => r.display_name))}::text[], ${pgArray(hashes)}::text[],
                    ${pgArray(col(rows, (r) => r.active))}::bool[], ${pgArray(col(rows, (r) => iso(r.valid_from)))}::timestamptz[],
                    ${pgArray(col(rows, (r) => iso(r.valid_until)))}::timestamptz[], ${pgArray(mask)}::int4[])
             as s(username, email, display_name, password_hash, active, valid_from, valid_until, m)
        left join users e on e.username = s.username) m
      where m.old_id is null
         or (m.email, m.display_name, m.password_hash, m.active, m.valid_from, m.valid_until)
            is distinct from (m.o_email, m.o_display_name, m.o_password_hash, m.o_active, m.o_valid_from, m.o_valid_until)
      on conflict (username) do update
        set email = excluded.email, display_name = excluded.display_name, password_hash = excluded.password_hash,
            active = excluded.active, valid_from = excluded.valid_from, valid_until = excluded.valid_until, updated_at = now()
      returning xmax = 0 as inserted)
    select count(*) filter (where inserted)::int as inserted, count(*) filter (where not inserted)::int as updated from ins`;
  return c as unknown as Counts;
}

async function upsertGroups(tx: Tx, part: Part): Promise<Counts> {
  const rows = part.rows;
  const created = await tx`
    insert into groups (name) select n from unnest(${pgArray(col(rows, (r) => r.name))}::text[]) as n
    on conflict (name) do nothing returning name`;
  const isNew = new Set(created.map((r) => r.name));
  // Parents after every group of the file exists, so a parent may come later in the list.
  const withParent = rows.filter((r) => r.parent !== undefined);
  let updated = 0;
  if (withParent.length > 0) {
    const moved = await tx`
      update groups g set parent_id = p.id, updated_at = now()
      from unnest(${pgArray(col(withParent, (r) => r.name))}::text[], ${pgArray(col(withParent, (r) => r.parent))}::text[]) as s(name, parent)
      left join groups p on p.name = s.parent
      where g.name = s.name and g.parent_id is distinct from p.id
      returning g.id, g.name`;
    updated = moved.filter((r) => !isNew.has(r.name)).length;
    if (moved.length > 0) await checkGroupCycles(tx, part, moved.map((r) => r.id));
  }
  return { inserted: created.length, updated };
}

/** Any cycle now runs through a group whose parent this import set: walk up from those. */
async function checkGroupCycles(tx: Tx, part: Part, ids: string[]): Promise<void> {
  const [cycle] = await tx<{ names: string[] | null }[]>`
    with recursive up(start, id) as (
      select g.id, g.parent_id from groups g where g.id = any(${pgArray(ids)}::text[]) and g.parent_id is not null
      union
      select up.start, g.parent_id from up join groups g on g.id = up.id
      where g.parent_id is not null and up.id <> up.start)
    select array_agg(g.name) as names from up join groups g on g.id = up.start where up.id = up.start`;
  if (cycle?.names) {
    // Every group on the cycle is found; name the first of them in the file.
    const onCycle = new Set<string>(cycle.names);
    const i = part.rows.findIndex((r) => onCycle.has(r.name));
    throw rowError("groups", part.rowNo(Math.max(i, 0)), "parent", `would make the group its own ancestor (cycle through ${[...onCycle].sort().join(", ")})`);
  }
}

async function upsertMemberships(tx: Tx, part: Part): Promise<Counts> {
  const rows = part.rows;
  // The anti-join skips stored memberships cheaply; `on conflict` covers a concurrent insert.
  const [c] = await tx`
    with ins as (
      insert into memberships (group_id, user_id)
      select g.id, u.id
      from unnest(${pgArray(col(rows, (r) => r.group))}::text[], ${pgArray(col(rows, (r) => r.username))}::text[]) as s(grp, username)
      join groups g on g.name = s.grp join users u on u.username = s.username
      where not exists (select 1 from memberships x where x.group_id = g.id and x.user_id = u.id)
      on conflict (group_id, user_id) do nothing
      returning 1)
    select count(*)::int as inserted, 0 as updated from ins`;
  return c as unknown as Counts;
}

async function upsertZones(tx: Tx, part: Part): Promise<Counts> {
  const [c] = await tx`
    with ins as (
      insert into zones (name) select n from unnest(${pgArray(col(part.rows, (r) => r.name))}::text[]) as n
      on conflict (name) do nothing returning 1)
    select count(*)::int as inserted, 0 as updated from ins`;
  return c as unknown as Counts;
}

async function upsertGates(tx: Tx, part: Part): Promise<Counts> {
  const rows = part.rows;
  const mask = rows.map((r) => presence(r, ["zone", "mode", "unlock_ms"]));
  // Defaults for new gates ('normal', 800) are the schema's column defaults.
  const [c] = await tx`
    with ins as (
      insert into gates as t (id, name, zone_id, mode, unlock_ms)
      select m.id, m.name, m.zone_id, m.mode, m.unlock_ms
      from (
        select s.id, s.name, e.id as old_id,
               case when s.m & 1 <> 0 then z.id else e.zone_id end as zone_id,
               case when s.m & 2 <> 0 then s.mode else coalesce(e.mode, 'normal') end as mode,
               case when s.m & 4 <> 0 then s.unlock_ms else coalesce(e.unlock_ms, 800) end as unlock_ms,
               e.name as o_name, e.zone_id as o_zone_id, e.mode as o_mode, e.unlock_ms as o_unlock_ms
        from unnest(${pgArray(col(rows, (r) => r.id))}::text[], ${pgArray(col(rows, (r) => r.name))}::text[],
                    ${pgArray(col(rows, (r) => r.zone))}::text[], ${pgArray(col(rows, (r) => r.mode))}::text[],
                    ${pgArray(col(rows, (r) => r.unlock_ms))}::int4[], ${pgArray(mask)}::int4[]) as s(id, name, zone, mode, unlock_ms, m)
        left join zones z on z.name = s.zone
        left join gates e on e.id = s.id) m
      where m.old_id is null or (m.name, m.zone_id, m.mode, m.unlock_ms) is distinct from (m.o_name, m.o_zone_id, m.o_mode, m.o_unlock_ms)
      on conflict (id) do update
        set name = excluded.name, zone_id = excluded.zone_id, mode = excluded.mode, unlock_ms = excluded.unlock_ms, updated_at = now()
      returning xmax = 0 as inserted)
    select count(*) filter (where inserted)::int as inserted, count(*) filter (where not inserted)::int as updated from ins`;
  return c as unknown as Counts;
}

async function upsertSchedules(tx: Tx, part: Part): Promise<Counts> {
  const rows = part.rows;
  const windows = rows.map((r) => JSON.stringify((r.windows as ScheduleWindow[]).map((w) => ({ days: [...new Set(w.days)].sort(), start: w.start, end: w.end }))));
  const [c] = await tx`
    with ins as (
      insert into schedules as t (name, timezone, windows)
      select * from unnest(${pgArray(col(rows, (r) => r.name))}::text[], ${pgArray(col(rows, (r) => r.timezone))}::text[], ${pgArray(windows)}::jsonb[])
      on conflict (name) do update set timezone = excluded.timezone, windows = excluded.windows, updated_at = now()
        where (t.timezone, t.windows) is distinct from (excluded.timezone, excluded.windows)
      returning xmax = 0 as inserted)
    select count(*) filter (where inserted)::int as inserted, count(*) filter (where not inserted)::int as updated from ins`;
  return c as unknown as Counts;
}

async function upsertGrants(tx: Tx, part: Part): Promise<Counts> {
  const rows = part.rows;
  // The file's grants with natural keys resolved to ids (every reference was checked).
  const src = () => tx`
    select u.id as uid, g.id as gid, s.gate as gate_id, z.id as zid, s.effect, sc.id as sid, s.valid_from, s.valid_until
    from unnest(${pgArray(col(rows, (r) => r.username))}::text[], ${pgArray(col(rows, (r) => r.group))}::text[],
                ${pgArray(col(rows, (r) => r.gate))}::text[], ${pgArray(col(rows, (r) => r.zone))}::text[],
                ${pgArray(col(rows, (r) => r.effect ?? "allow"))}::text[], ${pgArray(col(rows, (r) => r.schedule))}::text[],
                ${pgArray(col(rows, (r) => iso(r.valid_from)))}::timestamptz[], ${pgArray(col(rows, (r) => iso(r.valid_until)))}::timestamptz[])
         as s(username, grp, gate, zone, effect, schedule, valid_from, valid_until)
    left join users u on u.username = s.username
    left join groups g on g.name = s.grp
    left join zones z on z.name = s.zone
    left join schedules sc on sc.name = s.schedule`;
  // Identity: (subject, target, effect, schedule); coalesce so the join can hash. src is
  // materialized: inlined, the planner interleaves its lookups with the match and ends up
  // merge-joining on one key (every gate-less grant matches every gate-less row: n × m).
  const same = tx`
    coalesce(t.subject_user_id, '') = coalesce(src.uid, '') and coalesce(t.subject_group_id, '') = coalesce(src.gid, '')
    and coalesce(t.target_gate_id, '') = coalesce(src.gate_id, '') and coalesce(t.target_zone_id, '') = coalesce(src.zid, '')
    and t.effect = src.effect and coalesce(t.schedule_id, '') = coalesce(src.sid, '')`;
  const [u] = await tx`
    with src as materialized (${src()}), upd as (
      update grants t set valid_from = src.valid_from, valid_until = src.valid_until, updated_at = now()
      from src where ${same}
        and (t.valid_from, t.valid_until) is distinct from (src.valid_from, src.valid_until)
      returning 1)
    select count(*)::int as n from upd`;
  const [i] = await tx`
    with src as materialized (${src()}), ins as (
      insert into grants (subject_user_id, subject_group_id, target_gate_id, target_zone_id, effect, schedule_id, valid_from, valid_until)
      select uid, gid, gate_id, zid, effect, sid, valid_from, valid_until from src
      where not exists (select 1 from grants t where ${same})
      returning 1)
    select count(*)::int as n from ins`;
  return { inserted: i!.n, updated: u!.n };
}

async function upsertCredentials(tx: Tx, part: Part, hashes: string[]): Promise<Counts> {
  const rows = part.rows;
  const mask = rows.map((r) => presence(r, ["label", "scopes", "expires_at", "valid_from"]));
  const scopes = col(rows, (r) => (r.scopes === undefined ? null : [...new Set(r.scopes as string[])].sort().join(" ")));
  // user_id and kind of a stored credential equal the row's (checkCredentialOwners); revoked_at
  // is never touched.
  const [c] = await tx`
    with ins as (
      insert into credentials as t (user_id, kind, label, scopes, secret_hash, expires_at, valid_from)
      select m.user_id, m.kind, m.label, m.scopes, m.secret_hash, m.expires_at, m.valid_from
      from (
        select u.id as user_id, s.kind, s.secret_hash, e.id as old_id,
               case when s.m & 1 <> 0 then s.label else e.label end as label,
               case when s.m & 2 <> 0 then string_to_array(s.scopes, ' ') else coalesce(e.scopes, '{}') end as scopes,
               case when s.m & 4 <> 0 then s.expires_at else e.expires_at end as expires_at,
               case when s.m & 8 <> 0 then s.valid_from else e.valid_from end as valid_from,
               e.label as o_label, e.scopes as o_scopes, e.expires_at as o_expires_at, e.valid_from as o_valid_from
        from unnest(${pgArray(col(rows, (r) => r.username))}::text[], ${pgArray(col(rows, (r) => r.kind))}::text[],
                    ${pgArray(col(rows, (r) => r.label))}::text[], ${pgArray(scopes)}::text[], ${pgArray(hashes)}::text[],
                    ${pgArray(col(rows, (r) => iso(r.expires_at)))}::timestamptz[], ${pgArray(col(rows, (r) => iso(r.valid_from)))}::timestamptz[],
                    ${pgArray(mask)}::int4[]) as s(username, kind, label, scopes, secret_hash, expires_at, valid_from, m)
        join users u on u.username = s.username
        left join credentials e on e.secret_hash = s.secret_hash) m
      where m.old_id is null
         or (m.label, m.scopes, m.expires_at, m.valid_from) is distinct from (m.o_label, m.o_scopes, m.o_expires_at, m.o_valid_from)
      on conflict (secret_hash) do update
        set label = excluded.label, scopes = excluded.scopes, expires_at = excluded.expires_at, valid_from = excluded.valid_from, updated_at = now()
      returning xmax = 0 as inserted)
    select count(*) filter (where inserted)::int as inserted, count(*) filter (where not inserted)::int as updated from ins`;
  return c as unknown as Counts;
}

// ---------------------------------------------------------------------------------------------
// The service

/**
 * Validates and upserts `data` in one transaction (one revision, one audit row "import").
 * `rowNumbers` lets CSV callers report file lines instead of positions.
 */
export async function importData(sql: Sql, actor: Actor, data: unknown, rowNumbers: RowNumbers = {}, onProgress?: (p: ImportProgress) => void): Promise<Written<ImportResult>> {
  const plan = validateImport(data, rowNumbers);
  await hashPasswords(sql, plan, onProgress);
  const { parts } = plan;
  const totalRows = IMPORT_COLLECTIONS.reduce((n, c) => n + (parts[c]?.rows.length ?? 0), 0);
  let rowsDone = 0;
  return write(sql, actor, async (tx, audit) => {
    // write() took the revision lock first: nothing another writer commits can slip between our
    // reference checks and our upserts.
    // A 64 MiB file is hundreds of thousands of rows per statement: more than the pool's
    // fail-fast statement timeout is meant for.
    await tx`set local statement_timeout = '5min'`;
    await checkReferences(tx, plan);
    await checkMergedWindows(tx, parts.users, "users", (r) => r.username, "username", "valid_from", "valid_until");
    await checkMergedWindows(tx, parts.credentials, "credentials", (_r, i) => plan.secretHashes[i]!, "secret_hash", "valid_from", "expires_at");
    await checkCredentialOwners(tx, parts.credentials, plan.secretHashes);

    const result: ImportResult = { counts: {}, inserted: {}, updated: {} };
    const run = async (c: ImportCollection, fn: (part: Part) => Promise<Counts>) => {
      const part = parts[c];
      if (!part) return;
      let n: Counts = { inserted: 0, updated: 0 };
      try {
        if (part.rows.length > 0) n = await fn(part);
      } catch (e) {
        throw importDbError(e, c);
      }
      result.counts[c] = part.rows.length;
      onProgress?.({ stage: c, done: (rowsDone += part.rows.length), total: totalRows });
      result.inserted[c] = n.inserted;
      result.updated[c] = n.updated;
    };
    await run("users", (p) => upsertUsers(tx, p, plan.passwordHashes));
    await run("groups", (p) => upsertGroups(tx, p));
    await run("zones", (p) => upsertZones(tx, p));
    await run("gates", (p) => upsertGates(tx, p));
    await run("schedules", (p) => upsertSchedules(tx, p));
    await run("memberships", (p) => upsertMemberships(tx, p));
    await run("grants", (p) => upsertGrants(tx, p));
    await run("credentials", (p) => upsertCredentials(tx, p, plan.secretHashes));
    // Keys in the documented order, whatever order the upserts ran in.
    const order = <T>(o: Partial<Record<ImportCollection, T>>) =>
      Object.fromEntries(IMPORT_COLLECTIONS.filter((c) => o[c] !== undefined).map((c) => [c, o[c]])) as Partial<Record<ImportCollection, T>>;
    const out = { counts: order(result.counts), inserted: order(result.inserted), updated: order(result.updated) };
    audit({ action: "import", entity: "import", entityId: null, before: null, after: out.counts });
    return out;
  });
}

