// The rate limits' one Redis connection, set up so that Redis trouble never blocks a verify:
//
// - enableOfflineQueue: false — while disconnected a call fails at once (and the limiter decides
//   locally) instead of queueing until Redis is back;
// - maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false — a call caught by a disconnect
//   fails now; replaying it after the reconnect would count a decision that was already made locally;
// - commandTimeout (RATE_LIMIT_REDIS_TIMEOUT_MS, default 50 ms) — the most a slow Redis can add to
//   a decision in exact mode; after a failure the link "cools down" (COOLDOWN_MS) and decisions
//   skip Redis entirely, so an outage costs one timeout per cool-down, not one per request. (In
//   synced mode nothing on the verify path waits, and syncs get at least 1 s.)
// - socketTimeout — a half-open connection (no reply while calls are outstanding) is torn down and
//   reconnected instead of timing out call after call;
// - retryStrategy — reconnect with capped exponential backoff and jitter (50 ms doubling up to
//   2 s), forever: a Redis that comes back is found within about 2 s, with no operator action;
// - connectTimeout 1 s. Keys start with RATE_LIMIT_PREFIX, so deployments (and test runs) can
//   share one Redis without sharing counters; the limiters add it themselves, once per key and
//   window (ioredis' keyPrefix would concatenate it on every call: measurably slower for syncs).
//
// RedisLink also keeps the health state the limiters and metrics read: one warning when Redis
// becomes unavailable, one info line when it is back, counters for failed calls.
import Redis from "ioredis";
import type { Config } from "../config";
import { log } from "../log";

/** After a failed call, decisions skip Redis for this long before trying again. */
export const COOLDOWN_MS = 1000;

/**
 * One fixed-window counter step, atomic in Redis. KEYS[1] = `<name>:<key>:<window index>`;
 * ARGV = limit, expire-at (epoch ms: end of the window plus slack), op.
 *  take:   admit when count < limit (then INCR, and PEXPIREAT on the window's first admit);
 *          a refused call does not count, so the key holds exactly what was admitted;
 *  peek:   the count, and whether one more would be admitted;
 *  refund: give one admitted unit back (login: an attempt that succeeded).
 * Returns {admitted 0|1, count after}.
 */
const TAKE_LUA = `
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
local op = ARGV[3]
if op == 'take' then
  if c < tonumber(ARGV[1]) then
    c = redis.call('INCR', KEYS[1])
    if c == 1 then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
    return {1, c}
  end
  return {0, c}
elseif op == 'refund' then
  if c > 0 then c = redis.call('DECR', KEYS[1]) end
  return {1, c}
end
if c < tonumber(ARGV[1]) then return {1, c} end
return {0, c}
`;

/**
 * exact mode, verify: the credential's and the gate's limits in one atomic call (one round trip
 * per decision). KEYS = the window keys in order; ARGV = limit1, expire-at1, limit2, … Admits
 * key after key; the first whose count is at its limit refuses (the ones before it stay
 * counted, as when the limits are taken one after the other). Returns {0, 0} when all admit,
 * else {index of the refusing key (1-based), its count}.
 */
const TAKE_ALL_LUA = `
for i = 1, #KEYS do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0')
  if c >= tonumber(ARGV[2 * i - 1]) then return {i, c} end
  c = redis.call('INCR', KEYS[i])
  if c == 1 then redis.call('PEXPIREAT', KEYS[i], ARGV[2 * i]) end
end
return {0, 0}
`;

/**
 * synced mode: for each key, add this instance's admits since the last sync to the window's
 * cluster-wide count and return the new totals, in order. KEYS = the window keys; ARGV[1] = "n1
 * expire-at1 n2 expire-at2 …" (this process's own integers: packed into one argument, since
 * ioredis spends far more per argument than Lua does parsing); n = 0 only reads (creates nothing).
 * Returns the totals joined by commas (a string parses faster here than an array reply). Measured
 * for 3000 keys: ~1 ms of this process's CPU, against ~3 ms with an argument per number and an
 * array reply over RESP3. (All keys in one call: standalone Redis, or a proxy in front of a
 * cluster — not Redis Cluster itself, where they would span slots.)
 */
const ADD_MANY_LUA = `
local out = {}
local i = 0
for n, e in string.gmatch(ARGV[1], "(%-?%d+) (%d+)") do
  i = i + 1
  n = tonumber(n)
  local c
  if n == 0 then
    c = tonumber(redis.call('GET', KEYS[i]) or '0')
  else
    c = redis.call('INCRBY', KEYS[i], n)
    if c == n then redis.call('PEXPIREAT', KEYS[i], e) end
  end
  out[i] = c
end
return table.concat(out, ',')
`;

export type TakeOp = "take" | "peek" | "refund";

interface ScriptCommands {
  pclTake(key: string, limit: number, expireAt: number, op: TakeOp): Promise<[number, number]>;
  /** pclTakeAll(numberOfKeys, ...keys, ...[limit, expireAt] pairs) */
  pclTakeAll(...args: Array<string | number>): Promise<[number, number]>;
  /** pclAddMany(numberOfKeys, ...keys, "n1 expireAt1 n2 expireAt2 …") → "total1,total2,…" */
  pclAddMany(...args: Array<string | number>): Promise<string>;
}
export type RedisClient = Redis & ScriptCommands;

export class RedisLink {
  readonly client: RedisClient;
  /** RATE_LIMIT_PREFIX: every key starts with it. */
  readonly prefix: string;
  /** Calls that failed or timed out (each one decided locally instead). */
  errors = 0;
  /** Outages seen (transitions from available to unavailable). */
  outages = 0;
  private downSince: number | null = Date.now(); // until the first "ready"
  private announced = false; // the current outage was counted (and logged, unless flapping)
  private lastWarnAt = 0;
  private quietOutages = 0;
  private retryAt = 0;
  private closing = false;
  private readonly readyOnce: Promise<void>;

  private readonly say: { name: string; down: string; up: string };

  constructor(url: string, opts: { prefix: string; timeoutMs: number; say?: { name: string; down: string; up: string } }) {
    this.prefix = opts.prefix;
    // The rules with memory (src/state/) use a link of their own, with their own messages.
    this.say = opts.say ?? {
      name: "portcullis-ratelimit",
      down: "rate limits: Redis unavailable, deciding locally until it is back",
      up: "rate limits: Redis is back, limits are shared again",
    };
    this.client = new Redis(url, {
      connectionName: this.say.name,
      // RESP2: the replies here are integers and short arrays, which RESP2 parses faster.
      protocol: 2,
      commandTimeout: opts.timeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectTimeout: 1000,
      socketTimeout: Math.max(2000, opts.timeoutMs * 2),
      retryStrategy: (times) => Math.round(Math.min(2000, 50 * 2 ** Math.min(times, 6)) * (0.5 + Math.random() / 2)),
      lazyConnect: false,
    }) as RedisClient;
    this.client.defineCommand("pclTake", { numberOfKeys: 1, lua: TAKE_LUA });
    this.client.defineCommand("pclTakeAll", { lua: TAKE_ALL_LUA });
    this.client.defineCommand("pclAddMany", { lua: ADD_MANY_LUA });
    // Connection errors arrive here (once per reconnect attempt): without a listener ioredis
    // would print each one.
    this.client.on("error", (e) => this.down(e));
    this.client.on("close", () => this.down(null));
    this.client.on("ready", () => this.up());
    this.readyOnce = new Promise((resolve) => this.client.once("ready", () => resolve()));
  }

  static fromConfig(config: Readonly<Config>): RedisLink {
    // synced mode: no verify waits on Redis, only syncs (and the login check, ~100 ms of argon2
    // anyway) do, so a busy server or Redis need not flip it into fallback: at least 1 s.
    const timeoutMs = config.rateLimitMode === "synced" ? Math.max(1000, config.rateLimitRedisTimeoutMs) : config.rateLimitRedisTimeoutMs;
    return new RedisLink(config.redisUrl!, { prefix: config.rateLimitPrefix, timeoutMs });
  }

  /** Resolves true once connected, false after `timeoutMs` (the service starts either way). */
  ready(timeoutMs: number): Promise<boolean> {
    return Promise.race([this.readyOnce.then(() => true), Bun.sleep(timeoutMs).then(() => false)]);
  }

  /** May a decision try Redis now? Connected, and not cooling down after a failure. */
  get usable(): boolean {
    return this.client.status === "ready" && (this.retryAt === 0 || Date.now() >= this.retryAt);
  }

  /** True while limits are decided locally because Redis is unavailable. */
  get fallback(): boolean {
    return this.downSince !== null;
  }

  get connected(): boolean {
    return this.client.status === "ready";
  }

  /** A call failed or timed out: count it, cool down, say so once per outage. */
  failed(e: unknown): void {
    this.errors++;
    this.retryAt = Date.now() + COOLDOWN_MS;
    this.down(e);
  }

  /** A call succeeded (cheap: the verify path calls it). */
  ok(): void {
    if (this.downSince !== null || this.retryAt !== 0) this.up();
  }

  private down(e: unknown): void {
    if (this.closing || this.announced) return;
    const now = Date.now();
    this.downSince ??= now;
    this.announced = true;
    this.outages++;
    // One line per outage; a link that flaps (a starved host timing out now and then) says so
    // at most once a minute, with the count.
    if (now - this.lastWarnAt < 60_000) {
      this.quietOutages++;
      return;
    }
    this.lastWarnAt = now;
    log.warn(this.say.down, {
      error: e == null ? "connection closed" : String((e as Error)?.message ?? e),
      ...(this.quietOutages ? { outages_since_last_warning: this.quietOutages } : {}),
    });
    this.quietOutages = 0;
  }

  private up(): void {
    this.retryAt = 0;
    if (this.downSince === null) return;
    // A first connect that went smoothly is not a recovery; a quiet (flapping) outage ends quietly.
    if (this.announced && this.quietOutages === 0) log.info(this.say.up, { after_ms: Date.now() - this.downSince });
    this.downSince = null;
    this.announced = false;
  }

  async close(): Promise<void> {
    this.closing = true;
    try {
      if (this.client.status === "ready") await Promise.race([this.client.quit(), Bun.sleep(1000)]);
    } catch {}
    this.client.disconnect();
  }
}
