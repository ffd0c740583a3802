// The postgres.js pool. Timeouts are deliberate: an admin request must fail fast when Postgres
// is unreachable, never hang.
import postgres from "postgres";

export type Sql = postgres.Sql<Record<string, never>>;

export interface SqlOptions {
  max?: number;
  statementTimeoutMs?: number;
  onnotify?: (channel: string, payload: string) => void;
  onclose?: (connectionId: number) => void;
  /** Shown in pg_stat_activity, so operators (and tests) can tell connections apart. */
  applicationName?: string;
}

export function createSql(url: string, opts: SqlOptions = {}): Sql {
  // onnotify is a connection option postgres.js supports but its typings omit.
  return postgres(url, {
    max: opts.max ?? 10,
    connect_timeout: 5,
    idle_timeout: 30,
    max_lifetime: 60 * 30,
    onnotice: () => {},
    ...({ onnotify: opts.onnotify } as object),
    onclose: opts.onclose,
    connection: {
      application_name: opts.applicationName ?? "portcullis",
      statement_timeout: opts.statementTimeoutMs ?? 30_000,
      // Short OLTP statements: LLVM JIT would spend 100+ ms compiling a catch-up query that runs in 1.
      jit: "off",
    },
    // int8 (revisions, counts) as numbers: they stay far below 2^53.
    types: {
      bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
    },
  }) as unknown as Sql;
}
