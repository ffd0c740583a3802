// THE CHANGE FEED: keeps the index equal to Postgres. LISTEN first, then snapshot, then replay the
// change log after the snapshot's revision; on every notification and every (re)connect, replay
// the log after the applied revision again. A notification only says "look": the log is the
// truth, so a notification lost while disconnected loses nothing.
// The feed also keeps the node's data age: the last instant it confirmed Postgres had no revision
// beyond the applied one (a catch-up pass, or a probe that found nothing newer). Gates with
// max_staleness_ms refuse once that is too long ago.
import { createSql, type Sql } from "../db/client";
import { loadChangesAfter } from "../db/permissions";
import { PermissionIndex } from "../index/permission-index";
import type { ChangeSet } from "../index/types";
import { buildIndexInWorker } from "./build-index";
import { log } from "../log";
import { withTimeout } from "../timeout";

export const CHANNEL = "portcullis_changes";

export interface FeedOptions {
  /** How often the listener connection is probed (and the head revision compared). */
  heartbeatMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** A catch-up pass that takes longer is abandoned and retried (a driver that never settles must not stall the feed). */
  catchUpTimeoutMs?: number;
  snapshotTimeoutMs?: number;
  /** Behind a known revision for longer than this, the node reports not ready. */
  maxLagMs?: number;
  /** More channels to LISTEN on over the same connection (the acknowledgement channel). */
  channels?: Record<string, (payload: string) => void>;
  /** Nice value of the thread that builds a new index (0: the serving thread's priority). */
  buildNice?: number;
  /** Rebuild (compact) once incremental updates have left this share of the index's lists as garbage. */
  compactAtGarbage?: number;
  /**
   * When notifications keep arriving while a pass runs (a burst of writes), wait this long before
   * the next pass so it takes them all in one statement. A lone write is applied at once.
   */
  burstGapMs?: number;
}

interface Waiter {
  revision: number;
  resolve: (ok: boolean) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class ChangeFeed {
  current = new PermissionIndex();
  loaded = false;
  connected = false;
  reconnects = 0;
  rebuilds = 0;
  appliedChanges = 0;
  compactions = 0;
  /** Highest revision this node knows exists (from notifications and heartbeats). */
  knownHead = 0;
  private behindSince = 0;
  private listener: Sql | null = null;
  private reconnecting = false;
  private attempt = 0;
  private running: Promise<void> | null = null;
  private again = false;
  private waiters: Waiter[] = [];
  /** Change sets applied to `current` while a new index is being built, replayed onto it before the swap. */
  private journal: ChangeSet[] | null = null;
  private building: Promise<void> | null = null;
  private readonly abort = new AbortController();
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private stopped = false;
  private readonly opts: Required<FeedOptions>;
  /** Epoch ms of the last confirmation that the index held everything Postgres had; 0: never. */
  confirmedAt = 0;
  private appliedListeners: Array<(revision: number) => void> = [];
  private announced = 0;

  constructor(private readonly url: string, private readonly sql: Sql, opts: FeedOptions = {}) {
    this.opts = {
      heartbeatMs: 1000, backoffBaseMs: 50, backoffMaxMs: 5000, channels: {},
      catchUpTimeoutMs: 15_000, snapshotTimeoutMs: 300_000, maxLagMs: 10_000, buildNice: 10, compactAtGarbage: 0.5, burstGapMs: 3, ...opts,
    };
  }

  get revision(): number {
    return this.current.revision;
  }

  /** Milliseconds the index has been behind a revision known to exist; 0 when caught up. */
  get lagMs(): number {
    return this.knownHead > this.current.revision && this.behindSince ? Date.now() - this.behindSince : 0;
  }

  /** Milliseconds since this node last confirmed it had everything Postgres had. */
  dataAgeMs(now = Date.now()): number {
    return this.confirmedAt ? Math.max(0, now - this.confirmedAt) : Infinity;
  }

  /** Records that at `at` (epoch ms, taken before the query that showed it) nothing newer existed. */
  confirm(at: number, headRevision: number): void {
    if (headRevision <= this.current.revision && at > this.confirmedAt) this.confirmedAt = at;
  }

  /** Called with the new revision each time the index moves forward (acknowledgements). */
  onApplied(fn: (revision: number) => void): void {
    this.appliedListeners.push(fn);
  }

  /** One catch-up pass now (or the one running), awaited: the index holds at least what Postgres had when it began. */
  async catchUp(): Promise<void> {
    this.requestCatchUp();
    while (this.running) await this.running;
  }

  /** Loaded, listening, and not stuck behind a revision that exists. */
  get live(): boolean {
    return this.loaded && this.connected && this.lagMs < this.opts.maxLagMs;
  }

  async start(): Promise<void> {
    await this.listen(); // before the snapshot, so no change slips between them
    await this.rebuild();
    this.loaded = true;
    this.requestCatchUp();
    this.heartbeat = setInterval(() => void this.probe(), this.opts.heartbeatMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    const l = this.listener;
    this.listener = null;
    await l?.end({ timeout: 1 }).catch(() => {});
    await this.running?.catch(() => {});
    await this.building?.catch(() => {});
  }

  /** Resolves true once the index has applied `revision`, false after `timeoutMs`. */
  waitFor(revision: number, timeoutMs: number): Promise<boolean> {
    if (this.current.revision >= revision) return Promise.resolve(true);
    // Not noteHead(revision): the number comes from a client, and a made-up one must not make this
    // node report lag (and turn unready). Lag is measured against revisions Postgres announced.
    this.requestCatchUp(); // the caller knows of a write whose notification may not be here yet
    return new Promise((resolve) => {
      const w: Waiter = { revision, resolve, timer: setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve(this.current.revision >= revision);
      }, timeoutMs) };
      this.waiters.push(w);
    });
  }

  /** Replays the log; concurrent requests coalesce into one more pass. */
  requestCatchUp(): void {
    if (this.stopped || !this.loaded) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      try {
        for (;;) {
          this.again = false;
          await this.catchUpOnce();
          if (!this.again || this.stopped) break;
          // A burst: one pass per gap instead of one per notification. Each pass costs the
          // serving thread ~0.2 ms of driver work whatever it carries; at 700 writes a second
          // that was a seventh of its CPU, taken from verifies.
          if (this.opts.burstGapMs > 0) await Bun.sleep(this.opts.burstGapMs);
        }
      } catch (e) {
        log.warn("feed catch-up failed; will retry", { error: String(e) });
      } finally {
        this.running = null;
      }
    })();
  }

  private async catchUpOnce(): Promise<void> {
    const t0 = Date.now();
    const r = await withTimeout(loadChangesAfter(this.sql, this.current.revision), this.opts.catchUpTimeoutMs, "catch-up");
    if (r.kind === "rebuild") {
      log.warn("feed rebuilding from a snapshot", { why: r.why });
      await this.rebuild();
      this.again = true;
      return;
    }
    if (r.kind === "changes") {
      this.current.apply(r.changes);
      this.journal?.push(r.changes);
      this.appliedChanges += r.rows;
      this.noteHead(r.changes.revision);
      this.settle();
      if (this.current.garbageRatio() > this.opts.compactAtGarbage && !this.building) void this.compact();
    }
    // Either way the log held nothing beyond what is now applied when the pass began.
    if (t0 > this.confirmedAt) this.confirmedAt = t0;
  }

  /**
   * Builds a fresh index from a snapshot in a worker thread and swaps it in: a verify never sees
   * a half-built one. Changes applied meanwhile are replayed onto the new index first.
   */
  async rebuild(): Promise<void> {
    while (this.building) await this.building.catch(() => {});
    const run = this.buildAndSwap();
    this.building = run;
    try {
      await run;
    } finally {
      if (this.building === run) this.building = null;
    }
  }

  /** A rebuild in the background, while catch-ups go on: drops the garbage updates left behind. */
  private async compact(): Promise<void> {
    try {
      await this.rebuild();
      this.compactions++;
    } catch (e) {
      if (!this.stopped) log.warn("index compaction failed; will retry", { error: String(e) });
    }
  }

  private async buildAndSwap(): Promise<void> {
    const t0 = performance.now();
    const startedAt = Date.now();
    this.journal = [];
    let built;
    try {
      built = await buildIndexInWorker(this.url, {
        // At start nothing is served yet: the build may take the whole core.
        nice: this.loaded ? this.opts.buildNice : 0, timeoutMs: this.opts.snapshotTimeoutMs, signal: this.abort.signal,
      });
    } catch (e) {
      this.journal = null;
      throw e;
    }
    const next = built.index;
    for (const cs of this.journal) if (cs.revision > next.revision) next.apply(cs);
    this.journal = null;
    if (next.revision >= this.current.revision) {
      this.current = next;
      if (startedAt > this.confirmedAt) this.confirmedAt = startedAt; // the snapshot was taken after this
    }
    this.rebuilds++;
    this.noteHead(next.revision);
    this.settle();
    log.info("index built", {
      revision: next.revision, ms: Math.round(performance.now() - t0), loadMs: Math.round(built.loadMs),
      buildMs: Math.round(built.buildMs), ...next.counts(),
    });
  }

  private settle(): void {
    const rev = this.current.revision;
    if (this.knownHead <= rev) this.behindSince = 0;
    if (rev > this.announced) {
      this.announced = rev;
      for (const fn of this.appliedListeners) fn(rev);
    }
    if (!this.waiters.length) return;
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.revision <= rev) {
        clearTimeout(w.timer);
        w.resolve(true);
      } else keep.push(w);
    }
    this.waiters = keep;
  }

  private noteHead(revision: number): void {
    if (revision > this.knownHead) {
      if (this.knownHead <= this.current.revision && revision > this.current.revision) this.behindSince = Date.now();
      this.knownHead = revision;
    }
  }

  private async listen(): Promise<void> {
    const conn = createSql(this.url, {
      max: 1,
      statementTimeoutMs: 5000,
      applicationName: "portcullis-listener",
      onnotify: (channel, payload) => {
        const other = this.opts.channels[channel];
        if (other) return other(payload);
        const rev = Number(payload);
        if (Number.isFinite(rev)) this.noteHead(rev);
        this.requestCatchUp();
      },
      onclose: () => {
        if (this.listener === conn) this.lost("connection closed");
      },
    });
    try {
      await conn.unsafe(`listen ${CHANNEL}`);
      for (const channel of Object.keys(this.opts.channels)) await conn.unsafe(`listen ${channel}`);
    } catch (e) {
      await conn.end({ timeout: 0 }).catch(() => {});
      throw e;
    }
    this.listener = conn;
    this.connected = true;
    this.attempt = 0;
  }

  private lost(why: string): void {
    if (this.stopped) return;
    const old = this.listener;
    this.listener = null;
    if (this.connected) log.warn("feed listener lost", { why });
    this.connected = false;
    void old?.end({ timeout: 0 }).catch(() => {});
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      while (!this.stopped && !this.connected) {
        // Exponential backoff with full jitter: many nodes losing Postgres at once don't return in step.
        const cap = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** this.attempt++);
        await Bun.sleep(Math.random() * cap);
        if (this.stopped) break;
        try {
          await this.listen();
          this.reconnects++;
          log.info("feed listener reconnected", { attempt: this.attempt });
          this.requestCatchUp(); // whatever was notified while away is in the log
        } catch (e) {
          log.debug("feed reconnect failed", { error: String(e) });
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }

  /** Liveness of the listener connection, and a check that no notification went missing. */
  private async probe(): Promise<void> {
    const l = this.listener;
    if (!l) {
      void this.reconnect();
      return;
    }
    try {
      const t0 = Date.now();
      const [row] = await withTimeout(l<{ n: number }[]>`select n from pcl_revision`.execute(), this.opts.heartbeatMs, "heartbeat");
      this.confirm(t0, row!.n);
      this.noteHead(row!.n);
      if (row!.n > this.current.revision) this.requestCatchUp();
    } catch (e) {
      if (this.listener === l) this.lost(String(e));
    }
  }
}
