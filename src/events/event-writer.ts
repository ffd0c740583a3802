// Access events leave the verify path through the journal (src/events/journal.ts): record()
// encodes the event into this tick's buffer, and before any answer of the tick is sent the buffer
// is written to the journal with one write(2) — answers wait on `after()`. A shipper then sends
// the journal to Postgres in batches (COPY) and moves the journal's durable watermark past them.
// Ids are made at decision time, so a batch shipped again (after a crash, or a lost
// acknowledgement) never writes an event twice.
//
// While Postgres is away the journal simply grows, up to its disk budget; at the budget the policy
// EVENT_JOURNAL_FULL decides, explicitly: `refuse` (default) answers 503 rather than let a
// decision go unrecorded, `shed` answers and counts the lost events. Either way it is counted,
// logged and shown in /readyz.
import { readdirSync, readFileSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import type { Sql } from "../db/client";
import type { Decision } from "../index/types";
import { isConnectionError } from "../db/errors";
import { ApiError } from "../errors";
import { log } from "../log";
import { eventId } from "./event-id";
import { type Chunk, type EventLog, Journal, MemoryJournal, encodeRecord, HEADER_BYTES, recordBound } from "./journal";
import { type AccessEvent, COLUMNS, type EventExtra, headOf, lineOf, NO_EXTRA } from "./copy-line";
import { LiveEvents } from "./live";

export interface EventWriterOptions {
  flushMs: number;
  /** Root of the journals (one directory per process under it); null: events in memory only. */
  journalDir: string | null;
  /** The journal directory this process prefers (its worker index). */
  journalIndex?: number;
  segmentBytes: number;
  maxBytes: number;
  /** Group fsync interval; 0: none (the page cache survives a process crash, not a power loss). */
  fsyncMs: number;
  whenFull: "refuse" | "shed";
  /** Ship the journals other processes left behind (the primary does). */
  adoptOrphans?: boolean;
  /** Spill files of earlier versions (JSON lines), moved into the journal at start by the primary. */
  legacySpillDir?: string;
}

/** What one COPY carries at most. */
const SHIP_BYTES = 1024 * 1024;
const ADOPT_EVERY_MS = 5000;

/** The answer of a decision whose event could not be recorded (EVENT_JOURNAL_FULL=refuse). */
export const journalFull = () =>
  new ApiError("unavailable", "this decision cannot be recorded (the access-event journal is at its disk budget), so it is not answered; retry shortly", { reason: "event_journal_full" }, 5);


export class EventWriter {
  private readonly journal: EventLog;
  /** Records of this tick, not yet written to the journal. */
  private tick = Buffer.allocUnsafe(64 * 1024);
  private tickLen = 0;
  private tickCount = 0;
  /** Settled once this tick's records are written (and, with fsync on, synced). */
  private barrier: PromiseWithResolvers<void> | null = null;
  private tickScheduled = false;
  private syncWaiters: Array<PromiseWithResolvers<void>> = [];
  private syncing = false;
  private syncTimer: ReturnType<typeof setTimeout> | null = null;
  private lastSync = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private flushing: Promise<void> | null = null;
  private adoptTimer: ReturnType<typeof setInterval> | null = null;
  private failures = 0;
  private stopped = false;
  private lastFullLog = 0;
  /** First segment this process wrote: chunks before it are a previous run's, replayed. */
  private readonly ownFrom: number;
  private appended = 0;
  private shippedOwn = 0;
  /** Live watchers (the console's stream), fed from Postgres so every process's events show. */
  readonly live: LiveEvents;
  flushed = 0;
  failed = 0;
  /** Events lost at the disk budget (EVENT_JOURNAL_FULL=shed). */
  shed = 0;
  /** Decisions not answered because their events could not be recorded (EVENT_JOURNAL_FULL=refuse). */
  refused = 0;
  /** Events of earlier runs (or crashed processes) shipped after a start. */
  replayed = 0;
  /** Journal writes (each carries a tick's records). */
  writes = 0;
  /** Events Postgres refused for their content (logged one by one). */
  rejected = 0;
  /** At the disk budget right now. */
  full = false;

  constructor(private readonly sql: Sql, private readonly opts: EventWriterOptions) {
    if (opts.journalDir === null) {
      this.journal = new MemoryJournal(opts.maxBytes);
      this.ownFrom = 0;
    } else {
      const j = Journal.open(opts.journalDir, opts.journalIndex ?? 0, { segmentBytes: opts.segmentBytes, maxBytes: opts.maxBytes });
      j.onTorn = (segment, offset, bytes) => log.warn("event journal: a segment ends in an incomplete record (its process died mid-write); read up to its last whole record", { segment, offset, bytes });
      this.journal = j;
      this.ownFrom = j.currentSegment;
    }
    this.live = new LiveEvents(sql);
  }

  /** Events recorded by this process and not yet in Postgres. */
  get depth(): number {
    return this.tickCount + this.appended - this.shippedOwn;
  }

  /** Bytes of journal on disk (shipped segments are deleted as they end). */
  get journalBytes(): number {
    return this.journal.bytes;
  }

  get journalPath(): string | null {
    return this.journal instanceof Journal ? this.journal.dir : null;
  }

  /** Ships what earlier runs left in the journal, and (primary) the journals of processes gone. */
  start(): void {
    if (this.opts.adoptOrphans && this.opts.legacySpillDir) this.importSpillFiles(this.opts.legacySpillDir);
    this.scheduleShip(0);
    if (this.opts.adoptOrphans && this.journal instanceof Journal) {
      this.adoptTimer = setInterval(() => this.scheduleShip(0), ADOPT_EVERY_MS);
      this.adoptTimer.unref?.();
    }
  }

  /**
   * Earlier versions spilled events to JSON-lines files when their memory buffer was full: they go
   * into the journal (and so to Postgres, idempotently by id), and the file goes once they are in.
   */
  private importSpillFiles(dir: string): void {
    let files: string[];
    try {
      files = readdirSync(dir).filter((f) => /\.ndjson(\.replaying-\d+)?$/.test(f));
    } catch {
      return;
    }
    for (const f of files) {
      const path = join(dir, f);
      let count = 0;
      for (const line of readFileSync(path, "utf8").split("\n")) {
        if (!line) continue;
        try {
          this.push(JSON.parse(line) as AccessEvent);
          count++;
        } catch {
          // a torn last line from a crash mid-append
        }
      }
      this.writeTick();
      if (this.full) {
        log.error("spill file not imported: the event journal is full", { file: path });
        return;
      }
      unlinkSync(path);
      log.info("an earlier version's spilled events moved into the journal", { file: path, count });
    }
  }

  /** The verify path's one call: the decision (reason rate_limited too) becomes an event with an id made now. */
  record(d: Pick<Decision, "allow" | "userId" | "credentialId" | "credentialKind"> & { reason: string }, gateId: string, revision: number, at: number, extra?: EventExtra): void {
    if (extra !== undefined) {
      this.push({
        id: extra.id, at, gateId, userId: d.userId ?? null, credentialId: d.credentialId ?? null, isDevice: d.credentialKind === "device",
        allow: d.allow, reason: d.reason, revision, zoneId: extra.zoneId, direction: extra.direction, flags: extra.flags,
        peerEventId: extra.peerEventId, peerUserId: extra.peerUserId,
      });
      return;
    }
    // Every verify passes here: its COPY line straight from the decision, without an event object.
    this.pushLine(
      headOf(eventId(at), at, gateId, d.userId ?? null, d.credentialId ?? null, d.allow, d.reason, revision) + NO_EXTRA,
      d.credentialKind === "device",
    );
  }

  push(e: AccessEvent): void {
    this.pushLine(lineOf(e), e.isDevice);
  }

  private pushLine(line: string, isDevice: boolean): void {
    const need = this.tickLen + recordBound(line.length);
    if (need > this.tick.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.tick.length * 2));
      this.tick.copy(grown, 0, 0, this.tickLen);
      this.tick = grown;
    }
    this.tickLen = encodeRecord(this.tick, this.tickLen, line, isDevice);
    this.tickCount++;
    if (!this.tickScheduled) {
      this.tickScheduled = true;
      // Without a journal (EVENT_JOURNAL=off, to measure its cost) answers wait for nothing.
      if (this.journal.durable) {
        this.barrier = Promise.withResolvers<void>();
        this.barrier.promise.catch(() => {}); // a refusal is reported through after(), not as unhandled
      }
      setImmediate(this.writeTick);
    }
  }

  /**
   * `value` once every event recorded so far is in the journal: what a transport returns instead
   * of its answer, so no answer leaves the process before its event. Rejects with journalFull()
   * when the events could not be recorded and EVENT_JOURNAL_FULL is refuse.
   */
  after<T>(value: T | Promise<T>): T | Promise<T> {
    if (value instanceof Promise) return value.then((v) => this.after(v));
    const b = this.barrier ?? this.syncWaiters.at(-1);
    return b === undefined ? value : b.promise.then(() => value);
  }

  /** One write(2) for the tick's records; then the answers waiting on them go. */
  private readonly writeTick = (): void => {
    if (!this.tickScheduled) return;
    this.tickScheduled = false;
    const b = this.barrier;
    const len = this.tickLen, count = this.tickCount;
    this.barrier = null;
    this.tickLen = 0;
    this.tickCount = 0;
    let ok = this.journal.fits(len);
    if (ok) {
      try {
        this.journal.append(this.tick, len);
      } catch (e) {
        ok = false;
        log.error("event journal write failed", { error: String(e) });
      }
    }
    if (!ok) return this.atBudget(b, count);
    if (this.tick.length > 1024 * 1024) this.tick = Buffer.allocUnsafe(64 * 1024); // after a big batch
    this.full = false;
    this.writes++;
    this.appended += count;
    this.scheduleShip(this.opts.flushMs);
    if (b === null) return;
    if (this.opts.fsyncMs > 0) {
      this.syncWaiters.push(b);
      this.scheduleSync();
    } else b.resolve();
  };

  private atBudget(b: PromiseWithResolvers<void> | null, count: number): void {
    this.full = true;
    const refuse = this.opts.whenFull === "refuse" && b !== null;
    if (refuse) this.refused += count;
    else this.shed += count;
    const now = Date.now();
    if (now - this.lastFullLog > 10_000) {
      this.lastFullLog = now;
      log.error(refuse ? "event journal full: decisions refused (503) rather than answered unrecorded" : "event journal full: access events shed",
        { refused_total: this.refused, shed_total: this.shed, journal_bytes: this.journal.bytes, max_bytes: this.opts.maxBytes });
    }
    if (refuse) b!.reject(journalFull());
    else b?.resolve();
  }

  /** Group fsync: at most one per EVENT_JOURNAL_FSYNC_MS; answers wait for the one after their write. */
  private scheduleSync(): void {
    if (this.syncing || this.syncTimer !== null) return;
    const wait = this.lastSync + this.opts.fsyncMs - Date.now();
    if (wait > 0) {
      this.syncTimer = setTimeout(() => {
        this.syncTimer = null;
        this.scheduleSync();
      }, wait);
      return;
    }
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    this.syncing = true;
    this.lastSync = Date.now();
    this.journal.sync().then(
      () => {
        for (const w of waiters) w.resolve();
      },
      (e) => {
        log.error("event journal fsync failed", { error: String(e) });
        for (const w of waiters) w.reject(journalFull());
      },
    ).finally(() => {
      this.syncing = false;
      if (this.syncWaiters.length) this.scheduleSync();
    });
  }

  private scheduleShip(ms: number): void {
    if (this.timer !== null || this.flushing !== null || this.stopped) return;
    this.timer = setTimeout(() => this.kick(), ms);
  }

  private kick(): void {
    this.timer = null;
    if (this.flushing) return;
    this.flushing = this.shipAll().finally(() => {
      this.flushing = null;
      if (this.depth > 0 && !this.stopped) this.scheduleShip(this.backoffMs());
    });
  }

  private backoffMs(): number {
    if (this.failures === 0) return this.opts.flushMs;
    return Math.min(5000, 50 * 2 ** Math.min(this.failures, 7)) * (0.5 + Math.random() / 2);
  }

  /** This process's journal, then (primary) any journal whose process is gone. */
  private async shipAll(): Promise<void> {
    if (!(await this.ship(this.journal, true))) return;
    if (this.journal instanceof Journal) this.journal.rotateIfShipped();
    if (this.opts.adoptOrphans && this.journal instanceof Journal) {
      for (const dir of Journal.siblings(this.opts.journalDir!, this.journal.dir)) {
        if (this.stopped) return;
        const j = Journal.adopt(dir, { segmentBytes: this.opts.segmentBytes, maxBytes: Number.MAX_SAFE_INTEGER });
        if (j === null) continue; // its process is alive and ships it
        const before = this.replayed;
        try {
          if (await this.ship(j, false)) {
            if (j.caughtUp) j.remove();
          }
        } finally {
          j.close();
        }
        if (this.replayed > before) log.info("events of a stopped process's journal shipped", { dir, count: this.replayed - before });
      }
    }
  }

  /** Ships `j` until caught up; false when Postgres failed (kept, retried later). */
  private async ship(j: EventLog, own: boolean): Promise<boolean> {
    for (let chunk = j.read(SHIP_BYTES); chunk !== null; chunk = j.read(SHIP_BYTES)) {
      try {
        await this.insert(chunk);
      } catch (e) {
        this.failed++;
        if (this.failures++ === 0) log.warn("event flush failed; events stay in the journal and are retried", { error: String(e), backlog: this.depth });
        return false;
      }
      if (this.failures) log.info("event flush recovered", { after_failures: this.failures });
      this.failures = 0;
      j.advance(chunk);
      this.flushed += chunk.count;
      if (own && chunk.seq >= this.ownFrom) this.shippedOwn += chunk.count;
      else this.replayed += chunk.count;
    }
    return true;
  }

  /**
   * One batch into Postgres. COPY costs about half the client CPU of an unnest insert and a third
   * less server time; but COPY cannot skip duplicates, so when a retried batch had in fact been
   * committed (the acknowledgement was lost), the duplicate-key error sends it through the
   * idempotent insert instead. A batch Postgres refuses for its data is written row by row, so one
   * poison row can never hold up the rest.
   */
  private async insert(chunk: Chunk): Promise<void> {
    try {
      // In a transaction, so on a connection of its own: postgres.js pipelines queries onto busy
      // connections when the pool is saturated, and a query that reaches Postgres mid-COPY ends
      // the connection (08P01, "protocol synchronization was lost"), failing the admin reads
      // queued behind it. (sql.reserve() would do too, but waits forever while Postgres is away.)
      await this.sql.begin((tx) => this.copyInto(tx as unknown as Sql, "access_events", chunk.copy));
    } catch (e: any) {
      if (isConnectionError(e)) throw e;
      if (e?.code === "23505") await this.insertIdempotent(chunk.copy);
      else await this.insertOneByOne(chunk.copy, e);
    }
    await this.touchDevices(chunk.devices);
  }

  private async copyInto(sql: Sql, table: string, body: Buffer): Promise<void> {
    const w = await sql`copy ${sql(table)} (${sql.unsafe(COLUMNS)}) from stdin`.writable();
    // finished(), not listeners of our own: a connection lost as the COPY began may have destroyed
    // the stream already (its error is kept on it, see patches/postgres@3.4.9.patch), and
    // finished() rejects with that error where a late 'error' listener would wait forever.
    w.end(body);
    await finished(w);
  }

  /** The same COPY lines, through a temporary table, skipping the events Postgres already has. */
  private async insertIdempotent(body: Buffer): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`create temp table access_events_in (like access_events) on commit drop`;
      await this.copyInto(tx as unknown as Sql, "access_events_in", body);
      await tx`
        insert into access_events (${tx.unsafe(COLUMNS)})
        select ${tx.unsafe(COLUMNS)} from access_events_in
        on conflict do nothing`;
    });
  }

  private async insertOneByOne(body: Buffer, cause: unknown): Promise<void> {
    const lines = body.toString("utf8").split("\n").filter(Boolean);
    log.error("event batch refused by Postgres; writing it row by row", { error: String(cause), size: lines.length });
    for (const line of lines) {
      try {
        await this.insertIdempotent(Buffer.from(line + "\n"));
      } catch (err) {
        if (isConnectionError(err)) throw err;
        this.rejected++;
        const [id, , gate] = line.split("\t");
        log.error("access event refused by Postgres", { error: String(err), id, gate_id: gate?.slice(0, 64) });
      }
    }
  }

  /** Device credentials' events advance their device's last_seen_at, in the same batch. */
  private async touchDevices(lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    const seen = new Map<string, string>();
    for (const line of lines) {
      const f = line.split("\t");
      const cred = f[4]!, at = f[1]!;
      if (cred !== "\\N" && (seen.get(cred) ?? "") < at) seen.set(cred, at);
    }
    if (seen.size === 0) return;
    await this.sql`
      update devices d set last_seen_at = greatest(d.last_seen_at, s.at)
      from unnest(${[...seen.keys()]}::text[], ${[...seen.values()]}::timestamptz[]) as s(credential_id, at)
      where d.credential_id = s.credential_id`;
  }

  /** Ships everything recorded so far (and what earlier runs left); retries until `deadlineMs` passes. */
  async drain(deadlineMs = 10_000): Promise<boolean> {
    const until = Date.now() + deadlineMs;
    this.writeTick();
    for (;;) {
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
      }
      if (this.flushing) await this.flushing;
      this.flushing = this.shipAll();
      await this.flushing;
      this.flushing = null;
      if (this.depth === 0 && this.failures === 0) return true;
      if (Date.now() >= until) return false;
      await Bun.sleep(Math.min(this.backoffMs(), Math.max(0, until - Date.now())));
    }
  }

  /** Clean shutdown: ship everything; what Postgres cannot take by the deadline stays in the journal for the next start. */
  async stop(deadlineMs?: number): Promise<boolean> {
    const ok = await this.drain(deadlineMs);
    this.stopped = true;
    this.live.stop();
    if (this.timer) clearTimeout(this.timer);
    if (this.adoptTimer) clearInterval(this.adoptTimer);
    if (this.syncTimer) clearTimeout(this.syncTimer);
    if (this.syncWaiters.length) {
      await this.journal.sync().catch(() => {});
      for (const w of this.syncWaiters.splice(0)) w.resolve();
    }
    if (!ok) log.warn("Postgres unreachable at shutdown: events kept in the journal for the next start", { count: this.depth, dir: this.journalPath });
    this.journal.close();
    return ok;
  }
}
