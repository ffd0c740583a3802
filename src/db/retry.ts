// A pooled connection can be dead before a statement is sent on it: Postgres restarted or failed
// over, pg_terminate_backend, a proxy's idle cut. The pool learns of it only when the socket's
// close is processed, so the first statements after such an event fail although Postgres is back.
// Such a failure is retried ONCE, after a moment in which the pool has dropped its dead
// connections — only where nothing can have committed: a read, or a transaction that failed
// before its COMMIT was sent. A Postgres that is really unreachable still fails (503) at once.
import { log } from "../log";

const DEAD_CONNECTION = new Set([
  "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "ECONNRESET", "EPIPE",
  "57P01", // admin_shutdown: pg_terminate_backend, a fast shutdown
  "57P02", // crash_shutdown
  "08006", // connection_failure
  "08003", // connection_does_not_exist
]);

/** The connection the statement went to was (or just became) dead; not "Postgres is unreachable". */
export function isDeadConnection(e: any): boolean {
  return DEAD_CONNECTION.has(e?.code);
}

/** How long the pool gets to process the closes of its other dead connections before the retry. */
const SETTLE_MS = 50;

export let deadConnectionRetries = 0;

/**
 * Runs `attempt`; when it fails on a dead connection and `retryable(error)` says nothing can have
 * committed, runs it once more.
 */
export async function retryOnDeadConnection<T>(what: string, attempt: () => Promise<T>, retryable: (e: unknown) => boolean = () => true): Promise<T> {
  try {
    return await attempt();
  } catch (e) {
    if (!isDeadConnection(e) || !retryable(e)) throw e;
    deadConnectionRetries++;
    log.info("statement failed on a dead pooled connection; retrying once", { what, code: (e as any)?.code });
    await Bun.sleep(SETTLE_MS);
    return attempt();
  }
}
