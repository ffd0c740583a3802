// Request and response models (TypeBox via Elysia's `t`), shared by routes and the OpenAPI docs.
import { t } from "elysia";
import { FormatRegistry } from "elysia/type-system";
import { isDateTime } from "../dates";
import { invalid } from "../errors";
import { PIN_PATTERN } from "../state/pin";

// Elysia's own "date-time" format accepts whatever `new Date()` can read (2026-02-30 as March 2,
// +099999, RFC 2822 strings); every `format: "date-time"` schema is checked by our one parser.
FormatRegistry.Set("date-time", isDateTime);

/** An integer that must arrive as a JSON number (t.Integer would accept "5" in a body). */
const Int = (o: { minimum?: number; maximum?: number; description?: string } = {}) => t.Number({ multipleOf: 1, ...o });

export const DateTime = t.String({ format: "date-time", description: "RFC 3339", examples: ["2026-01-01T00:00:00Z"] });
const NullableDate = t.Union([DateTime, t.Null()]);
/** A date-time query parameter; empty means absent. */
export const QueryDate = (description: string) => t.Union([t.Literal(""), t.String({ format: "date-time", maxLength: 40 })], { description });
const Name = t.String({ minLength: 1, maxLength: 150 });
const Id = t.String({ minLength: 1, maxLength: 64 });

export const ErrorBody = t.Object(
  {
    error: t.Object({
      code: t.String({ examples: ["invalid_request"] }),
      message: t.String(),
      details: t.Optional(t.Record(t.String(), t.Unknown())),
    }),
  },
  { description: "Every non-2xx answer" },
);

export const VERIFY_EXAMPLE = { gate_id: "GATE_001", token: "pcl_Jx2Q7rYb3n0VfWk1tHc9pL4sZa8DgEu6MyRoBiXqTvN" };

export const VerifyBody = t.Object(
  {
    gate_id: t.String({ minLength: 1, maxLength: 64, examples: ["GATE_001"] }),
    token: t.String({ minLength: 1, maxLength: 1024, examples: ["pcl_demo_alice_card_0000000000000000000000000000"] }),
    min_revision: t.Optional(Int({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: "Wait up to 250 ms for the index to reach this revision (read-your-writes)" })),
    pin: t.Optional(t.String({ pattern: PIN_PATTERN, description: "The PIN typed at a card + PIN gate (requires_pin); 4 to 8 digits" })),
  },
  { additionalProperties: false, examples: [VERIFY_EXAMPLE] },
);

export const VerifyAnswer = t.Object({
  allow: t.Boolean(),
  reason: t.String({ examples: ["granted"] }),
  gate_id: t.String(),
  user_id: t.Optional(t.String()),
  unlock_ms: t.Optional(Int({ description: "On allow: how long the gate holds its strike open" })),
  revision: Int({ description: "The index revision that decided" }),
  flags: t.Optional(t.Array(t.String(), { description: "Set by a rule with memory: anti_passback_soft (passed, but the user was already inside), state_failure_open (decided without the zone's stateful rules: shared state unreachable), supervisor_in (a first-in supervisor opened the zone for the day)" })),
  peer_user_id: t.Optional(t.String({ description: "Two-person rule: the other user of the pair that opened" })),
});

export const BatchBody = t.Object(
  {
    checks: t.Array(
      t.Object({ gate_id: VerifyBody.properties.gate_id, token: VerifyBody.properties.token }, { additionalProperties: false }),
      { minItems: 1, maxItems: 1000 },
    ),
  },
  { additionalProperties: false, examples: [{ checks: [VERIFY_EXAMPLE, { gate_id: "GATE_002", token: VERIFY_EXAMPLE.token }] }] },
);

/** A list's `limit` query parameter: 1..500, default 50. */
export function parseLimit(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 50;
  const n = /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= 500)) throw invalid("limit", "must be an integer from 1 to 500");
  return n;
}

export const ListQuery = t.Object({
  // Checked by parseLimit(): Elysia's query coercion loses the field name in its errors.
  limit: t.Optional(t.String({ description: "1..500, default 50", examples: ["50"] })),
  cursor: t.Optional(t.String({ maxLength: 400 })),
}, { additionalProperties: true });

const UserFields = {
  username: Name,
  email: t.Union([t.String({ maxLength: 254 }), t.Null()]),
  display_name: t.Union([t.String({ maxLength: 200 }), t.Null()]),
  password: t.String({ minLength: 8, maxLength: 1024, description: "write-only" }),
  active: t.Boolean(),
  valid_from: NullableDate,
  valid_until: NullableDate,
};
const GroupFields = { name: Name, parent_id: t.Union([Id, t.Null()]) };
const Bool = t.Boolean();
const ZoneFields = {
  name: Name,
  parent_id: t.Union([Id, t.Null()], { description: "The enclosing zone: entering this zone enters it too (presence and occupancy only; grants target a gate's own zone)" }),
  anti_passback: t.Union([t.Literal("off"), t.Literal("soft"), t.Literal("hard")], { description: "soft: allow and flag the event; hard: deny `anti_passback`" }),
  anti_passback_reset: t.Union([t.String({ maxLength: 16, examples: ["12h"] }), t.Null()], { description: "A presence or exit older than this no longer counts against the next pass (1s..365d); null: never" }),
  max_occupancy: t.Union([Int({ minimum: 1, maximum: 10000000 }), t.Null()], { description: "Entries are denied `zone_full` at this many people inside; exits always pass" }),
  state_failure: t.Union([t.Literal("open"), t.Literal("closed")], { description: "Shared state unreachable: open decides without the stateful rules (event flagged state_failure_open), closed denies `state_unavailable`" }),
  supervisor_group_id: t.Union([Id, t.Null()], { description: "First person in: with supervisor_schedule_id, the zone opens for its grants during the schedule only after a member of this group entered that local day" }),
  supervisor_schedule_id: t.Union([Id, t.Null()]),
  requires_escort: Bool,
  escort_window_s: Int({ minimum: 1, maximum: 3600, description: "How recently a visitor's host must have passed the same gate" }),
};
const GateFields = {
  id: t.String({ pattern: "^[A-Za-z0-9_.:-]{1,64}$", examples: ["GATE_001"] }),
  name: Name,
  zone_id: t.Union([Id, t.Null()]),
  mode: t.Union([t.Literal("normal"), t.Literal("locked"), t.Literal("disabled")]),
  unlock_ms: Int({ minimum: 0, maximum: 600000 }),
  direction: t.Union([t.Literal("in"), t.Literal("out"), t.Literal("both")], { description: "Relative to the gate's zone: in enters it, out leaves it, both moves no one" }),
  two_person_window_ms: t.Union([Int({ minimum: 1000, maximum: 600000 }), t.Null()], { description: "Two-person rule: a second, different authorized user within this window opens" }),
  requires_pin: Bool,
  requires_escort: Bool,
  escort_window_s: Int({ minimum: 1, maximum: 3600 }),
};
const Window = t.Object(
  {
    days: t.Array(Int({ minimum: 1, maximum: 7 }), { minItems: 1, maxItems: 7 }),
    start: t.String({ examples: ["08:00"] }),
    end: t.String({ examples: ["18:00"] }),
  },
  { additionalProperties: false },
);
const ScheduleFields = {
  name: Name,
  timezone: t.String({ minLength: 1, maxLength: 64, examples: ["Europe/Berlin"] }),
  windows: t.Array(Window, { maxItems: 100 }),
};
const Subject = t.Union([
  t.Object({ user_id: Id }, { additionalProperties: false }),
  t.Object({ group_id: Id }, { additionalProperties: false }),
]);
const Target = t.Union([
  t.Object({ gate_id: Id }, { additionalProperties: false }),
  t.Object({ zone_id: Id }, { additionalProperties: false }),
]);
const GrantFields = {
  subject: Subject,
  target: Target,
  effect: t.Union([t.Literal("allow"), t.Literal("deny")]),
  schedule_id: t.Union([Id, t.Null()]),
  valid_from: NullableDate,
  valid_until: NullableDate,
};
const Scopes = t.Array(t.Union([t.Literal("admin"), t.Literal("user")]), { maxItems: 2 });
const CredentialCreate = {
  user_id: Id,
  kind: t.Union(["card", "pin", "api", "device", "session"].map((k) => t.Literal(k))),
  label: t.Union([t.String({ maxLength: 200 }), t.Null()]),
  scopes: Scopes,
  expires_at: NullableDate,
  valid_from: NullableDate,
  secret: t.String({ minLength: 4, maxLength: 512, description: "write-only: a card's own number; generated when absent" }),
  pin: t.Union([t.String({ pattern: PIN_PATTERN }), t.Null()], { description: "write-only: 4 to 8 digits for card + PIN gates; stored as a salted HMAC; null removes it" }),
  host_user_id: t.Union([Id, t.Null()], { description: "A visitor credential's host (needs expires_at)" }),
};
const CredentialPatch = {
  label: CredentialCreate.label, scopes: Scopes, expires_at: NullableDate, valid_from: NullableDate, pin: CredentialCreate.pin,
  host_user_id: CredentialCreate.host_user_id,
};

const strict = { additionalProperties: false } as const;
type Fields = Record<string, any>;
function createSchema(fields: Fields, required: string[]) {
  const props: Fields = {};
  for (const [k, v] of Object.entries(fields)) props[k] = required.includes(k) ? v : t.Optional(v);
  return t.Object(props, strict);
}
const patchSchema = (fields: Fields, immutable: string[] = []) => {
  const props: Fields = {};
  for (const [k, v] of Object.entries(fields)) if (!immutable.includes(k)) props[k] = t.Optional(v);
  return t.Object(props, strict);
};

export const CollectionSchemas = {
  users: { create: createSchema(UserFields, ["username"]), patch: patchSchema(UserFields) },
  groups: { create: createSchema(GroupFields, ["name"]), patch: patchSchema(GroupFields) },
  zones: { create: createSchema(ZoneFields, ["name"]), patch: patchSchema(ZoneFields) },
  gates: { create: createSchema(GateFields, ["id", "name"]), patch: patchSchema(GateFields, ["id"]) },
  schedules: { create: createSchema(ScheduleFields, ["name", "timezone", "windows"]), patch: patchSchema(ScheduleFields) },
  grants: { create: createSchema(GrantFields, ["subject", "target"]), patch: patchSchema(GrantFields) },
  credentials: { create: createSchema(CredentialCreate, ["user_id", "kind"]), patch: t.Object(Object.fromEntries(Object.entries(CredentialPatch).map(([k, v]) => [k, t.Optional(v)])), strict) },
} as const;

export const MemberBody = t.Object({ user_id: Id }, strict);
