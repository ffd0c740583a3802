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

// Postgres' text form of a timestamptz: "2026-01-01 12:00:00.123+00", "0030-01-01 00:00:00+05:30", "… BC".
const PG_TIMESTAMPTZ = /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(\.\d+)?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?( BC)?$/;

/**
 * A timestamptz as Postgres prints it → Date. postgres.js hands the text to `new Date()`, whose
 * non-ISO parsing reads years 0–99 as 1900–2049 (0030-01-01 came back as 2030-01-01: a validity
 * that ended long ago would read as still open); parsed field by field here instead.
 */
export function parseTimestamptz(text: string): Date {
  const m = PG_TIMESTAMPTZ.exec(text);
  if (!m) return new Date(text); // infinity, -infinity: as postgres.js did
  const d = new Date(0);
  d.setUTCFullYear(m[12] ? 1 - Number(m[1]) : Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  d.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), m[7] ? Math.floor(Number(m[7]) * 1000) : 0);
  const offset = (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0)) * 1000;
  return new Date(d.getTime() - (m[8] === "-" ? -offset : offset));
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
      timestamptz: { to: 1184, from: [1184], serialize: (x: Date | string) => (x instanceof Date ? x : new Date(x)).toISOString(), parse: parseTimestamptz },
    },
  }) as unknown as Sql;
}
