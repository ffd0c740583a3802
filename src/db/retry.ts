// A pooled connection can be dead before a statement is sent on it: Postgres restarted or failed
// over, pg_terminate_backend, a proxy's idle cut. The pool learns of it only when the socket's
// close is processed, so the first statements after such an event fail although Postgres is back.
// Such a failure is retried on another connection — only where nothing can have committed: a
// read, or a transaction that failed before its COMMIT was sent. Each attempt waits a little
// longer first, so the pool has dropped its other dead connections (after a mass termination a
// retry may draw another one that died in the same instant; each such draw is one more dead
// connection gone from the pool). A Postgres that is really unreachable fails at once (503): a
// refused or timed-out connect is not a dead pooled connection and is never retried.
import { log } from "../log";

const DEAD_CONNECTION = new Set([
  "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "ECONNRESET", "EPIPE",
  "57P01", // admin_shutdown: pg_terminate_backend, a fast shutdown
  "57P02", // crash_shutdown
  "08006", // connection_failure
  "08003", // connection_does_not_exist
  "08P01", // protocol_violation: Postgres ended the connection ("protocol synchronization was lost")
]);

/** The connection the statement went to was (or just became) dead; not "Postgres is unreachable". */
export function isDeadConnection(e: any): boolean {
  return DEAD_CONNECTION.has(e?.code);
}

/** Waits before each retry: the pool processes the closes of its other dead connections meanwhile. */
const BACKOFF_MS = [25, 100, 250];

export let deadConnectionRetries = 0;

/**
 * Runs `attempt`; while it fails on a dead connection and `retryable(error)` says nothing can have
 * committed, runs it again on another connection (at most three more times).
 */
export async function retryOnDeadConnection<T>(what: string, attempt: () => Promise<T>, retryable: (e: unknown) => boolean = () => true): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (e) {
      if (i >= BACKOFF_MS.length || !isDeadConnection(e) || !retryable(e)) throw e;
      deadConnectionRetries++;
      log.info("statement failed on a dead pooled connection; retrying on another", { what, code: (e as any)?.code, attempt: i + 1 });
      await Bun.sleep(BACKOFF_MS[i]!);
    }
  }
}
