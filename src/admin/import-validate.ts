// An import checked in memory before any database write: every field of every row, required
// keys, duplicates within the file; the first problem answers 400 naming collection, row, field.
import { Kind, type TObject } from "@sinclair/typebox";
import { type TypeCheck, TypeCompiler } from "@sinclair/typebox/compiler";
import { dateTimeMs } from "../dates";
import { ApiError } from "../errors";
import { hashSecret } from "../tokens";
import { LONE_SURROGATE } from "../unicode";
import {
  IMPORT_CHECKS, IMPORT_COLLECTIONS, IMPORT_MODELS, IMPORT_WORDING, type ImportCollection, type Problem, type Row, type RowNumbers, rowError, unwrapNullable,
} from "./import-fields";
import { type Checked, modelProblem } from "./import-problems";

// ---------------------------------------------------------------------------------------------
// Rows against their collection's model (pure)

interface Field extends Checked {
  key: string;
  required: boolean;
  nullable: boolean;
  /** What the model cannot state (IMPORT_CHECKS, or NUL in plain text). */
  post?: (value: any) => Problem | null;
}

// NUL, and a lone UTF-16 surrogate (a JSON "\ud800" escape): Postgres text holds neither, and
// postgres.js would send the surrogate as U+FFFD — stored differently from what was sent.
const noNul = (v: string): Problem | null =>
  v.includes("\u0000") ? ["", "must not contain NUL characters"] : v.isWellFormed() ? null : ["", LONE_SURROGATE];

interface Compiled {
  /** The row model without its unknown-key test (knownKeys does that). */
  open: TypeCheck<TObject>;
  known: object;
  /** In model order: the order problems are reported in. */
  fields: Field[];
  /** Plain text fields: NUL is tested inline. */
  text: string[];
  /** Fields with an IMPORT_CHECKS check. */
  checks: Field[];
}

/** Each collection's row model compiled once, on the first import (not at every process start). */
let compiled: Record<ImportCollection, Compiled> | undefined;
const compile = (): Record<ImportCollection, Compiled> => Object.fromEntries(IMPORT_COLLECTIONS.map((c) => {
  const m: TObject = IMPORT_MODELS[c];
  const fields = Object.entries(m.properties).map(([key, s]): Field => {
    const { model, nullable } = unwrapNullable(s);
    const plainText = model[Kind] === "String" && model.format === undefined;
    return {
      key, nullable, model, required: m.required?.includes(key) ?? false, check: TypeCompiler.Compile(model),
      wording: IMPORT_WORDING[key], post: IMPORT_CHECKS[key] ?? (plainText ? noNul : undefined),
    };
  });
  const text = fields.filter((f) => f.post === noNul).map((f) => f.key);
  // The fast path tests unknown keys itself: TypeBox's compiled test of additionalProperties
  // allocates per key (getOwnPropertyNames().every(includes)), hasOwn over the keys does not.
  const open = TypeCompiler.Compile({ ...m, additionalProperties: undefined } as TObject);
  return [c, { open, known: m.properties, fields, text, checks: fields.filter((f) => f.post && f.post !== noNul) }];
})) as Record<ImportCollection, Compiled>;

/** Whether a row (already an object) has only its model's keys. */
function knownKeys(row: object, known: object): boolean {
  for (const key in row) if (!Object.hasOwn(known, key)) return false;
  return true;
}

/** Checks a row against its collection's model; throws the first problem. */
function checkRow(k: Compiled, c: ImportCollection, row: unknown, rowNo: number): asserts row is Row {
  if (k.open.Check(row) && knownKeys(row as object, k.known)) {
    // The usual case: one compiled check, then what the model cannot state (NUL inline: it is per cell).
    for (const key of k.text) {
      const v = (row as Row)[key];
      if (typeof v === "string" && (v.includes("\u0000") || !v.isWellFormed())) throw rowError(c, rowNo, key, noNul(v)![1]);
    }
    for (const f of k.checks) {
      const v = (row as Row)[f.key];
      const p = v === undefined || v === null ? null : f.post!(v);
      if (p) throw rowError(c, rowNo, f.key + p[0], p[1]);
    }
    return;
  }
  if (typeof row !== "object" || row === null || Array.isArray(row)) throw rowError(c, rowNo, "row", "must be an object");
  for (const key in row) if (!Object.hasOwn(k.known, key)) throw rowError(c, rowNo, key, "unknown field");
  for (const f of k.fields) {
    const v = (row as Row)[f.key];
    if (v === undefined || (v === null && f.required)) {
      if (f.required) throw rowError(c, rowNo, f.key, "required");
      continue;
    }
    if (v === null) {
      if (!f.nullable) throw rowError(c, rowNo, f.key, "must not be null");
      continue;
    }
    const p = f.check.Check(v) ? f.post?.(v) : (modelProblem(f, v) ?? f.post?.(v) ?? ["", f.check.Errors(v).First()?.message ?? "invalid"]);
    if (p) throw rowError(c, rowNo, f.key + p[0], p[1]);
  }
  throw rowError(c, rowNo, "row", "invalid"); // unreachable: the walk finds what the compiled check refused
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
    const k = (compiled ??= compile())[c];
    for (let i = 0; i < rows.length; i++) checkRow(k, c, rows[i], rowNo(i));
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
