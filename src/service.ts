// Assembles one serving process: database → migrations → index and feed → event writer → app.
// main.ts runs it; tests start it in-process the same way.
import type { Config } from "./config";
import { createSql, type Sql } from "./db/client";
import { scheduleMaintenance } from "./db/maintenance";
import { migrate } from "./db/migrate";
import { EventWriter } from "./events/event-writer";
import { ChangeFeed } from "./feed/change-feed";
import { startCompat, type CompatListener } from "./compat/app";
import { createApp } from "./http/app";
import type { Deps } from "./deps";
import { listen } from "./listen";
import { log } from "./log";
import { announceApplied, ACK_CHANNEL, Propagation } from "./nodes/propagation";
import { NodeRegistry } from "./nodes/registry";
import { createMetrics } from "./metrics";
import { observeWrites } from "./admin/tx";
import { createLimiters } from "./ratelimit/rate-limits";
import { createLoginThrottle } from "./ratelimit/login-throttle";
import { RedisLink } from "./ratelimit/redis";
import { type IpcParent, StateService } from "./state/state-service";
import { createVerify } from "./verify/verify";

export interface Service {
  deps: Deps;
  app: ReturnType<typeof createApp>;
  /** The openway_access compatibility listener (OPENWAY_COMPAT_PORT), null when off. */
  compat: CompatListener | null;
  /** Stop accepting, finish in-flight requests, ship events (up to `deadlineMs`, default 10 s; the rest stays journaled), close connections. */
  stop(opts?: { deadlineMs?: number }): Promise<void>;
}

export interface ServiceOptions {
  databaseUrl: string;
  /** Apply migrations first (the primary process does; workers don't). */
  migrate?: boolean;
  listen?: boolean;
  reusePort?: boolean;
  /** A worker without REDIS_URL: use the primary's state over this IPC channel (src/state/store-ipc.ts). */
  statePrimary?: IpcParent;
  /** Which of the WORKERS processes this is (0: the primary); picks its event journal directory. */
  workerIndex?: number;
  /** Hourly partition and change-log housekeeping (default on). */
  maintenance?: boolean;
}

export async function startService(config: Readonly<Config>, opts: ServiceOptions): Promise<Service> {
  const sql: Sql = createSql(opts.databaseUrl);
  const metrics = createMetrics();
  observeWrites(sql, metrics.writes);
  if (opts.migrate) {
    const applied = await migrate(sql);
    if (applied.length) log.info("migrations applied", { applied });
  }
  let feed: ChangeFeed | null = null;
  const propagation = new Propagation(sql, {
    nodeTimeoutMs: config.nodeTimeoutMs, timeoutMs: config.propagationTimeoutMs,
    committed: (revision) => {
      if (feed && feed.revision < revision) feed.requestCatchUp();
    },
  });
  feed = new ChangeFeed(opts.databaseUrl, sql, { channels: { [ACK_CHANNEL]: propagation.onNotify } });
  await feed.start();
  // Register once loaded, then catch up before serving: a write that committed before this node
  // was in the list did not wait for it, so the index must hold it before the first verify.
  const nodes = new NodeRegistry(sql, feed, { timeoutMs: config.nodeTimeoutMs });
  feed.onApplied(announceApplied(sql, nodes.id, propagation));
  try {
    await nodes.start();
    await feed.catchUp();
  } catch (e) {
    await feed.stop();
    await sql.end({ timeout: 1 });
    throw e;
  }
  const events = new EventWriter(sql, {
    flushMs: config.eventFlushMs, journalDir: config.eventJournal ? config.eventJournalDir : null, journalIndex: opts.workerIndex ?? 0,
    segmentBytes: config.eventJournalSegmentBytes, maxBytes: config.eventJournalMaxBytes, fsyncMs: config.eventJournalFsyncMs,
    whenFull: config.eventJournalFull, adoptOrphans: (opts.workerIndex ?? 0) === 0, legacySpillDir: config.eventSpillDir,
  });
  events.start();
  const stopMaintenance = opts.maintenance === false ? async () => {} : scheduleMaintenance(sql, config.eventRetentionDays, config.changeLogRetentionMs);
  // Rate limits: Redis only in synced/exact mode with a limit on. The start waits a moment for the
  // connection (so a healthy start does not begin in fallback) but never fails for want of it.
  const anyLimit = config.rateLimitGate !== null || config.rateLimitToken !== null || config.rateLimitLogin !== null;
  const redis = config.rateLimitMode !== "local" && config.redisUrl && anyLimit ? RedisLink.fromConfig(config) : null;
  if (redis && !(await redis.ready(2000))) log.warn("rate limits: Redis not reachable at start; deciding locally until it is", { mode: config.rateLimitMode });
  const limits = createLimiters(config, redis);
  const loginThrottle = createLoginThrottle(limits.login, (limit) => metrics.rateLimited(limit));
  // Rules with memory: Redis when configured, else this process's memory if no other process on
  // the database keeps it (src/state/state-service.ts).
  const state = await StateService.start(config, sql, feed, { databaseUrl: opts.databaseUrl, primary: opts.statePrimary });
  const deps: Deps = { config, sql, feed, events, loginThrottle, limits, metrics, state, verify: createVerify({ feed, events, limits, metrics, state }), nodes, propagation };
  const app = createApp(deps);
  if (opts.listen) {
    // idleTimeout (s): a client that stalls mid-request (slowloris) or keeps an idle connection is
    // dropped after it; above the admin event stream's 15 s keepalive. (Bun itself drops a socket
    // that never completes its request headers after ~10 s, whatever this says.)
    listen(app, { port: config.port, hostname: config.host, reusePort: opts.reusePort ?? false, idleTimeout: 20 });
    log.info("listening", { url: `http://${config.host}:${app.server!.port}`, revision: feed.revision });
  }
  let compat: CompatListener | null = null;
  let stopping: Promise<void> | null = null;
  const stop = (o: { deadlineMs?: number } = {}) =>
    (stopping ??= (async () => {
      const maintenanceDone = stopMaintenance();
      events.live.stop(); // live event streams end (their clients resume elsewhere): they would never finish
      await Promise.all([app.server?.stop(false), compat?.stop()]); // stop accepting; in-flight requests finish
      await nodes.stop(); // writers stop waiting for this node now, not after NODE_TIMEOUT
      await events.stop(o.deadlineMs);
      await feed.stop();
      await limits.stop(); // the last admits go to Redis; stops the login limiter too
      await state.stop();
      await maintenanceDone;
      await sql.end({ timeout: 5 });
    })());
  // The openway_access compatibility API (src/compat/) on its own port, when configured.
  if (config.openwayCompatPort !== null) {
    try {
      compat = startCompat(deps, opts.reusePort ?? false);
    } catch (e) {
      await stop();
      throw e;
    }
  }
  return { deps, app, compat, stop };
}
