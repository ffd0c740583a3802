// Wire types the server answers and the console (src/console/, browser code) reads: types only,
// so the console's bundle takes nothing else of the server. Each is the server's own declaration.
import type { Reason } from "./index/types";

export interface GrantExplanation {
  id: string;
  effect: "allow" | "deny";
  subject: { user_id: string } | { group_id: string; group_path: string[] };
  target: { gate_id: string } | { zone_id: string };
  valid_from: string | null;
  valid_until: string | null;
  in_validity: boolean;
  schedule: null | { id: string; name: string; timezone: string; local_time: string; open: boolean; window: unknown };
  outcome: "allows" | "denies" | "ruled_out";
  why: string;
}

export interface Explanation {
  allow: boolean;
  reason: Reason;
  at: string;
  gate_id: string;
  user_id?: string;
  credential?: { id: string; kind: string; revoked: boolean; expires_at: string | null; valid_from: string | null };
  user?: { id: string; username: string; active: boolean; valid_from: string | null; valid_until: string | null };
  gate?: { id: string; name: string; mode: string; zone_id: string | null };
  groups: Array<{ id: string; name: string; path: string[] }>;
  grants: GrantExplanation[];
}

/** POST /api/v1/admin/explain: the explanation at the index's revision, with the stateful part of rules with memory. */
export type ExplainAnswer = Explanation & { revision: number; stateful?: unknown };

/** An access event as the live stream sends it. */
export interface LiveEvent {
  id: string;
  at: string;
  gate_id: string;
  user_id: string | null;
  allow: boolean;
  reason: string;
  revision: number;
}

/**
 * One frame of GET /api/v1/admin/events/stream (Server-Sent Events): `id: <event id>`,
 * `event: access`, `data: <the LiveEvent as JSON>`; a reconnecting client sends the last id as
 * Last-Event-ID.
 */
export interface AccessFrame {
  id: string;
  event: "access";
  data: LiveEvent;
}
