// Assembles one serving process: database → migrations → index and feed → event writer → app.
// main.ts runs it; tests start it in-process the same way.
import type { Config } from "./config";
import { createSql, type Sql } from "./db/client";
import { scheduleMaintenance } from "./db/maintenance";
import { migrate } from "./db/migrate";
import { EventWriter } from "./events/event-writer";
import { ChangeFeed } from "./feed/change-feed";
import { createApp } from "./http/app";
import type { Deps } from "./http/deps";
import { log } from "./log";
import { localLoginThrottle } from "./ratelimit/login-throttle";

export interface Service {
  deps: Deps;
  app: ReturnType<typeof createApp>;
  /** Stop accepting, finish in-flight requests, flush events, close connections. */
  stop(): Promise<void>;
}

export interface ServiceOptions {
  databaseUrl: string;
  /** Apply migrations first (the primary process does; workers don't). */
  migrate?: boolean;
  listen?: boolean;
  reusePort?: boolean;
  /** Hourly partition and change-log housekeeping (default on). */
  maintenance?: boolean;
}

export async function startService(config: Readonly<Config>, opts: ServiceOptions): Promise<Service> {
  const sql: Sql = createSql(opts.databaseUrl);
  if (opts.migrate) {
    const applied = await migrate(sql);
    if (applied.length) log.info("migrations applied", { applied });
  }
  const feed = new ChangeFeed(opts.databaseUrl, sql);
  await feed.start();
  const events = new EventWriter(sql, {
    flushMs: config.eventFlushMs, batchMax: 5000, bufferMax: config.eventBufferMax,
    spillDir: config.eventSpillDir, spillMaxBytes: config.eventSpillMaxBytes,
  });
  events.start();
  const stopMaintenance = opts.maintenance === false ? () => {} : scheduleMaintenance(sql, config.eventRetentionDays, config.changeLogRetentionMs);
  const loginThrottle = localLoginThrottle(config.rateLimitLogin);
  const deps: Deps = { config, sql, feed, events, loginThrottle };
  const app = createApp(deps);
  if (opts.listen) {
    app.listen({ port: config.port, hostname: config.host, reusePort: opts.reusePort ?? false });
    log.info("listening", { url: `http://${config.host}:${app.server!.port}`, revision: feed.revision });
  }
  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      stopMaintenance();
      await app.server?.stop(false); // stop accepting; in-flight requests finish
      await events.stop();
      await feed.stop();
      loginThrottle.stop();
      await sql.end({ timeout: 5 });
    })());
  return { deps, app, stop };
}
