// POST /api/v1/access/verify on the compatibility port: an adapter of the verify core
// (src/verify/verify.ts — decision, rate limits, event, the same as the native routes') with the
// original service's request and answer. Always 200: {"decision": "ALLOW"|"DENY", "reason": R}
// plus "duration_ms" on ALLOW.
//
// As cheap as the native route: plain checks instead of a schema (every failure is a 200 answer,
// not an error), frozen answer objects for every DENY, no Postgres, no Redis (unless the exact
// rate-limit mode is configured, as for the native route).
import type { Deps } from "../deps";
import type { Decision, Reason } from "../index/types";
import type { Outcome } from "../verify/verify";

export type CompatReason = "OK" | "INVALID_REQUEST" | "UNKNOWN_GATE" | "TOKEN_INVALID" | "DEVICE_INACTIVE" | "NO_PERMISSION" | "RATE_LIMIT";

export interface CompatAnswer {
  decision: "ALLOW" | "DENY";
  reason: CompatReason;
  duration_ms?: number;
}

const deny = (reason: CompatReason): CompatAnswer => Object.freeze({ decision: "DENY", reason }) as CompatAnswer;
export const DENY_INVALID = deny("INVALID_REQUEST");
const DENY_UNKNOWN_GATE = deny("UNKNOWN_GATE");
const DENY_TOKEN_INVALID = deny("TOKEN_INVALID");
const DENY_DEVICE_INACTIVE = deny("DEVICE_INACTIVE");
const DENY_NO_PERMISSION = deny("NO_PERMISSION");
export const DENY_RATE_LIMIT = deny("RATE_LIMIT");

/** Native reason → the original's (COMPAT-openway.md). */
const BY_REASON: Record<Exclude<Reason, "granted">, CompatAnswer> = {
  unknown_gate: DENY_UNKNOWN_GATE,
  gate_disabled: DENY_UNKNOWN_GATE,
  unknown_token: DENY_TOKEN_INVALID,
  expired_token: DENY_TOKEN_INVALID,
  revoked_token: DENY_TOKEN_INVALID,
  not_yet_valid: DENY_TOKEN_INVALID,
  inactive_user: DENY_TOKEN_INVALID,
  no_grant: DENY_NO_PERMISSION,
  denied: DENY_NO_PERMISSION,
  outside_schedule: DENY_NO_PERMISSION,
  gate_locked: DENY_NO_PERMISSION,
  stale_index: DENY_NO_PERMISSION,
  // The rules with memory had no equivalent in the original: a refusal like any other.
  pin_required: DENY_NO_PERMISSION,
  wrong_pin: DENY_NO_PERMISSION,
  pin_locked: DENY_NO_PERMISSION,
  escort_required: DENY_NO_PERMISSION,
  awaiting_supervisor: DENY_NO_PERMISSION,
  anti_passback: DENY_NO_PERMISSION,
  zone_full: DENY_NO_PERMISSION,
  awaiting_second: DENY_NO_PERMISSION,
  state_unavailable: DENY_NO_PERMISSION,
};

/**
 * The original checked the gate before the token: an unknown (or, here, disabled) gate answers
 * UNKNOWN_GATE whatever the token, where decide() would name the token first. Then a device
 * credential whose device was revoked answers DEVICE_INACTIVE (the original looked at the device
 * before its user and its permissions), everything else by the table.
 */
export function compatAnswer(d: Decision, gateKnown: boolean): CompatAnswer {
  if (d.allow) return { decision: "ALLOW", reason: "OK", duration_ms: d.unlockMs };
  if (!gateKnown) return DENY_UNKNOWN_GATE;
  if (d.deviceRevoked) return DENY_DEVICE_INACTIVE;
  return BY_REASON[d.reason as Exclude<Reason, "granted">] ?? DENY_NO_PERMISSION;
}

/** The parse result for a body that is not a JSON object (or is over the size bound). */
export const NOT_JSON: unique symbol = Symbol("not JSON");
const MAX_BODY = 4096;

/** Route-level parser: never throws, never answers anything but a value for the handler. */
export async function parseVerifyBody({ request }: { request: Request }): Promise<unknown> {
  const declared = request.headers.get("content-length");
  if (declared !== null && +declared > MAX_BODY) return NOT_JSON;
  let text: string;
  try {
    text = await request.text();
  } catch {
    return NOT_JSON;
  }
  if (text.length > MAX_BODY || (text.length * 3 > MAX_BODY && Buffer.byteLength(text) > MAX_BODY)) return NOT_JSON;
  try {
    const v = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : NOT_JSON;
  } catch {
    return NOT_JSON;
  }
}

/** The request's gate and token, validated as the original did; null: INVALID_REQUEST. */
function fields(body: unknown): [gateId: string, token: string] | null {
  if (body === NOT_JSON) return null;
  const b = body as Record<string, unknown>;
  const g = b.gate_id;
  const t = b.token;
  if (typeof g !== "string" || typeof t !== "string") return null;
  const gateId = g.trim();
  const token = t.trim();
  if (gateId.length === 0 || token.length < 8 || token.length > 128) return null;
  return [gateId, token];
}

/**
 * An outcome in the original's words. A verify refused by a rate limit (the native limits: one
 * budget per token and gate across both ports) answers RATE_LIMIT with 200, as the original did.
 */
function toCompat(o: Outcome): CompatAnswer {
  if (o.refusal !== null) return DENY_RATE_LIMIT;
  const d = o.decision as Decision;
  if (d.allow) return { decision: "ALLOW", reason: "OK", duration_ms: d.unlockMs };
  const gate = o.index.gates.get(o.gateId);
  return compatAnswer(d, gate !== undefined && gate.mode !== "disabled");
}

/** The handler, built once per app: validates, then the verify core, then the original's answer. */
export function compatVerify(deps: Deps) {
  const { verify } = deps;
  return ({ body }: { body: unknown }): CompatAnswer | Promise<CompatAnswer> => {
    const f = fields(body);
    if (f === null) return DENY_INVALID;
    const o = verify(f[1], f[0]);
    return o instanceof Promise ? o.then(toCompat) : toCompat(o);
  };
}
