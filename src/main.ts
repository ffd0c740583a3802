// Composition root: config → database (embedded when DATABASE_URL is unset) → migrations →
// bootstrap and demo data → WORKERS serving processes sharing the port → signals.
import { availableParallelism } from "node:os";
import { ConfigError, loadConfig } from "./config";
import { consoleAdmins, publicUrl, startBanner } from "./banner";
import { ensureBootstrapToken } from "./bootstrap";
import { createSql } from "./db/client";
import { type Embedded, startEmbedded } from "./db/embedded";
import { migrate } from "./db/migrate";
import { describeConnectError, StartupError, waitForDatabase } from "./db/startup";
import { loadDemoData, printDemoTokens } from "./demo";
import { describeListenError } from "./listen";
import { log, setLogLevel } from "./log";
import { primaryMetricsHub, workerMetricsLink } from "./metrics-host";
import { startService } from "./service";
import { stateHub } from "./state/store-ipc";

const isWorker = process.env.PORTCULLIS_WORKER === "1";
const workerIndex = isWorker ? Number(process.env.PORTCULLIS_WORKER_INDEX || 1) : 0;
/** A worker serves only while the primary that started it lives: checked this often. */
const PARENT_CHECK_MS = 100;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
  setLogLevel(config.logLevel);

  let databaseUrl = config.databaseUrl;
  let embedded: Embedded | null = null;
  if (!databaseUrl) {
    const pg = (embedded = await startEmbedded(config.dataDir, config.embeddedPgPort, "portcullis", true));
    databaseUrl = pg.url;
    log.info("embedded Postgres started", { dir: config.dataDir, port: config.embeddedPgPort, url: pg.url });
  } else if (!isWorker) {
    await waitForDatabase(databaseUrl, config.startupDbWaitMs);
  }

  let demo = null;
  if (!isWorker) {
    const sql = createSql(databaseUrl, { max: 2 });
    const applied = await migrate(sql);
    if (applied.length) log.info("migrations applied", { applied });
    if (config.adminBootstrapToken) await ensureBootstrapToken(sql, config.adminBootstrapToken);
    if (config.demoData) demo = await loadDemoData(sql);
    await sql.end();
  }

  const workers = Math.max(1, Math.min(config.workers, availableParallelism() * 4));
  // Without REDIS_URL a worker's rules with memory use the primary's state (one state per host).
  const statePrimary = isWorker && !config.redisUrl && process.send ? (process as any) : undefined;
  // Never share the port with an orphan of an earlier run (a worker whose primary was killed, still
  // bound with SO_REUSEPORT): it exits within a second on its own (below), so wait that long for the
  // port to be free, then refuse to start.
  if (!isWorker) {
    await portFree("PORT", config.host, config.port, 3000);
    if (config.openwayCompatPort !== null) await portFree("OPENWAY_COMPAT_PORT", config.host, config.openwayCompatPort, 3000);
  }
  const service = await startService(config, { databaseUrl, listen: true, reusePort: workers > 1 || isWorker, statePrimary, workerIndex });

  const children: ReturnType<typeof Bun.spawn>[] = [];
  // /metrics answers for the whole host: workers ask the primary over IPC (src/metrics-host.ts).
  if (isWorker && process.send) workerMetricsLink(service.deps.metrics, process as any);
  if (!isWorker) {
    const hub = workers > 1 ? primaryMetricsHub(service.deps.metrics, () => children.filter((c) => c.exitCode === null && c.signalCode === null), workers) : null;
    const states = stateHub(() => service.deps.state.store);
    for (let i = 1; i < workers; i++) {
      children.push(Bun.spawn([process.execPath, import.meta.path], {
        env: { ...process.env, PORTCULLIS_WORKER: "1", PORTCULLIS_WORKER_INDEX: String(i), DATABASE_URL: databaseUrl, DEMO_DATA: "0", PORT: String(config.port) },
        stdio: ["ignore", "inherit", "inherit"],
        ipc: (message, child) => {
          hub?.onMessage(message, child);
          states.onMessage(message, child);
        },
      }));
    }
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    for (const c of children) c.kill("SIGTERM");
    await Promise.all([service.stop(), ...children.map((c) => c.exited)]);
    // Postgres goes last: the workers' final event flushes still needed it.
    await embedded?.stop();
    log.info("stopped cleanly");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));

  // Last, once a signal would already stop it cleanly: what the person who started it needs to know.
  if (!isWorker) {
    const port = service.app.server?.port ?? config.port;
    if (demo) printDemoTokens(demo, port);
    const admins = await consoleAdmins(service.deps.sql).catch(() => 1);
    console.log(startBanner({ url: publicUrl(config.host, port), embeddedPg: embedded ? databaseUrl : null, databaseUrl: config.databaseUrl, dataDir: config.dataDir, admins }) + "\n");
  } else {
    // The primary died without stopping us (SIGKILL, OOM): re-parented, ppid changes. Stop serving
    // and exit within a second — everything answered is already in this worker's journal, and
    // whatever cannot be shipped in time is shipped by the next start.
    const parent = process.ppid;
    const watch = setInterval(() => {
      if (process.ppid === parent) return;
      clearInterval(watch);
      log.warn("primary process gone: worker exiting", { primary_pid: parent });
      stopping = true;
      const exit = () => process.exit(0);
      setTimeout(exit, 800).unref();
      service.stop({ deadlineMs: 500 }).then(exit, exit);
    }, PARENT_CHECK_MS);
  }
}

/**
 * Returns once `port` can be bound without SO_REUSEPORT — nobody listens on it — waiting up to
 * `waitMs` while it is in use; else throws why, in one sentence with the fix (naming `setting`).
 */
async function portFree(setting: "PORT" | "OPENWAY_COMPAT_PORT", host: string, port: number, waitMs: number): Promise<void> {
  if (port === 0) return;
  const until = Date.now() + waitMs;
  for (;;) {
    try {
      Bun.listen({ hostname: host, port, socket: { data() {} } }).stop(true);
      return;
    } catch (e: any) {
      if (e?.code !== "EADDRINUSE" || Date.now() > until) throw describeListenError(e, setting, host, port);
      await Bun.sleep(50);
    }
  }
}

// A stray rejection from a background task (a driver callback during a connection drop, say) is
// logged, not fatal: the verify path must keep answering from the index.
process.on("unhandledRejection", (e: any) => log.error("unhandled rejection", { error: String(e?.stack ?? e) }));

// A start that fails says why in one sentence with the fix (src/db/startup.ts); only an error we
// did not foresee — a bug — is logged with its stack.
main().catch((e) => {
  if (e instanceof StartupError) log.error(`cannot start: ${e.message}`);
  else if (typeof e?.code === "string" && process.env.DATABASE_URL) log.error(`cannot start: ${describeConnectError(e, process.env.DATABASE_URL).message}`);
  else log.error("failed to start", { error: String(e?.stack ?? e) });
  process.exit(1);
});
