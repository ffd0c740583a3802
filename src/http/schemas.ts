// Request and response models (TypeBox via Elysia's `t`), shared by routes and the OpenAPI docs.
import type { TObject, TOptional, TString } from "@sinclair/typebox";
import { t, type TSchema } from "elysia";
import { invalid } from "../errors";
import {
  CredentialKind, DateTime, DisplayName, Effect, Email, GateId, GateMode, Int, Label, Name, NullableDate, Password, Scope, Secret, Timezone, UnlockMs, Windows,
} from "../fields";
import { PIN_PATTERN } from "../state/pin";

// The field models shared with the bulk import (and the one date-time format) are in src/fields.ts.
export { DateTime };
/** A date-time query parameter; empty means absent. */
export const QueryDate = (description: string) => t.Union([t.Literal(""), t.String({ format: "date-time", maxLength: 40 })], { description });
const Id = t.String({ minLength: 1, maxLength: 64 });

/** How far an admin write got before its answer (src/http/propagation.ts adds it to every write's body). */
export const Propagation = t.Object({
  nodes: t.Integer({ description: "live nodes when the write committed" }),
  applied: t.Integer({ description: "of those, nodes whose index applied the write's revision before this answer" }),
  pending: t.Array(t.String(), { description: "ids of the live nodes that had not (see GET /api/v1/admin/nodes); empty when X-Propagation is complete" }),
}, { description: "Every live node applied the write (X-Propagation: complete), or PROPAGATION_TIMEOUT_MS passed first (partial). The write is committed either way." });

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
}, {
  examples: [
    { allow: true, reason: "granted", gate_id: "GATE_001", user_id: "u_0193a1b2c3d4e5f6a7b8c9d0e1f2", unlock_ms: 800, revision: 57 },
    { allow: false, reason: "outside_schedule", gate_id: "GATE_001", user_id: "u_0193a1b2c3d4e5f6a7b8c9d0e1f2", revision: 57 },
  ],
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

const listParams = {
  // Checked by parseLimit(): Elysia's query coercion loses the field name in its errors.
  limit: t.Optional(t.String({ description: "1..500, default 50", examples: ["50"] })),
  cursor: t.Optional(t.String({ maxLength: 400 })),
};
export const ListQuery = t.Object(listParams, { additionalProperties: false });

/**
 * A collection list's query: limit, cursor, its filters and (when it has a search) `q` — nothing
 * else, so a misspelt filter (`?usrename=bob`) is 400 instead of silently listing everyone.
 */
export function collectionListQuery(c: { filters?: Record<string, string>; search?: string[] }) {
  const props: Record<string, TOptional<TString>> = { ...listParams };
  for (const k of Object.keys(c.filters ?? {})) props[k] = t.Optional(t.String({ maxLength: 200, description: "equals" }));
  if (c.search) props.q = t.Optional(t.String({ maxLength: 150, description: `case-insensitive prefix of ${c.search.join(", ")}` }));
  return t.Object(props as typeof listParams & Record<string, TOptional<TString>>, { additionalProperties: false });
}

const UserFields = {
  username: Name,
  email: t.Union([Email, t.Null()]),
  display_name: t.Union([DisplayName, t.Null()]),
  password: Password,
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
  id: GateId,
  name: Name,
  zone_id: t.Union([Id, t.Null()]),
  mode: GateMode,
  unlock_ms: UnlockMs,
  direction: t.Union([t.Literal("in"), t.Literal("out"), t.Literal("both")], { description: "Relative to the gate's zone: in enters it, out leaves it, both moves no one" }),
  two_person_window_ms: t.Union([Int({ minimum: 1000, maximum: 600000 }), t.Null()], { description: "Two-person rule: a second, different authorized user within this window opens" }),
  requires_pin: Bool,
  requires_escort: Bool,
  escort_window_s: Int({ minimum: 1, maximum: 3600 }),
  max_staleness_ms: t.Union([Int({ minimum: 1000, maximum: 86_400_000 }), t.Null()], {
    description: "Refuse (reason `stale_index`) on a node whose data is older than this many ms — it last confirmed it had everything Postgres had longer ago (Postgres unreachable, feed stuck). null (default): decide from the last index whatever its age",
  }),
};
const ScheduleFields = { name: Name, timezone: Timezone, windows: Windows };
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
  effect: Effect,
  schedule_id: t.Union([Id, t.Null()]),
  valid_from: NullableDate,
  valid_until: NullableDate,
};
const Scopes = t.Array(Scope, { maxItems: 2 });
const CredentialCreate = {
  user_id: Id,
  kind: CredentialKind,
  label: t.Union([Label, t.Null()]),
  scopes: Scopes,
  expires_at: NullableDate,
  valid_from: NullableDate,
  secret: Secret,
  pin: t.Union([t.String({ pattern: PIN_PATTERN }), t.Null()], { description: "write-only: 4 to 8 digits for card + PIN gates; stored as a salted HMAC; null removes it" }),
  host_user_id: t.Union([Id, t.Null()], { description: "A visitor credential's host (needs expires_at)" }),
};
const CredentialPatch = {
  label: CredentialCreate.label, scopes: Scopes, expires_at: NullableDate, valid_from: NullableDate, pin: CredentialCreate.pin,
  host_user_id: CredentialCreate.host_user_id,
};

const strict = { additionalProperties: false } as const;
type Fields = Record<string, any>;
function createSchema(fields: Fields, required: string[], example: object) {
  const props: Fields = {};
  for (const [k, v] of Object.entries(fields)) props[k] = required.includes(k) ? v : t.Optional(v);
  return t.Object(props, { ...strict, examples: [example] });
}
/** Every field optional: only those sent change (`null` clears an optional one). */
const patchSchema = (fields: Fields, example: object, immutable: string[] = []) => {
  const props: Fields = {};
  for (const [k, v] of Object.entries(fields)) if (!immutable.includes(k)) props[k] = t.Optional(v);
  return t.Object(props, { ...strict, examples: [example] });
};

const EXAMPLE_IDS = { user: "u_0193a1b2c3d4e5f6a7b8c9d0e1f2", group: "g_0193a1b2c3d4e5f6a7b8c9d0e1f2", zone: "z_0193a1b2c3d4e5f6a7b8c9d0e1f2", schedule: "s_0193a1b2c3d4e5f6a7b8c9d0e1f2" };
const OFFICE_HOURS = [{ days: [1, 2, 3, 4, 5], start: "07:00", end: "19:00" }];

export const CollectionSchemas = {
  users: {
    create: createSchema(UserFields, ["username"], { username: "alice", email: "alice@example.com", display_name: "Alice Smith", password: "correct horse battery staple" }),
    patch: patchSchema(UserFields, { display_name: "Alice Jones", valid_until: "2026-12-31T23:00:00Z" }),
  },
  groups: { create: createSchema(GroupFields, ["name"], { name: "backend", parent_id: EXAMPLE_IDS.group }), patch: patchSchema(GroupFields, { parent_id: null }) },
  zones: { create: createSchema(ZoneFields, ["name"], { name: "hq" }), patch: patchSchema(ZoneFields, { name: "hq-north" }) },
  gates: {
    create: createSchema(GateFields, ["id", "name"], { id: "GATE_001", name: "HQ main door", zone_id: EXAMPLE_IDS.zone, unlock_ms: 800 }),
    patch: patchSchema(GateFields, { mode: "locked" }, ["id"]),
  },
  schedules: {
    create: createSchema(ScheduleFields, ["name", "timezone", "windows"], { name: "office-hours", timezone: "Europe/Berlin", windows: OFFICE_HOURS }),
    patch: patchSchema(ScheduleFields, { windows: [{ days: [1, 2, 3, 4, 5], start: "06:30", end: "20:00" }, { days: [6], start: "09:00", end: "13:00" }] }),
  },
  grants: {
    create: createSchema(GrantFields, ["subject", "target"], { subject: { group_id: EXAMPLE_IDS.group }, target: { zone_id: EXAMPLE_IDS.zone }, schedule_id: EXAMPLE_IDS.schedule }),
    patch: patchSchema(GrantFields, { valid_until: "2026-12-31T23:00:00Z" }),
  },
  credentials: {
    create: createSchema(CredentialCreate, ["user_id", "kind"], { user_id: EXAMPLE_IDS.user, kind: "card", label: "badge", secret: "04A224B1C95E80" }),
    patch: patchSchema(CredentialPatch, { label: "replacement badge", expires_at: "2027-01-01T00:00:00Z" }),
  },
} as const;

export const MemberBody = t.Object({ user_id: Id }, { ...strict, examples: [{ user_id: EXAMPLE_IDS.user }] });

// ---------------------------------------------------------------------------------------------
// Answers. Elysia checks every answer against its schema (normalize is off: nothing is stripped),
// so these say exactly what the routes send. They carry types, not the input limits: a row made by
// the bulk or openway import may hold a longer name than the admin API accepts, and must still
// be readable.

const Str = t.String();
const NullableStr = t.Union([t.String(), t.Null()]);
const NullableInt = t.Union([t.Integer(), t.Null()]);
/** An answer's `revision`: the revision that holds the write (or that the index has applied). */
export const Revision = Int({ minimum: 0, description: "The revision that holds this change: pass it as a verify's min_revision to read your own write" });
const Stamps = { created_at: DateTime, updated_at: DateTime };
const EXAMPLE_AT = "2026-01-05T08:30:00.000Z";
const exampleStamps = { created_at: EXAMPLE_AT, updated_at: EXAMPLE_AT };

/** `{items, next_cursor}`: one page of a list. */
export function page<T extends TSchema>(item: T, example: unknown) {
  return t.Object(
    { items: t.Array(item), next_cursor: t.Union([t.String(), t.Null()], { description: "pass as `cursor` for the next page; null on the last" }) },
    { examples: [{ items: [example], next_cursor: null }] },
  );
}

/** What every write answer adds (src/http/propagation.ts): its revision and how far it propagated. */
const Written = { revision: Revision, propagation: t.Optional(Propagation) };
const PROPAGATED = { nodes: 2, applied: 2, pending: [] };

/** An object answer plus the `revision` of the write that made it and its `propagation`. */
export function withRevision<T extends TObject>(o: T): TObject<T["properties"] & typeof Written> {
  const examples = (o as { examples?: object[] }).examples?.map((e) => ({ ...e, revision: 42, propagation: PROPAGATED }));
  return t.Object({ ...o.properties, ...Written }, examples ? { examples } : {}) as any;
}

const USER_EXAMPLE = { id: EXAMPLE_IDS.user, username: "alice", email: "alice@example.com", display_name: "Alice Smith", active: true, valid_from: null, valid_until: null, ...exampleStamps };
const GROUP_EXAMPLE = { id: EXAMPLE_IDS.group, name: "engineering", parent_id: null, ...exampleStamps };
const ZONE_EXAMPLE = {
  id: EXAMPLE_IDS.zone, name: "hq", parent_id: null, anti_passback: "off", anti_passback_reset: null, max_occupancy: null, state_failure: "closed",
  supervisor_group_id: null, supervisor_schedule_id: null, requires_escort: false, escort_window_s: 60, ...exampleStamps,
};
const GATE_EXAMPLE = { id: "GATE_001", name: "HQ main door", zone_id: ZONE_EXAMPLE.id, mode: "normal", unlock_ms: 800, direction: "both", two_person_window_ms: null, requires_pin: false, requires_escort: false, escort_window_s: 60, max_staleness_ms: null, ...exampleStamps };
const SCHEDULE_EXAMPLE = { id: EXAMPLE_IDS.schedule, name: "office-hours", timezone: "Europe/Berlin", windows: OFFICE_HOURS, ...exampleStamps };
const GRANT_EXAMPLE = { id: "r_0193a1b2c3d4e5f6a7b8c9d0e1f2", subject: { group_id: GROUP_EXAMPLE.id }, target: { zone_id: ZONE_EXAMPLE.id }, effect: "allow", schedule_id: SCHEDULE_EXAMPLE.id, valid_from: null, valid_until: null, ...exampleStamps };
const CREDENTIAL_EXAMPLE = { id: "c_0193a1b2c3d4e5f6a7b8c9d0e1f2", user_id: USER_EXAMPLE.id, kind: "card", label: "badge", scopes: [], expires_at: null, valid_from: null, revoked_at: null, has_pin: false, host_user_id: null, ...exampleStamps };

const Mode = GateFields.mode;
const Kind = CredentialCreate.kind;
const AnswerWindow = t.Object({ days: t.Array(t.Integer()), start: Str, end: Str });

export const EntityAnswers = {
  users: t.Object({ id: Str, username: Str, email: NullableStr, display_name: NullableStr, active: t.Boolean(), valid_from: NullableDate, valid_until: NullableDate, ...Stamps }, { examples: [USER_EXAMPLE] }),
  groups: t.Object({ id: Str, name: Str, parent_id: NullableStr, ...Stamps }, { examples: [GROUP_EXAMPLE] }),
  zones: t.Object({
    id: Str, name: Str, parent_id: NullableStr, anti_passback: ZoneFields.anti_passback, anti_passback_reset: NullableStr,
    max_occupancy: NullableInt, state_failure: ZoneFields.state_failure, supervisor_group_id: NullableStr, supervisor_schedule_id: NullableStr,
    requires_escort: t.Boolean(), escort_window_s: t.Integer(), ...Stamps,
  }, { examples: [ZONE_EXAMPLE] }),
  gates: t.Object({
    id: Str, name: Str, zone_id: NullableStr, mode: Mode, unlock_ms: t.Integer(), direction: GateFields.direction,
    two_person_window_ms: NullableInt, requires_pin: t.Boolean(), requires_escort: t.Boolean(), escort_window_s: t.Integer(),
    max_staleness_ms: t.Union([t.Integer(), t.Null()], { description: "refuse with stale_index on a node whose data is older (null: no bound)" }), ...Stamps,
  }, { examples: [GATE_EXAMPLE] }),
  schedules: t.Object({ id: Str, name: Str, timezone: Str, windows: t.Array(AnswerWindow), ...Stamps }, { examples: [SCHEDULE_EXAMPLE] }),
  grants: t.Object({
    id: Str,
    subject: t.Union([t.Object({ user_id: Str }), t.Object({ group_id: Str })]),
    target: t.Union([t.Object({ gate_id: Str }), t.Object({ zone_id: Str })]),
    effect: Effect, schedule_id: NullableStr, valid_from: NullableDate, valid_until: NullableDate, ...Stamps,
  }, { examples: [GRANT_EXAMPLE] }),
  credentials: t.Object({
    id: Str, user_id: Str, kind: Kind, label: NullableStr, scopes: t.Array(Str),
    expires_at: NullableDate, valid_from: NullableDate, revoked_at: NullableDate,
    has_pin: t.Boolean({ description: "whether a PIN is set (the PIN itself is never answered)" }), host_user_id: NullableStr, ...Stamps,
  }, { examples: [CREDENTIAL_EXAMPLE] }),
} as const;

/** A credential create's answer: the only one that carries the secret. */
export const CredentialCreated = t.Object(
  { ...EntityAnswers.credentials.properties, secret: t.String({ description: "the secret, shown this once: only its SHA-256 is stored" }), ...Written },
  { examples: [{ ...CREDENTIAL_EXAMPLE, secret: "pcl_Jx2Q7rYb3n0VfWk1tHc9pL4sZa8DgEu6MyRoBiXqTvN", revision: 42 }] },
);

export const Deleted = t.Object({ id: Str, ...Written }, { examples: [{ id: USER_EXAMPLE.id, revision: 42 }] });

export const Membership = t.Object({ group_id: Str, user_id: Str, ...Written }, { examples: [{ group_id: GROUP_EXAMPLE.id, user_id: USER_EXAMPLE.id, revision: 42 }] });
export const MemberPage = page(t.Object({ user_id: Str, username: Str, created_at: DateTime }), { user_id: USER_EXAMPLE.id, username: "alice", created_at: EXAMPLE_AT });

export const BatchAnswer = t.Object(
  { results: t.Array(VerifyAnswer, { description: "one per check, in order" }), revision: Int({ description: "the index revision after the batch" }) },
  { examples: [{ results: [{ allow: true, reason: "granted", gate_id: "GATE_001", user_id: USER_EXAMPLE.id, unlock_ms: 800, revision: 57 }, { allow: false, reason: "unknown_token", gate_id: "GATE_002", revision: 57 }], revision: 57 }] },
);

/** 204: no body. */
export const NoContent = t.Void({ description: "No body" });

export const LoginAnswer = t.Object(
  { token: t.String({ description: "the session's secret, shown this once" }), token_id: Str, expires_at: DateTime, scopes: t.Array(Str) },
  { examples: [{ token: "pcl_Jx2Q7rYb3n0VfWk1tHc9pL4sZa8DgEu6MyRoBiXqTvN", token_id: "c_0193a1b2c3d4e5f6a7b8c9d0e1f2", expires_at: "2026-01-05T20:30:00.000Z", scopes: ["user"] }] },
);

export const DeviceRegistered = t.Object(
  { device_id: Str, token: t.String({ description: "the device's secret, shown this once" }), token_id: Str, ...Written },
  { examples: [{ device_id: "d_0193a1b2c3d4e5f6a7b8c9d0e1f2", token: "pcl_Jx2Q7rYb3n0VfWk1tHc9pL4sZa8DgEu6MyRoBiXqTvN", token_id: "c_0193a1b2c3d4e5f6a7b8c9d0e1f2", revision: 42 }] },
);
export const DeviceList = t.Object(
  { items: t.Array(t.Object({ device_id: Str, name: Str, platform: t.Union([t.String(), t.Null()], { description: "null for a device registered through the openway API" }), created_at: DateTime, last_seen_at: NullableDate })) },
  { examples: [{ items: [{ device_id: "d_0193a1b2c3d4e5f6a7b8c9d0e1f2", name: "Pixel 8", platform: "android", created_at: EXAMPLE_AT, last_seen_at: null }] }] },
);

export const EventPage = page(
  t.Object({ id: t.String({ description: "UUIDv7, made at decision time" }), at: DateTime, gate_id: Str, user_id: NullableStr, allow: t.Boolean(), reason: Str, revision: t.Integer() }),
  { id: "0193a1b2-c3d4-7e5f-a7b8-c9d0e1f2a3b4", at: EXAMPLE_AT, gate_id: "GATE_001", user_id: USER_EXAMPLE.id, allow: true, reason: "granted", revision: 57 },
);

export const AuditPage = page(
  t.Object({
    id: Str, at: DateTime, revision: t.Integer(), actor: t.Union([t.String(), t.Null()], { description: "the credential id that made the change (null: the CLI or the bootstrap)" }),
    action: Str, entity: Str, entity_id: NullableStr, before: t.Unknown(), after: t.Unknown(),
  }),
  { id: "1207", at: EXAMPLE_AT, revision: 42, actor: "c_0193a1b2c3d4e5f6a7b8c9d0e1f2", action: "update", entity: "gate", entity_id: "GATE_001", before: { ...GATE_EXAMPLE, mode: "normal" }, after: { ...GATE_EXAMPLE, mode: "locked" } },
);

const TimeOrNull = t.Union([t.String({ description: "RFC 3339" }), t.Null()]);
export const ExplainAnswer = t.Object(
  {
    allow: t.Boolean(),
    reason: Str,
    at: DateTime,
    gate_id: Str,
    user_id: t.Optional(Str),
    credential: t.Optional(t.Object({ id: Str, kind: Str, revoked: t.Boolean(), expires_at: TimeOrNull, valid_from: TimeOrNull })),
    user: t.Optional(t.Object({ id: Str, username: Str, active: t.Boolean(), valid_from: TimeOrNull, valid_until: TimeOrNull })),
    gate: t.Optional(t.Object({ id: Str, name: Str, mode: Str, zone_id: NullableStr })),
    groups: t.Array(t.Object({ id: Str, name: Str, path: t.Array(Str, { description: "group names from the user's own group up to this one" }) })),
    grants: t.Array(t.Object({
      id: Str,
      effect: Effect,
      subject: t.Union([t.Object({ user_id: Str }), t.Object({ group_id: Str, group_path: t.Array(Str) })]),
      target: t.Union([t.Object({ gate_id: Str }), t.Object({ zone_id: Str })]),
      valid_from: TimeOrNull,
      valid_until: TimeOrNull,
      in_validity: t.Boolean(),
      schedule: t.Union([t.Null(), t.Object({ id: Str, name: Str, timezone: Str, local_time: Str, open: t.Boolean(), window: t.Unknown() })]),
      outcome: t.Union([t.Literal("allows"), t.Literal("denies"), t.Literal("ruled_out")]),
      why: Str,
    }), { description: "every grant that reaches the user for this gate, directly or through a group, on the gate or its zone" }),
    stateful: t.Optional(t.Unknown({
      description: "At a gate with rules with memory, for an allowed decision: the rules, the shared state's store, whether the user is inside, occupancy, and the stateful outcome",
    })),
    revision: Int({ description: "the index revision that explained" }),
  },
  {
    examples: [{
      allow: true, reason: "granted", at: EXAMPLE_AT, gate_id: "GATE_001", user_id: USER_EXAMPLE.id,
      user: { id: USER_EXAMPLE.id, username: "alice", active: true, valid_from: null, valid_until: null },
      gate: { id: "GATE_001", name: "HQ main door", mode: "normal", zone_id: ZONE_EXAMPLE.id },
      groups: [{ id: GROUP_EXAMPLE.id, name: "engineering", path: ["engineering"] }],
      grants: [{
        id: GRANT_EXAMPLE.id, effect: "allow", subject: { group_id: GROUP_EXAMPLE.id, group_path: ["engineering"] }, target: { zone_id: ZONE_EXAMPLE.id },
        valid_from: null, valid_until: null, in_validity: true,
        schedule: { id: SCHEDULE_EXAMPLE.id, name: "office-hours", timezone: "Europe/Berlin", local_time: "Mon 09:30", open: true, window: { days: [1, 2, 3, 4, 5], start: "07:00", end: "19:00" } },
        outcome: "allows", why: "allow grant on the gate's zone through engineering, inside its schedule",
      }],
      revision: 57,
    }],
  },
);

export const HealthAnswer = t.Object({ status: t.Literal("ok") }, { examples: [{ status: "ok" }] });
export const ReadyAnswer = t.Object(
  {
    status: t.Union([t.Literal("ready"), t.Literal("not_ready")]),
    revision: Int({ description: "the revision the index has applied" }),
    node: t.String({ description: "this process's id in GET /api/v1/admin/nodes" }),
    data_age_ms: t.Union([t.Number(), t.Null()], { description: "ms since this process last confirmed it had everything Postgres had (null: never yet)" }),
    feed: t.Object({ connected: t.Boolean(), lag_ms: t.Number({ description: "how long the index has been behind a known revision; 0 when caught up" }) }),
    db: t.Object({ reachable: t.Boolean() }),
    events: t.Object({
      journal: t.Union([t.Literal("ok"), t.Literal("full")], { description: "full: the event journal is at its disk budget; decisions could not be recorded, so not ready" }),
      journal_bytes: t.Integer(),
      unshipped: t.Integer({ description: "decisions journaled but not yet in Postgres" }),
    }),
  },
  { examples: [{ status: "ready", revision: 57, node: "gate-host-1-4242-k3x9", data_age_ms: 412, feed: { connected: true, lag_ms: 0 }, db: { reachable: true }, events: { journal: "ok", journal_bytes: 4096, unshipped: 3 } }] },
);
export const MetricsText = t.String({ contentMediaType: "text/plain; version=0.0.4", description: "Prometheus text exposition format", examples: ["# HELP portcullis_index_revision …\n"] });
export const HtmlPage = t.String({ contentMediaType: "text/html", description: "An HTML page", examples: ["<!doctype html>\n<html lang=\"en\">…</html>"] });
