// Environment → one frozen, typed config, parsed once at startup. Every problem is collected and
// reported together, so an operator fixes them in one go.
import { availableParallelism } from "node:os";
import type { LogLevel } from "./log";

export interface RateLimit {
  count: number;
  windowMs: number;
}

export interface Config {
  port: number;
  host: string;
  databaseUrl: string | null;
  dataDir: string;
  embeddedPgPort: number;
  /** How long a start waits for an unreachable Postgres (retrying with backoff); 0: not at all. */
  startupDbWaitMs: number;
  redisUrl: string | null;
  adminBootstrapToken: string | null;
  logLevel: LogLevel;
  workers: number;
  rateLimitGate: RateLimit | null;
  rateLimitToken: RateLimit | null;
  rateLimitLogin: RateLimit | null;
  rateLimitMode: "local" | "synced" | "exact";
  /** synced mode: how often local counts are pushed to Redis and cluster totals adopted. */
  rateLimitSyncMs: number;
  /** Prefix of every rate-limit key in Redis (several deployments can share one Redis). */
  rateLimitPrefix: string;
  /** Timeout of one Redis call on the decision path (exact mode); synced mode's syncs get at least 1 s. */
  rateLimitRedisTimeoutMs: number;
  sessionTtlMs: number;
  changeLogRetentionMs: number;
  eventRetentionDays: number;
  eventFlushMs: number;
  /** Off only to measure the journal's cost: events are then kept in memory and lost on a crash. */
  eventJournal: boolean;
  /** Root of the access-event journals, one directory per serving process. */
  eventJournalDir: string;
  eventJournalMaxBytes: number;
  eventJournalSegmentBytes: number;
  /** Group fsync interval (0: off); on, an answer also waits for the fsync after its event. */
  eventJournalFsyncMs: number;
  /** At the disk budget: refuse to answer (503) or answer and shed the event. */
  eventJournalFull: "refuse" | "shed";
  /** Where earlier versions spilled events: what is left there is moved into the journal at start. */
  eventSpillDir: string;
  /** The live event stream cuts a client whose untaken backlog exceeds this many bytes… */
  eventStreamBacklogBytes: number;
  /** …or whose oldest untaken frame is older than this. */
  eventStreamStallMs: number;
  openwayCompatPort: number | null;
  /** HMAC key for the tokens the openway_access compatibility API derives (src/compat/token-key.ts);
   *  null: generated once into DATA_DIR. */
  compatTokenKey: string | null;
  demoData: boolean;
  /** Behind a reverse proxy: take the client address from the first X-Forwarded-For entry. */
  trustProxy: boolean;
  /** Per-request metrics (count and latency by route and status); off only to measure their cost. */
  httpMetrics: boolean;
  /** A node whose last heartbeat is older than this counts as gone: writes stop waiting for it. */
  nodeTimeoutMs: number;
  /** How long an admin write waits for every live node to acknowledge its revision before answering partial. */
  propagationTimeoutMs: number;
  /** Rules with memory (src/state/): key prefix in Redis, timeout of one stateful decision's call. */
  statePrefix: string;
  stateRedisTimeoutMs: number;
  /** Wrong PINs per credential before it is locked out for the rest of the window. */
  rateLimitPin: RateLimit;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super("invalid configuration:\n  - " + problems.join("\n  - "));
  }
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "250ms", "1s", "5m", "12h", "7d" → milliseconds; NaN when malformed. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  return m ? +m[1]! * UNITS[m[2]!]! : NaN;
}

/** Milliseconds → the largest unit that divides them: 43200000 → "12h" (parseDuration's inverse). */
export function formatDuration(ms: number): string {
  for (const unit of ["d", "h", "m", "s"]) if (ms % UNITS[unit]! === 0) return `${ms / UNITS[unit]!}${unit}`;
  return `${ms}ms`;
}

/** "<count>/<window>" like "10/5m", or "off". */
export function parseRateLimit(text: string): RateLimit | null | undefined {
  if (text.trim() === "off") return null;
  const m = /^(\d+)\/(\d+(?:ms|s|m|h|d)|s|m|h|d)$/.exec(text.trim());
  if (!m) return undefined;
  const windowMs = parseDuration(/^\d/.test(m[2]!) ? m[2]! : "1" + m[2]);
  const count = +m[1]!;
  if (!(count >= 1) || !(windowMs >= 1)) return undefined;
  return { count, windowMs };
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Readonly<Config> {
  const problems: string[] = [];

  const int = (name: string, def: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return def;
    // Digits only: Number() would read "0x1F90" as 8080, "1e3" as 1000 and " 80" as 80.
    const n = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name}=${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
      return def;
    }
    return n;
  };
  const duration = (name: string, def: string): number => {
    const raw = env[name] || def;
    const ms = parseDuration(raw);
    if (!(ms > 0)) problems.push(`${name}=${JSON.stringify(raw)}: expected a duration like 250ms, 30s, 5m, 12h, 7d`);
    return ms;
  };
  const wait = (name: string, def: string): number => {
    const raw = env[name] || def;
    const ms = raw.trim() === "0" ? 0 : parseDuration(raw);
    if (!(ms >= 0)) problems.push(`${name}=${JSON.stringify(raw)}: expected a duration like 30s or 2m, or 0 not to wait`);
    return ms;
  };
  const limit = (name: string, def: string): RateLimit | null => {
    const raw = env[name] || def;
    const parsed = parseRateLimit(raw);
    if (parsed === undefined) {
      problems.push(`${name}=${JSON.stringify(raw)}: expected <count>/<window> like 10/5m, or off`);
      return null;
    }
    return parsed;
  };
  // A switch: anything but these words is a mistake to report, not a value to guess — DEMO_DATA=off
  // used to load the demo graph (only "0" and "false" meant off) and TRUST_PROXY=on stayed off.
  const bool = (name: string, def: boolean): boolean => {
    const raw = env[name];
    if (raw === undefined || raw === "") return def;
    const v = raw.trim().toLowerCase();
    if (["1", "true", "on", "yes"].includes(v)) return true;
    if (["0", "false", "off", "no"].includes(v)) return false;
    problems.push(`${name}=${JSON.stringify(raw)}: expected on or off (also 1/0, true/false, yes/no)`);
    return def;
  };
  const url = (name: string, protocols: string[]): string | null => {
    const raw = env[name];
    if (!raw) return null;
    try {
      const u = new URL(raw);
      if (!protocols.includes(u.protocol)) problems.push(`${name}: expected a ${protocols.join(" or ")} URL`);
    } catch {
      problems.push(`${name}: not a URL`);
    }
    return raw;
  };

  const logLevel = (env.LOG_LEVEL || "info") as LogLevel;
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    problems.push(`LOG_LEVEL=${JSON.stringify(env.LOG_LEVEL)}: expected debug, info, warn or error`);
  }
  const redisUrl = url("REDIS_URL", ["redis:", "rediss:"]);
  const mode = env.RATE_LIMIT_MODE || (redisUrl ? "synced" : "local");
  if (!["local", "synced", "exact"].includes(mode)) {
    problems.push(`RATE_LIMIT_MODE=${JSON.stringify(mode)}: expected local, synced or exact`);
  } else if (mode !== "local" && !redisUrl) {
    problems.push(`RATE_LIMIT_MODE=${mode} needs REDIS_URL (e.g. redis://127.0.0.1:6379): set it, or use RATE_LIMIT_MODE=local`);
  }
  const rlPrefix = env.RATE_LIMIT_PREFIX ?? "pcl:rl:";
  if (!/^[\x21-\x7e]{1,64}$/.test(rlPrefix)) {
    problems.push(`RATE_LIMIT_PREFIX=${JSON.stringify(rlPrefix)}: expected 1 to 64 printable characters without spaces`);
  }
  const pinLimit = (): RateLimit => {
    const l = limit("RATE_LIMIT_PIN", "5/15m");
    if (l === null) problems.push("RATE_LIMIT_PIN: cannot be off (a PIN of 4 digits would fall to guessing); e.g. 5/15m");
    return l ?? { count: 5, windowMs: 900_000 };
  };
  const statePrefix = env.STATE_PREFIX ?? "pcl:st:";
  if (!/^[\x21-\x7e]{1,64}$/.test(statePrefix)) {
    problems.push(`STATE_PREFIX=${JSON.stringify(statePrefix)}: expected 1 to 64 printable characters without spaces`);
  }
  const bootstrap = env.ADMIN_BOOTSTRAP_TOKEN || null;
  if (bootstrap !== null && (bootstrap.length < 16 || bootstrap.length > 512)) {
    problems.push("ADMIN_BOOTSTRAP_TOKEN: must be 16 to 512 characters");
  }
  const journal = env.EVENT_JOURNAL || "on";
  if (journal !== "on" && journal !== "off") problems.push(`EVENT_JOURNAL=${JSON.stringify(journal)}: expected on or off`);
  const whenFull = env.EVENT_JOURNAL_FULL || "refuse";
  if (whenFull !== "refuse" && whenFull !== "shed") problems.push(`EVENT_JOURNAL_FULL=${JSON.stringify(whenFull)}: expected refuse or shed`);
  for (const [old, now] of [["EVENT_BUFFER_MAX", "EVENT_JOURNAL_MAX_MB"], ["EVENT_SPILL_MAX_MB", "EVENT_JOURNAL_MAX_MB"]] as const) {
    if (env[old] !== undefined) problems.push(`${old} is no longer read: events now go through the journal; use ${now}`);
  }
  const compat = env.OPENWAY_COMPAT_PORT ? int("OPENWAY_COMPAT_PORT", 0, 1, 65535) : null;
  const compatTokenKey = env.COMPAT_TOKEN_KEY || null;
  if (compatTokenKey !== null && (compatTokenKey.length < 32 || compatTokenKey.length > 1024)) {
    problems.push("COMPAT_TOKEN_KEY: must be 32 to 1024 characters (e.g. openssl rand -hex 32)");
  }

  const config: Config = {
    port: int("PORT", 3000, 0, 65535),
    host: env.HOST || "0.0.0.0",
    databaseUrl: url("DATABASE_URL", ["postgres:", "postgresql:"]),
    dataDir: env.DATA_DIR || "./.data",
    embeddedPgPort: int("EMBEDDED_PG_PORT", 54329, 1, 65535),
    startupDbWaitMs: wait("STARTUP_DB_WAIT", "30s"),
    redisUrl,
    adminBootstrapToken: bootstrap,
    logLevel,
    workers: int("WORKERS", availableParallelism(), 1, 256),
    rateLimitGate: limit("RATE_LIMIT_GATE", "off"),
    rateLimitToken: limit("RATE_LIMIT_TOKEN", "off"),
    rateLimitLogin: limit("RATE_LIMIT_LOGIN", "10/5m"),
    rateLimitMode: mode as Config["rateLimitMode"],
    rateLimitSyncMs: int("RATE_LIMIT_SYNC_MS", 100, 10, 60_000),
    rateLimitPrefix: rlPrefix,
    rateLimitRedisTimeoutMs: int("RATE_LIMIT_REDIS_TIMEOUT_MS", 50, 1, 10_000),
    sessionTtlMs: duration("SESSION_TTL", "12h"),
    changeLogRetentionMs: duration("CHANGE_LOG_RETENTION", "7d"),
    eventRetentionDays: int("EVENT_RETENTION_DAYS", 90, 1, 36500),
    eventFlushMs: int("EVENT_FLUSH_MS", 20, 1, 10_000),
    eventJournal: journal !== "off",
    eventJournalDir: env.EVENT_JOURNAL_DIR || `${env.DATA_DIR || "./.data"}/journal`,
    eventJournalMaxBytes: int("EVENT_JOURNAL_MAX_MB", 4096, 1, 100_000_000) * 1024 * 1024,
    eventJournalSegmentBytes: int("EVENT_JOURNAL_SEGMENT_MB", 64, 1, 4096) * 1024 * 1024,
    eventJournalFsyncMs: int("EVENT_JOURNAL_FSYNC_MS", 0, 0, 10_000),
    eventJournalFull: whenFull as Config["eventJournalFull"],
    eventSpillDir: env.EVENT_SPILL_DIR || `${env.DATA_DIR || "./.data"}/spill`,
    eventStreamBacklogBytes: int("EVENT_STREAM_BACKLOG_KB", 16 * 1024, 16, 4 * 1024 * 1024) * 1024,
    eventStreamStallMs: duration("EVENT_STREAM_STALL", "30s"),
    openwayCompatPort: compat,
    compatTokenKey,
    httpMetrics: bool("HTTP_METRICS", true),
    trustProxy: bool("TRUST_PROXY", false),
    statePrefix,
    stateRedisTimeoutMs: int("STATE_REDIS_TIMEOUT_MS", 200, 1, 10_000),
    rateLimitPin: pinLimit(),
    nodeTimeoutMs: duration("NODE_TIMEOUT", "10s"),
    propagationTimeoutMs: int("PROPAGATION_TIMEOUT_MS", 2000, 0, 60_000),
    demoData: bool("DEMO_DATA", !env.DATABASE_URL),
  };
  if (config.rateLimitMode === "synced") {
    // A sync interval as long as a window would leave every window to purely local decisions.
    for (const [name, l] of [["RATE_LIMIT_GATE", config.rateLimitGate], ["RATE_LIMIT_TOKEN", config.rateLimitToken]] as const) {
      if (l && l.windowMs < 2 * config.rateLimitSyncMs) {
        problems.push(`${name}: its window must be at least twice RATE_LIMIT_SYNC_MS (${config.rateLimitSyncMs} ms) in synced mode`);
      }
    }
  }
  if (config.openwayCompatPort !== null && config.openwayCompatPort === config.port) {
    problems.push(`OPENWAY_COMPAT_PORT=${config.port}: the same port as PORT; the compat listener needs a port of its own`);
  }
  if (config.nodeTimeoutMs < 1000 || config.nodeTimeoutMs > 3_600_000) {
    problems.push(`NODE_TIMEOUT=${JSON.stringify(env.NODE_TIMEOUT)}: expected a duration from 1s to 1h`);
  }
  if (problems.length) throw new ConfigError(problems);
  return Object.freeze(config);
}
