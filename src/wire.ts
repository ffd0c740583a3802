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

/** GET /api/v1/admin/stats: the console's live view. */
export interface Stats {
  at: string;
  window_s: number;
  total: number;
  allow: number;
  deny: number;
  per_second: Array<{ t: string; allow: number; deny: number }>;
  deny_reasons: Array<{ reason: string; count: number }>;
  gates: Array<{ gate_id: string; name: string | null; zone_id: string | null; mode: string | null; allow: number; deny: number; last_at: string }>;
  gate_modes: Record<string, number>;
  index: { revision: number; known_revision: number; lag_ms: number; feed_connected: boolean; ready: boolean };
  events: { buffered: number; live_watchers: number };
  processes: number;
}

/** One serving process in GET /api/v1/admin/nodes. */
export type NodeState = "live" | "gone" | "stopped";

export interface NodeInfo {
  id: string;
  host: string;
  pid: number;
  version: string;
  started_at: string;
  heartbeat_at: string;
  applied_revision: number;
  /** Revisions behind the head Postgres holds now. */
  lag: number;
  /** Milliseconds since the node last confirmed it had everything Postgres had (null: never). */
  data_age_ms: number | null;
  /** Milliseconds since the last heartbeat. */
  heartbeat_age_ms: number;
  state: NodeState;
}
