// One stateful decision as data: the checks and writes of every rule with memory a gate has, in
// the order they are decided. A plan runs atomically — in Redis as one Lua script call
// (store-redis.ts), in-process on Maps (store-local.ts); both follow the steps below exactly.
//
//  1. pin     the credential's wrong-PIN count at its limit → pin_locked; a wrong PIN counts
//             one more → wrong_pin; a right one clears the count (at commit)
//  2. esc     a visitor: their host's last pass at this gate older than the window → escort_required
//  3. fi      first person in: a non-supervisor, during the schedule, before any supervisor
//             entered on the zone's local date → awaiting_supervisor; a supervisor marks the day
//  4. pr/apb  anti-passback in the gate's zone: an entry while inside (or an exit while out),
//             newer than the reset → hard: anti_passback; soft: pass, flag anti_passback_soft
//  5. tp      two-person: no pending first person (or the same person again) → remember this
//             one for the window → awaiting_second; a different one pending → the pair passes
//  6. pr/max  occupancy, for entries: any zone the movers newly enter at its maximum → zone_full
//  7. commit  presence (in: the zone and its enclosing zones; out: the zone and those inside it),
//             the first-in mark, this user's pass (escort hosts), the PIN count cleared
//
// Keys are names without the store's prefix; the plan refers to them by position (1-based, as
// Lua's KEYS). Position 1 is always the "built" marker: a store without it (a Redis restarted
// empty) answers "unbuilt" and presence is rebuilt from the access events.

export interface PresenceZone {
  /** key positions of the zone's presence hash (user → "since|gate") and exit hash (user → at) */
  i: number;
  o: number;
  /** max_occupancy, 0: none */
  max: number;
}

export interface Plan {
  now: number;
  user: string;
  gate: string;
  /** The event id of this decision (a two-person pair names it). */
  ev: string;
  /** 1: check only, write nothing (explain). */
  dry?: 1;
  pin?: { k: number; ok: 0 | 1; lim: number; win: number };
  esc?: { k: number; win: number };
  fi?: { k: number; sup: 0 | 1; ttl: number };
  pr?: { dir: "in" | "out"; apb: 0 | 1 | 2; reset: number; z: PresenceZone[] };
  tp?: { k: number; win: number };
  pass?: { k: number; ttl: number };
}

/** [code ("ok", a reason, or "unbuilt"), flags "a,b", peer user, peer event id, pin lock ms left] */
export type Reply = [code: string, flags?: string, peerUser?: string, peerEvent?: string, extra?: string];

export const KEY = {
  built: "built",
  rebuilding: "rebuilding",
  zoneIn: (zone: string) => `z:${zone}:in`,
  zoneOut: (zone: string) => `z:${zone}:out`,
  pin: (cred: string) => `pin:${cred}`,
  pass: (gate: string, user: string) => `pass:${gate}:${user}`,
  firstIn: (zone: string, date: string) => `fi:${zone}:${date}`,
  twoPerson: (gate: string) => `tp:${gate}`,
};

/** Presence hash value: "<since ms>|<gate id>". */
export function parseStamp(v: string): { since: number; gateId: string } {
  const bar = v.indexOf("|");
  return { since: Number(v.slice(0, bar)), gateId: v.slice(bar + 1) };
}
