// The admin collections: how each maps API fields to columns and rows back to JSON. Semantic
// checks the schema cannot express (timezones, windows, group cycles) live here too.
import { dateColumn } from "../dates";
import { isValidTimezone } from "../index/clock";
import { windowsProblem } from "../index/schedule";
import type { ScheduleWindow } from "../index/types";
import { invalid } from "../errors";
import { formatDuration, parseDuration } from "../config";
import { hashPin } from "../state/pin";
import { hashSecret, newSecret } from "../tokens";
import type { Tx } from "./tx";

type Row = Record<string, any>;
type Input = Record<string, any>;

export interface Collection {
  /** Route segment, e.g. "users". */
  name: string;
  /** Audit entity, e.g. "user". */
  entity: string;
  table: string;
  toJson(row: Row): Record<string, unknown>;
  /** Validated column values for an insert (existing = null) or a patch. */
  toRow(tx: Tx, input: Input, existing: Row | null): Promise<Row>;
  /** Query parameters that filter the list, → column. */
  filters?: Record<string, string>;
  /** Columns that `?q=` matches by case-insensitive prefix (any of them). */
  search?: string[];
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
const stamps = (r: Row) => ({ created_at: iso(r.created_at), updated_at: iso(r.updated_at) });

const DATE_FIELDS = new Set(["valid_from", "valid_until", "expires_at"]);

/** Copies the named fields present in `input` (undefined = leave alone; null = clear); dates
 * become Dates through the one RFC 3339 parser, so Postgres never reads a date string itself. */
function pick(input: Input, fields: string[]): Row {
  const out: Row = {};
  for (const f of fields) if (input[f] !== undefined) out[f] = DATE_FIELDS.has(f) ? dateColumn(input[f], f) : input[f];
  return out;
}

function checkValidity(row: Row, existing: Row | null, fromCol = "valid_from", untilCol = "valid_until"): void {
  const from = row[fromCol] !== undefined ? row[fromCol] : existing?.[fromCol];
  const until = row[untilCol] !== undefined ? row[untilCol] : existing?.[untilCol];
  if (from != null && until != null && new Date(from).getTime() >= new Date(until).getTime()) {
    throw invalid(untilCol, `must be after ${fromCol}`);
  }
}

/** Is `id` the row `start` or one of its ancestors (following parent_id in `table`)? */
async function isAncestor(tx: Tx, table: "groups" | "zones", id: string, start: string): Promise<boolean> {
  const [hit] = await tx`
    with recursive up(id, parent_id) as (
      select id, parent_id from ${tx(table)} where id = ${start}
      union
      select t.id, t.parent_id from ${tx(table)} t join up on t.id = up.parent_id)
    select 1 from up where id = ${id} limit 1`;
  return hit !== undefined;
}

export const users = {
  name: "users" as const,
  entity: "user",
  table: "users",
  filters: { username: "username" },
  search: ["username", "display_name", "email"],
  toJson: (r) => ({
    id: r.id, username: r.username, email: r.email, display_name: r.display_name, active: r.active,
    valid_from: iso(r.valid_from), valid_until: iso(r.valid_until), ...stamps(r),
  }),
  async toRow(_tx, input, existing) {
    const row = pick(input, ["username", "email", "display_name", "active", "valid_from", "valid_until"]);
    if (input.password !== undefined) {
      row.password_hash = input.password === null ? null : await Bun.password.hash(input.password, "argon2id");
    }
    checkValidity(row, existing);
    return row;
  },
} satisfies Collection;

export const groups = {
  name: "groups" as const,
  entity: "group",
  table: "groups",
  filters: { parent_id: "parent_id", name: "name" },
  search: ["name"],
  toJson: (r) => ({ id: r.id, name: r.name, parent_id: r.parent_id, ...stamps(r) }),
  async toRow(tx, input, existing) {
    const row = pick(input, ["name", "parent_id"]);
    if (existing && row.parent_id) {
      // Two concurrent re-parentings cannot close a cycle together: write() took the revision lock
      // first, so group writes are serialised before this check.
      if (row.parent_id === existing.id) throw invalid("parent_id", "a group cannot be its own parent");
      if (await isAncestor(tx, "groups", existing.id, row.parent_id)) throw invalid("parent_id", "would make the group its own ancestor");
    }
    return row;
  },
} satisfies Collection;

const ZONE_RULES = ["parent_id", "anti_passback", "max_occupancy", "state_failure", "supervisor_group_id",
  "supervisor_schedule_id", "requires_escort", "escort_window_s"];

export const zones = {
  name: "zones" as const,
  entity: "zone",
  table: "zones",
  filters: { name: "name", parent_id: "parent_id" },
  search: ["name"],
  toJson: (r) => ({
    id: r.id, name: r.name, parent_id: r.parent_id, anti_passback: r.anti_passback,
    anti_passback_reset: r.anti_passback_reset_ms === null ? null : formatDuration(Number(r.anti_passback_reset_ms)),
    max_occupancy: r.max_occupancy, state_failure: r.state_failure,
    supervisor_group_id: r.supervisor_group_id, supervisor_schedule_id: r.supervisor_schedule_id,
    requires_escort: r.requires_escort, escort_window_s: r.escort_window_s, ...stamps(r),
  }),
  async toRow(tx, input, existing) {
    const row = pick(input, ["name", ...ZONE_RULES]);
    if (input.anti_passback_reset !== undefined) {
      if (input.anti_passback_reset === null) row.anti_passback_reset_ms = null;
      else {
        const ms = parseDuration(input.anti_passback_reset);
        if (!(ms >= 1000 && ms <= 365 * 86_400_000)) throw invalid("anti_passback_reset", "expected a duration from 1s to 365d, like 30m or 12h, or null");
        row.anti_passback_reset_ms = ms;
      }
    }
    const group = row.supervisor_group_id !== undefined ? row.supervisor_group_id : existing?.supervisor_group_id ?? null;
    const schedule = row.supervisor_schedule_id !== undefined ? row.supervisor_schedule_id : existing?.supervisor_schedule_id ?? null;
    if ((group === null) !== (schedule === null)) throw invalid(group === null ? "supervisor_group_id" : "supervisor_schedule_id", "first person in needs both supervisor_group_id and supervisor_schedule_id (or neither)");
    if (row.parent_id) {
      // write() holds the revision lock: two concurrent moves cannot close a cycle together.
      if (existing && row.parent_id === existing.id) throw invalid("parent_id", "a zone cannot enclose itself");
      if (existing && (await isAncestor(tx, "zones", existing.id, row.parent_id))) throw invalid("parent_id", "would make the zone enclose itself");
    }
    return row;
  },
} satisfies Collection;

const GATE_RULES = ["direction", "two_person_window_ms", "requires_pin", "requires_escort", "escort_window_s"];

export const gates = {
  name: "gates" as const,
  entity: "gate",
  table: "gates",
  filters: { zone_id: "zone_id", mode: "mode" },
  search: ["id", "name"],
  toJson: (r) => ({
    id: r.id, name: r.name, zone_id: r.zone_id, mode: r.mode, unlock_ms: r.unlock_ms, direction: r.direction,
    two_person_window_ms: r.two_person_window_ms, requires_pin: r.requires_pin, requires_escort: r.requires_escort,
    escort_window_s: r.escort_window_s, max_staleness_ms: r.max_staleness_ms, ...stamps(r),
  }),
  async toRow(_tx, input, existing) {
    const row = pick(input, [...(existing ? [] : ["id"]), "name", "zone_id", "mode", "unlock_ms", "max_staleness_ms", ...GATE_RULES]);
    // A mode or zone set on the gate itself is its own: a zone unlock no longer touches it.
    if (existing && (row.mode !== undefined || row.zone_id !== undefined)) row.zone_locked = false;
    return row;
  },
} satisfies Collection;

export const schedules = {
  name: "schedules" as const,
  entity: "schedule",
  table: "schedules",
  search: ["name"],
  toJson: (r) => ({ id: r.id, name: r.name, timezone: r.timezone, windows: r.windows, ...stamps(r) }),
  async toRow(tx, input) {
    const row = pick(input, ["name", "timezone"]);
    if (row.timezone !== undefined && !isValidTimezone(row.timezone)) {
      throw invalid("timezone", "not an IANA timezone name (e.g. Europe/Berlin)");
    }
    if (input.windows !== undefined) {
      const problem = windowsProblem(input.windows as ScheduleWindow[]);
      if (problem) throw invalid(problem.field, problem.message);
      row.windows = tx.json(input.windows.map((w: ScheduleWindow) => ({ days: [...new Set(w.days)].sort(), start: w.start, end: w.end })));
    }
    return row;
  },
} satisfies Collection;

export const grants = {
  name: "grants" as const,
  entity: "grant",
  table: "grants",
  filters: { user_id: "subject_user_id", group_id: "subject_group_id", gate_id: "target_gate_id", zone_id: "target_zone_id" },
  toJson: (r) => ({
    id: r.id,
    subject: r.subject_user_id !== null ? { user_id: r.subject_user_id } : { group_id: r.subject_group_id },
    target: r.target_gate_id !== null ? { gate_id: r.target_gate_id } : { zone_id: r.target_zone_id },
    effect: r.effect, schedule_id: r.schedule_id, valid_from: iso(r.valid_from), valid_until: iso(r.valid_until),
    ...stamps(r),
  }),
  async toRow(_tx, input, existing) {
    const row = pick(input, ["effect", "schedule_id", "valid_from", "valid_until"]);
    if (input.subject !== undefined) {
      const s = input.subject;
      if ((s.user_id === undefined) === (s.group_id === undefined)) throw invalid("subject", "give exactly one of user_id, group_id");
      row.subject_user_id = s.user_id ?? null;
      row.subject_group_id = s.group_id ?? null;
    }
    if (input.target !== undefined) {
      const t = input.target;
      if ((t.gate_id === undefined) === (t.zone_id === undefined)) throw invalid("target", "give exactly one of gate_id, zone_id");
      row.target_gate_id = t.gate_id ?? null;
      row.target_zone_id = t.zone_id ?? null;
    }
    checkValidity(row, existing);
    return row;
  },
} satisfies Collection;

export const credentials = {
  name: "credentials" as const,
  entity: "credential",
  table: "credentials",
  filters: { user_id: "user_id", kind: "kind" },
  toJson: (r) => ({
    id: r.id, user_id: r.user_id, kind: r.kind, label: r.label, scopes: r.scopes,
    expires_at: iso(r.expires_at), valid_from: iso(r.valid_from), revoked_at: iso(r.revoked_at),
    has_pin: r.pin_hash !== null, host_user_id: r.host_user_id, ...stamps(r),
  }),
  async toRow(_tx, input, existing) {
    const row = pick(input, existing ? ["label", "scopes", "expires_at", "valid_from", "host_user_id"] : ["user_id", "kind", "label", "scopes", "expires_at", "valid_from", "host_user_id"]);
    // Stored only as a salted HMAC (src/state/pin.ts); null removes the PIN.
    if (input.pin !== undefined) row.pin_hash = input.pin === null ? null : hashPin(input.pin);
    const host = row.host_user_id !== undefined ? row.host_user_id : existing?.host_user_id ?? null;
    const expires = row.expires_at !== undefined ? row.expires_at : existing?.expires_at ?? null;
    if (host !== null && expires === null) throw invalid("expires_at", "a visitor credential (host_user_id) needs a validity window: set expires_at");
    if (host !== null && host === (row.user_id ?? existing?.user_id)) throw invalid("host_user_id", "a visitor cannot be their own host");
    if (row.scopes) row.scopes = [...new Set(row.scopes as string[])].sort();
    if (!existing) {
      // The plain secret leaves through `secret` on the create answer only; the row keeps its hash.
      const secret: string = input.secret ?? newSecret();
      row.secret_hash = hashSecret(secret);
      Object.defineProperty(row, "secret", { value: secret, enumerable: false });
    }
    checkValidity(row, existing, "valid_from", "expires_at");
    return row;
  },
} satisfies Collection;

export const COLLECTIONS = { users, groups, zones, gates, schedules, grants, credentials };
