// Access events leave the verify path through a bounded in-memory buffer; a writer flushes them in
// batches with one set-based insert. Ids are made at decision time, so a retried batch never
// writes an event twice (ON CONFLICT DO NOTHING on the primary key).
//
// At the bound (Postgres away for long), events spill to local files that are replayed when
// Postgres is back and at the next start: an access system's record of who went where is not
// ours to drop. Only when the spill budget on disk is also used up are events shed — counted in
// a metric and logged.
import type { Sql } from "../db/client";
import type { Decision } from "../index/types";
import { isConnectionError } from "../db/errors";
import { log } from "../log";
import { LiveEvents } from "./live";
import { SpillDir } from "./spill";

export interface AccessEvent {
  id: string;
  at: number;
  gateId: string;
  userId: string | null;
  credentialId: string | null;
  /** Device credentials also advance their device's last_seen_at, in the same batch. */
  isDevice: boolean;
  allow: boolean;
  reason: string;
  revision: number;
  /** Rules with memory (src/state/): the zone, the presence move, flags, the two-person peer. */
  zoneId?: string | null;
  direction?: "in" | "out" | null;
  flags?: string[] | null;
  peerEventId?: string | null;
  peerUserId?: string | null;
}

/** What a stateful decision adds to its event (its id was made before the decision: a pair names it). */
export interface EventExtra {
  id: string;
  zoneId: string | null;
  direction: "in" | "out" | null;
  flags: string[] | null;
  peerEventId: string | null;
  peerUserId: string | null;
}

export interface EventWriterOptions {
  flushMs: number;
  batchMax: number;
  bufferMax: number;
  spillDir: string;
  spillMaxBytes: number;
}

/** COPY text format: the gate id is the one client-supplied field; escape what COPY treats specially. */
function copyText(v: string): string {
  if (!/[\\\t\n\r\0]/.test(v)) return v;
  return v.replace(/[\\\t\n\r\0]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : c === "\r" ? "\\r" : "\uFFFD"));
}

/** ISO time with the whole-second prefix cached: events come in bursts within the same second. */
let isoSecond = -1;
let isoPrefix = "";
function isoTime(ms: number): string {
  const sec = Math.floor(ms / 1000);
  if (sec !== isoSecond) {
    isoSecond = sec;
    isoPrefix = new Date(sec * 1000).toISOString().slice(0, 20); // "2026-11-22T12:00:01."
  }
  const frac = ms - sec * 1000;
  return isoPrefix + (frac < 10 ? "00" : frac < 100 ? "0" : "") + frac + "Z";
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export class EventWriter {
  private buffer: AccessEvent[] = [];
  private overflow: AccessEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private flushing: Promise<void> | null = null;
  private replaying: Promise<void> | null = null;
  private failures = 0;
  private stopped = false;
  private lastShedLog = 0;
  private readonly spill: SpillDir;
  /** Live watchers (the console's stream), fed from Postgres so every process's events show. */
  readonly live: LiveEvents;
  flushed = 0;
  failed = 0;
  shed = 0;
  spilled = 0;
  replayed = 0;
  /** Events Postgres refused for their content (logged one by one). */
  rejected = 0;

  constructor(private readonly sql: Sql, private readonly opts: EventWriterOptions) {
    this.spill = new SpillDir(opts.spillDir, opts.spillMaxBytes);
    this.live = new LiveEvents(sql);
  }

  get depth(): number {
    return this.buffer.length + this.overflow.length;
  }

  get spillBytes(): number {
    return this.spill.bytes;
  }

  /** Replays what earlier runs (or crashed processes) spilled. */
  start(): void {
    this.spill.releaseOrphans(isAlive);
    this.replaySpilled();
  }

  /** The verify path's one call: the decision (reason rate_limited too) becomes an event with an id made now. */
  record(d: Pick<Decision, "allow" | "userId" | "credentialId" | "credentialKind"> & { reason: string }, gateId: string, revision: number, at: number, extra?: EventExtra): void {
    const e: AccessEvent = {
      id: extra?.id ?? Bun.randomUUIDv7(), at, gateId, userId: d.userId ?? null, credentialId: d.credentialId ?? null,
      isDevice: d.credentialKind === "device", allow: d.allow, reason: d.reason, revision,
    };
    if (extra !== undefined) {
      e.zoneId = extra.zoneId;
      e.direction = extra.direction;
      e.flags = extra.flags;
      e.peerEventId = extra.peerEventId;
      e.peerUserId = extra.peerUserId;
    }
    this.push(e);
  }

  push(e: AccessEvent): void {
    if (this.buffer.length < this.opts.bufferMax) this.buffer.push(e);
    else {
      this.overflow.push(e);
      if (this.overflow.length >= this.opts.batchMax) this.spillOverflow();
    }
    if (this.timer === null && this.flushing === null && !this.stopped) {
      this.timer = setTimeout(() => this.kick(), this.buffer.length >= this.opts.batchMax ? 0 : this.opts.flushMs);
    }
  }

  private spillOverflow(): void {
    if (!this.overflow.length) return;
    const batch = this.overflow;
    this.overflow = [];
    let ok = false;
    try {
      ok = this.spill.append(batch);
    } catch (e) {
      log.error("event spill failed", { error: String(e) });
    }
    if (ok) {
      if (this.spilled === 0 || !this.spill.spilling) log.warn("event buffer full: spilling events to disk", { dir: this.opts.spillDir });
      this.spilled += batch.length;
      return;
    }
    this.shed += batch.length;
    const now = Date.now();
    if (now - this.lastShedLog > 10_000) {
      this.lastShedLog = now;
      log.error("event buffer and spill budget full: shedding access events", { shed_total: this.shed, spill_max_bytes: this.opts.spillMaxBytes });
    }
  }

  private kick(): void {
    this.timer = null;
    if (this.flushing) return;
    this.spillOverflow();
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = null;
      if (this.depth && !this.stopped && this.timer === null) {
        this.timer = setTimeout(() => this.kick(), this.backoffMs());
      }
    });
  }

  private backoffMs(): number {
    if (this.failures === 0) return this.opts.flushMs;
    return Math.min(5000, 50 * 2 ** Math.min(this.failures, 7)) * (0.5 + Math.random() / 2);
  }

  private async flushLoop(): Promise<void> {
    while (this.buffer.length) {
      const batch = this.buffer.slice(0, this.opts.batchMax);
      try {
        await this.insert(batch);
      } catch (e) {
        this.failed++;
        if (this.failures++ === 0) log.warn("event flush failed; keeping events and retrying", { error: String(e), buffered: this.depth });
        return;
      }
      if (this.failures) log.info("event flush recovered", { after_failures: this.failures });
      this.failures = 0;
      this.buffer.splice(0, batch.length);
      this.flushed += batch.length;
    }
    // Caught up: what was spilled meanwhile can go in now.
    if (this.spill.spilling) {
      this.spill.seal();
      this.replaySpilled();
    }
  }

  private replaySpilled(): void {
    if (this.replaying) return;
    this.replaying = (async () => {
      for (const path of this.spill.claim()) {
        const events = SpillDir.read(path);
        for (let i = 0; i < events.length; i += this.opts.batchMax) {
          const batch = events.slice(i, i + this.opts.batchMax);
          for (let attempt = 0; ; attempt++) {
            try {
              await this.insert(batch);
              break;
            } catch (e) {
              if (this.stopped) {
                // Leave the file for the next start; the rows already written are idempotent.
                this.spill.releaseOrphans(() => false);
                return;
              }
              await Bun.sleep(Math.min(5000, 100 * 2 ** Math.min(attempt, 6)));
            }
          }
        }
        this.spill.done(path);
        this.replayed += events.length;
        log.info("spilled events replayed", { count: events.length });
      }
    })().finally(() => {
      this.replaying = null;
    });
  }

  /**
   * One batch into Postgres. COPY costs about half the client CPU of an unnest insert and a third
   * less server time; but COPY cannot skip duplicates, so when a retried batch had in fact been
   * committed (the acknowledgement was lost), the duplicate-key error sends it through the
   * idempotent insert instead. A batch Postgres refuses for its data is written row by row, so one
   * poison row can never hold up the rest.
   */
  private async insert(batch: AccessEvent[]): Promise<void> {
    try {
      await this.copy(batch);
    } catch (e: any) {
      if (isConnectionError(e)) throw e;
      if (e?.code === "23505") await this.insertIdempotent(batch);
      else await this.insertOneByOne(batch, e);
    }
    await this.touchDevices(batch);
  }

  private async copy(batch: AccessEvent[]): Promise<void> {
    let text = "";
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i]!;
      text += `${e.id}\t${isoTime(e.at)}\t${copyText(e.gateId)}\t${e.userId ?? "\\N"}\t${e.credentialId ?? "\\N"}\t${e.allow ? "t" : "f"}\t${e.reason}\t${e.revision}\t${e.zoneId ?? "\\N"}\t${e.direction ?? "\\N"}\t${e.flags ? `{${e.flags.join(",")}}` : "\\N"}\t${e.peerEventId ?? "\\N"}\t${e.peerUserId ?? "\\N"}\n`;
    }
    const w = await this.sql`copy access_events (id, at, gate_id, user_id, credential_id, allow, reason, revision, zone_id, direction, flags, peer_event_id, peer_user_id) from stdin`.writable();
    await new Promise<void>((resolve, reject) => {
      w.on("error", reject);
      w.on("finish", () => resolve());
      w.end(text);
    });
  }

  private async insertIdempotent(batch: AccessEvent[]): Promise<void> {
    const n = batch.length;
    const ids = new Array<string>(n), ats = new Array<string>(n), gates = new Array<string>(n);
    const users = new Array<string | null>(n), creds = new Array<string | null>(n);
    const allows = new Array<string>(n), reasons = new Array<string>(n), revs = new Array<number>(n);
    const zones = new Array<string | null>(n), dirs = new Array<string | null>(n), flags = new Array<string | null>(n);
    const peers = new Array<string | null>(n), peerUsers = new Array<string | null>(n);
    for (let i = 0; i < n; i++) {
      const e = batch[i]!;
      ids[i] = e.id; ats[i] = isoTime(e.at); gates[i] = e.gateId.replaceAll("\0", "\uFFFD"); users[i] = e.userId;
      creds[i] = e.credentialId; allows[i] = e.allow ? "t" : "f"; reasons[i] = e.reason; revs[i] = e.revision;
      zones[i] = e.zoneId ?? null; dirs[i] = e.direction ?? null; flags[i] = e.flags ? e.flags.join(",") : null;
      peers[i] = e.peerEventId ?? null; peerUsers[i] = e.peerUserId ?? null;
    }
    // Booleans travel as text: postgres.js cannot infer a bool[] parameter; flags as "a,b".
    await this.sql`
      insert into access_events (id, at, gate_id, user_id, credential_id, allow, reason, revision, zone_id, direction, flags, peer_event_id, peer_user_id)
      select id, at, gate_id, user_id, credential_id, allow, reason, revision, zone_id, direction,
             string_to_array(flags, ','), peer_event_id, peer_user_id
      from unnest(${ids}::uuid[], ${ats}::timestamptz[], ${gates}::text[], ${users}::text[],
                  ${creds}::text[], ${allows}::text[]::bool[], ${reasons}::text[], ${revs}::int8[],
                  ${zones}::text[], ${dirs}::text[], ${flags}::text[], ${peers}::uuid[], ${peerUsers}::text[])
        as u(id, at, gate_id, user_id, credential_id, allow, reason, revision, zone_id, direction, flags, peer_event_id, peer_user_id)
      on conflict do nothing`;
  }

  private async insertOneByOne(batch: AccessEvent[], cause: unknown): Promise<void> {
    log.error("event batch refused by Postgres; writing it row by row", { error: String(cause), size: batch.length });
    for (const e of batch) {
      try {
        await this.insertIdempotent([e]);
      } catch (err) {
        if (isConnectionError(err)) throw err;
        this.rejected++;
        log.error("access event refused by Postgres", { error: String(err), id: e.id, gate_id: e.gateId.slice(0, 64) });
      }
    }
  }

  private async touchDevices(batch: AccessEvent[]): Promise<void> {
    const seen = new Map<string, number>();
    for (const e of batch) if (e.isDevice && e.credentialId !== null && (seen.get(e.credentialId) ?? 0) < e.at) seen.set(e.credentialId, e.at);
    if (seen.size === 0) return;
    await this.sql`
      update devices d set last_seen_at = greatest(d.last_seen_at, s.at)
      from unnest(${[...seen.keys()]}::text[], ${[...seen.values()].map(isoTime)}::timestamptz[]) as s(credential_id, at)
      where d.credential_id = s.credential_id`;
  }

  /** Writes everything buffered; retries until `deadlineMs` passes. */
  async drain(deadlineMs = 10_000): Promise<boolean> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const until = Date.now() + deadlineMs;
    while (Date.now() < until) {
      if (this.flushing) await this.flushing;
      this.spillOverflow();
      if (!this.buffer.length) return true;
      this.flushing = this.flushLoop();
      await this.flushing;
      this.flushing = null;
      if (this.buffer.length) await Bun.sleep(Math.min(this.backoffMs(), Math.max(0, until - Date.now())));
    }
    return this.buffer.length === 0;
  }

  /** Clean shutdown: flush everything; what Postgres cannot take by the deadline is spilled, not lost. */
  async stop(deadlineMs?: number): Promise<boolean> {
    const ok = await this.drain(deadlineMs);
    this.stopped = true;
    this.live.stop();
    if (this.timer) clearTimeout(this.timer);
    if (!ok) {
      const left = this.buffer.splice(0);
      if (this.spill.append(left)) {
        this.spilled += left.length;
        log.warn("Postgres unreachable at shutdown: events spilled for replay at next start", { count: left.length, dir: this.opts.spillDir });
      } else {
        this.shed += left.length;
        log.error("events lost at shutdown: spill budget full", { count: left.length });
      }
      this.spill.seal();
    }
    await this.replaying?.catch(() => {});
    return ok;
  }
}
