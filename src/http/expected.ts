// What a field takes, in words, from its TypeBox schema — for validation errors. TypeBox's own
// messages name the check that failed, not the value wanted: `mode: Expected union value`,
// `two_person_window_ms: Expected union value`, `unlock_ms: Expected number` (for 1e400),
// `Expected number to be a multiple of 1`. A client reading `mode: expected one of "normal",
// "locked", "disabled"` knows what to send.

const quote = (v: unknown) => JSON.stringify(v);

/** The value `schema` takes, as a phrase ("an integer from 1000 to 600000 or null"), or null when it cannot say. */
export function describeSchema(schema: any, depth = 0): string | null {
  if (!schema || typeof schema !== "object" || depth > 3) return null;
  if (schema.const !== undefined) return quote(schema.const);
  if (Array.isArray(schema.anyOf)) {
    const variants: any[] = schema.anyOf;
    if (variants.length && variants.every((v) => v?.const !== undefined)) return `one of ${variants.map((v) => quote(v.const)).join(", ")}`;
    const parts = variants.map((v) => describeSchema(v, depth + 1));
    if (parts.some((p) => p === null)) return null;
    return parts.length <= 2 ? parts.join(" or ") : `${parts.slice(0, -1).join(", ")} or ${parts[parts.length - 1]}`;
  }
  switch (schema.type) {
    case "null":
      return "null";
    case "boolean":
      return "true or false";
    case "integer":
    case "number": {
      const whole = schema.type === "integer" || schema.multipleOf === 1;
      const { minimum: lo, maximum: hi } = schema;
      const range = lo !== undefined && hi !== undefined ? ` from ${lo} to ${hi}` : lo !== undefined ? ` of at least ${lo}` : hi !== undefined ? ` of at most ${hi}` : "";
      return (whole ? "an integer" : "a number") + range;
    }
    case "string": {
      if (schema.format === "date-time") return "an RFC 3339 date-time (e.g. 2026-01-01T00:00:00Z)";
      const { minLength: lo, maxLength: hi } = schema;
      const length = lo !== undefined && hi !== undefined ? ` of ${lo} to ${hi} characters` : hi !== undefined ? ` of at most ${hi} characters` : lo ? ` of at least ${lo} characters` : "";
      return "a string" + length;
    }
    case "array": {
      const items = describeSchema(schema.items, depth + 1);
      return items ? `an array, each item ${items}` : "an array";
    }
    case "object": {
      const required: string[] = schema.required ?? [];
      const keys = required.map(quote);
      return keys.length ? `an object with ${keys.length > 1 ? `${keys.slice(0, -1).join(", ")} and ${keys[keys.length - 1]}` : keys[0]}` : "an object";
    }
  }
  return null;
}

/** A validation error's message, rewritten to say what the field takes when TypeBox's names only the failed check. */
export function expectedMessage(error: { schema?: any; value?: unknown; message?: string } | undefined, where: string | undefined): string | null {
  if (!error) return null;
  const { schema: s, value: v, message = "" } = error;
  // A path parameter Elysia could not percent-decode arrives as null (a path has no other nulls).
  if (where === "params" && (v === undefined || v === null)) return "not valid percent-encoded UTF-8";
  // A misspelt name: say which names the object takes.
  if (/unexpected property/i.test(message) && s?.properties) {
    return `unknown ${where === "query" ? "parameter" : "field"}; expected one of ${Object.keys(s.properties).join(", ")}`;
  }
  if (v === undefined || /unexpected property|required property/i.test(message)) return null;
  const kind = s?.anyOf ? "union" : s?.const !== undefined ? "const" : s?.type;
  const mismatch =
    ["union", "const", "boolean", "null", "number", "integer"].includes(kind) ||
    (kind === "string" && typeof v !== "string") ||
    (kind === "array" && !Array.isArray(v)) ||
    (kind === "object" && (typeof v !== "object" || v === null || Array.isArray(v)));
  if (!mismatch) return null;
  const wanted = describeSchema(s);
  return wanted === null ? null : `expected ${wanted}`;
}
