// What TypeBox finds wrong in an import field's value, in the import's words: its ValueError
// (type, path, schema) to the message and the field path the import has always answered
// (`windows[0].start: must be HH:MM`), so a client or test reading them sees no change.
import { Kind, type TSchema } from "@sinclair/typebox";
import type { TypeCheck } from "@sinclair/typebox/compiler";
import { type ValueError, ValueErrorType } from "@sinclair/typebox/errors";
import { parseDateTime } from "../dates";
import type { Problem, Wording } from "./import-fields";

/** A field's model (without its `| null`), compiled, and its own wording (IMPORT_WORDING). */
export interface Checked {
  model: TSchema;
  check: TypeCheck<TSchema>;
  wording?: Record<string, Wording>;
}

/** A TypeBox error in the import's words (clients and tests read these: keep them as they are). */
function message(e: ValueError): string {
  const s = e.schema;
  if (s.format === "date-time") {
    const r = parseDateTime(e.value, ""); // the one date parser's reason
    if (!r.ok) return r.message;
  }
  switch (e.type) {
    case ValueErrorType.String: return "must be a string";
    case ValueErrorType.StringMinLength: return s.minLength === 1 ? "must not be empty" : `must be at least ${s.minLength} characters`;
    case ValueErrorType.StringMaxLength: return `must be at most ${s.maxLength} characters`;
    case ValueErrorType.StringPattern: return `must match ${s.pattern}`;
    case ValueErrorType.Boolean: return "must be true or false";
    case ValueErrorType.Number: case ValueErrorType.NumberMultipleOf: return "must be an integer";
    case ValueErrorType.NumberMinimum: case ValueErrorType.NumberMaximum: return `must be from ${s.minimum} to ${s.maximum}`;
    case ValueErrorType.Union: return `must be one of ${(s.anyOf as TSchema[]).map((x) => x.const).join(", ")}`;
    case ValueErrorType.ObjectAdditionalProperties: return "unknown field";
    case ValueErrorType.ObjectRequiredProperty: return "required";
    default: return e.message;
  }
}

/** Where an error sits, for ordering: per level its array index or its key's place in the model (an unknown key first). */
function place(model: TSchema, segments: string[]): number[] {
  const at: number[] = [];
  let s: TSchema | undefined = model;
  for (const seg of segments) {
    if (s?.[Kind] === "Array") (at.push(+seg), (s = s.items));
    else if (s?.[Kind] === "Object") (at.push(Object.keys(s.properties).indexOf(seg)), (s = s.properties[seg]));
    else at.push(0);
  }
  return at;
}
/** An enclosing value's problem first; at one place, "an integer" before its range. */
function before(a: { at: number[]; type: ValueErrorType }, b: { at: number[]; type: ValueErrorType }): number {
  for (let i = 0; i < Math.min(a.at.length, b.at.length); i++) if (a.at[i] !== b.at[i]) return a.at[i]! - b.at[i]!;
  if (a.at.length !== b.at.length) return a.at.length - b.at.length;
  return +(a.type !== ValueErrorType.NumberMultipleOf) - +(b.type !== ValueErrorType.NumberMultipleOf);
}
/** The field path after the field's name: `[i]` where the model has an array, `.key` elsewhere (a key of digits too). */
function suffix(model: TSchema, segments: string[]): string {
  let out = "";
  let s: TSchema | undefined = model;
  for (const seg of segments) {
    if (s?.[Kind] === "Array") (out += `[${seg}]`), (s = s.items);
    else (out += `.${seg}`), (s = s?.[Kind] === "Object" && Object.hasOwn(s.properties, seg) ? s.properties[seg] : undefined);
  }
  return out;
}
/** A ValueError's path as keys: JSON Pointer's segments, unescaped (~1 is "/", ~0 is "~"). */
const segmentsOf = (path: string) => (path === "" ? [] : path.slice(1).split("/").map((x) => x.replace(/~1/g, "/").replace(/~0/g, "~")));

/** The field's own wording for a problem at `segments`: the longest path of its table that matches. */
function wordingAt(table: Record<string, Wording> | undefined, segments: string[]): { w: Wording; depth: number } | undefined {
  if (!table) return undefined;
  const pattern = segments.map((x) => (/^\d+$/.test(x) ? "#" : x));
  for (let depth = segments.length; depth >= 0; depth--) {
    const w = table[depth === 0 ? "" : "/" + pattern.slice(0, depth).join("/")];
    if (w !== undefined) return { w, depth };
  }
  return undefined;
}

/**
 * The first problem TypeBox finds in a field's value, in reading order — an array's items in
 * order; in an object its unknown keys first, then its keys in model order (TypeBox lists missing
 * keys before the others) — in the import's words; null when every problem is left to the
 * field's check (IMPORT_CHECKS).
 */
export function modelProblem(f: Checked, v: unknown): Problem | null {
  const errors = [...f.check.Errors(v)].map((e) => {
    const segments = segmentsOf(e.path);
    return { e, segments, type: e.type, at: place(f.model, segments) };
  });
  errors.sort(before);
  for (const { e, segments } of errors) {
    const own = e.type === ValueErrorType.ObjectAdditionalProperties ? undefined : wordingAt(f.wording, segments);
    if (!own) return [suffix(f.model, segments), message(e)];
    const m = typeof own.w === "string" ? own.w : own.w(e.type);
    if (m !== null) return [suffix(f.model, segments.slice(0, own.depth)), m];
  }
  return null;
}
