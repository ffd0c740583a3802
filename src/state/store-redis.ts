// The state in Redis, shared by every process and host: one Lua script call per stateful decision
// (atomic: two nodes deciding at once see each other's writes in some order, never half of one).
// The connection is the rate limits' kind of link (src/ratelimit/redis.ts): no offline queue, no
// retries, a command timeout (STATE_REDIS_TIMEOUT_MS) and a cool-down after a failure, so an
// unreachable or slow Redis costs a decision at most one timeout and usually nothing (it fails at
// once, and the zone's state_failure decides).
import type { Config } from "../config";
import { RedisLink } from "../ratelimit/redis";
import { type Plan, type Reply, KEY, parseStamp } from "./plan";
import { type Present, type RebuiltState, type StateStore, StateUnavailable } from "./store";

// The steps of plan.ts, in order; store-local.ts is the same in TypeScript.
const DECIDE_LUA = `
local p = cjson.decode(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unbuilt'} end
local now, user, dry = p.now, p.user, p.dry == 1
local flags = {}
if p.pin then
  local k = KEYS[p.pin.k]
  local n = tonumber(redis.call('GET', k) or '0')
  if n >= p.pin.lim then return {'pin_locked', '', '', '', tostring(redis.call('PTTL', k))} end
  if p.pin.ok == 0 then
    if not dry then
      n = redis.call('INCR', k)
      if n == 1 then redis.call('PEXPIRE', k, p.pin.win) end
    end
    return {'wrong_pin'}
  end
end
if p.esc then
  local t = tonumber(redis.call('GET', KEYS[p.esc.k]) or '0')
  if now - t > p.esc.win then return {'escort_required'} end
end
if p.fi and p.fi.sup == 0 and redis.call('EXISTS', KEYS[p.fi.k]) == 0 then return {'awaiting_supervisor'} end
local pr = p.pr
if pr and pr.apb > 0 then
  local own = pr.z[1]
  local last = nil
  if pr.dir == 'in' then
    local v = redis.call('HGET', KEYS[own.i], user)
    if v then last = tonumber(string.match(v, '^(%d+)')) end
  else
    local v = redis.call('HGET', KEYS[own.o], user)
    if v then last = tonumber(v) end
  end
  if last and (pr.reset == 0 or now - last < pr.reset) then
    if pr.apb == 2 then return {'anti_passback'} end
    flags[#flags + 1] = 'anti_passback_soft'
  end
end
local movers = {user}
local peerUser, peerEvent, pending = '', '', nil
if p.tp then
  local v = redis.call('GET', KEYS[p.tp.k])
  if v then
    local pu, pe = string.match(v, '^([^|]*)|(.*)$')
    if pu ~= user then
      pending = v
      peerUser, peerEvent = pu, pe
      movers[2] = pu
    end
  end
end
if pr and pr.dir == 'in' then
  for _, z in ipairs(pr.z) do
    if z.max > 0 then
      local newcomers = 0
      for _, u in ipairs(movers) do
        if redis.call('HEXISTS', KEYS[z.i], u) == 0 then newcomers = newcomers + 1 end
      end
      if newcomers > 0 and redis.call('HLEN', KEYS[z.i]) + newcomers > z.max then return {'zone_full'} end
    end
  end
end
if p.tp and pending == nil then
  if not dry then redis.call('SET', KEYS[p.tp.k], user .. '|' .. p.ev, 'PX', p.tp.win) end
  return {'awaiting_second', table.concat(flags, ',')}
end
if dry then return {'ok', table.concat(flags, ','), peerUser, peerEvent} end
if pending then redis.call('DEL', KEYS[p.tp.k]) end
if pr then
  local stamp = string.format('%d', now) .. '|' .. p.gate
  for idx, z in ipairs(pr.z) do
    for _, u in ipairs(movers) do
      if pr.dir == 'in' then
        if idx == 1 then redis.call('HSET', KEYS[z.i], u, stamp) else redis.call('HSETNX', KEYS[z.i], u, stamp) end
        redis.call('HDEL', KEYS[z.o], u)
      else
        redis.call('HDEL', KEYS[z.i], u)
        if idx == 1 then redis.call('HSET', KEYS[z.o], u, string.format('%d', now)) end
      end
    end
  end
end
if p.fi and p.fi.sup == 1 then
  redis.call('SET', KEYS[p.fi.k], '1', 'PX', p.fi.ttl)
  flags[#flags + 1] = 'supervisor_in'
end
if p.pass then redis.call('SET', KEYS[p.pass.k], string.format('%d', now), 'PX', p.pass.ttl) end
if p.pin then redis.call('DEL', KEYS[p.pin.k]) end
return {'ok', table.concat(flags, ','), peerUser, peerEvent}
`;

interface StateCommands {
  pclStateDecide(...args: Array<string | number>): Promise<string[]>;
}

export class RedisState implements StateStore {
  readonly kind = "redis";
  readonly link: RedisLink;
  private readonly prefix: string;

  constructor(url: string, opts: { prefix: string; timeoutMs: number }) {
    this.prefix = opts.prefix;
    this.link = new RedisLink(url, {
      prefix: opts.prefix,
      timeoutMs: opts.timeoutMs,
      say: {
        name: "portcullis-state",
        down: "rules with memory: Redis unavailable; each zone's state_failure decides until it is back",
        up: "rules with memory: Redis is back",
      },
    });
    this.link.client.defineCommand("pclStateDecide", { lua: DECIDE_LUA });
  }

  static fromConfig(config: Readonly<Config>): RedisState {
    return new RedisState(config.redisUrl!, { prefix: config.statePrefix, timeoutMs: config.stateRedisTimeoutMs });
  }

  get usable(): boolean {
    return this.link.usable;
  }

  ready(timeoutMs: number): Promise<boolean> {
    return this.link.ready(timeoutMs);
  }

  private get client() {
    return this.link.client as unknown as RedisLink["client"] & StateCommands;
  }

  /** A call through the link: fails at once while it is unusable; failures cool the link down. */
  private async call<T>(f: () => Promise<T>): Promise<T> {
    if (!this.link.usable) throw new StateUnavailable("Redis unreachable");
    try {
      const v = await f();
      this.link.ok();
      return v;
    } catch (e) {
      this.link.failed(e);
      throw new StateUnavailable(String((e as Error)?.message ?? e));
    }
  }

  run(keys: string[], plan: Plan): Promise<Reply> {
    const args: Array<string | number> = [keys.length];
    for (const k of keys) args.push(this.prefix + k);
    args.push(JSON.stringify(plan));
    return this.call(() => this.client.pclStateDecide(...args)) as Promise<Reply>;
  }

  // A muster list read from a Redis that came back empty would say "nobody inside": reads check
  // the built marker in the same transaction and fail until presence is rebuilt.
  async presence(zoneId: string): Promise<Present[]> {
    const res = await this.call(() => this.client.multi().exists(this.prefix + KEY.built).hgetall(this.prefix + KEY.zoneIn(zoneId)).exec());
    if (!res || res[0]![1] !== 1) throw new StateUnavailable("presence is being rebuilt from the access events");
    return Object.entries(res[1]![1] as Record<string, string>).map(([userId, v]) => ({ userId, ...parseStamp(v) }));
  }

  async occupancy(zoneIds: string[]): Promise<number[]> {
    const m = this.client.multi().exists(this.prefix + KEY.built);
    for (const z of zoneIds) m.hlen(this.prefix + KEY.zoneIn(z));
    const res = await this.call(() => m.exec());
    if (!res || res[0]![1] !== 1) throw new StateUnavailable("presence is being rebuilt from the access events");
    return res.slice(1).map(([err, n]) => (err ? 0 : Number(n)));
  }

  async forgive(zoneId: string, userId: string): Promise<void> {
    await this.call(() => this.client.multi().hdel(this.prefix + KEY.zoneIn(zoneId), userId).hdel(this.prefix + KEY.zoneOut(zoneId), userId).exec());
  }

  async built(): Promise<boolean> {
    return (await this.call(() => this.client.exists(this.prefix + KEY.built))) === 1;
  }

  async lockRebuild(ttlMs: number): Promise<boolean> {
    return (await this.call(() => this.client.set(this.prefix + KEY.rebuilding, String(process.pid), "PX", ttlMs, "NX"))) === "OK";
  }

  async replace(state: RebuiltState): Promise<void> {
    // Rebuilds take longer than a decision may wait: their own timeout.
    const c = this.client;
    const old: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await c.scan(cursor, "MATCH", `${this.prefix}z:*`, "COUNT", 1000);
      cursor = next;
      old.push(...keys);
    } while (cursor !== "0");
    const m = c.multi();
    if (old.length) m.del(...old);
    for (const [zone, users] of state.inside) {
      if (users.size) m.hset(this.prefix + KEY.zoneIn(zone), Object.fromEntries([...users].map(([u, s]) => [u, `${s.since}|${s.gateId}`])));
    }
    for (const [zone, users] of state.out) {
      if (users.size) m.hset(this.prefix + KEY.zoneOut(zone), Object.fromEntries([...users].map(([u, at]) => [u, String(at)])));
    }
    for (const [k, exp] of state.marks) m.set(this.prefix + k, "1", "PXAT", exp);
    m.set(this.prefix + KEY.built, String(Date.now()));
    m.del(this.prefix + KEY.rebuilding);
    const res = await m.exec();
    const failed = res?.find(([err]) => err);
    if (failed) throw failed[0];
    this.link.ok();
  }

  close(): Promise<void> {
    return this.link.close();
  }
}
