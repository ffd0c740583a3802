// One transaction per admin write: the change, its audit rows and its revision commit together
// or not at all. Postgres errors become API errors (src/db/errors.ts).
import type { Sql } from "../db/client";
import { mapDbError } from "../db/errors";
import { retryOnDeadConnection } from "../db/retry";

/** Told when an admin write transaction begins and ends (the service's metrics count them). */
export interface WriteObserver {
  begin(): void;
  end(): void;
}

// Per pool: each service registers its own observer for its own Sql (two services in one process
// count only their own writes), and this module needs to know nothing of metrics.
const observers = new WeakMap<Sql, WriteObserver>();

/** Reports `sql`'s admin writes in flight to `observer`. */
export function observeWrites(sql: Sql, observer: WriteObserver): void {
  observers.set(sql, observer);
}

const commitObservers = new WeakMap<Sql, (revision: number) => void>();

/** Tells `fn` the revision of every write committed through `sql` (the CLI waits for their propagation). */
export function observeCommits(sql: Sql, fn: (revision: number) => void): void {
  commitObservers.set(sql, fn);
}

export type Tx = Parameters<Parameters<Sql["begin"]>[1]>[0];

export interface Actor {
  /** Credential id of the caller; null for the CLI and bootstrap. */
  credentialId: string | null;
}

export interface AuditEntry {
  action: string;
  entity: string;
  entityId: string | null;
  before: unknown;
  after: unknown;
}

export interface Written<T> {
  value: T;
  revision: number;
}

/** Runs `fn` in a transaction, records its audit entries, and answers the revision that holds it. */
export async function write<T>(
  sql: Sql,
  actor: Actor,
  fn: (tx: Tx, audit: (e: AuditEntry) => void) => Promise<T>,
): Promise<Written<T>> {
  const observer = observers.get(sql);
  observer?.begin();
  // Set once the last statement of the transaction succeeded: from then on COMMIT may have been
  // sent, and a failure is ambiguous (committed or not) — never retried.
  let committing = false;
  const attempt = () => sql.begin(async (tx) => {
    // THE revision lock, taken here and nowhere else. Admin writes serialise on this row anyway
    // (at their first change); taking it up front gives every writer the same lock order — no
    // deadlocks between, say, a bulk import and a PATCH of a row it touches — and lets a writer
    // check the graph (a group cycle, an import's references) knowing no other writer is between.
    await tx`select n from pcl_revision for update`;
    const entries: AuditEntry[] = [];
    const value = await fn(tx, (e) => entries.push(e));
    // The revision the triggers took, or — when nothing changed — the current one.
    const { rev } = (await tx<{ rev: number }[]>`
      select coalesce(nullif(current_setting('pcl.revision', true), '')::int8,
                      (select n from pcl_revision)) as rev`)[0]!;
    for (const e of entries) {
      await tx`insert into audit_log (revision, actor, action, entity, entity_id, before, after)
               values (${rev}, ${actor.credentialId}, ${e.action}, ${e.entity}, ${e.entityId},
                       ${tx.json(stripSecrets(e.before) as any)}, ${tx.json(stripSecrets(e.after) as any)})`;
    }
    committing = true;
    return { value, revision: rev };
  }) as Promise<Written<T>>;
  try {
    const w = await retryOnDeadConnection("admin write", attempt, () => !committing);
    commitObservers.get(sql)?.(w.revision);
    return w;
  } catch (e) {
    throw mapDbError(e);
  } finally {
    observer?.end();
  }
}

const SECRET_FIELDS = new Set(["password", "password_hash", "secret", "secret_hash", "token", "pin", "pin_hash"]);

/** Audit rows never hold a secret or a hash of one. */
export function stripSecrets(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (!SECRET_FIELDS.has(k)) out[k] = x;
  return out;
}
