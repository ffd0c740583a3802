// The rules with memory, as the verify core uses them: turn an allowed decision at a gate with such
// a rule into one plan (plan.ts), run it on the store, and map the reply back to a decision and the
// extra fields of its access event. Also: which store this process may use, rebuilding presence
// from the events when the store is empty, and the admin reads (presence, occupancy, forgive).
//
// Which store:
//  - REDIS_URL set: Redis, shared by every process and host.
//  - no REDIS_URL, a worker (WORKERS > 1): its primary's state, over IPC (store-ipc.ts).
//  - no REDIS_URL, a primary (or a single process): its own memory — but only while it holds a
//    Postgres advisory lock, so among the instances on one database exactly one keeps state. Every
//    other instance (and its workers) has none: its stateful gates decide by their zone's
//    state_failure (open: without the rule, flagged; closed: state_unavailable), and it takes over,
//    rebuilding from the events, when the holder goes. No process ever decides from a state of its
//    own that the others do not see.
import type { Config } from "../config";
import { createSql, type Sql } from "../db/client";
import { eventId } from "../events/event-id";
import type { EventExtra } from "../events/copy-line";
import type { PermissionIndex } from "../index/permission-index";
import type { CredentialRec, Decision, Reason } from "../index/types";
import { log } from "../log";
import { checkPin } from "./pin";
import { explainState } from "./explain";
import { buildPlan } from "./plan-builder";
import { type Reply } from "./plan";
import { presenceFromEvents } from "./rebuild";
import { anyStatefulGate, type GateRules } from "./rules";
import { NoState, type StateStore, StateUnavailable } from "./store";
import { LocalState } from "./store-local";
import { IpcState } from "./store-ipc";
import { RedisState } from "./store-redis";

/** A worker's channel to its primary process (Bun's IPC). */
export type IpcParent = ConstructorParameters<typeof IpcState>[0];

const LOCAL_LOCK_KEY = 0x70636c53; // "pclS"
const LOCK_CHECK_MS = 2000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)))])
    .finally(() => clearTimeout(timer));
}

export interface StatefulResult {
  decision: Decision;
  extra: EventExtra;
  /** For explain and tests: what the store said ("ok", a reason, "unavailable", "unbuilt"). */
  store: string;
}

type Source = { current: PermissionIndex };

export class StateService {
  private rebuilding: Promise<void> | null = null;
  private lockSql: Sql | null = null;
  private tending = false;
  private lockTimer: ReturnType<typeof setInterval> | null = null;
  private stopped = false;
  /** Decisions made without their rule because the store was unavailable, by failure mode. */
  failures = { open: 0, closed: 0 };

  private constructor(
    private readonly config: Readonly<Config>,
    private readonly sql: Sql,
    private readonly feed: Source,
    public store: StateStore,
    private readonly databaseUrl?: string,
  ) {}

  /** Picks the store (see the header) and builds its state when it is empty. */
  static async start(config: Readonly<Config>, sql: Sql, feed: Source, opts: { databaseUrl?: string; primary?: IpcParent } = {}): Promise<StateService> {
    const { databaseUrl, primary } = opts;
    if (config.redisUrl) {
      const store = RedisState.fromConfig(config);
      const s = new StateService(config, sql, feed, store);
      // A start waits for Redis (and a rebuild) only when some gate already has a rule with memory.
      if (anyStatefulGate(feed.current)) {
        if (await store.ready(2000)) await s.ensureBuilt();
        else log.warn("rules with memory: Redis not reachable at start; each zone's state_failure decides until it is");
      }
      // After a reconnect the Redis may be a new, empty one: check, and rebuild from the events.
      store.link.client.on("ready", () => void s.ensureBuilt());
      return s;
    }
    if (primary) return new StateService(config, sql, feed, new IpcState(primary, config.stateRedisTimeoutMs));
    const s = new StateService(config, sql, feed, new NoState("no REDIS_URL, and another process keeps the state"), databaseUrl);
    // The lock lives on a connection of its own: it never takes one of the service's, and a
    // connection that hangs (Postgres cut off) holds up nothing but the lock's own checks.
    s.lockSql = createSql(databaseUrl!, { max: 1, applicationName: "portcullis-state-lock" });
    // Claimed before the first verify when some gate already has a rule with memory; else meanwhile.
    if (anyStatefulGate(feed.current)) await s.tend();
    else void s.tend();
    s.lockTimer = setInterval(() => void s.tend(), LOCK_CHECK_MS);
    s.lockTimer.unref?.();
    return s;
  }

  /**
   * No REDIS_URL: keep the state here only while this process holds the advisory lock. Every few
   * seconds (never two at once, each bounded): try to take it (re-taking it is a no-op for its
   * holder, and takes it back after the connection was recycled); not held → no state here.
   */
  private async tend(): Promise<void> {
    if (this.stopped || this.tending || !this.lockSql) return;
    this.tending = true;
    try {
      const [r] = await withTimeout(this.lockSql`select pg_try_advisory_lock(${LOCAL_LOCK_KEY}) as ok`, LOCK_CHECK_MS, "the state lock check");
      if (r!.ok && this.store.kind !== "local") {
        const local = new LocalState();
        await local.replace(await withTimeout(presenceFromEvents(this.sql, this.feed.current), 60_000, "the presence rebuild"));
        if (this.stopped) return;
        this.store = local;
        log.info("rules with memory: state kept in this process (no REDIS_URL); other processes on this database decide by state_failure");
      } else if (!r!.ok && this.store.kind === "local") this.giveUp("another process holds the state lock");
    } catch (e) {
      if (this.store.kind === "local") this.giveUp(String((e as Error)?.message ?? e));
    } finally {
      this.tending = false;
    }
  }

  private giveUp(why: string): void {
    log.warn("rules with memory: lost the state lock; stateful gates decide by state_failure until it is claimed again", { why });
    (this.store as LocalState).reset();
    this.store = new NoState("the state lock was lost");
    // Drop the connection (and with it the lock, should it still hold it): the next claim starts clean.
    void this.lockSql?.end({ timeout: 1 }).catch(() => {});
    this.lockSql = createSql(this.databaseUrl!, { max: 1, applicationName: "portcullis-state-lock" });
  }

  /** Rebuilds presence from the events when the store is empty (Redis restarted); one process at a time. */
  ensureBuilt(): Promise<void> {
    return (this.rebuilding ??= (async () => {
      try {
        if (await this.store.built()) return;
        if (!(await this.store.lockRebuild(60_000))) return; // another process is on it
        const t0 = Date.now();
        const state = await presenceFromEvents(this.sql, this.feed.current);
        await this.store.replace(state);
        let people = 0;
        for (const h of state.inside.values()) people += h.size;
        log.info("rules with memory: presence rebuilt from the access events", { zones: state.inside.size, presences: people, ms: Date.now() - t0 });
      } catch (e) {
        log.warn("rules with memory: rebuild failed; will retry", { error: String(e) });
      }
    })().finally(() => {
      this.rebuilding = null;
    }));
  }

  /**
   * The stateful part of an allowed decision `d` at a gate with rules `r`: one store call (bounded
   * by its timeout; at once when the store is known to be down). Never throws.
   */
  async decide(ix: PermissionIndex, d: Decision, r: GateRules, pin: string | undefined, now: number): Promise<StatefulResult> {
    const extra: EventExtra = { id: eventId(now), zoneId: r.zone?.id ?? null, direction: null, flags: null, peerEventId: null, peerUserId: null };
    const cred = d.credentialId !== undefined ? ix.credentialsById.get(d.credentialId) : undefined;
    if (cred === undefined) return { decision: d, extra, store: "ok" };
    const refuse = (reason: Reason): Decision => ({ ...d, allow: false, reason, unlockMs: 0 });
    let pinOk: 0 | 1 = 1;
    if (r.pin) {
      if (pin === undefined) return { decision: refuse("pin_required"), extra, store: "ok" };
      pinOk = cred.pinHash && checkPin(cred.pinHash, pin) ? 1 : 0;
    }
    const planned = buildPlan(ix, r, cred, { pinOk, now, ev: extra.id, dry: false, pinLimit: this.config.rateLimitPin });
    if (planned === null) return { decision: d, extra, store: "ok" };
    let reply: Reply;
    try {
      reply = await this.store.run(planned.keys, planned.plan);
    } catch (e) {
      if (!(e instanceof StateUnavailable)) log.warn("rules with memory: unexpected store error", { error: String(e) });
      return this.failed(d, r, pinOk, extra, "unavailable");
    }
    const code = reply[0];
    if (code === "unbuilt") {
      void this.ensureBuilt();
      return this.failed(d, r, pinOk, extra, "unbuilt");
    }
    if (reply[1]) extra.flags = reply[1].split(",");
    if (code !== "ok") return { decision: refuse(code as Reason), extra, store: code };
    if (planned.plan.pr) extra.direction = planned.plan.pr.dir;
    if (reply[2]) {
      extra.peerUserId = reply[2];
      extra.peerEventId = reply[3] || null;
      if (extra.peerEventId) this.linkPeer(extra.peerEventId, extra.id, cred.userId);
    }
    return { decision: d, extra, store: "ok" };
  }

  /** The store could not answer: the zone's state_failure decides (a gate without a zone: closed). */
  private failed(d: Decision, r: GateRules, pinOk: 0 | 1, extra: EventExtra, store: string): StatefulResult {
    if (!r.failOpen) {
      this.failures.closed++;
      return { decision: { ...d, allow: false, reason: "state_unavailable", unlockMs: 0 }, extra, store };
    }
    this.failures.open++;
    extra.flags = ["state_failure_open"];
    // The PIN is checked without the store; only its wrong-PIN count is not kept meanwhile.
    if (pinOk === 0) return { decision: { ...d, allow: false, reason: "wrong_pin", unlockMs: 0 }, extra, store };
    return { decision: d, extra, store };
  }

  /**
   * The first decision of a two-person pair was recorded before its peer was known: name the
   * peer in it. Its event may still be in some node's buffer, so retry for a while.
   */
  private linkPeer(firstEventId: string, peerEventId: string, peerUserId: string): void {
    // A UUIDv7 starts with its millisecond timestamp: the partition to look in.
    const at = parseInt(firstEventId.replace(/-/g, "").slice(0, 12), 16);
    const from = new Date(at - 1000), to = new Date(at + 1000);
    let attempt = 0;
    const tryLink = async () => {
      if (this.stopped) return;
      try {
        const rows = await this.sql`update access_events set peer_event_id = ${peerEventId}, peer_user_id = ${peerUserId}
          where at >= ${from} and at < ${to} and id = ${firstEventId} and peer_event_id is null returning id`;
        if (rows.length) return;
      } catch {}
      if (++attempt < 12) setTimeout(tryLink, Math.min(5000, 50 * 2 ** attempt)).unref?.();
    };
    setTimeout(tryLink, 50).unref?.();
  }

  /** Explain: see explain.ts. */
  explain(ix: PermissionIndex, r: GateRules, cred: CredentialRec | undefined, userId: string, now: number) {
    return explainState(this.store, this.config.rateLimitPin, ix, r, cred, userId, now);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.lockTimer) clearInterval(this.lockTimer);
    await this.rebuilding?.catch(() => {});
    // Ending the lock's connection releases the lock (bounded: Postgres may be gone).
    await this.lockSql?.end({ timeout: 1 }).catch(() => {});
    await this.store.close();
  }
}
