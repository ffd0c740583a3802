// The access-event journal: every decision's event is appended here (write(2) into the page cache)
// before its answer leaves the process, so a crash of the process — SIGKILL, OOM, a panic — loses
// no event: the kernel holds what was written and the next start ships it. (Power loss is another
// matter: only EVENT_JOURNAL_FSYNC_MS covers it.)
//
// A journal is a directory of segments `<seq>.seg`, appended to by one process at a time (an flock
// on the directory, src/events/lock.ts). A record is
//     u32 LE  payload length, bit 31 set for a device credential's event
//     u32 LE  CRC-32 of the payload
//     payload the event as one line of COPY text (what the shipper sends to Postgres unchanged)
// so a record torn by a crash mid-write fails its length or checksum and the reader stops at the
// last whole record. The shipper's position (segment, offset) is the durable watermark, a small
// file rewritten in place with one fixed-width write; segments wholly behind it are deleted. A start appends to a new
// segment, never after a possibly torn tail, and ships everything past the watermark — possibly
// again, which is harmless: every event keeps the id it got at decision time and a batch that
// Postgres already holds is written idempotently.
import { closeSync, existsSync, fstatSync, fsync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { type DirLock, tryLockDir } from "./lock";

export const HEADER_BYTES = 8;
const DEVICE_BIT = 0x8000_0000;
/** A record is one event: far below this; a larger length is a torn or foreign header. */
const MAX_PAYLOAD = 64 * 1024;
const SEGMENT = /^(\d{12})\.seg$/;
const segName = (seq: number) => String(seq).padStart(12, "0") + ".seg";

/** Appends one record (the COPY line `line`) at `off` in `buf`; returns the offset after it. */
export function encodeRecord(buf: Buffer, off: number, line: string, device: boolean): number {
  const n = buf.write(line, off + HEADER_BYTES, "utf8");
  buf.writeUInt32LE((n | (device ? DEVICE_BIT : 0)) >>> 0, off);
  // An ASCII line (as many bytes as characters: nearly every one) is its own UTF-8, so the CRC is
  // taken of the string; a view of the buffer costs more than the CRC itself.
  const crc = n === line.length ? Bun.hash.crc32(line) : Bun.hash.crc32(buf.subarray(off + HEADER_BYTES, off + HEADER_BYTES + n));
  buf.writeUInt32LE(crc >>> 0, off + 4);
  return off + HEADER_BYTES + n;
}

/** Upper bound of a record's size for a line of `chars` UTF-16 units. */
export const recordBound = (chars: number) => HEADER_BYTES + chars * 3;

export interface Records {
  /** The payloads (COPY lines) back to back: the body of one COPY. */
  copy: Buffer;
  count: number;
  /** The payloads of device credentials' events (they also advance the device's last_seen_at). */
  devices: string[];
  /** Bytes of `data` that whole records cover; anything after is incomplete or torn. */
  end: number;
}

/** Parses whole records from `data`, stopping at the first incomplete or damaged one. */
export function parseRecords(data: Buffer): Records {
  const copy = Buffer.allocUnsafe(data.length);
  let w = 0, off = 0, count = 0;
  const devices: string[] = [];
  while (off + HEADER_BYTES <= data.length) {
    const word = data.readUInt32LE(off);
    const n = word & 0x7fff_ffff;
    if (n === 0 || n > MAX_PAYLOAD || off + HEADER_BYTES + n > data.length) break;
    const payload = data.subarray(off + HEADER_BYTES, off + HEADER_BYTES + n);
    if ((Bun.hash.crc32(payload) >>> 0) !== data.readUInt32LE(off + 4)) break;
    if (payload[n - 1] !== 0x0a) break;
    payload.copy(copy, w);
    w += n;
    if (word & DEVICE_BIT) devices.push(payload.toString("utf8"));
    off += HEADER_BYTES + n;
    count++;
  }
  return { copy: copy.subarray(0, w), count, devices, end: off };
}

export interface Chunk extends Records {
  seq: number;
  start: number;
}

export interface JournalOptions {
  /** A segment is closed and a new one begun past this size. */
  segmentBytes: number;
  /** Disk budget: the bytes all segments may take. */
  maxBytes: number;
}

/** What the event writer needs of a journal; MemoryJournal is the in-memory stand-in. */
export interface EventLog {
  readonly durable: boolean;
  /** Bytes on disk (or in memory) not yet deleted. */
  readonly bytes: number;
  /** Whether `len` more bytes fit within the budget. */
  fits(len: number): boolean;
  append(buf: Buffer, len: number): void;
  /** Whole records from the ship position on, up to about `maxBytes`; null when caught up. */
  read(maxBytes: number): Chunk | null;
  /** The records of `chunk` are in Postgres: move the ship position past them. */
  advance(chunk: Chunk): void;
  /** Flushes what was appended to stable storage (resolves at once when there is nothing to do). */
  sync(): Promise<void>;
  close(): void;
}

export class Journal implements EventLog {
  readonly durable = true;
  private fd = -1;
  private seq = 0;
  private size = 0;
  private openedAt = 0;
  /** Sizes of the segments on disk, by sequence number. */
  private readonly segments = new Map<number, number>();
  private cursor = { seq: 0, offset: 0 };
  private readFd: { seq: number; fd: number } | null = null;
  /** The watermark file, kept open: it is rewritten after every shipped batch. */
  private markFd = -1;
  private synced = true;
  private tornLogged = new Set<number>();
  bytes = 0;
  /** Told once per segment whose end holds an incomplete record. */
  onTorn: (segment: string, offset: number, bytes: number) => void = () => {};

  private constructor(readonly dir: string, private readonly lock: DirLock, private readonly opts: JournalOptions, writable: boolean) {
    for (const f of readdirSync(dir)) {
      const m = SEGMENT.exec(f);
      if (m) this.segments.set(+m[1]!, statSync(join(dir, f)).size);
    }
    for (const s of this.segments.values()) this.bytes += s;
    const seqs = [...this.segments.keys()].sort((a, b) => a - b);
    this.cursor = readWatermark(dir) ?? { seq: seqs[0] ?? 1, offset: 0 };
    for (const s of seqs) if (s < this.cursor.seq) this.deleteSegment(s);
    if (writable) this.openSegment(Math.max(this.cursor.seq, seqs.at(-1) ?? 0) + 1);
    else this.seq = Number.MAX_SAFE_INTEGER;
  }

  /**
   * The journal this process writes: the first directory `<root>/<n>`, n ≥ `preferred`, that no
   * other process holds. (A crashed process's directory is free again at once and is taken, and
   * its backlog shipped, by whichever process starts with that index.)
   */
  static open(root: string, preferred: number, opts: JournalOptions): Journal {
    for (let n = preferred; n < preferred + 1024; n++) {
      const dir = join(root, String(n));
      let lock: DirLock | null = null;
      try {
        mkdirSync(dir, { recursive: true });
        lock = tryLockDir(dir);
      } catch {
        continue; // removed under us by a process that just shipped it: try the next one
      }
      if (lock) return new Journal(dir, lock, opts, true);
    }
    throw new Error(`no free journal directory under ${root}`);
  }

  /** Another process's journal left behind (its process is gone), to ship and remove; null if held. */
  static adopt(dir: string, opts: JournalOptions): Journal | null {
    let lock: DirLock | null;
    try {
      lock = tryLockDir(dir);
    } catch {
      return null;
    }
    return lock && new Journal(dir, lock, opts, false);
  }

  /** Journal directories under `root` other than `own`. */
  static siblings(root: string, own: string): string[] {
    try {
      return readdirSync(root).filter((f) => /^\d+$/.test(f)).map((f) => join(root, f)).filter((d) => d !== own);
    } catch {
      return [];
    }
  }

  /** The segment being appended to. */
  get currentSegment(): number {
    return this.seq;
  }

  get index(): number {
    return Number(this.dir.slice(this.dir.lastIndexOf("/") + 1));
  }

  fits(len: number): boolean {
    return this.bytes + len <= this.opts.maxBytes;
  }

  append(buf: Buffer, len: number): void {
    try {
      let done = 0;
      while (done < len) done += writeSync(this.fd, buf, done, len - done);
    } catch (e) {
      // A short or failed write (ENOSPC, EIO) must not leave half a record before later ones.
      try {
        ftruncateSync(this.fd, this.size);
      } catch {}
      throw e;
    }
    this.size += len;
    this.bytes += len;
    this.segments.set(this.seq, this.size);
    this.synced = false;
    if (this.size >= this.opts.segmentBytes) this.rotate();
  }

  sync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    this.synced = true;
    const fd = this.fd;
    return new Promise((resolve, reject) => fsync(fd, (e) => (e ? reject(e) : resolve())));
  }

  /**
   * Starts a new segment once the current one is wholly shipped and either a minute old or a
   * quarter of the budget, so the shipped one is deleted (time- as well as size-based rotation).
   */
  rotateIfShipped(now = Date.now()): void {
    if (this.fd < 0 || this.size === 0 || this.cursor.seq !== this.seq || this.cursor.offset !== this.size) return;
    if (now - this.openedAt >= 60_000 || this.size >= this.opts.maxBytes / 4) this.rotate();
  }

  /** `maxBytes` must exceed the largest record (MAX_PAYLOAD + HEADER_BYTES). */
  read(maxBytes: number): Chunk | null {
    for (;;) {
      const { seq, offset } = this.cursor;
      const end = seq === this.seq ? this.size : this.segments.get(seq);
      if (end === undefined) {
        // The watermark names a segment that is gone (or not yet begun): go to the next one there is.
        const next = this.nextSegment(seq);
        if (next === null) return null;
        this.moveTo(next);
        continue;
      }
      if (offset < end) {
        const len = Math.min(end - offset, maxBytes);
        const data = Buffer.allocUnsafe(len);
        let got = 0;
        const fd = this.readerFd(seq);
        while (got < len) {
          const n = readSync(fd, data, got, len - got, offset + got);
          if (n === 0) break;
          got += n;
        }
        const records = parseRecords(data.subarray(0, got));
        if (records.count > 0) return { ...records, seq, start: offset };
        // Nothing whole where a record should start. The segment being written cannot end torn
        // (it was begun by this process, and a failed write is cut back), so this is the tail of
        // an older segment whose process died mid-write: skip to the next segment.
        if (seq === this.seq) return null;
        if (!this.tornLogged.has(seq)) {
          this.tornLogged.add(seq);
          this.onTorn(join(this.dir, segName(seq)), offset, end - offset);
        }
      }
      if (seq === this.seq) return null;
      const next = this.nextSegment(seq);
      if (next === null) {
        if (this.seq === Number.MAX_SAFE_INTEGER) this.moveTo(seq + 1); // drained: nothing is left
        return null;
      }
      this.moveTo(next);
    }
  }

  advance(chunk: Chunk): void {
    this.cursor = { seq: chunk.seq, offset: chunk.start + chunk.end };
    this.writeMark();
  }

  /** True when everything written has been shipped (a drained adopted journal can be removed). */
  get caughtUp(): boolean {
    for (const [seq, size] of this.segments) if (seq > this.cursor.seq || (seq === this.cursor.seq && size > this.cursor.offset)) return false;
    return true;
  }

  /** Removes an adopted journal's directory once everything in it is shipped. */
  remove(): void {
    // Renamed first (atomically, lock still held), so a process starting now makes a fresh one.
    const gone = `${this.dir}.removed-${process.pid}`;
    renameSync(this.dir, gone);
    this.close();
    rmSync(gone, { recursive: true, force: true });
  }

  close(): void {
    if (this.markFd >= 0) closeSync(this.markFd);
    this.markFd = -1;
    if (this.readFd) closeSync(this.readFd.fd);
    this.readFd = null;
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.lock.release();
  }

  private nextSegment(after: number): number | null {
    let best: number | null = null;
    for (const s of this.segments.keys()) if (s > after && (best === null || s < best)) best = s;
    if (this.fd >= 0 && this.seq > after && (best === null || this.seq < best)) best = this.seq;
    return best;
  }

  private moveTo(seq: number): void {
    const prev = this.cursor.seq;
    this.cursor = { seq, offset: 0 };
    this.writeMark();
    for (const s of [...this.segments.keys()]) if (s < seq && s <= prev) this.deleteSegment(s);
  }

  /**
   * The ship position, rewritten in place: one pwrite(2) of a fixed-width line at offset 0, ~2 µs
   * (a temporary file renamed over the old one cost ~150 µs a batch on this machine's ext4, ~1 ms
   * while its disk was busy: up to 5 % of the server's CPU at 50 batches a second). A crash leaves
   * the old line or the new one: the line is written whole by one call, always the same length, so
   * it never leaves a mix of the two.
   */
  private writeMark(): void {
    if (this.markFd < 0) this.markFd = openSync(join(this.dir, "shipped"), existsSync(join(this.dir, "shipped")) ? "r+" : "w");
    const line = Buffer.from(watermarkLine(this.cursor));
    let done = 0;
    while (done < line.length) done += writeSync(this.markFd, line, done, line.length - done, done);
  }

  private readerFd(seq: number): number {
    if (this.readFd?.seq === seq) return this.readFd.fd;
    if (this.readFd) closeSync(this.readFd.fd);
    this.readFd = { seq, fd: openSync(join(this.dir, segName(seq)), "r") };
    return this.readFd.fd;
  }

  private openSegment(seq: number): void {
    this.seq = seq;
    this.fd = openSync(join(this.dir, segName(seq)), "a");
    this.size = fstatSync(this.fd).size;
    this.openedAt = Date.now();
    this.segments.set(seq, this.size);
  }

  private rotate(): void {
    // What is in the old segment must be as durable as what follows it.
    if (!this.synced) fsyncSync(this.fd);
    closeSync(this.fd);
    this.openSegment(this.seq + 1);
    syncDir(this.dir);
    // A segment that was wholly shipped can go now.
    if (this.cursor.seq === this.seq - 1 && this.cursor.offset === this.segments.get(this.seq - 1)) this.moveTo(this.seq);
  }

  private deleteSegment(seq: number): void {
    if (this.readFd?.seq === seq) {
      closeSync(this.readFd.fd);
      this.readFd = null;
    }
    try {
      unlinkSync(join(this.dir, segName(seq)));
    } catch {}
    this.bytes -= this.segments.get(seq) ?? 0;
    this.segments.delete(seq);
  }
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {}
}

function readWatermark(dir: string): { seq: number; offset: number } | null {
  try {
    const m = /^(\d+) (\d+)\n$/.exec(readFileSync(join(dir, "shipped"), "utf8"));
    return m ? { seq: +m[1]!, offset: +m[2]! } : null;
  } catch {
    return null;
  }
}

/**
 * "<seq> <offset>\n", zero-padded to a fixed width (what readWatermark reads, and versions that
 * wrote it by renaming a temporary file read too), so each rewrite covers the whole previous one.
 */
function watermarkLine(at: { seq: number; offset: number }): string {
  return `${String(at.seq).padStart(12, "0")} ${String(at.offset).padStart(16, "0")}\n`;
}

/**
 * EVENT_JOURNAL=off: the same records kept in memory only — lost with the process. It exists to
 * measure what the journal costs (bench/journal.ts), not to be run in production.
 */
export class MemoryJournal implements EventLog {
  readonly durable = false;
  private chunks: Buffer[] = [];
  private head = 0;
  private seq = 0;
  bytes = 0;

  constructor(private readonly maxBytes: number) {}

  fits(len: number): boolean {
    return this.bytes + len <= this.maxBytes;
  }

  append(buf: Buffer, len: number): void {
    this.chunks.push(Buffer.from(buf.subarray(0, len)));
    this.bytes += len;
  }

  read(maxBytes: number): Chunk | null {
    if (this.head >= this.chunks.length) return null;
    let n = this.head, size = 0;
    while (n < this.chunks.length && (n === this.head || size + this.chunks[n]!.length <= maxBytes)) size += this.chunks[n++]!.length;
    const data = n === this.head + 1 ? this.chunks[this.head]! : Buffer.concat(this.chunks.slice(this.head, n));
    return { ...parseRecords(data), seq: ++this.seq, start: n };
  }

  advance(chunk: Chunk): void {
    for (let i = this.head; i < chunk.start; i++) this.bytes -= this.chunks[i]!.length;
    this.head = chunk.start;
    if (this.head > 1024) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }

  sync(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {}
}
