// POST /api/v1/access/verify on the compatibility port: the native verify path (hash, decide()
// from the in-memory index, record the event) with the original service's request and answer.
// Always 200: {"decision": "ALLOW"|"DENY", "reason": R} plus "duration_ms" on ALLOW.
//
// As cheap as the native route: plain checks instead of a schema (every failure is a 200 answer,
// not an error), frozen answer objects for every DENY, no Postgres, no Redis (unless the exact
// rate-limit mode is configured, as for the native route), no closure made per request (but in
// the exact mode's async path, as natively), nothing allocated but the parse and the ALLOW answer.
import type { Deps } from "../deps";
import type { Decision, Reason } from "../index/types";
import type { Limiter } from "../ratelimit/limiter";
import { hashSecret } from "../tokens";

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

/**
 * The handler, built once per app: validates, decides, applies the rate limits, records, answers.
 * The limits are the native verify's own limiter objects (deps.limits), taken in the same order
 * with the same keys (src/http/verify.ts): the decision first (it names the credential), then
 * the per-credential limit ("c:<credential id>", or "h:<token hash>" for an unknown token), then
 * the per-gate one; a refused request is an access event with reason rate_limited and answers
 * 200 {"decision": "DENY", "reason": "RATE_LIMIT"}, as the original did. A token and a gate share
 * one budget across both ports. With both limits off the handler has no limit code at all.
 */
export function compatVerify(deps: Deps) {
  const { feed, events, metrics } = deps;
  const gateLimit: Limiter | null = deps.limits?.gate ?? null;
  const tokenLimit: Limiter | null = deps.limits?.token ?? null;

  /** The request's gate and token, validated as the original did; null: INVALID_REQUEST. */
  const fields = (body: unknown): [gateId: string, token: string] | null => {
    if (body === NOT_JSON) return null;
    const b = body as Record<string, unknown>;
    const g = b.gate_id;
    const t = b.token;
    if (typeof g !== "string" || typeof t !== "string") return null;
    const gateId = g.trim();
    const token = t.trim();
    if (gateId.length === 0 || token.length < 8 || token.length > 128) return null;
    return [gateId, token];
  };

  const unlimited = ({ body }: { body: unknown }): CompatAnswer => {
    const f = fields(body);
    if (f === null) return DENY_INVALID;
    const gateId = f[0];
    const index = feed.current;
    const now = Date.now();
    const d = index.decide(hashSecret(f[1]), gateId, now);
    events.record(d, gateId, index.revision, now);
    metrics.countDecision(d.reason);
    if (d.allow) return { decision: "ALLOW", reason: "OK", duration_ms: d.unlockMs };
    const gate = index.gates.get(gateId);
    return compatAnswer(d, gate !== undefined && gate.mode !== "disabled");
  };
  if (gateLimit === null && tokenLimit === null) return unlimited;

  const admit = (d: Decision, gateId: string, revision: number, now: number, gateKnown: boolean): CompatAnswer => {
    events.record(d, gateId, revision, now);
    metrics.countDecision(d.reason);
    return compatAnswer(d, gateKnown);
  };
  const refuse = (d: Decision, gateId: string, revision: number, now: number, limiter: Limiter): CompatAnswer => {
    events.record({ ...d, allow: false, reason: "rate_limited" as Decision["reason"] }, gateId, revision, now);
    metrics.rateLimited(limiter.name as "gate" | "token");
    return DENY_RATE_LIMIT;
  };
  const gateStep = (d: Decision, gateId: string, revision: number, now: number, gateKnown: boolean): CompatAnswer | Promise<CompatAnswer> => {
    if (gateLimit === null) return admit(d, gateId, revision, now, gateKnown);
    const g = gateLimit.take(gateId, now);
    if (g instanceof Promise) return g.then((r) => (r.allowed ? admit(d, gateId, revision, now, gateKnown) : refuse(d, gateId, revision, now, gateLimit)));
    return g.allowed ? admit(d, gateId, revision, now, gateKnown) : refuse(d, gateId, revision, now, gateLimit);
  };
  return ({ body }: { body: unknown }): CompatAnswer | Promise<CompatAnswer> => {
    const f = fields(body);
    if (f === null) return DENY_INVALID;
    const gateId = f[0];
    const hash = hashSecret(f[1]);
    const index = feed.current;
    const now = Date.now();
    const d = index.decide(hash, gateId, now);
    const revision = index.revision;
    const gate = index.gates.get(gateId);
    const gateKnown = gate !== undefined && gate.mode !== "disabled";
    if (tokenLimit === null) return gateStep(d, gateId, revision, now, gateKnown);
    const t = tokenLimit.take(d.credentialId !== undefined ? "c:" + d.credentialId : "h:" + hash, now);
    if (t instanceof Promise) return t.then((r) => (r.allowed ? gateStep(d, gateId, revision, now, gateKnown) : refuse(d, gateId, revision, now, tokenLimit)));
    return t.allowed ? gateStep(d, gateId, revision, now, gateKnown) : refuse(d, gateId, revision, now, tokenLimit);
  };
}
