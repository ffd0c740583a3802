// The state in this process's memory, for a deployment without REDIS_URL. Only ever used by the one
// process that holds the Postgres advisory lock (state-service.ts): a second process or instance
// must not keep a state of its own. Runs the plan steps of plan.ts exactly as the Lua script does
// (synchronously: a JavaScript turn is as atomic as a Lua script).
import { type Plan, type Reply, KEY, parseStamp } from "./plan";
import { type Present, type RebuiltState, type StateStore, StateUnavailable } from "./store";

interface Timed {
  v: string;
  /** expiry, epoch ms; Infinity: none */
  exp: number;
}

export class LocalState implements StateStore {
  readonly kind = "local";
  usable = true;
  private readonly hashes = new Map<string, Map<string, string>>();
  private readonly values = new Map<string, Timed>();
  private isBuilt = false;
  private sweeps = 0;

  private hash(key: string): Map<string, string> {
    let h = this.hashes.get(key);
    if (!h) this.hashes.set(key, (h = new Map()));
    return h;
  }

  private get(key: string, now: number): string | null {
    const t = this.values.get(key);
    if (t === undefined) return null;
    if (t.exp <= now) {
      this.values.delete(key);
      return null;
    }
    return t.v;
  }

  private set(key: string, v: string, ttlMs: number, now: number): void {
    this.values.set(key, { v, exp: now + ttlMs });
    // Expired short-lived keys (pairs, passes, PIN counts) are swept now and then, not left to pile up.
    if (++this.sweeps % 10_000 === 0) for (const [k, t] of this.values) if (t.exp <= now) this.values.delete(k);
  }

  async run(keys: string[], p: Plan): Promise<Reply> {
    return this.runSync(keys, p);
  }

  runSync(keys: string[], p: Plan): Reply {
    const K = (i: number) => keys[i - 1]!;
    const now = p.now, user = p.user, dry = p.dry === 1;
    if (!this.isBuilt) return ["unbuilt"];
    const flags: string[] = [];
    if (p.pin) {
      const k = K(p.pin.k);
      const t = this.values.get(k);
      const n = Number(this.get(k, now) ?? "0");
      if (n >= p.pin.lim) return ["pin_locked", "", "", "", String(t!.exp - now)];
      if (p.pin.ok === 0) {
        if (!dry) {
          if (n === 0) this.set(k, "1", p.pin.win, now);
          else t!.v = String(n + 1);
        }
        return ["wrong_pin"];
      }
    }
    if (p.esc) {
      const t = Number(this.get(K(p.esc.k), now) ?? "0");
      if (now - t > p.esc.win) return ["escort_required"];
    }
    if (p.fi && p.fi.sup === 0 && this.get(K(p.fi.k), now) === null) return ["awaiting_supervisor"];
    const pr = p.pr;
    if (pr && pr.apb > 0) {
      const own = pr.z[0]!;
      let last: number | null = null;
      if (pr.dir === "in") {
        const v = this.hashes.get(K(own.i))?.get(user);
        if (v !== undefined) last = parseStamp(v).since;
      } else {
        const v = this.hashes.get(K(own.o))?.get(user);
        if (v !== undefined) last = Number(v);
      }
      if (last !== null && (pr.reset === 0 || now - last < pr.reset)) {
        if (pr.apb === 2) return ["anti_passback"];
        flags.push("anti_passback_soft");
      }
    }
    const movers = [user];
    let peerUser = "", peerEvent = "", pending: string | null = null;
    if (p.tp) {
      const v = this.get(K(p.tp.k), now);
      if (v !== null) {
        const [pu, pe] = v.split("|");
        if (pu !== user) {
          pending = v;
          peerUser = pu!;
          peerEvent = pe!;
          movers.push(pu!);
        }
      }
    }
    if (pr && pr.dir === "in") {
      for (const z of pr.z) {
        if (z.max <= 0) continue;
        const h = this.hashes.get(K(z.i));
        let newcomers = 0;
        for (const u of movers) if (!h?.has(u)) newcomers++;
        if (newcomers > 0 && (h?.size ?? 0) + newcomers > z.max) return ["zone_full"];
      }
    }
    if (p.tp && pending === null) {
      if (!dry) this.set(K(p.tp.k), `${user}|${p.ev}`, p.tp.win, now);
      return ["awaiting_second", flags.join(",")];
    }
    if (dry) return ["ok", flags.join(","), peerUser, peerEvent];
    if (pending !== null) this.values.delete(K(p.tp!.k));
    if (pr) {
      const stamp = `${now}|${p.gate}`;
      pr.z.forEach((z, idx) => {
        for (const u of movers) {
          if (pr.dir === "in") {
            const h = this.hash(K(z.i));
            if (idx === 0 || !h.has(u)) h.set(u, stamp);
            this.hashes.get(K(z.o))?.delete(u);
          } else {
            this.hashes.get(K(z.i))?.delete(u);
            if (idx === 0) this.hash(K(z.o)).set(u, String(now));
          }
        }
      });
    }
    if (p.fi && p.fi.sup === 1) {
      this.set(K(p.fi.k), "1", p.fi.ttl, now);
      flags.push("supervisor_in");
    }
    if (p.pass) this.set(K(p.pass.k), String(now), p.pass.ttl, now);
    if (p.pin) this.values.delete(K(p.pin.k));
    return ["ok", flags.join(","), peerUser, peerEvent];
  }

  async presence(zoneId: string): Promise<Present[]> {
    if (!this.isBuilt) throw new StateUnavailable("presence is being rebuilt from the access events");
    const h = this.hashes.get(KEY.zoneIn(zoneId));
    return [...(h ?? [])].map(([userId, v]) => ({ userId, ...parseStamp(v) }));
  }

  async occupancy(zoneIds: string[]): Promise<number[]> {
    if (!this.isBuilt) throw new StateUnavailable("presence is being rebuilt from the access events");
    return zoneIds.map((z) => this.hashes.get(KEY.zoneIn(z))?.size ?? 0);
  }

  async forgive(zoneId: string, userId: string): Promise<void> {
    this.hashes.get(KEY.zoneIn(zoneId))?.delete(userId);
    this.hashes.get(KEY.zoneOut(zoneId))?.delete(userId);
  }

  async built(): Promise<boolean> {
    return this.isBuilt;
  }

  async lockRebuild(): Promise<boolean> {
    return true;
  }

  async replace(state: RebuiltState): Promise<void> {
    for (const k of [...this.hashes.keys()]) if (k.startsWith("z:")) this.hashes.delete(k);
    for (const [zone, users] of state.inside) {
      const h = this.hash(KEY.zoneIn(zone));
      for (const [u, s] of users) h.set(u, `${s.since}|${s.gateId}`);
    }
    for (const [zone, users] of state.out) {
      const h = this.hash(KEY.zoneOut(zone));
      for (const [u, at] of users) h.set(u, String(at));
    }
    for (const [k, exp] of state.marks) this.values.set(k, { v: "1", exp });
    this.isBuilt = true;
  }

  /** Forget everything (the process lost the right to keep state). */
  reset(): void {
    this.hashes.clear();
    this.values.clear();
    this.isBuilt = false;
  }

  async close(): Promise<void> {}
}
