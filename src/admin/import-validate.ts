// An import checked in memory before any database write: every field of every row, required
// keys, duplicates within the file; the first problem answers 400 naming collection, row, field.
import { dateTimeMs, parseDateTime } from "../dates";
import { ApiError } from "../errors";
import { isValidTimezone } from "../index/clock";
import { windowsProblem } from "../index/schedule";
import type { ScheduleWindow } from "../index/types";
import { hashSecret } from "../tokens";
import { type FieldSpec, IMPORT_COLLECTIONS, IMPORT_FIELDS, type ImportCollection, type Row, type RowNumbers, rowError } from "./import-fields";

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
export const iso = (v: unknown) => (typeof v === "string" ? new Date(dateTimeMs(v, "")).toISOString() : null);

// ---------------------------------------------------------------------------------------------
// Validation of the whole import (no I/O)

export interface Part {
  c: ImportCollection;
  rows: Row[];
  rowNo: (i: number) => number;
}

export interface Plan {
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
