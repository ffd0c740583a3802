// Where the rules with memory keep their state: Redis (shared by every process and host), or the
// memory of the one process allowed to keep it (no REDIS_URL), or nowhere (a process that must
// not keep its own: then every zone's state_failure decides).
import type { Plan, Reply } from "./plan";

export interface Present {
  userId: string;
  since: number;
  gateId: string;
}

/** What a rebuild from the access events found (see rebuild.ts). */
export interface RebuiltState {
  /** zone → user → since/gate */
  inside: Map<string, Map<string, { since: number; gateId: string }>>;
  /** zone → user → time of the last exit (anti-passback on exits) */
  out: Map<string, Map<string, number>>;
  /** first-in marks: key name → expiry (epoch ms) */
  marks: Map<string, number>;
}

export class StateUnavailable extends Error {
  constructor(readonly why: string) {
    super(`shared state unavailable: ${why}`);
  }
}

export interface StateStore {
  readonly kind: "redis" | "local" | "ipc" | "none";
  /** False while a call could not succeed (no connection, cooling down after a failure). */
  readonly usable: boolean;
  /** Runs a plan atomically; rejects with StateUnavailable (never hangs past the store's timeout). */
  run(keys: string[], plan: Plan): Promise<Reply>;
  presence(zoneId: string): Promise<Present[]>;
  occupancy(zoneIds: string[]): Promise<number[]>;
  /** Clears one user's presence and exit state in a zone (anti-passback forgiveness). */
  forgive(zoneId: string, userId: string): Promise<void>;
  /** Is the state built (Redis not restarted empty since the last rebuild)? */
  built(): Promise<boolean>;
  /** Takes the rebuild lock; false when another process is rebuilding. */
  lockRebuild(ttlMs: number): Promise<boolean>;
  /** Replaces all presence with `state` and marks the store built. */
  replace(state: RebuiltState): Promise<void>;
  close(): Promise<void>;
}

/** A process that must not keep state of its own: every call fails, per zone state_failure decides. */
export class NoState implements StateStore {
  readonly kind = "none";
  readonly usable = false;
  constructor(readonly why: string) {}
  run(): Promise<Reply> {
    return Promise.reject(new StateUnavailable(this.why));
  }
  presence(): Promise<Present[]> {
    return Promise.reject(new StateUnavailable(this.why));
  }
  occupancy(): Promise<number[]> {
    return Promise.reject(new StateUnavailable(this.why));
  }
  forgive(): Promise<void> {
    return Promise.reject(new StateUnavailable(this.why));
  }
  built(): Promise<boolean> {
    return Promise.resolve(false);
  }
  lockRebuild(): Promise<boolean> {
    return Promise.resolve(false);
  }
  replace(): Promise<void> {
    return Promise.reject(new StateUnavailable(this.why));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
