// Field models (TypeBox) that more than one part takes: the admin API's bodies (http/schemas.ts)
// and the bulk import's rows (admin/import-fields.ts) are built from these, so a field's bounds
// are stated once. Neutral: no transport, no I/O.
import { FormatRegistry, Type, type TSchema } from "@sinclair/typebox";
import { isDateTime } from "./dates";

// TypeBox's (and Elysia's) own "date-time" format accepts what `new Date()` can read (2026-02-30
// as March 2, +099999, RFC 2822 strings); every `format: "date-time"` schema is checked by our one
// parser. Set here, before or after Elysia loads: Elysia only sets a format nobody set.
FormatRegistry.Set("date-time", isDateTime);

/** An integer that must arrive as a JSON number (Elysia's t.Integer would accept "5" in a body). */
export const Int = (o: { minimum?: number; maximum?: number; description?: string } = {}) => Type.Number({ multipleOf: 1, ...o });

/** The schema with another description (the bounds stay those stated here). */
export const about = <T extends TSchema>(schema: T, description: string): T => ({ ...schema, description });

export const DateTime = Type.String({ format: "date-time", description: "RFC 3339", examples: ["2026-01-01T00:00:00Z"] });
export const NullableDate = Type.Union([DateTime, Type.Null()]);

/** A user's, group's, zone's or schedule's name. */
export const Name = Type.String({ minLength: 1, maxLength: 150 });
export const GateId = Type.String({ pattern: "^[A-Za-z0-9_.:-]{1,64}$", examples: ["GATE_001"] });

export const Email = Type.String({ maxLength: 254 });
export const DisplayName = Type.String({ maxLength: 200 });
export const Password = Type.String({ minLength: 8, maxLength: 1024, description: "write-only" });

export const GateMode = Type.Union([Type.Literal("normal"), Type.Literal("locked"), Type.Literal("disabled")]);
export const UnlockMs = Int({ minimum: 0, maximum: 600000 });

export const Timezone = Type.String({ minLength: 1, maxLength: 64, examples: ["Europe/Berlin"] });
export const Window = Type.Object(
  {
    days: Type.Array(Int({ minimum: 1, maximum: 7 }), { minItems: 1, maxItems: 7 }),
    start: Type.String({ examples: ["08:00"] }),
    end: Type.String({ examples: ["18:00"] }),
  },
  { additionalProperties: false },
);
export const Windows = Type.Array(Window, { maxItems: 100 });

export const Effect = Type.Union([Type.Literal("allow"), Type.Literal("deny")]);

export const CredentialKind = Type.Union(["card", "pin", "api", "device", "session"].map((k) => Type.Literal(k)));
export const Scope = Type.Union([Type.Literal("admin"), Type.Literal("user")]);
export const Label = Type.String({ maxLength: 200 });
export const Secret = Type.String({ minLength: 4, maxLength: 512, description: "write-only: a card's own number; generated when absent" });
