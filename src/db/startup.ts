// Reaching Postgres at start: what went wrong in one sentence that says what to do (never a driver
// stack), and an unreachable server waited for — Postgres starting after us (a reboot, a compose
// file, a failover) is normal; a missing database or a wrong password is not worth waiting for.
import postgres from "postgres";
import { log } from "../log";

/** A start that cannot go on, said in one sentence that names the fix. */
export class StartupError extends Error {
  constructor(message: string, readonly retryable = false) {
    super(message);
  }
}

/** Error codes a server that is down, starting up or being restarted gives (postgres.js and Node). */
const UNREACHABLE = new Set([
  "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "EPIPE",
  "CONNECT_TIMEOUT", "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED",
  "57P03", // cannot_connect_now: the server is starting up or shutting down
  "57P01", "08006", "08001",
]);

function where(url: string): { host: string; port: string; user: string; database: string } {
  const u = new URL(url);
  return {
    host: u.hostname || "localhost",
    port: u.port || "5432",
    user: decodeURIComponent(u.username) || "postgres",
    database: decodeURIComponent(u.pathname.slice(1)) || decodeURIComponent(u.username) || "postgres",
  };
}

/**
 * A postgres.js (or socket) error at connect time → a StartupError in one sentence. Codes:
 * 3D000 database missing, 28000 role missing (or no pg_hba.conf entry), 28P01 wrong password,
 * 42501 no CONNECT privilege, ECONNREFUSED and friends unreachable (retryable).
 */
export function describeConnectError(e: any, url: string): StartupError {
  const w = where(url);
  const at = `${w.host}:${w.port}`;
  const code: string | undefined = e?.code;
  const detail = String(e?.message ?? e).split("\n")[0] ?? "";
  switch (code) {
    case "3D000":
      return new StartupError(`database "${w.database}" does not exist on ${at}: create it (createdb -h ${w.host} -p ${w.port} -U postgres ${w.database}) or fix the database name in DATABASE_URL.`);
    case "28000":
      if (/role .* does not exist/.test(detail)) {
        return new StartupError(`role "${w.user}" does not exist on ${at}: create it (createuser -h ${w.host} -p ${w.port} -U postgres --pwprompt ${w.user}) or fix the user in DATABASE_URL.`);
      }
      return new StartupError(`Postgres on ${at} refuses user "${w.user}" for database "${w.database}" (${detail}): add a matching line to its pg_hba.conf or fix DATABASE_URL.`);
    case "28P01":
      return new StartupError(`password authentication failed for user "${w.user}" on ${at}: fix the password (or the user) in DATABASE_URL.`);
    case "42501":
      if (!/database/.test(detail)) break;
      return new StartupError(`user "${w.user}" may not connect to database "${w.database}" on ${at}: grant it (GRANT CONNECT ON DATABASE ${w.database} TO ${w.user}) or fix DATABASE_URL.`);
    case "53300":
      return new StartupError(`Postgres on ${at} has no connection slots left (max_connections): raise max_connections or lower WORKERS.`, true);
    case "ENOTFOUND":
      return new StartupError(`the host "${w.host}" in DATABASE_URL cannot be resolved: fix the host name in DATABASE_URL.`, true);
  }
  if (code !== undefined && UNREACHABLE.has(code)) {
    return new StartupError(`Postgres is not reachable at ${at} (${code}): start it, or fix the host and port in DATABASE_URL.`, true);
  }
  if (/SSL|TLS|certificate/i.test(detail)) {
    return new StartupError(`TLS to Postgres on ${at} failed (${detail}): fix sslmode (or the certificates) in DATABASE_URL.`);
  }
  return new StartupError(`cannot use Postgres at ${at}: ${detail}${code ? ` (${code})` : ""}.`);
}

/** Retry delays: 0.25 s doubling to 5 s, never past the deadline. */
function backoff(attempt: number): number {
  return Math.min(5000, 250 * 2 ** (attempt - 1));
}

/**
 * Waits until Postgres at `url` answers `select 1`, for at most `waitMs` (STARTUP_DB_WAIT) while it
 * is unreachable, logging one line per failed attempt. Any other failure throws at once.
 */
export async function waitForDatabase(url: string, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (let attempt = 1; ; attempt++) {
    const sql = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
    try {
      await sql`select 1`;
      if (attempt > 1) log.info("Postgres is reachable", { attempts: attempt });
      return;
    } catch (e) {
      const err = describeConnectError(e, url);
      const left = deadline - Date.now();
      if (!err.retryable || left <= 0) {
        if (err.retryable && waitMs > 0) throw new StartupError(`${err.message.replace(/\.$/, "")} (gave up after ${Math.round(waitMs / 1000)} s, STARTUP_DB_WAIT).`);
        throw err;
      }
      const delay = Math.min(backoff(attempt), left);
      log.warn(`${err.message} Retrying in ${(delay / 1000).toFixed(2)} s (attempt ${attempt}; ${(left / 1000).toFixed(1)} s left of STARTUP_DB_WAIT).`);
      await Bun.sleep(delay);
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
    }
  }
}
